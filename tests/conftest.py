"""Suite-wide set-up: the example apps keep their client tokens in a throwaway store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # The examples issue real client tokens into SQLite; tests must not leave a
    # payments.db in the checkout, and subprocess servers must see the same file.
    if "PAYMENTS_STORE" not in os.environ:
        directory = Path(tempfile.mkdtemp(prefix="bearerguard-examples-"))
        os.environ["PAYMENTS_STORE"] = f"sqlite:///{directory / 'payments.db'}"
