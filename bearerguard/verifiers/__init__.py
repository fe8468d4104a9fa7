"""Verifiers: the plug points that own a token format and do the I/O."""

from __future__ import annotations

from ..verifier import AsyncVerifier, Verifier
from ._claims import ANY_AUDIENCE
from .client import ClientTokenVerifier
from .introspection import IntrospectionVerifier
from .jwt import JWTVerifier
from .static import StaticTokenVerifier

__all__ = [
    "ANY_AUDIENCE",
    "AsyncVerifier",
    "ClientTokenVerifier",
    "IntrospectionVerifier",
    "JWTVerifier",
    "StaticTokenVerifier",
    "Verifier",
]
