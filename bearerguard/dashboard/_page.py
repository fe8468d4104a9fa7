"""The dashboard page: server-rendered HTML, its own script and stylesheet, a strict CSP.

The page, ``page.js`` and ``page.css`` are package data, read once. The HTML carries no
inline script or style: its settings travel in ``data-`` attributes, so the
Content-Security-Policy allows scripts and styles from the page's own origin only.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Set
from importlib import resources
from string import Template

from ._replies import Reply

__all__ = ["CONTENT_SECURITY_POLICY", "Page"]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""What the page may load: its own script, stylesheet and API, nothing inline."""

_FULL_ACCESS = "Full access: every permission, including ones added later."
_PAGE_HEADERS = (
    ("content-type", "text/html; charset=utf-8"),
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
)
_ASSET_TYPES = {
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


def _read(*parts: str) -> bytes:
    return resources.files(__package__).joinpath(*parts).read_bytes()


class Page:
    """Renders the page for the known scopes; serves its two assets.

    Args:
        scope: The management scope (named in the sign-in help).
        known_scopes: The dialog's scope checkboxes, ``*`` last.
        descriptions: A line of help per scope.
        login_url: Where the page gets its access token, or None to ask for one.
    """

    def __init__(
        self,
        scope: str,
        known_scopes: Set[str],
        descriptions: Mapping[str, str],
        login_url: str | None,
    ) -> None:
        self.scope = scope
        self.login_url = login_url or ""
        self._template = Template(_read("templates", "page.html").decode())
        self._scopes = "\n".join(
            self._checkbox(n, scope, descriptions)
            for n, scope in enumerate(sorted(known_scopes, key=lambda s: (s == "*", s)))
        )
        self._assets = {
            name: Reply(200, _asset_headers(kind), _read("static", name))
            for name, kind in _ASSET_TYPES.items()
        }

    @staticmethod
    def _checkbox(n: int, scope: str, descriptions: Mapping[str, str]) -> str:
        help_text = descriptions.get(scope) or (_FULL_ACCESS if scope == "*" else "")
        described = f' aria-describedby="scope-{n}-help"' if help_text else ""
        lines = [
            '      <div class="scope">',
            f'        <input type="checkbox" id="scope-{n}" name="scopes" '
            f'value="{html.escape(scope)}"{described}>',
            f'        <label for="scope-{n}"><code>{html.escape(scope)}</code></label>',
        ]
        if help_text:
            lines.append(
                f'        <p id="scope-{n}-help" class="hint">{html.escape(help_text)}</p>'
            )
        lines.append("      </div>")
        return "\n".join(lines)

    def html(self, base: str) -> Reply:
        """The page, for a mount at ``base`` (the path its assets and API hang from)."""
        body = self._template.substitute(
            base=html.escape(base),
            login_url=html.escape(self.login_url),
            scope=html.escape(self.scope),
            scopes=self._scopes,
        )
        return Reply(200, _PAGE_HEADERS, body.encode())

    def asset(self, name: str) -> Reply | None:
        """``page.js``, ``page.css`` or ``favicon.svg``; None for any other name."""
        return self._assets.get(name)


def _asset_headers(kind: str) -> tuple[tuple[str, str], ...]:
    return (
        ("content-type", kind),
        ("cache-control", "no-cache"),
        ("x-content-type-options", "nosniff"),
    )
