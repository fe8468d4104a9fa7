"""StaticTokenVerifier: exactly the tokens of its table, never shown."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

import bearerguard.verifiers.static as static_module
from bearerguard import Guard, Principal, Rule, StaticTokenVerifier
from bearerguard.exceptions import UnauthenticatedError

CHECKOUT = "dev_client_checkout_2f9c7a41e8b35d60"
READONLY = "dev_client_readonly_8d1e4b7c2a9f6035"
OWNER = Principal(kind="client", subject="tok_owner", scopes=frozenset({"*"}), client_id="app")


def _verifier(**options: Any) -> StaticTokenVerifier:
    table: dict[str, Any] = {
        CHECKOUT: ["payments.create", "payments.get"],
        READONLY: ("payments.get",),
        "owner-token": OWNER,
    }
    return StaticTokenVerifier(table, **options)


@pytest.mark.parametrize("token", [CHECKOUT, READONLY, "owner-token"])
def test_accepts_exactly_the_tokens_of_the_table(token: str) -> None:
    verifier = _verifier()
    assert verifier.accepts(token)
    assert isinstance(verifier.verify(token), Principal)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("", id="empty"),
        pytest.param(CHECKOUT[:-1], id="prefix"),
        pytest.param(CHECKOUT + "0", id="longer"),
        pytest.param(CHECKOUT.upper(), id="other-case"),
        pytest.param(" " + CHECKOUT, id="leading-space"),
        pytest.param("owner-token\x00", id="trailing-nul"),
        pytest.param("t\u00e9k\u2603", id="H-12-non-ascii"),
        pytest.param("t\udcff", id="lone-surrogate"),
    ],
)
def test_refuses_everything_else(token: str) -> None:
    verifier = _verifier()
    assert verifier.accepts(token) is False
    with pytest.raises(UnauthenticatedError) as caught:
        verifier.verify(token)
    assert caught.value.error_code == "invalid_token"


def test_scopes_become_a_principal_of_the_verifier_kind() -> None:
    principal = _verifier().verify(CHECKOUT)
    assert principal.kind == "client"
    assert principal.scopes == frozenset({"payments.create", "payments.get"})
    digest = hashlib.sha256(CHECKOUT.encode()).hexdigest()
    assert principal.token_id == "static_" + digest[:12]
    assert principal.subject == principal.token_id
    assert CHECKOUT not in repr(principal)
    assert principal.expires_at is None


def test_custom_kind() -> None:
    verifier = _verifier(kind="service")
    assert verifier.kind == "service"
    assert verifier.verify(READONLY).kind == "service"
    # A Principal in the table keeps its own kind.
    assert verifier.verify("owner-token").kind == "client"


def test_principal_values_are_returned_as_given() -> None:
    assert _verifier().verify("owner-token") is OWNER


def test_different_tokens_get_different_ids() -> None:
    verifier = _verifier()
    assert verifier.verify(CHECKOUT).token_id != verifier.verify(READONLY).token_id


def test_G01_repr_shows_no_token() -> None:
    text = repr(_verifier())
    for token in (CHECKOUT, READONLY, "owner-token", CHECKOUT[:12]):
        assert token not in text
    assert "3 tokens" in text


def test_C08_only_digests_are_kept() -> None:
    held = list(vars(_verifier()).values())  # whatever the verifier keeps, by any name
    digests = {
        hashlib.sha256(token.encode()).digest() for token in (CHECKOUT, READONLY, "owner-token")
    }
    assert any(isinstance(value, dict) and set(value) == digests for value in held)
    for token in (CHECKOUT, READONLY, "owner-token"):
        assert token not in repr(held)


def test_C09_verify_compares_against_every_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[bytes] = []
    real_compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return real_compare(a, b)

    monkeypatch.setattr(static_module.hmac, "compare_digest", counting)
    verifier = _verifier()
    verifier.verify(CHECKOUT)
    assert len(compared) == 3
    compared.clear()
    with pytest.raises(UnauthenticatedError):
        verifier.verify("nope")
    assert len(compared) == 3


@pytest.mark.parametrize(
    ("table", "error"),
    [
        pytest.param({"": ["a"]}, ValueError, id="empty-token"),
        pytest.param({b"bytes": ["a"]}, ValueError, id="bytes-token"),
        pytest.param({"tok": "payments.get"}, TypeError, id="scopes-as-a-string"),
    ],
)
def test_bad_tables_are_refused(table: dict[Any, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        StaticTokenVerifier(table)


def test_empty_table_accepts_nothing() -> None:
    verifier = StaticTokenVerifier({})
    assert not verifier.accepts("anything")


def test_through_the_guard() -> None:
    guard = Guard(
        [_verifier()],
        rules=[Rule("POST", "/api/payment/checkout", scopes=["payments.create"])],
    )
    assert guard.check("POST", "/api/payment/checkout", f"Bearer {CHECKOUT}") is not None
    with pytest.raises(UnauthenticatedError):
        guard.check("POST", "/api/payment/checkout", "Bearer someone-elses-token")
