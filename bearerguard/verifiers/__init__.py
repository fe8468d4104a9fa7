"""Verifiers: the plug points that own a token format and do the I/O."""

from __future__ import annotations

from ..verifier import AsyncVerifier, Verifier
from .client import ClientTokenVerifier
from .introspection import IntrospectionVerifier
from .jwt import JWTVerifier
from .static import StaticTokenVerifier

__all__ = [
    "AsyncVerifier",
    "ClientTokenVerifier",
    "IntrospectionVerifier",
    "JWTVerifier",
    "StaticTokenVerifier",
    "Verifier",
]
