"""ApplicationRegistry: payment applications, their webhook secrets and their tokens."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from ..tokens import (
    IssuedToken,
    MalformedRecordError,
    TokenManager,
    TokenRecord,
    UnknownTokenError,
    new_client_id,
)
from ..tokens._format import is_client_id
from ._events import EventHandler, emit
from ._records import Application, CreatedApplication, checked_text
from ._secrets import SecretBox, new_webhook_secret
from ._store import ApplicationStore

__all__ = ["MAX_NAME_LENGTH", "ApplicationRegistry", "UnknownApplicationError"]

logger = logging.getLogger("bearerguard")

MAX_NAME_LENGTH = 100
_MAX_OWNER_LENGTH = 255
_DEFAULT_SECRET_GRACE = timedelta(hours=24)
_Tokens = list[TokenRecord]
_Applications = list[Application]


class UnknownApplicationError(ValueError):
    """No application has this Client ID (a ``ValueError``: it is bad input)."""


class ApplicationRegistry:
    """Payment applications beside a token store; tokens belong to applications.

    Args:
        store: Where applications live (:class:`MemoryApplicationStore`,
            :class:`SQLiteApplicationStore`, :class:`SQLApplicationStore`, or yours).
        tokens: The manager of the applications' client tokens. Revokes and rotations go
            through it, so its guards (and a revocation bus, when one is configured on
            it) hear of them.
        secrets: Seals webhook secrets at rest (:meth:`SecretBox.from_env`).
        on_event: Called with a :class:`ManagementEvent` after each change.
    """

    def __init__(
        self,
        store: ApplicationStore,
        tokens: TokenManager,
        secrets: SecretBox,
        *,
        on_event: EventHandler | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.secrets = secrets
        self.on_event = on_event

    def __repr__(self) -> str:
        return f"ApplicationRegistry({self.store!r}, {self.tokens!r})"

    # -- applications -----------------------------------------------------------------

    def create(self, *, owner: str, name: str, actor: str | None = None) -> CreatedApplication:
        """Create an application with a new Client ID and webhook secret.

        The plaintext secret is in the result and nowhere else (the store keeps it sealed).

        Raises:
            ValueError: ``owner`` or ``name`` is empty, too long or has control characters.
        """
        owner = checked_text(owner, "owner", _MAX_OWNER_LENGTH)
        name = checked_text(name, "name", MAX_NAME_LENGTH)
        now = self.tokens.now()
        client_id = new_client_id()
        secret = new_webhook_secret()
        application = Application(
            client_id=client_id,
            name=name,
            owner=owner,
            created_at=now,
            updated_at=now,
            webhook_secret=self.secrets.seal(secret, client_id),
        )
        self.store.add(application)
        logger.info("created payment application %s", client_id)
        emit(self.on_event, "application.created", actor, client_id, now, name=name)
        return CreatedApplication(application, secret)

    def get(self, client_id: str) -> Application | None:
        """The application with this Client ID, or None.

        Raises:
            MalformedRecordError: the stored row is corrupt.
        """
        if not is_client_id(client_id):
            return None
        row = self.store.get(client_id)
        return None if row is None else Application.from_row(row)

    def list(self, owner: str | None = None, *, include_revoked: bool = False) -> _Applications:
        """One owner's applications (or everyone's), oldest first; corrupt rows are skipped."""
        found = []
        for row in self.store.query(owner=owner, include_revoked=include_revoked):
            try:
                found.append(Application.from_row(row))
            except MalformedRecordError as exc:
                logger.warning("skipping a malformed payment application record: %s", exc)
        return found

    def _existing(self, client_id: str) -> Application:
        application = self.get(client_id)
        if application is None:
            raise UnknownApplicationError("no payment application with this Client ID")
        return application

    def _active(self, client_id: str) -> Application:
        application = self._existing(client_id)
        if application.revoked_at is not None:
            raise ValueError(f"payment application {client_id} is revoked")
        return application

    def webhook_secrets(self, client_id: str) -> tuple[str, ...]:
        """The plaintext webhook secrets to sign with: the current one first, then the one
        it replaced while that one's grace lasts (Standard Webhooks allows several
        signatures during a rotation).

        Raises:
            UnknownApplicationError: no such application.
            ValueError: the application is revoked.
            SecretBoxError: the secret does not open with the configured keys.
        """
        application = self._active(client_id)
        secrets = [self.secrets.open(application.webhook_secret, client_id)]
        previous = application.previous_webhook_secret
        until = application.previous_secret_expires_at
        if previous is not None and until is not None and until > self.tokens.now():
            secrets.append(self.secrets.open(previous, client_id))
        return tuple(secrets)

    def webhook_secret(self, client_id: str) -> str:
        """The current plaintext webhook secret (see :meth:`webhook_secrets`)."""
        return self.webhook_secrets(client_id)[0]

    def rotate_webhook_secret(
        self, client_id: str, *, grace: timedelta = _DEFAULT_SECRET_GRACE, actor: str | None = None
    ) -> CreatedApplication:
        """Give the application a new webhook secret; the old one signs too for ``grace``.

        Raises:
            UnknownApplicationError: no such application.
            ValueError: the application is revoked, or ``grace`` is negative.
        """
        if not isinstance(grace, timedelta) or grace < timedelta(0):
            raise ValueError("grace must be a timedelta of zero or more")
        application = self._active(client_id)
        now = self.tokens.now()
        secret = new_webhook_secret()
        sealed = self.secrets.seal(secret, client_id)
        changes = {
            "webhook_secret": sealed,
            "previous_webhook_secret": application.webhook_secret if grace else None,
            "previous_secret_expires_at": now + grace if grace else None,
            "updated_at": now,
        }
        if not self.store.update(client_id, changes):
            raise ValueError(f"payment application {client_id} was revoked meanwhile")
        logger.info("rotated the webhook secret of payment application %s", client_id)
        emit(self.on_event, "application.webhook_secret_rotated", actor, client_id, now)
        rotated = self._existing(client_id)
        return CreatedApplication(rotated, secret)

    def revoke(self, client_id: str, *, actor: str | None = None) -> Application:
        """Revoke an application and every token it has.

        The application is marked first, so no token is issued for it meanwhile; then each
        token is revoked through the manager. Should that stop half way (a store
        failure), calling again finishes it.

        Raises:
            UnknownApplicationError: no such application.
        """
        application = self._existing(client_id)
        now = self.tokens.now()
        if application.revoked_at is None and self.store.update(
            client_id, {"revoked_at": now, "updated_at": now}
        ):
            logger.info("revoked payment application %s", client_id)
            emit(self.on_event, "application.revoked", actor, client_id, now)
        for record in self.tokens.list(client_id):
            self.revoke_token(client_id, record.id, actor=actor)
        return self._existing(client_id)

    # -- the applications' tokens -------------------------------------------------------

    def tokens_of(self, client_id: str, *, include_revoked: bool = True) -> _Tokens:
        """The application's tokens, oldest first (revoked ones too unless told not to).

        Raises:
            UnknownApplicationError: no such application.
        """
        self._existing(client_id)
        return self.tokens.list(client_id, include_revoked=include_revoked)

    def token(self, client_id: str, token_id: str) -> TokenRecord:
        """One of the application's tokens.

        Raises:
            UnknownTokenError: no token with this id belongs to the application.
        """
        record = self.tokens.get(token_id)
        if record is None or record.client_id != client_id:
            raise UnknownTokenError.for_id(token_id)
        return record

    def issue_token(
        self,
        client_id: str,
        *,
        label: str,
        scopes: Iterable[str],
        expires_at: datetime | None = None,
        expires_in: timedelta | None = None,
        actor: str | None = None,
    ) -> IssuedToken:
        """Issue a client token for an active application (see :meth:`TokenManager.issue`).

        Raises:
            UnknownApplicationError: no such application.
            ValueError: the application is revoked, or an argument is invalid.
        """
        self._active(client_id)
        issued = self.tokens.issue(
            client_id=client_id,
            label=label,
            scopes=scopes,
            expires_in=expires_in,
            expires_at=expires_at,
        )
        record = issued.record
        emit(
            self.on_event,
            "token.created",
            actor,
            client_id,
            record.created_at,
            record.id,
            label=record.label,
            scopes=list(record.scopes),
        )
        return issued

    def rotate_token(
        self,
        client_id: str,
        token_id: str,
        *,
        grace: timedelta = timedelta(hours=24),
        actor: str | None = None,
    ) -> IssuedToken:
        """Replace one of the application's tokens (see :meth:`TokenManager.rotate`).

        Raises:
            UnknownTokenError: no such token in the application.
            ValueError: the application or token is revoked, or ``grace`` is invalid.
        """
        self._active(client_id)
        self.token(client_id, token_id)
        issued = self.tokens.rotate(token_id, grace=grace)
        emit(
            self.on_event,
            "token.rotated",
            actor,
            client_id,
            issued.record.created_at,
            token_id,
            replaced_by=issued.record.id,
        )
        return issued

    def revoke_token(
        self, client_id: str, token_id: str, *, actor: str | None = None
    ) -> TokenRecord:
        """Revoke one of the application's tokens (revoking twice changes nothing).

        With a revocation bus on the token manager, the revoke reaches every worker.

        Raises:
            UnknownTokenError: no such token in the application.
        """
        record = self.token(client_id, token_id)
        # Through the manager even when already revoked: it publishes again on its
        # revocation bus, so a rerun after a failed publish reaches every worker.
        revoked = self.tokens.revoke(token_id)
        if record.revoked_at is None and revoked.revoked_at is not None:
            emit(self.on_event, "token.revoked", actor, client_id, revoked.revoked_at, token_id)
        return revoked
