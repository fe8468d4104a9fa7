"""App factories for the loopback servers (uvicorn ``--factory``, gunicorn ``module:f()``).

The variant comes from ``BEARERGUARD_BENCH_VARIANT`` and the key and tokens from the
file named by ``BEARERGUARD_BENCH_STATE``, both set by the parent process.
"""

from __future__ import annotations

import os
from typing import Any

from .fixtures import load
from .variants import load_all

VARIANT_ENV = "BEARERGUARD_BENCH_VARIANT"


def _build() -> Any:
    variant = load_all()[os.environ[VARIANT_ENV]]
    return variant.build(load())


def asgi() -> Any:
    """The ASGI app of the variant named in the environment."""
    return _build()


def wsgi() -> Any:
    """The WSGI app of the variant named in the environment."""
    return _build()
