"""RedisRevocationBus: Redis pub/sub for the messages, keys with a TTL for the list."""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Sequence
from typing import Any

from ._bus import BusStats, Counters, RevocationError, RevocationSink, check_seconds
from ._message import Revocation
from ._subscriber import Deliver, Subscriber

__all__ = ["RedisRevocationBus"]

# Keep the larger "before" and the later expiry of an id recorded twice (a subject
# logged out again with an older time must not shorten the first revocation).
# ARGV: value, expiry in ms since the epoch (0: for good). PXAT needs Redis 6.2.
_RECORD = """
local old = redis.call('GET', KEYS[1])
local value = ARGV[1]
local keep = tonumber(ARGV[2])
if old then
  if tonumber(old) > tonumber(value) then value = old end
  local left = redis.call('PTTL', KEYS[1])
  if left == -1 then
    keep = 0
  elseif keep ~= 0 and left > 0 then
    local now = redis.call('TIME')
    local current = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + left
    if current > keep then keep = current end
  end
end
if keep == 0 then
  redis.call('SET', KEYS[1], value)
else
  redis.call('SET', KEYS[1], value, 'PXAT', keep)
end
return 1
"""


_SENTINEL = ("redis+sentinel", "rediss+sentinel")


def _describe(url: str) -> str:
    # For logs and repr: scheme and hosts; never the user or the password.
    parts = urllib.parse.urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2]
    service = parts.path if parts.scheme in _SENTINEL else ""
    return f"{parts.scheme}://{hosts}{service}"


def _sentinel(url: str) -> tuple[list[tuple[str, int]], str, dict[str, Any]]:
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


def _client(url: str, options: dict[str, Any], asynchronous: bool) -> Any:
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
    if urllib.parse.urlsplit(url).scheme not in _SENTINEL:
        return module.Redis.from_url(url, **options)
    sentinels, service, master = _sentinel(url)
    timeouts = {k: v for k, v in options.items() if k.startswith("socket_")}
    sentinel = Sentinel(sentinels, sentinel_kwargs=timeouts)  # type: ignore[no-untyped-call]
    return sentinel.master_for(service, **master, **options)


def _sentinels(client: Any) -> list[Any]:
    # A Sentinel-managed client's pool keeps the sentinels' own clients open.
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    return [] if manager is None else list(manager.sentinels)


async def _aclose(client: Any) -> None:
    await client.aclose()
    for sentinel in _sentinels(client):
        await sentinel.aclose()


class RedisRevocationBus:
    """A revocation bus on Redis, through redis-py.

    Messages go out with ``PUBLISH`` on ``channel``; each process listens on one
    connection of redis-py's asyncio client, in its own thread. Revocations are kept
    in keys ``{key_prefix}{id}`` that expire with the token (``SET ... PXAT``), read
    with one ``MGET`` per verification miss.

    Args:
        url: Any URL ``redis.Redis.from_url`` accepts: ``redis://``, ``rediss://``
            (TLS, with ``ssl_*`` query options) or ``unix://``, with user, password
            and database; or Redis Sentinel as
            ``redis+sentinel://[user:password@]host:26379[,host:26379]/service[/db]``
            (``rediss+sentinel://`` for TLS to the master), which redis-py's
            ``Sentinel(...).master_for(service)`` follows through failovers.
        channel: The pub/sub channel.
        key_prefix: Prefix of the revocation-list keys.
        timeout: Longest wait for one call (publish, record, lookup, connect, a
            heartbeat's answer), in seconds.
        heartbeat: Seconds between the subscriber's ``PING`` round trips; a stalled
            connection is noticed within ``heartbeat + timeout``.
        revocation_list: Keep the shared revocation list and have guards read it on
            every verification miss (a miss that cannot read it is a 503). False: the
            bus only carries evictions, so an outage never fails a request, and
            ``guard.revoke`` is not available.
        **client_options: Passed on to both redis-py clients (``ssl_ca_certs``, say).

    Raises:
        ImportError: redis-py is not installed (the ``redis`` extra).
        ValueError: a bad URL, timeout or heartbeat.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = "bearerguard:revocations",
        key_prefix: str = "bearerguard:revoked:",
        timeout: float = 1.0,
        heartbeat: float = 1.0,
        revocation_list: bool = True,
        **client_options: Any,
    ) -> None:
        import redis  # noqa: F401  # fail here without the extra, not in a thread

        self.timeout = check_seconds(timeout, "timeout")
        self.heartbeat = check_seconds(heartbeat, "heartbeat")
        self.revocation_list = bool(revocation_list)
        self.channel = channel
        self.key_prefix = key_prefix
        self._url = url
        self._what = f"redis {_describe(url)}"
        self._options = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            **client_options,
        }
        if urllib.parse.urlsplit(url).scheme in _SENTINEL:
            _sentinel(url)  # a bad URL fails here
        self._client = _client(url, self._options, asynchronous=False)
        self._record = self._client.register_script(_RECORD)
        self._counters = Counters()
        self._subscriber = Subscriber(
            self._what,
            self._listener,
            self._counters,
            timeout=self.timeout,
            heartbeat=self.heartbeat,
        )

    def __repr__(self) -> str:
        return f"RedisRevocationBus({_describe(self._url)!r})"

    def publish(self, revocation: Revocation) -> None:
        """``PUBLISH`` the revocation to every subscribed process."""
        try:
            self._client.publish(self.channel, revocation.encode())
        except Exception as exc:
            self._counters.failed_publish()
            raise RevocationError(f"{self._what}: publish failed ({type(exc).__name__})") from None

    async def apublish(self, revocation: Revocation) -> None:
        """Async twin of :meth:`publish`, on a short-lived asyncio client.

        Short-lived because an asyncio connection belongs to one event loop, and an
        app may run several; revocations are rare.
        """
        try:
            client = _client(self._url, self._options, asynchronous=True)
            try:
                await client.publish(self.channel, revocation.encode())
            finally:
                await _aclose(client)
        except Exception as exc:
            self._counters.failed_publish()
            raise RevocationError(f"{self._what}: publish failed ({type(exc).__name__})") from None

    def subscribe(self, sink: RevocationSink) -> None:
        """Deliver received revocations to ``sink``; starts this process's listener."""
        self._subscriber.add(sink)

    def record(self, revocation: Revocation, expires_at: float | None) -> None:
        """Set one key per id, expiring at ``expires_at`` (None: never)."""
        keep = 0 if expires_at is None else max(1, math.ceil(expires_at * 1000))
        value = repr(float(revocation.before or 0.0))
        try:
            with self._client.pipeline(transaction=False) as pipe:
                for record_id in revocation.ids:
                    key = self.key_prefix + record_id
                    self._record(keys=[key], args=[value, keep], client=pipe)
                pipe.execute()
        except Exception as exc:
            raise RevocationError(f"{self._what}: record failed ({type(exc).__name__})") from None

    def lookup(self, ids: Sequence[str], now: float) -> dict[str, float]:
        """One ``MGET``; an expired key is gone, so every value found is in force."""
        try:
            values = self._client.mget([self.key_prefix + record_id for record_id in ids])
        except Exception as exc:
            raise RevocationError(f"{self._what}: lookup failed ({type(exc).__name__})") from None
        found = {}
        for record_id, value in zip(ids, values, strict=True):
            if value is not None:
                try:
                    found[record_id] = float(value)
                except ValueError:
                    found[record_id] = math.inf  # a key someone wrote by hand: revoked
        return found

    def stats(self) -> BusStats:
        """This process's counters."""
        return self._counters.snapshot()

    def close(self) -> None:
        """Stop the listener and close the pooled connections."""
        self._subscriber.close()
        self._client.close()
        for sentinel in _sentinels(self._client):
            sentinel.close()

    def _listener(self, deliver: Deliver) -> _RedisListener:
        return _RedisListener(self._url, self.channel, self.timeout, self._options, deliver)


class _RedisListener:
    def __init__(
        self, url: str, channel: str, timeout: float, options: dict[str, Any], deliver: Deliver
    ) -> None:
        self._url = url
        self._channel = channel
        self._timeout = timeout
        self._options = options
        self._deliver = deliver
        self._client: Any = None
        self._pubsub: Any = None

    async def open(self) -> None:
        self._client = _client(self._url, self._options, asynchronous=True)
        self._pubsub = self._client.pubsub()
        await self._pubsub.subscribe(self._channel)
        while True:  # the subscription is live once the server confirms it
            message = await self._pubsub.get_message(timeout=self._timeout)
            if message is None:
                raise TimeoutError("no subscribe confirmation")
            if message["type"] == "subscribe":
                return

    async def receive(self, wait: float) -> None:
        message = await self._pubsub.get_message(timeout=wait)
        while message is not None:
            self._handle(message)
            message = await self._pubsub.get_message(timeout=0.0)

    async def ping(self) -> None:
        await self._pubsub.ping()
        while True:
            message = await self._pubsub.get_message(timeout=self._timeout)
            if message is None:
                raise TimeoutError("no PONG")
            if message["type"] == "pong":
                return
            self._handle(message)

    def _handle(self, message: dict[str, Any]) -> None:
        if message["type"] == "message":
            self._deliver(message["data"])

    async def close(self) -> None:
        try:
            if self._pubsub is not None:
                await self._pubsub.aclose()
        finally:
            if self._client is not None:
                await _aclose(self._client)
