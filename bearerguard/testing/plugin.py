"""The pytest plugin: ``local_issuer`` and ``act_as`` fixtures.

Installed bearerguard registers it (the ``pytest11`` entry point ``bearerguard``), so
a test only names the fixture:

```python
def test_payment(act_as):
    client = TestClient(app)
    alice = Principal(kind="oauth", subject="alice", scopes={"payments.get"})
    assert client.get("/api/payment/pay_1", headers=act_as(guard, alice)).status_code == 200
```

Disable it with ``-p no:bearerguard``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from ..guard import Guard
from ..principal import Principal
from ._acting import acting_as
from ._issuer import LocalIssuer

__all__ = ["act_as", "local_issuer"]


@pytest.fixture(scope="session")
def local_issuer() -> LocalIssuer:
    """A :class:`~bearerguard.testing.LocalIssuer` with the default settings, shared
    by the session (its keys are made once).

    ``local_issuer.verifier()`` trusts its tokens; build your own ``LocalIssuer(...)``
    for another issuer, audience or algorithm.
    """
    return LocalIssuer()


@pytest.fixture
def act_as() -> Iterator[Callable[[Guard, Principal], dict[str, str]]]:
    """``act_as(guard, principal)``: headers that act as ``principal`` under ``guard``.

    :func:`~bearerguard.testing.acting_as` for the rest of the test: every guard and
    principal given is undone when the test ends.
    """
    with contextlib.ExitStack() as stack:

        def act(guard: Guard, principal: Principal) -> dict[str, str]:
            return stack.enter_context(acting_as(guard, principal))

        yield act
