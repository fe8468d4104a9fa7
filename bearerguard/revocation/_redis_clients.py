"""redis-py clients for the Redis bus: plain URLs, Sentinel URLs, no retries."""

from __future__ import annotations

import urllib.parse
from typing import Any

__all__ = ["SENTINEL", "aclose", "client", "describe", "sentinel_parts", "sentinels"]

SENTINEL = ("redis+sentinel", "rediss+sentinel")


def describe(url: str) -> str:
    # For logs and repr: scheme and hosts; never the user or the password.
    parts = urllib.parse.urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    service = parts.path if parts.scheme in SENTINEL else ""
    return f"{parts.scheme}://{hosts}{service}"


def sentinel_parts(url: str) -> tuple[list[tuple[str, int]], str, dict[str, Any]]:
    """Sentinels, service name and master options of a ``redis+sentinel://`` URL.

    ``redis+sentinel://[user:password@]host[:port][,host[:port]...]/service[/db]``;
    ``rediss+sentinel://`` talks TLS to the master. The password is the master's.
    """
    parts = urllib.parse.urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels = []
    for host in hosts.split(","):
        name, _, port = host.partition(":")
        if not name or (port and not port.isdigit()):
            raise ValueError("a sentinel URL names host[:port] pairs joined by commas")
        sentinels.append((name, int(port or 26379)))
    path = [unquote for unquote in parts.path.split("/") if unquote]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError("a sentinel URL ends in /service_name or /service_name/db")
    options: dict[str, Any] = {"db": int(path[1]) if len(path) == 2 else 0}
    if userinfo:
        user, _, password = userinfo.partition(":")
        options["username"] = urllib.parse.unquote(user) or None
        options["password"] = urllib.parse.unquote(password) or None
    if parts.scheme == "rediss+sentinel":
        options["ssl"] = True
    return sentinels, urllib.parse.unquote(path[0]), options


def client(url: str, options: dict[str, Any], asynchronous: bool) -> Any:
    """A redis-py client (sync or asyncio) for a URL, without retries."""
    from redis.backoff import NoBackoff

    if asynchronous:
        import redis.asyncio as module
        from redis.asyncio.retry import Retry
        from redis.asyncio.sentinel import Sentinel
    else:
        import redis as module  # type: ignore[no-redef]
        from redis.retry import Retry  # type: ignore[assignment]
        from redis.sentinel import Sentinel  # type: ignore[assignment]

    # No retries: a caller waits at most ``timeout`` per step, not four times it.
    options = {"retry": Retry(NoBackoff(), 0), "health_check_interval": 0, **options}
    if urllib.parse.urlsplit(url).scheme not in SENTINEL:
        return module.Redis.from_url(url, **options)
    hosts, service, master = sentinel_parts(url)
    timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
    sentinel = Sentinel(hosts, sentinel_kwargs=timeouts)  # type: ignore[no-untyped-call]
    return sentinel.master_for(service, **master, **options)


def sentinels(client: Any) -> list[Any]:
    # A Sentinel-managed client's pool keeps the sentinels' own clients open.
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    return [] if manager is None else list(manager.sentinels)


async def aclose(client: Any) -> None:
    await client.aclose()
    for sentinel in sentinels(client):
        await sentinel.aclose()
