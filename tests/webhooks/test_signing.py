"""Webhook: the Standard Webhooks signature scheme, its published vectors, and bad input.

The vectors are copied from the reference libraries of the specification's repository
(standard-webhooks/standard-webhooks, MIT licence, commit b2fa7b8): the signing vector
every library shares (``libraries/python/tests/test_webhooks.py``, ``test_sign_function``;
the same in the Go, JavaScript, PHP, Ruby, Java and C# tests), the Rust library's
(``libraries/rust/src/lib.rs``, ``test_sign``), and the bad-signature and rotation cases
of those tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bearerguard.webhooks import (
    DEFAULT_TOLERANCE,
    Webhook,
    WebhookMessage,
    WebhookVerificationError,
    new_message_id,
)

# (secret, webhook-id, webhook-timestamp, body, webhook-signature)
VECTORS = [
    pytest.param(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        id="reference-libraries",
    ),
    pytest.param(
        "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1649367553,
        '{"email":"test@example.com","username":"test_user"}',
        "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        id="rust-library",
    ),
]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
BODY = b'{"test": 2432232314}'
NOW = 1614265330
# Wrong signatures from the reference tests: one bit off, and others' signatures.
WRONG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
OTHERS = [
    "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
    "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
]


def at(seconds: float) -> Webhook:
    return Webhook(SECRET, clock=lambda: seconds)


def headers(signature: str, *, msg_id: str = MSG_ID, stamp: str = str(NOW)) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": signature}


def refused(webhook: Webhook, body: bytes | str, sent: dict[str, str]) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        webhook.verify(body, sent)
    return caught.value.error


@pytest.mark.parametrize(("secret", "msg_id", "stamp", "body", "signature"), VECTORS)
def test_published_vectors_sign_and_verify(
    secret: str, msg_id: str, stamp: int, body: str, signature: str
) -> None:
    webhook = Webhook(secret, clock=lambda: stamp)
    sent = webhook.sign(msg_id, stamp, body)
    assert sent == {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
    }
    assert webhook.sign(msg_id, datetime.fromtimestamp(stamp, tz=timezone.utc), body) == sent
    assert webhook.verify(body.encode(), sent) == json.loads(body)
    message = webhook.verify_message(body, sent)
    assert message == WebhookMessage(
        id=msg_id,
        timestamp=datetime.fromtimestamp(stamp, tz=timezone.utc),
        body=body.encode(),
        payload=json.loads(body),
    )


def test_the_signature_is_hmac_sha256_of_id_timestamp_body() -> None:
    """The specification's scheme, computed independently of the class."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    digest = hmac.new(key, f"{MSG_ID}.{NOW}.".encode() + BODY, hashlib.sha256).digest()
    assert at(NOW).sign(MSG_ID, NOW, BODY)["webhook-signature"] == (
        "v1," + base64.b64encode(digest).decode()
    )


def test_secret_with_or_without_prefix_and_padding() -> None:
    unprefixed = SECRET.removeprefix("whsec_")
    for secret in (unprefixed, SECRET, f"  {SECRET}\n", base64.b64decode(unprefixed)):
        assert Webhook(secret, clock=lambda: NOW).verify(BODY, headers(VECTORS[0].values[4]))
    # 25 bytes: base64 needs padding, which may be left out.
    padded = base64.b64encode(b"k" * 25).decode()
    assert padded.endswith("==")
    signed = Webhook(padded, clock=lambda: NOW).sign(MSG_ID, NOW, BODY)
    assert Webhook("whsec_" + padded.rstrip("="), clock=lambda: NOW).verify(BODY, signed)


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("", id="empty"),
        pytest.param("whsec_", id="prefix-only"),
        pytest.param("whsec_Mf!!KQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", id="not-base64"),
        pytest.param("whsec_" + base64.b64encode(b"k" * 23).decode(), id="23-bytes"),
        pytest.param("whsec_" + base64.b64encode(b"k" * 65).decode(), id="65-bytes"),
        pytest.param("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\u00e9", id="non-ascii"),
    ],
)
def test_bad_secrets_are_refused_without_echo(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret") as caught:
        Webhook(secret)
    assert secret.strip() not in str(caught.value) or not secret.strip()


def test_no_secret_and_bad_tolerance_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        Webhook([])
    with pytest.raises(ValueError, match="tolerance"):
        Webhook(SECRET, tolerance=timedelta(seconds=-1))
    with pytest.raises(TypeError):
        Webhook([42])  # type: ignore[list-item]


def test_repr_never_shows_a_secret() -> None:
    webhook = Webhook([SECRET, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"])
    assert "MfKQ" not in repr(webhook)
    assert "C2FV" not in repr(webhook)
    assert "2 secret" in repr(webhook)


def test_several_signatures_one_matching_verifies() -> None:
    """The reference libraries' multi-signature case: unknown versions are skipped."""
    good = at(NOW).sign(MSG_ID, NOW, BODY)["webhook-signature"]
    sent = headers(" ".join([OTHERS[0], OTHERS[1], good, OTHERS[0]]))
    assert at(NOW).verify(BODY, sent) == {"test": 2432232314}
    assert refused(at(NOW), BODY, headers(" ".join(OTHERS))) == "invalid_signature"


def test_rotation_signs_with_every_secret_and_either_verifies() -> None:
    new, old = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", SECRET
    sent = Webhook([new, old], clock=lambda: NOW).sign(MSG_ID, NOW, BODY)
    entries = sent["webhook-signature"].split(" ")
    assert len(entries) == 2
    assert all(entry.startswith("v1,") for entry in entries)
    assert Webhook(new, clock=lambda: NOW).verify(BODY, sent)
    assert Webhook(old, clock=lambda: NOW).verify(BODY, sent)  # a receiver not yet updated
    # A receiver holding both accepts a delivery signed with either alone.
    both = Webhook([new, old], clock=lambda: NOW)
    assert both.verify(BODY, at(NOW).sign(MSG_ID, NOW, BODY))
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert refused(Webhook(other, clock=lambda: NOW), BODY, sent) == "invalid_signature"


@pytest.mark.parametrize(
    ("offset", "error"),
    [
        pytest.param(-301, "timestamp_too_old", id="301s-old"),
        pytest.param(301, "timestamp_too_new", id="301s-ahead"),
        pytest.param(-300, None, id="300s-old"),
        pytest.param(300, None, id="300s-ahead"),
    ],
)
def test_tolerance_window_both_ways(offset: int, error: str | None) -> None:
    """Default tolerance five minutes, as in the reference libraries (replays)."""
    assert timedelta(minutes=5) == DEFAULT_TOLERANCE
    sent = at(NOW).sign(MSG_ID, NOW + offset, BODY)
    if error is None:
        assert at(NOW).verify(BODY, sent)
    else:
        assert refused(at(NOW), BODY, sent) == error


def test_tolerance_is_configurable() -> None:
    sent = at(NOW).sign(MSG_ID, NOW - 30, BODY)
    strict = Webhook(SECRET, tolerance=timedelta(seconds=10), clock=lambda: NOW)
    assert refused(strict, BODY, sent) == "timestamp_too_old"


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_or_empty_headers(missing: str) -> None:
    sent = at(NOW).sign(MSG_ID, NOW, BODY)
    assert refused(at(NOW), BODY, {k: v for k, v in sent.items() if k != missing}) == (
        "missing_header"
    )
    assert refused(at(NOW), BODY, {**sent, missing: ""}) == "missing_header"


def test_header_names_in_any_case() -> None:
    sent = at(NOW).sign(MSG_ID, NOW, BODY)
    assert at(NOW).verify(BODY, {key.title(): value for key, value in sent.items()})
    assert at(NOW).verify(BODY, {key.upper(): value for key, value in sent.items()})


@pytest.mark.parametrize(
    "stamp",
    [
        "hello",
        "1614265330.0",
        "+1614265330",
        "-1614265330",
        " 1614265330",
        "1e9",
        "1_614_265_330",
        "\u0661\u0666\u0661\u0664",  # Arabic-Indic digits, which int() would take
        "9" * 5000,  # int() of it would raise beyond the digit limit
    ],
)
def test_malformed_timestamps(stamp: str) -> None:
    signature = at(NOW).sign(MSG_ID, NOW, BODY)["webhook-signature"]
    assert refused(at(NOW), BODY, headers(signature, stamp=stamp)) == "invalid_header"


@pytest.mark.parametrize("msg_id", ["msg.1", "msg 1", "msg\u00e9", "m" * 257])
def test_malformed_ids_are_refused_and_never_signed(msg_id: str) -> None:
    signature = at(NOW).sign(MSG_ID, NOW, BODY)["webhook-signature"]
    assert refused(at(NOW), BODY, headers(signature, msg_id=msg_id)) == "invalid_header"
    with pytest.raises(ValueError, match="webhook id"):
        at(NOW).sign(msg_id, NOW, BODY)


def test_an_id_with_a_dot_cannot_shift_into_the_timestamp() -> None:
    """Why ids may not hold ".": "a.1614265330" + "5" would sign like "a" + "1614265330"."""
    with pytest.raises(ValueError, match=r"without '\.'"):
        at(NOW).sign(f"a.{NOW}", 5, BODY)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param("v1", id="no-comma"),
        pytest.param("v1,", id="empty"),
        pytest.param("v1,a,b", id="two-commas"),
        pytest.param("v1,abc", id="bad-padding"),
        pytest.param("v1,!!!!", id="not-base64"),
        pytest.param("v1,g0hM9SsE\u00e9", id="non-ascii"),
        pytest.param("v1,g0hM9SsE+OTPJTGt", id="truncated"),
        pytest.param(WRONG, id="one-bit-off"),
        pytest.param("v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", id="other-version"),
        pytest.param("V1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", id="version-case"),
        pytest.param(",,, , v1 ,", id="junk"),
    ],
)
def test_bad_signatures_are_refused_never_raised_otherwise(signature: str) -> None:
    """The reference Python library raises ValueError/binascii.Error on some of these."""
    assert refused(at(NOW), BODY, headers(signature)) == "invalid_signature"


def test_a_changed_body_id_or_timestamp_breaks_the_signature() -> None:
    sent = at(NOW).sign(MSG_ID, NOW, BODY)
    assert refused(at(NOW), BODY + b" ", sent) == "invalid_signature"
    assert refused(at(NOW), BODY, {**sent, "webhook-id": "msg_other"}) == "invalid_signature"
    assert refused(at(NOW), BODY, {**sent, "webhook-timestamp": str(NOW + 1)}) == (
        "invalid_signature"
    )


@pytest.mark.parametrize(
    "body",
    [b"not json", b"\xff\xfe\x00", b"[" * 100_000, b""],
    ids=["text", "not-utf8", "deep-nesting", "empty"],
)
def test_signed_bodies_that_are_not_json(body: bytes) -> None:
    sent = at(NOW).sign(MSG_ID, NOW, body)
    assert refused(at(NOW), body, sent) == "invalid_payload"


def test_the_signature_covers_raw_bytes_not_a_reserialized_json() -> None:
    body = '{"amount": 1.50, "name": "caf\u00e9"}'.encode()
    sent = at(NOW).sign(MSG_ID, NOW, body)
    assert at(NOW).verify(body, sent) == {"amount": 1.5, "name": "caf\u00e9"}
    reserialized = json.dumps(json.loads(body)).encode()
    assert refused(at(NOW), reserialized, sent) == "invalid_signature"


def test_errors_carry_fixed_text_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hostile = "v1,<script>" + SECRET
    with pytest.raises(WebhookVerificationError) as caught:
        at(NOW).verify(BODY, headers(hostile))
    error = caught.value
    assert error.status_code == 400
    assert error.body() == {
        "message": "Webhook refused",
        "error": "invalid_signature",
        "error_description": "no v1 signature matches the webhook secret",
    }
    assert "script" not in str(error)
    assert "MfKQ" not in json.dumps(error.body()) + caplog.text


def test_sign_refuses_naive_or_negative_timestamps() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        at(NOW).sign(MSG_ID, datetime(2021, 2, 25, 15, 2, 10), BODY)
    with pytest.raises(ValueError, match="from 0"):
        at(NOW).sign(MSG_ID, -1, BODY)
    with pytest.raises(TypeError):
        at(NOW).sign(MSG_ID, True, BODY)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        at(NOW).sign(MSG_ID, 1.5, BODY)  # type: ignore[arg-type]


def test_an_aware_datetime_in_another_zone_is_converted_not_relabelled() -> None:
    """The reference Python library signs this one two hours off."""
    plus_two = datetime(2021, 2, 25, 17, 2, 10, tzinfo=timezone(timedelta(hours=2)))
    assert plus_two.timestamp() == NOW
    assert at(NOW).sign(MSG_ID, plus_two, BODY) == at(NOW).sign(MSG_ID, NOW, BODY)


def test_new_message_ids_are_unique_and_signable() -> None:
    ids = {new_message_id() for _ in range(100)}
    assert len(ids) == 100
    for msg_id in ids:
        assert msg_id.startswith("msg_")
        assert at(NOW).verify(BODY, at(NOW).sign(msg_id, NOW, BODY))


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    other = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    monkeypatch.setenv("WEBHOOK_SECRET", f"{other}, {SECRET}")
    webhook = Webhook.from_env(clock=lambda: NOW)
    assert at(NOW).verify(BODY, webhook.sign(MSG_ID, NOW, BODY))
    monkeypatch.setenv("WEBHOOK_SECRET", "")
    with pytest.raises(ValueError, match="set WEBHOOK_SECRET"):
        Webhook.from_env()
    monkeypatch.delenv("WEBHOOK_SECRET")
    with pytest.raises(ValueError, match="set WEBHOOK_SECRET"):
        Webhook.from_env()
    monkeypatch.setenv("MERCHANT_HOOK_SECRET", "whsec_nope!")
    with pytest.raises(ValueError, match="webhook secret") as caught:
        Webhook.from_env("MERCHANT_HOOK_SECRET")
    assert "nope" not in str(caught.value)


_HEADER_TEXT = st.text(alphabet=st.characters(codec="latin-1"), max_size=80)


@settings(max_examples=300, deadline=None)
@given(
    msg_id=_HEADER_TEXT,
    stamp=st.one_of(_HEADER_TEXT, st.integers(-(10**15), 10**15).map(str)),
    signature=st.one_of(
        _HEADER_TEXT,
        st.lists(st.sampled_from(["v1,", "v1a,", "v1", ",", " ", "AAAA", "=", WRONG])).map("".join),
    ),
    body=st.binary(max_size=64),
)
def test_any_input_is_verified_or_refused_never_raised_otherwise(
    msg_id: str, stamp: str, signature: str, body: bytes
) -> None:
    sent = {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": signature}
    with pytest.raises(WebhookVerificationError):  # nothing else, and no forgery passes
        at(NOW).verify(body, sent)
