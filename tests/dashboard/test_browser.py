"""The dashboard in a real browser: the FastAPI example under uvicorn, headless Chromium.

One merchant's whole story, end to end: sign in (the example's development login),
create a payment application, create a token with two scopes and an expiry, copy it
from the clipboard, call the payments API with it over HTTP (201 with the scope, 403
without), revoke it (401), rotate another (the old one works during the grace). The
page is driven by keyboard and by accessible names (what a screen reader announces),
at desktop and phone width. Screenshots land in the test's ``tmp_path``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from bearerguard.dashboard import new_secret_key

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
STARTUP_SECONDS = 30


@dataclass
class Server:
    url: str
    log: list[str]

    def request(self, method: str, path: str, token: str, body: Any = None) -> int:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            error.close()
            return int(error.code)


@pytest.fixture(scope="module")
def example_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``examples/fastapi_app.py`` under uvicorn on a free loopback port."""
    store = tmp_path_factory.mktemp("example") / "payments.db"
    env = {
        **os.environ,
        "PAYMENTS_STORE": f"sqlite:///{store}",
        "BEARERGUARD_SECRET_KEY": new_secret_key(),
    }
    argv = [sys.executable, "-m", "uvicorn", "fastapi_app:app", "--app-dir", str(EXAMPLES)]
    argv += ["--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env=env
    )
    log: list[str] = []
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # the access log and the error log
            log.append(line)
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        url = None
        while url is None:
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("the example did not start:\n" + "".join(log))
            with contextlib.suppress(queue.Empty):
                found = re.search(r"running on (http://127\.0\.0\.1:\d+)", lines.get(timeout=0.5))
                url = found.group(1) if found else None
        yield Server(url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


def _reveal_and_copy(page: Any) -> str:
    """Copy the token the dialog shows, check the clipboard holds it, close the dialog."""
    dialog = page.get_by_role("dialog")
    shown = page.get_by_role("textbox", name=re.compile("^(New t|T)oken for")).input_value()
    assert shown
    dialog.get_by_role("button", name="Copy").click()
    status = dialog.get_by_role("status")
    status.filter(has_text="Copied to the clipboard.").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == shown
    return str(copied)


def _close_and_check_gone(page: Any, plaintext: str) -> None:
    page.get_by_role("dialog").get_by_role("button", name="Done").click()
    page.get_by_role("dialog").wait_for(state="hidden")
    expect(page.locator("#reveal-value")).to_have_value("")
    assert plaintext not in page.content()
    assert plaintext not in page.evaluate("document.body.innerText")


def _confirm(page: Any, action: str) -> None:
    confirm = page.get_by_role("dialog", name=re.compile(r"\?$"))
    confirm.get_by_role("button", name=action).click()
    confirm.wait_for(state="hidden")


def test_a_merchant_manages_tokens_in_the_browser(
    browser: Any, example_server: Server, tmp_path: Path
) -> None:
    origin = example_server.url
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        permissions=["clipboard-read", "clipboard-write"],
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []  # script errors and CSP violations
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and "Failed to load resource" not in message.text
            and problems.append(message.text)
        ),
    )
    refused: list[tuple[int, str]] = []  # every answer the page got that was not 2xx
    page.on("response", lambda r: r.status >= 300 and refused.append((r.status, r.url)))

    # Signed in by the development login on the first API call; no application yet.
    page.goto(origin + "/dashboard/")
    page.get_by_role("heading", name="Your applications").wait_for()
    page.get_by_text("You have no payment applications yet.").wait_for()

    # 1. Create an application, by keyboard: its webhook secret is shown once.
    page.get_by_role("textbox", name="New application name").fill("Web shop")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Your webhook secret").wait_for()
    secret = page.locator("#reveal-value").input_value()
    assert secret.startswith("whsec_")
    page.keyboard.press("Escape")  # Escape closes it as Done does
    page.get_by_role("dialog").wait_for(state="hidden")
    expect(page.locator("#reveal-value")).to_have_value("")
    page.get_by_role("heading", name="Web shop").wait_for()
    client_id = page.locator("#client-id").inner_text()
    assert re.fullmatch(r"[0-9A-Za-z]{32}", client_id)

    # 2. The dialog, by keyboard: Enter opens it, focus lands on Label, Escape closes it
    #    and gives focus back to the button.
    create = page.get_by_role("button", name="Create API Access Token")
    create.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create API Access Token")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.id") == "token-label"
    page.keyboard.type("Checkout server")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "token-expires_at"
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.id") == "create-token"

    # 3. A token with two scopes and an expiry; a missing label is refused by the API
    #    and shown beside the field.
    create.click()
    expiry = (date.today() + timedelta(days=30)).isoformat()
    dialog.get_by_role("textbox", name="Label").fill("")
    dialog.get_by_label("Expiration date (optional)").fill(expiry)
    dialog.get_by_role("checkbox", name="payments.create").check()
    dialog.get_by_role("checkbox", name="payments.get").check()
    # "*" is announced with its explanation (aria-describedby).
    star = dialog.get_by_role("checkbox", name="*")
    help_id = star.get_attribute("aria-describedby")
    assert "Full access" in page.locator(f"#{help_id}").inner_text()
    dialog.get_by_role("button", name="Create token").click()
    dialog.get_by_text("label must be non-empty").wait_for()
    assert dialog.get_by_role("textbox", name="Label").get_attribute("aria-invalid") == "true"
    dialog.get_by_role("textbox", name="Label").fill("Checkout server")
    assert dialog.get_by_role("textbox", name="Label").get_attribute("aria-invalid") is None
    dialog.screenshot(path=str(tmp_path / "dialog-create-token.png"))
    dialog.get_by_role("button", name="Create token").click()

    # 4. Shown once, with a warning; copied through the Clipboard API.
    page.get_by_text("it will not be shown again").wait_for()
    checkout_token = _reveal_and_copy(page)
    assert checkout_token.startswith("pay_live_")
    page.get_by_role("dialog").screenshot(path=str(tmp_path / "dialog-token-shown-once.png"))
    _close_and_check_gone(page, checkout_token)

    # 5. The token works against the API: 201 with payments.create ...
    body = {"clientId": client_id, "amount": 1250}
    assert example_server.request("POST", "/api/payment/checkout", checkout_token, body) == 201
    # ... and a token without that scope gets 403.
    create.click()
    dialog.get_by_role("textbox", name="Label").fill("Reporting job")
    dialog.get_by_role("checkbox", name="payments.get").check()
    dialog.get_by_role("button", name="Create token").click()
    page.get_by_text("it will not be shown again").wait_for()
    reporting_token = _reveal_and_copy(page)
    _close_and_check_gone(page, reporting_token)
    assert example_server.request("POST", "/api/payment/checkout", reporting_token, body) == 403
    assert example_server.request("GET", "/api/payment/pay_1", reporting_token) == 200

    # The list: label, scopes, created, expires, last used, status.
    rows = page.locator("#tokens tr")
    rows.nth(1).wait_for()
    first = rows.filter(has_text="Checkout server")
    assert first.locator('[data-label="Scopes"]').inner_text().split() == [
        "payments.create",
        "payments.get",
    ]
    assert first.locator('[data-label="Expires"]').inner_text() != "Never"
    assert first.locator('[data-label="Status"]').inner_text() == "active"
    # Last used is written within about a second of the use; the page shows it on reload.
    used = page.locator("#tokens tr").filter(has_text="Checkout server")
    deadline = time.monotonic() + 20  # generous: the machine may be busy
    while True:
        page.reload()
        page.get_by_role("heading", name="Web shop").wait_for()
        page.locator("#tokens tr").nth(1).wait_for()
        if used.locator('[data-label="Last used"]').inner_text() != "Never":
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert used.locator('[data-label="Last used"]').inner_text() != "Never"
    assert "label must be non-empty" not in page.content()
    page.locator("section#application").screenshot(path=str(tmp_path / "token-list.png"))

    # 6. Revoke, with confirmation: then 401.
    page.get_by_role("button", name="Revoke token Checkout server").click()
    _confirm(page, "Revoke token")
    revoked = page.locator("#tokens tr").filter(has_text="Checkout server")
    revoked.locator('[data-label="Status"]').filter(has_text="revoked").wait_for()
    assert example_server.request("POST", "/api/payment/checkout", checkout_token, body) == 401

    # 7. Rotate, with confirmation: the old token works during the grace, the new one too.
    page.get_by_role("button", name="Rotate token Reporting job").click()
    _confirm(page, "Rotate token")
    page.get_by_role("heading", name="Your rotated API access token").wait_for()
    rotated_token = _reveal_and_copy(page)
    _close_and_check_gone(page, rotated_token)
    assert rotated_token != reporting_token
    assert example_server.request("GET", "/api/payment/pay_1", reporting_token) == 200
    assert example_server.request("GET", "/api/payment/pay_1", rotated_token) == 200

    # Back to the list of applications, by keyboard.
    page.get_by_role("link", name="All applications").focus()
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Your applications").wait_for()
    assert page.get_by_role("link", name="Web shop").is_visible()
    page.locator("section#applications").screenshot(path=str(tmp_path / "applications.png"))

    # Nothing kept in web storage or cookies; no CSP violation or script error.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert context.cookies() == []
    assert problems == [], problems
    assert refused == [(422, f"{origin}/dashboard/api/applications/{client_id}/tokens")], refused

    # 8. Phone width: one card per token, nothing wider than the screen.
    phone = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    small = phone.new_page()
    small.goto(origin + f"/dashboard/#app={client_id}")
    small.get_by_role("heading", name="Web shop").wait_for()
    small.locator("#tokens tr").nth(2).wait_for()
    assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert small.locator("#tokens tr").first.evaluate("row => getComputedStyle(row).display") == (
        "block"
    )
    small.screenshot(path=str(tmp_path / "token-list-phone.png"), full_page=True)
    small.get_by_role("button", name="Create API Access Token").click()
    small.get_by_role("dialog", name="Create API Access Token").screenshot(
        path=str(tmp_path / "dialog-create-token-phone.png")
    )
    phone.close()
    context.close()

    # No plaintext ever reached the server's log.
    log = "".join(example_server.log)
    assert "POST /dashboard/api/applications" in log
    for plaintext in (secret, checkout_token, reporting_token, rotated_token):
        assert plaintext not in log
    for name in ("applications", "dialog-create-token", "dialog-token-shown-once", "token-list"):
        assert (tmp_path / f"{name}.png").stat().st_size > 5_000


def test_the_page_signs_in_again_or_asks_for_a_token(browser: Any, example_server: Server) -> None:
    origin = example_server.url
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(20_000)

    # The access token is refused once (it expired, say): the page signs in again.
    refusals: list[str] = []

    def refuse_once(route: Any) -> None:
        if refusals:
            route.continue_()
        else:
            refusals.append(route.request.url)
            route.fulfill(status=401, content_type="application/json", body="{}")

    page.route("**/dashboard/api/applications", refuse_once)
    logins: list[str] = []
    page.on("request", lambda r: r.url.endswith("/dev/login") and logins.append(r.method))
    page.goto(origin + "/dashboard/")
    page.get_by_role("heading", name="Your applications").wait_for()
    assert (len(refusals), logins) == (1, ["POST", "POST"])

    # Without a working login the page asks for a token, and takes a pasted one.
    page.unroute("**/dashboard/api/applications")
    page.route("**/dev/login", lambda route: route.fulfill(status=404, body=""))
    page.reload()
    page.get_by_text("Signing in failed: paste an access token instead.").wait_for()
    field = page.get_by_label("OAuth access token")
    assert field.get_attribute("type") == "password"
    request = urllib.request.Request(origin + "/dev/login", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        token = json.load(response)["access_token"]
    field.fill(token)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Your applications").wait_for()
    assert field.input_value() == ""
    assert token not in page.content()
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    context.close()
