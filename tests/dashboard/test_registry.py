"""ApplicationRegistry: applications own tokens; webhook secrets sealed, shown once, rotatable."""

from __future__ import annotations

import base64
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bearerguard import ClientTokenVerifier, Guard, UnauthenticatedError
from bearerguard.dashboard import (
    ApplicationRegistry,
    ManagementEvent,
    MemoryApplicationStore,
    SecretBox,
    SecretBoxError,
    SQLiteApplicationStore,
    UnknownApplicationError,
    new_secret_key,
)
from bearerguard.stores import MemoryTokenStore, SQLiteTokenStore
from bearerguard.tokens import TokenManager, UnknownTokenError

START = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def events() -> list[ManagementEvent]:
    return []


@pytest.fixture
def registry(clock: Clock, events: list[ManagementEvent]) -> Any:
    manager = TokenManager(MemoryTokenStore(), prefix="pay_live_", clock=clock)
    yield ApplicationRegistry(
        MemoryApplicationStore(), manager, SecretBox(new_secret_key()), on_event=events.append
    )
    manager.close()


def test_create_hands_the_secret_back_once_and_keeps_it_sealed(registry: Any) -> None:
    created = registry.create(owner="user-42", name="  Web shop ")

    application = created.application
    assert created.webhook_secret.startswith("whsec_")
    assert len(base64.b64decode(created.webhook_secret.removeprefix("whsec_"))) == 32
    assert (application.name, application.owner, application.status()) == (
        "Web shop",
        "user-42",
        "active",
    )
    assert len(application.client_id) == 32
    assert created.webhook_secret not in repr(created)
    assert created.webhook_secret.encode() not in application.webhook_secret
    assert "secret" not in str(application.to_dict())
    assert registry.webhook_secret(application.client_id) == created.webhook_secret
    assert registry.get(application.client_id) == application


@pytest.mark.parametrize(
    ("owner", "name", "message"),
    [
        ("user-1", "", "name must be non-empty"),
        ("user-1", "x" * 101, "at most 100"),
        ("user-1", "bad\nname", "control characters"),
        ("", "Shop", "owner must be non-empty"),
        ("user-1", 5, "name must be non-empty"),
    ],
)
def test_create_refuses_bad_names_and_writes_nothing(
    registry: Any, owner: Any, name: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        registry.create(owner=owner, name=name)
    assert registry.list() == []


def test_list_is_per_owner(registry: Any) -> None:
    mine = registry.create(owner="user-1", name="Mine").application
    registry.create(owner="user-2", name="Theirs")

    assert registry.list("user-1") == [mine]
    assert len(registry.list()) == 2
    assert registry.get("not a client id") is None


def test_rotating_the_webhook_secret_keeps_the_old_one_for_the_grace(
    registry: Any, clock: Clock
) -> None:
    created = registry.create(owner="user-1", name="Shop")
    client_id = created.application.client_id

    rotated = registry.rotate_webhook_secret(client_id, grace=timedelta(hours=1))

    assert rotated.webhook_secret != created.webhook_secret
    assert registry.webhook_secrets(client_id) == (rotated.webhook_secret, created.webhook_secret)
    clock.now += 3601
    assert registry.webhook_secrets(client_id) == (rotated.webhook_secret,)
    again = registry.rotate_webhook_secret(client_id, grace=timedelta(0))
    assert registry.webhook_secrets(client_id) == (again.webhook_secret,)
    with pytest.raises(ValueError, match="grace"):
        registry.rotate_webhook_secret(client_id, grace=timedelta(seconds=-1))


def test_tokens_belong_to_their_application(registry: Any) -> None:
    shop = registry.create(owner="user-1", name="Shop").application.client_id
    other = registry.create(owner="user-2", name="Other").application.client_id
    issued = registry.issue_token(shop, label="Checkout", scopes=["payments.create"])

    assert [record.id for record in registry.tokens_of(shop)] == [issued.record.id]
    assert registry.tokens_of(other) == []
    for call in (
        lambda: registry.token(other, issued.record.id),
        lambda: registry.revoke_token(other, issued.record.id),
        lambda: registry.rotate_token(other, issued.record.id),
    ):
        with pytest.raises(UnknownTokenError):
            call()
    with pytest.raises(UnknownApplicationError):
        registry.issue_token("Z" * 32, label="x", scopes=["payments.get"])
    with pytest.raises(UnknownApplicationError):
        registry.tokens_of("Z" * 32)


def test_revoking_an_application_revokes_its_tokens(registry: Any, clock: Clock) -> None:
    guard = Guard([ClientTokenVerifier(registry.tokens)], clock=clock)
    shop = registry.create(owner="user-1", name="Shop").application.client_id
    first = registry.issue_token(shop, label="One", scopes=["payments.get"])
    second = registry.issue_token(shop, label="Two", scopes=["payments.get"])
    guard.authenticate(f"Bearer {first.token}")  # cached, then dropped on revoke

    revoked = registry.revoke(shop)

    assert revoked.status() == "revoked"
    assert all(record.revoked_at for record in registry.tokens_of(shop))
    for issued in (first, second):
        with pytest.raises(UnauthenticatedError):
            guard.authenticate(f"Bearer {issued.token}")
    with pytest.raises(ValueError, match="revoked"):
        registry.issue_token(shop, label="Three", scopes=["payments.get"])
    with pytest.raises(ValueError, match="revoked"):
        registry.webhook_secret(shop)
    assert registry.list("user-1") == []
    assert registry.revoke(shop) == revoked  # twice changes nothing


def test_an_interrupted_application_revoke_finishes_when_called_again(registry: Any) -> None:
    shop = registry.create(owner="user-1", name="Shop").application.client_id
    issued = registry.issue_token(shop, label="One", scopes=["payments.get"])
    real_revoke = registry.tokens.store.revoke
    registry.tokens.store.revoke = _failing
    with pytest.raises(OSError, match="down"):
        registry.revoke(shop)
    assert registry.get(shop).status() == "revoked"
    assert registry.tokens_of(shop)[0].revoked_at is None

    registry.tokens.store.revoke = real_revoke
    registry.revoke(shop)

    assert registry.token(shop, issued.record.id).revoked_at is not None


def _failing(*args: Any) -> bool:
    raise OSError("down")


def test_every_change_is_an_event_without_secrets(
    registry: Any, events: list[ManagementEvent]
) -> None:
    created = registry.create(owner="user-1", name="Shop", actor="user-1")
    shop = created.application.client_id
    issued = registry.issue_token(shop, label="One", scopes=["payments.get"], actor="user-1")
    rotated = registry.rotate_token(shop, issued.record.id, actor="user-1")
    registry.revoke_token(shop, rotated.record.id, actor="user-1")
    registry.revoke_token(shop, rotated.record.id, actor="user-1")  # no change: no event
    registry.rotate_webhook_secret(shop, actor="user-1")
    registry.revoke(shop, actor="user-1")

    assert [event.action for event in events] == [
        "application.created",
        "token.created",
        "token.rotated",
        "token.revoked",
        "application.webhook_secret_rotated",
        "application.revoked",
        "token.revoked",  # the rotated-away token, still in its grace
    ]
    assert {event.actor for event in events} == {"user-1"}
    assert {event.client_id for event in events} == {shop}
    assert events[1].detail == {"label": "One", "scopes": ["payments.get"]}
    assert events[2].detail == {"replaced_by": rotated.record.id}
    text = repr([event.to_dict() for event in events])
    for secret in (created.webhook_secret, issued.token, rotated.token):
        assert secret not in text


def test_a_failing_event_handler_is_logged_not_raised(
    registry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: ManagementEvent) -> None:
        raise RuntimeError("secret text that must not be logged")

    registry.on_event = broken
    with caplog.at_level(logging.ERROR, logger="bearerguard"):
        created = registry.create(owner="user-1", name="Shop")

    assert registry.get(created.application.client_id) is not None
    assert "RuntimeError" in caplog.text
    assert "secret text" not in caplog.text


def test_secret_box_binds_the_client_id_and_rotates_keys() -> None:
    old, new = new_secret_key(), new_secret_key()
    sealed = SecretBox(old).seal("whsec_abc", "A" * 32)

    assert SecretBox([new, old]).open(sealed, "A" * 32) == "whsec_abc"
    assert SecretBox([new, old]).seal("x", "A" * 32)[1:5] != sealed[1:5]  # sealed by the new key
    with pytest.raises(SecretBoxError, match="does not open"):
        SecretBox(old).open(sealed, "B" * 32)
    with pytest.raises(SecretBoxError, match="not configured"):
        SecretBox(new).open(sealed, "A" * 32)
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SecretBoxError, match="does not open"):
        SecretBox(old).open(tampered, "A" * 32)
    with pytest.raises(SecretBoxError, match="format"):
        SecretBox(old).open(b"\x02" + sealed[1:], "A" * 32)
    assert old not in repr(SecretBox(old))


@pytest.mark.parametrize("value", ["", "  ", "short", "!!!not base64!!!"])
def test_secret_box_from_env_refuses_a_missing_or_bad_key(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("BEARERGUARD_SECRET_KEY", value)
    with pytest.raises(ValueError, match=r"BEARERGUARD_SECRET_KEY|secret key") as caught:
        SecretBox.from_env()
    assert value.strip() == "" or value not in str(caught.value)


def test_secret_box_from_env_reads_comma_separated_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = new_secret_key(), new_secret_key()
    sealed = SecretBox(old).seal("s", "A" * 32)
    monkeypatch.setenv("BEARERGUARD_SECRET_KEY", f"{new},{old}")
    assert SecretBox.from_env().open(sealed, "A" * 32) == "s"


def test_no_secret_is_in_the_sqlite_files_in_plaintext(tmp_path: Path) -> None:
    path = tmp_path / "payments.db"
    manager = TokenManager(SQLiteTokenStore(path), prefix="pay_live_")
    registry = ApplicationRegistry(
        SQLiteApplicationStore(path), manager, SecretBox(new_secret_key())
    )
    created = registry.create(owner="user-1", name="Shop")
    rotated = registry.rotate_webhook_secret(created.application.client_id)
    issued = registry.issue_token(created.application.client_id, label="x", scopes=["a"])
    registry.store.close()
    manager.close()
    manager.store.close()

    files = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the database, WAL, SHM
    assert created.application.client_id.encode() in files  # the files were read
    for secret in (created.webhook_secret, rotated.webhook_secret):
        raw = base64.b64decode(secret.removeprefix("whsec_"))
        assert secret.encode() not in files
        assert raw not in files
    assert issued.token.encode() not in files


class CorruptStore(MemoryApplicationStore):
    """A store whose rows went bad on disk: every row it reads back has lost a column."""

    def query(self, *, owner: str | None, include_revoked: bool) -> list[dict[str, Any]]:
        rows = super().query(owner=owner, include_revoked=include_revoked)
        return [{**row, "webhook_secret": None} for row in rows]


def test_a_corrupt_row_is_skipped_and_logged(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    manager = TokenManager(MemoryTokenStore(), clock=clock)
    registry = ApplicationRegistry(CorruptStore(), manager, SecretBox(new_secret_key()))
    registry.create(owner="user-1", name="Shop")

    with caplog.at_level(logging.WARNING, logger="bearerguard"):
        assert registry.list() == []
    assert "webhook_secret is not a sealed secret" in caplog.text
