"""ManagementAPI: the token-management JSON API, framework-free.

The adapters (:mod:`bearerguard.dashboard.starlette`, :mod:`bearerguard.dashboard.flask`)
declare :data:`ROUTES` with their own routers and hand each request to
:meth:`ManagementAPI.call` with the verified principal, the path parameters and the
raw body; what comes back is a :class:`Reply` to send as it is. Refusals of the
caller (no token, not an OAuth token, no management scope, another merchant's
application) are raised as :class:`~bearerguard.AuthError`, for the guard to render
like every other refusal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..exceptions import InsufficientScopeError, MissingCredentialsError
from ..principal import Principal
from ..rules import Requirement
from ..scopes import validate_scopes
from ..tokens import MalformedRecordError, StoreError, TokenRecord, UnknownTokenError
from . import _bodies
from ._page import Page
from ._registry import ApplicationRegistry, UnknownApplicationError
from ._replies import Reply, json_reply

__all__ = ["DEFAULT_MANAGEMENT_SCOPE", "ROUTES", "ManagementAPI", "Reply", "Route"]

logger = logging.getLogger("bearerguard")

DEFAULT_MANAGEMENT_SCOPE = "applications.manage"
"""The scope an OAuth access token needs to use the management API."""


@dataclass(frozen=True, slots=True)
class Route:
    """One route of the API: method, path below the mount (``{name}`` parameters), handler."""

    method: str
    path: str
    name: str


ROUTES = (
    Route("GET", "/api/applications", "list_applications"),
    Route("POST", "/api/applications", "create_application"),
    Route("GET", "/api/applications/{client_id}", "show_application"),
    Route("POST", "/api/applications/{client_id}/revoke", "revoke_application"),
    Route("POST", "/api/applications/{client_id}/webhook-secret", "rotate_webhook_secret"),
    Route("GET", "/api/applications/{client_id}/tokens", "list_tokens"),
    Route("POST", "/api/applications/{client_id}/tokens", "create_token"),
    Route("POST", "/api/applications/{client_id}/tokens/{token_id}/rotate", "rotate_token"),
    Route("POST", "/api/applications/{client_id}/tokens/{token_id}/revoke", "revoke_token"),
)
"""Every route of the management API, as both adapters mount it."""


def _detail(status: int, message: str, *extra: tuple[str, str]) -> Reply:
    return json_reply(status, {"detail": message}, *extra)


class ManagementAPI:
    """The management API and page over an :class:`ApplicationRegistry`.

    Args:
        registry: The applications and their tokens.
        scope: What an OAuth access token must grant to use the API.
        known_scopes: The scopes a token may be given (the dialog's checkboxes); by
            default the token manager's ``known_scopes``, which must then be set.
        scope_descriptions: A line of help per scope in the dialog; ``*`` is explained
            as full access unless you say otherwise.
        prefix: Where the adapters are mounted (``/dashboard``); names the public paths.
        login_url: Where the page gets an OAuth access token: a same-origin ``POST``
            answering ``{"access_token": ...}`` (your session's token endpoint). Without
            it, the page asks the merchant to paste one.
        max_body: Largest request body read, in bytes (413 past it).

    Raises:
        ValueError: no known scopes, a bad scope name, prefix, ``login_url`` or ``max_body``.
    """

    def __init__(
        self,
        registry: ApplicationRegistry,
        *,
        scope: str = DEFAULT_MANAGEMENT_SCOPE,
        known_scopes: Iterable[str] | None = None,
        scope_descriptions: Mapping[str, str] | None = None,
        prefix: str = "/dashboard",
        login_url: str | None = None,
        max_body: int = 16_384,
    ) -> None:
        self.registry = registry
        self.scope = validate_scopes(scope, what="management scope")[0]
        # An OAuth access token, never a client token: a merchant manages keys, a key
        # never manages keys.
        self.requirement = Requirement.build((self.scope,), (), ("oauth",))
        if known_scopes is None:
            known_scopes = registry.tokens.known_scopes
        if not known_scopes:
            raise ValueError("give known_scopes (or TokenManager(known_scopes=...))")
        self.known_scopes = frozenset(validate_scopes(tuple(known_scopes), what="known scope"))
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError('prefix starts with "/" and does not end with one: "/dashboard"')
        self.prefix = prefix
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ValueError("max_body must be a positive number of bytes")
        self.max_body = max_body
        # Same origin only: the CSP's connect-src allows no other, and the page must
        # never hand its session to another site.
        if login_url is not None and (not login_url.startswith("/") or login_url.startswith("//")):
            raise ValueError('login_url is a path of this site: "/session/token"')
        self.page = Page(self.scope, self.known_scopes, scope_descriptions or {}, login_url)
        self._handlers: dict[str, Callable[[Principal, Mapping[str, str], bytes], Reply]] = {
            route.name: getattr(self, "_" + route.name) for route in ROUTES
        }

    def __repr__(self) -> str:
        return f"ManagementAPI(scope={self.scope!r}, prefix={self.prefix!r})"

    @property
    def public_paths(self) -> tuple[str, ...]:
        """The page and its assets: add them to the guard's ``public_paths``.

        A browser loads the page without a token; the page then calls the API with one.
        """
        return (self.prefix, f"{self.prefix}/static/{{asset}}")

    # -- the one entry point of the adapters -------------------------------------------

    def authorize(self, principal: Principal | None) -> Principal:
        """Check that the caller may use the API at all (before its body is read).

        Raises:
            AuthError: no principal, not an OAuth token, or no management scope.
        """
        if principal is None:
            raise MissingCredentialsError()
        self.requirement.authorize(principal)
        return principal

    def call(
        self, name: str, principal: Principal | None, params: Mapping[str, str], body: bytes
    ) -> Reply:
        """Answer the route ``name`` (one of :data:`ROUTES`) for ``principal``.

        Raises:
            AuthError: no principal, not an OAuth token, no management scope, or another
                merchant's application: render it with the guard.
        """
        caller = self.authorize(principal)
        if len(body) > self.max_body:
            return _detail(413, f"the body is larger than {self.max_body} bytes")
        try:
            return self._handlers[name](caller, params, body)
        except _bodies.InvalidBody as exc:
            problems = [
                {"loc": ["body"] if field is None else ["body", field], "msg": message}
                for field, message in exc.problems
            ]
            return json_reply(422, {"detail": problems})
        except UnknownApplicationError:
            return _detail(404, "no payment application with this Client ID")
        except UnknownTokenError:
            return _detail(404, "no token with this id in this application")
        except (StoreError, MalformedRecordError) as exc:
            # A corrupt row is the store's fault, not the caller's: fail closed, as a
            # verification does (the message may quote the row, so only its type).
            logger.error("management API: the store failed: %s", type(exc).__name__)
            return _detail(503, "the store is unavailable; try again", ("retry-after", "1"))
        except ValueError as exc:
            # The registry's refusals of a valid request: a revoked application or token.
            return _detail(409, str(exc))

    def _owned(self, principal: Principal, client_id: str) -> str:
        application = self.registry.get(client_id)
        if application is None:
            raise UnknownApplicationError(client_id)
        if application.owner != principal.subject:
            # The same answer as any other 403: the caller may not manage this one.
            raise InsufficientScopeError("The application belongs to another merchant")
        return client_id

    def _token(self, record: TokenRecord) -> dict[str, Any]:
        document = record.to_dict()
        document["status"] = record.status(self.registry.tokens.now())
        return document

    # -- the routes ---------------------------------------------------------------------

    def _list_applications(self, principal: Principal, _: Mapping[str, str], __: bytes) -> Reply:
        mine = self.registry.list(principal.subject, include_revoked=True)
        return json_reply(200, {"applications": [app.to_dict() for app in mine]})

    def _create_application(self, principal: Principal, _: Mapping[str, str], body: bytes) -> Reply:
        name = _bodies.new_application(body)
        created = self.registry.create(owner=principal.subject, name=name, actor=principal.subject)
        document = {
            "application": created.application.to_dict(),
            "webhook_secret": created.webhook_secret,
        }
        return json_reply(201, document)

    def _show_application(self, principal: Principal, params: Mapping[str, str], _: bytes) -> Reply:
        client_id = self._owned(principal, params["client_id"])
        application = self.registry.get(client_id)
        return json_reply(200, {"application": application and application.to_dict()})

    def _revoke_application(
        self, principal: Principal, params: Mapping[str, str], _: bytes
    ) -> Reply:
        client_id = self._owned(principal, params["client_id"])
        application = self.registry.revoke(client_id, actor=principal.subject)
        return json_reply(200, {"application": application.to_dict()})

    def _rotate_webhook_secret(
        self, principal: Principal, params: Mapping[str, str], body: bytes
    ) -> Reply:
        client_id = self._owned(principal, params["client_id"])
        grace = _bodies.grace(body)
        rotated = self.registry.rotate_webhook_secret(
            client_id, grace=grace, actor=principal.subject
        )
        document = {
            "application": rotated.application.to_dict(),
            "webhook_secret": rotated.webhook_secret,
        }
        return json_reply(200, document)

    def _list_tokens(self, principal: Principal, params: Mapping[str, str], _: bytes) -> Reply:
        client_id = self._owned(principal, params["client_id"])
        records = self.registry.tokens_of(client_id)
        return json_reply(200, {"tokens": [self._token(record) for record in records]})

    def _create_token(self, principal: Principal, params: Mapping[str, str], body: bytes) -> Reply:
        client_id = self._owned(principal, params["client_id"])
        label, scopes, expires_at = _bodies.new_token(
            body, self.known_scopes, self.registry.tokens.now()
        )
        issued = self.registry.issue_token(
            client_id, label=label, scopes=scopes, expires_at=expires_at, actor=principal.subject
        )
        return json_reply(201, {"token": issued.token, "record": self._token(issued.record)})

    def _rotate_token(self, principal: Principal, params: Mapping[str, str], body: bytes) -> Reply:
        client_id = self._owned(principal, params["client_id"])
        grace = _bodies.grace(body)
        issued = self.registry.rotate_token(
            client_id, params["token_id"], grace=grace, actor=principal.subject
        )
        old = self.registry.token(client_id, params["token_id"])
        document = {
            "token": issued.token,
            "record": self._token(issued.record),
            "replaced": self._token(old),
        }
        return json_reply(201, document)

    def _revoke_token(self, principal: Principal, params: Mapping[str, str], _: bytes) -> Reply:
        client_id = self._owned(principal, params["client_id"])
        record = self.registry.revoke_token(client_id, params["token_id"], actor=principal.subject)
        return json_reply(200, {"record": self._token(record)})
