"""RedisRevocationBus: Redis pub/sub for the messages, keys with a TTL for the list."""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Sequence
from typing import Any

from ._message import Revocation
from ._redis_clients import SENTINEL, aclose, client, describe, sentinel_parts, sentinels
from ._shared import SharedBus
from ._subscriber import Deliver

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


class RedisRevocationBus(SharedBus):
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
        max_concurrency: Calls (publish, record, lookup) under way at once in this
            process; each answers within ``timeout`` whatever the network does.
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
        max_concurrency: int = 4,
        **client_options: Any,
    ) -> None:
        import redis  # noqa: F401  # fail here without the extra, not in a thread

        self._share(
            f"redis {describe(url)}",
            self._listener,
            timeout=timeout,
            heartbeat=heartbeat,
            revocation_list=revocation_list,
            max_concurrency=max_concurrency,
        )
        self.channel = channel
        self.key_prefix = key_prefix
        self._url = url
        self._options = {
            "socket_timeout": self.timeout,
            "socket_connect_timeout": self.timeout,
            **client_options,
        }
        if urllib.parse.urlsplit(url).scheme in SENTINEL:
            sentinel_parts(url)  # a bad URL fails here
        self._client = client(url, self._options, asynchronous=False)
        self._record = self._client.register_script(_RECORD)

    def __repr__(self) -> str:
        return f"RedisRevocationBus({describe(self._url)!r})"

    def publish(self, revocation: Revocation) -> None:
        """``PUBLISH`` the revocation to every subscribed process."""
        try:
            self._calls.call(self._client.publish, self.channel, revocation.encode())
        except Exception as exc:
            raise self._failure("publish", exc) from None

    async def apublish(self, revocation: Revocation) -> None:
        """Async twin of :meth:`publish`, on a short-lived asyncio client.

        Short-lived because an asyncio connection belongs to one event loop, and an
        app may run several; revocations are rare.
        """
        import asyncio

        async def publish() -> None:
            publisher = client(self._url, self._options, asynchronous=True)
            try:
                await publisher.publish(self.channel, revocation.encode())
            finally:
                await aclose(publisher)

        try:
            await asyncio.wait_for(publish(), self.timeout)
        except Exception as exc:
            raise self._failure("publish", exc) from None

    def record(self, revocation: Revocation, expires_at: float | None) -> None:
        """Set one key per id, expiring at ``expires_at`` (None: never)."""
        keep = 0 if expires_at is None else max(1, math.ceil(expires_at * 1000))
        value = repr(float(revocation.before or 0.0))

        def record() -> None:
            with self._client.pipeline(transaction=False) as pipe:
                for record_id in revocation.ids:
                    key = self.key_prefix + record_id
                    self._record(keys=[key], args=[value, keep], client=pipe)
                pipe.execute()

        try:
            self._calls.call(record)
        except Exception as exc:
            raise self._failure("record", exc) from None

    def lookup(self, ids: Sequence[str], now: float) -> dict[str, float]:
        """One ``MGET``; an expired key is gone, so every value found is in force."""
        try:
            keys = [self.key_prefix + record_id for record_id in ids]
            values = self._calls.call(self._client.mget, keys)
        except Exception as exc:
            raise self._failure("lookup", exc) from None
        found = {}
        for record_id, value in zip(ids, values, strict=True):
            if value is not None:
                try:
                    found[record_id] = float(value)
                except ValueError:
                    found[record_id] = math.inf  # a key someone wrote by hand: revoked
        return found

    def close(self) -> None:
        """Stop the listener and close the pooled connections."""
        self._subscriber.close()
        self._client.close()
        for sentinel in sentinels(self._client):
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
        self._client = client(self._url, self._options, asynchronous=True)
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
                await aclose(self._client)
