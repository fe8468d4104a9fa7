"""Test helpers: a local JWT issuer, and requests that act as a chosen principal.

```python
from bearerguard.testing import LocalIssuer, acting_as
```

- :class:`LocalIssuer` mints JWT access tokens (any claims, expired, signed with the
  wrong key, for another audience, with a chosen ``alg``, ``kid`` or ``typ``) and
  hands out a :class:`~bearerguard.JWTVerifier` that trusts them, holding the key or
  reading a JWKS served from memory. Nothing touches the network.
- :func:`acting_as` makes requests act as a :class:`~bearerguard.Principal` under the
  app's own middleware, for FastAPI, Starlette, Flask and any WSGI app.
- The pytest plugin (:mod:`bearerguard.testing.plugin`, loaded automatically once
  bearerguard is installed) provides both as fixtures: ``local_issuer`` and ``act_as``.

Nothing here changes how a guard behaves unless a test hands it the guard.
"""

from __future__ import annotations

from ._acting import acting_as
from ._issuer import LocalIssuer

__all__ = ["LocalIssuer", "acting_as"]
