"""ProviderMetadata (discovery) against a real HTTP server on 127.0.0.1.

The schedule reads an injected monotonic timer, so refreshes and retries are moved by
hand; the only real waits are the server's.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bearerguard.exceptions import ServiceUnavailableError
from bearerguard.verifiers._metadata import ProviderMetadata, discovery_urls

from ._servers import LocalServer, Reply

OIDC = "/.well-known/openid-configuration"
RFC8414 = "/.well-known/oauth-authorization-server"


class Timer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[LocalServer]:
    server = LocalServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def timer() -> Timer:
    return Timer()


def metadata(issuer: str, timer: Timer, **options: Any) -> ProviderMetadata:
    options.setdefault("timeout", 2.0)
    return ProviderMetadata(
        issuer, timer=timer, refresh_interval=3600, retry_interval=10, **options
    )


def document(issuer: str, **members: Any) -> dict[str, Any]:
    return {"issuer": issuer, "jwks_uri": issuer + "/jwks", **members}


@pytest.mark.parametrize(
    ("issuer", "oidc", "rfc8414"),
    [
        pytest.param(
            "https://h.example",
            "https://h.example/.well-known/openid-configuration",
            "https://h.example/.well-known/oauth-authorization-server",
            id="no-path",
        ),
        pytest.param(
            "https://h.example/",
            "https://h.example/.well-known/openid-configuration",
            "https://h.example/.well-known/oauth-authorization-server",
            id="root-slash",
        ),
        pytest.param(
            "https://h.example/tenant",
            "https://h.example/tenant/.well-known/openid-configuration",
            "https://h.example/.well-known/oauth-authorization-server/tenant",
            id="path-inserted",
        ),
        pytest.param(
            "https://h.example/realms/a/",
            "https://h.example/realms/a/.well-known/openid-configuration",
            "https://h.example/.well-known/oauth-authorization-server/realms/a",
            id="path-trailing-slash",
        ),
        pytest.param(
            "https://h.example:8443/t",
            "https://h.example:8443/t/.well-known/openid-configuration",
            "https://h.example:8443/.well-known/oauth-authorization-server/t",
            id="port",
        ),
    ],
)
def test_discovery_urls(issuer: str, oidc: str, rfc8414: str) -> None:
    assert discovery_urls(issuer) == (oidc, rfc8414)


@pytest.mark.parametrize(
    "issuer",
    [
        pytest.param("http://id.example.com", id="plain-http-remote"),
        pytest.param("ftp://127.0.0.1", id="scheme"),
        pytest.param("https://", id="no-host"),
        pytest.param("https://h.example/?tenant=a", id="query"),
        pytest.param("https://h.example/#a", id="fragment"),
        pytest.param("", id="empty"),
    ],
)
def test_unusable_issuer_is_refused_at_construction(issuer: str) -> None:
    with pytest.raises(ValueError, match="issuer"):
        ProviderMetadata(issuer)


def test_construction_does_no_io(server: LocalServer, timer: Timer) -> None:
    found = metadata(server.url(), timer)
    assert found.issuer == server.url()
    assert found.lookup() is None
    assert server.paths() == []


def test_oidc_document_is_fetched_once_and_held(server: LocalServer, timer: Timer) -> None:
    issuer = server.url()
    server.routes[OIDC] = Reply(body=document(issuer))
    found = metadata(issuer, timer)
    assert found.get()["jwks_uri"] == issuer + "/jwks"
    assert found.get()["issuer"] == issuer
    assert found.lookup() == document(issuer)
    assert server.paths() == [OIDC]


def test_rfc8414_path_inserted_when_oidc_is_missing(server: LocalServer, timer: Timer) -> None:
    issuer = server.url("/tenant")
    server.routes[RFC8414 + "/tenant"] = Reply(body=document(issuer))
    found = metadata(issuer, timer)
    assert found.get()["issuer"] == issuer
    assert server.paths() == ["/tenant" + OIDC, RFC8414 + "/tenant"]


def test_trailing_slash_issuer_is_kept_exactly(server: LocalServer, timer: Timer) -> None:
    issuer = server.url("/tenant/")
    server.routes["/tenant" + OIDC] = Reply(body=document(issuer))
    assert metadata(issuer, timer).get()["issuer"] == issuer


@pytest.mark.parametrize(
    "served",
    [
        pytest.param("{issuer}/", id="added-slash"),
        pytest.param("{issuer}/other", id="other-tenant"),
        pytest.param("{upper}", id="case"),
        pytest.param(None, id="absent"),
    ],
)
def test_issuer_mismatch_is_503_and_logged(
    server: LocalServer, timer: Timer, caplog: pytest.LogCaptureFixture, served: str | None
) -> None:
    issuer = server.url()
    value = None if served is None else served.format(issuer=issuer, upper=issuer.upper())
    body = {"jwks_uri": "https://attacker.example/jwks", "issuer": value}
    server.routes[OIDC] = Reply(body=body)
    server.routes[RFC8414] = Reply(body=body)
    with caplog.at_level(logging.WARNING, "bearerguard"), pytest.raises(ServiceUnavailableError):
        metadata(issuer, timer).get()
    assert "RFC 8414 section 3.3" in caplog.text
    assert "attacker" not in caplog.text  # the reason is logged, never the document


def test_mismatch_at_oidc_falls_back_to_rfc8414(server: LocalServer, timer: Timer) -> None:
    issuer = server.url()
    server.routes[OIDC] = Reply(body=document(issuer + "/"))
    server.routes[RFC8414] = Reply(body=document(issuer))
    assert metadata(issuer, timer).get()["issuer"] == issuer


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(Reply(body=b"<html>hello</html>"), id="not-json"),
        pytest.param(Reply(body=b'["a list"]'), id="not-an-object"),
        pytest.param(Reply(body=b'{"issuer": "\xff"}'), id="not-utf8"),
        pytest.param(Reply(body=b"[" * 100_000), id="deep-nesting"),
        pytest.param(Reply(500), id="server-error"),
        pytest.param(Reply(302, headers={"Location": "https://attacker.example/"}), id="redirect"),
    ],
)
def test_unusable_answers_are_503(server: LocalServer, timer: Timer, reply: Reply) -> None:
    server.routes[OIDC] = reply
    server.routes[RFC8414] = reply
    with pytest.raises(ServiceUnavailableError):
        metadata(server.url(), timer).get()
    assert server.paths() == [OIDC, RFC8414]


@pytest.mark.parametrize(
    ("padding", "usable"),
    [pytest.param(1000, True, id="under-the-cap"), pytest.param(1 << 20, False, id="oversized")],
)
def test_size_cap(server: LocalServer, timer: Timer, padding: int, usable: bool) -> None:
    issuer = server.url()
    body = json.dumps(document(issuer)).encode() + b" " * padding
    server.routes[OIDC] = server.routes[RFC8414] = Reply(body=body)
    found = metadata(issuer, timer)
    if usable:
        assert found.get()["issuer"] == issuer
    else:
        with pytest.raises(ServiceUnavailableError):
            found.get()


def test_timeout_is_503_without_trying_the_same_host_again(
    server: LocalServer, timer: Timer
) -> None:
    server.routes[OIDC] = Reply(body=document(server.url()), delay=5)
    with pytest.raises(ServiceUnavailableError):
        metadata(server.url(), timer, timeout=0.2).get()
    assert server.paths() == [OIDC]


def test_down_at_start_then_up(timer: Timer) -> None:
    down = LocalServer()
    issuer, port = down.url(), down.port
    down.stop()  # nothing listens on the port: connections are refused
    found = metadata(issuer, timer)
    with pytest.raises(ServiceUnavailableError):
        found.get()
    up = LocalServer(port)
    try:
        up.routes[OIDC] = Reply(body=document(issuer))
        with pytest.raises(ServiceUnavailableError):
            found.get()  # inside the retry interval: answered at once, no fetch
        assert up.paths() == []
        timer.now += 10
        assert found.get()["issuer"] == issuer
        assert up.paths() == [OIDC]
    finally:
        up.stop()


def test_refresh_keeps_held_document_on_failure(
    server: LocalServer, timer: Timer, caplog: pytest.LogCaptureFixture
) -> None:
    issuer = server.url()
    server.routes[OIDC] = Reply(body=document(issuer, version=1))
    found = metadata(issuer, timer)
    assert found.get()["version"] == 1
    timer.now += 3600
    assert found.lookup() is None  # a refresh is due: the caller must fetch
    server.routes[OIDC] = Reply(500)
    with caplog.at_level(logging.WARNING, "bearerguard"):
        assert found.get()["version"] == 1
    assert "keeping the held document" in caplog.text
    assert found.lookup() == document(issuer, version=1)  # no retry before the interval
    requests = len(server.paths())
    assert found.get()["version"] == 1
    assert len(server.paths()) == requests
    timer.now += 10
    server.routes[OIDC] = Reply(body=document(issuer, version=2))
    assert found.get()["version"] == 2


def test_refresh_on_schedule(server: LocalServer, timer: Timer) -> None:
    issuer = server.url()
    server.routes[OIDC] = Reply(body=document(issuer, version=1))
    found = metadata(issuer, timer)
    found.get()
    server.routes[OIDC] = Reply(body=document(issuer, version=2))
    timer.now += 3599
    assert found.get()["version"] == 1
    timer.now += 1
    assert found.get()["version"] == 2
    assert server.paths() == [OIDC, OIDC]


def test_concurrent_first_fetches_coalesce(server: LocalServer, timer: Timer) -> None:
    issuer = server.url()
    server.routes[OIDC] = Reply(body=document(issuer), delay=0.3)
    found = metadata(issuer, timer)
    barrier = threading.Barrier(8)

    def get() -> str:
        barrier.wait()
        return str(found.get()["issuer"])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: get(), range(8)))
    assert results == [issuer] * 8
    assert server.paths() == [OIDC]


def test_the_held_document_is_read_only(server: LocalServer, timer: Timer) -> None:
    issuer = server.url()
    server.routes[OIDC] = Reply(body=document(issuer))
    held = metadata(issuer, timer).get()
    with pytest.raises(TypeError):
        held["jwks_uri"] = "https://attacker.example/jwks"  # type: ignore[index]


def test_retry_after_counts_down_the_retry_interval(timer: Timer) -> None:
    down = LocalServer()
    issuer = down.url()
    down.stop()
    found = metadata(issuer, timer)
    with pytest.raises(ServiceUnavailableError) as caught:
        found.get()
    assert caught.value.retry_after == 10
    timer.now += 2.5
    with pytest.raises(ServiceUnavailableError) as caught:
        found.get()
    assert caught.value.retry_after == 8


def test_a_forked_child_does_not_wait_for_the_parents_fetch(
    server: LocalServer, timer: Timer, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = server.url()
    stalled = [True]

    def answer(seen: Any) -> Reply:
        if stalled.pop() if stalled else False:
            return Reply(body=document(issuer), delay=30)  # until released
        return Reply(body=document(issuer))

    server.routes[OIDC] = answer
    found = metadata(issuer, timer, timeout=30)
    parent = threading.Thread(target=found.get, daemon=True)
    parent.start()
    assert server.arrived.acquire(timeout=5)  # the parent's fetch is in flight
    # No real fork under pytest: the object sees another process id, as a child does,
    # where the thread that took the lock does not exist.
    real_pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 1)
    began = time.monotonic()
    try:
        assert found.get()["issuer"] == issuer
        assert time.monotonic() - began < 5
    finally:
        server.release()
        parent.join(timeout=5)
