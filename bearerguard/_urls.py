"""The URLs bearerguard is configured with: ``https``, or plain ``http`` to loopback.

Keys, metadata and introspection answers are fetched from such URLs, and a protected
resource names itself with one (RFC 9728 section 1.2). Plain HTTP is allowed to a
loopback address only, for development and tests: nothing else can be read or
spoofed on the way there.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["check_url"]


def check_url(url: str, name: str) -> None:
    """Refuse a URL that is not ``https``, or plain ``http`` to a loopback address.

    Raises:
        ValueError: naming the option, for any other scheme or host.
    """
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is not None and parts.hostname:
        if parts.scheme == "https":
            return
        if parts.scheme == "http":
            host = parts.hostname
            try:
                loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
            if loopback:
                return
    raise ValueError(f"{name} must be https (plain http is allowed to loopback only)")
