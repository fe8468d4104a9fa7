"""The page and its assets, served by both mounts: public, strict CSP, nothing inline."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from bearerguard.dashboard import CONTENT_SECURITY_POLICY


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline_script = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.tags and self.tags[-1][0] == "script":
            self.inline_script += data.strip()


def parse(body: bytes) -> Tags:
    tags = Tags()
    tags.feed(body.decode())
    return tags


def test_the_page_is_public_with_a_strict_csp(dashboard: Any) -> None:
    reply = dashboard.call("GET", "/")

    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["cache-control"] == "no-store"
    page = parse(reply.body)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts == [{"src": "/dashboard/static/page.js", "defer": None}]
    assert page.inline_script == ""
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)
    assert not any("style" in attrs for _, attrs in page.tags)
    assert ("link", {"rel": "stylesheet", "href": "/dashboard/static/page.css"}) in page.tags
    body = next(attrs for tag, attrs in page.tags if tag == "body")
    assert body["data-api"] == "/dashboard/api"


def test_the_dialog_offers_each_known_scope_with_star_explained(dashboard: Any) -> None:
    page = parse(dashboard.call("GET", "/").body)

    boxes = [attrs for tag, attrs in page.tags if tag == "input" and attrs.get("name") == "scopes"]
    assert [box["value"] for box in boxes] == [
        "payments.create",
        "payments.get",
        "payments.user-instructions.get",
        "*",
    ]
    labels = {attrs["for"] for tag, attrs in page.tags if tag == "label"}
    assert all(box["id"] in labels for box in boxes)
    star = boxes[-1]
    assert star["aria-describedby"]
    assert "Full access" in dashboard.call("GET", "/").body.decode()
    for field in ("token-label", "token-expires_at"):
        assert field in labels
    assert (
        "input",
        {
            "id": "token-expires_at",
            "name": "expires_at",
            "type": "date",
            "aria-describedby": "token-expires_at-help token-expires_at-error",
        },
    ) in page.tags


def test_descriptions_and_login_url_are_escaped(make_dashboard: Any) -> None:
    dashboard = make_dashboard(
        "flask",
        scope_descriptions={"payments.get": '<script>alert("x")</script>'},
        login_url='/login"><script>',
    )
    body = dashboard.call("GET", "/").body.decode()

    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert 'data-login-url="/login&quot;&gt;&lt;script&gt;"' in body


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("page.js", "text/javascript; charset=utf-8"),
        ("page.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_the_assets_are_served_without_a_token(dashboard: Any, name: str, kind: str) -> None:
    reply = dashboard.call("GET", f"/static/{name}")

    assert reply.status == 200
    assert reply.headers["content-type"] == kind
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert len(reply.body) > 200


def test_the_script_never_uses_web_storage(dashboard: Any) -> None:
    script = dashboard.call("GET", "/static/page.js").body.decode()
    code = re.sub(r"//.*", "", script)  # the comments say why it does not

    assert "localStorage" not in code
    assert "sessionStorage" not in code
    assert "document.cookie" not in code
    assert "innerHTML" not in code  # text only: no markup from the API reaches the page


@pytest.mark.parametrize("name", ["page.txt", "_page.py", "..%2F_api.py", "..%2F..%2Fapi"])
def test_nothing_else_is_served_from_static(dashboard: Any, name: str) -> None:
    reply = dashboard.call("GET", f"/static/{name}")

    # An encoded slash leaves the public path template, so the guard asks for a token.
    assert reply.status == (401 if "%2F" in name else 404)
    assert b"import" not in reply.body


def test_the_api_is_not_public_because_the_page_is(dashboard: Any) -> None:
    assert dashboard.call("GET", "/api/applications").status == 401
    assert dashboard.call("GET", "/static/page.js", "oauth-unknown").status == 401
