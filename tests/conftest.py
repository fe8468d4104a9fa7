"""Suite-wide set-up: the example apps keep their client tokens in a throwaway store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# bearerguard's own pytest plugin (local_issuer, act_as), loaded here rather than by its
# entry point (disabled in pyproject.toml) so that coverage measures its imports.
pytest_plugins = ["bearerguard.testing.plugin"]


def pytest_configure(config: pytest.Config) -> None:
    # The examples issue real client tokens into SQLite; tests must not leave a
    # payments.db in the checkout, and subprocess servers must see the same file.
    if "PAYMENTS_STORE" not in os.environ:
        directory = Path(tempfile.mkdtemp(prefix="bearerguard-examples-"))
        os.environ["PAYMENTS_STORE"] = f"sqlite:///{directory / 'payments.db'}"


def _chromium() -> str | None:
    import shutil

    return os.environ.get("BEARERGUARD_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The system Chromium (``dev.py test`` installs Debian's package).

    Fails under ``CI=true`` when it is missing; skips locally with the reason.
    """
    path = _chromium()
    if path is None:
        reason = "chromium is not installed (python3 dev.py test installs it as root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: the browser tests must run)")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def browser(chromium_path: str):  # type: ignore[no-untyped-def]
    """A headless Chromium driven by Playwright, shared by one module's browser tests.

    Per module, not per session: while Playwright's sync API is started it keeps an
    asyncio loop marked as running in the main thread, so every later test that runs
    a loop of its own (anyio, asyncio.run) would fail with "Cannot run the event loop
    while another loop is running".
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()
