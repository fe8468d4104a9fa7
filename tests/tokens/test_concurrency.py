"""Many threads verifying while others revoke and rotate, on a real SQLite file (C-06, L-03)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

from bearerguard import ClientTokenVerifier, Guard, UnauthenticatedError
from bearerguard.stores import SQLiteTokenStore
from bearerguard.tokens import TokenManager

THREADS = 8
TOKENS = 24


def test_threads_verifying_while_tokens_are_revoked_and_rotated(tmp_path: Path) -> None:
    manager = TokenManager(SQLiteTokenStore(tmp_path / "busy.db"), last_used_interval=0.05)
    guard = Guard([ClientTokenVerifier(manager)], cache_ttl=60.0)
    issued = [
        manager.issue(client_id="A" * 32, label=f"server {n}", scopes=["payments.get"])
        for n in range(TOKENS)
    ]
    doomed = {each.token for each in issued[::2]}
    rotated = {each.token for each in issued[1::4]}
    keep = {each.token for each in issued} - doomed - rotated
    stop = threading.Event()
    outcomes: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def hammer(offset: int) -> None:
        local: Counter[str] = Counter()
        n = offset
        try:
            while not stop.is_set():
                token = issued[n % TOKENS].token
                n += 1
                try:
                    guard.authenticate(f"Bearer {token}")
                    local["ok"] += 1
                except UnauthenticatedError:
                    local["refused"] += 1
        except BaseException as exc:  # a 503 or anything else is a failure
            errors.append(exc)
        with lock:
            outcomes.update(local)

    # Daemon threads, stopped whatever happens: a failure here must fail this test, not
    # leave eight threads spinning through the rest of the run and block its exit.
    workers = [threading.Thread(target=hammer, args=(n * 3,), daemon=True) for n in range(THREADS)]
    for worker in workers:
        worker.start()
    replacements = []
    try:
        for each in issued:
            if each.token in doomed:
                manager.revoke(each.record.id)
            elif each.token in rotated:
                replacements.append(manager.rotate(each.record.id, grace=timedelta(0)))
    finally:
        stop.set()
    for worker in workers:
        worker.join(30)
    assert errors == []
    assert outcomes["ok"] > 0

    # Once revoke and rotate have returned, every thread sees their effect at once:
    # no stale cache entry survived the race with in-flight verifications.
    barrier = threading.Barrier(THREADS)
    verdicts: list[tuple[str, bool]] = []

    def check() -> None:
        barrier.wait(10)
        for each in issued + replacements:
            try:
                guard.authenticate(f"Bearer {each.token}")
                verdicts.append((each.token, True))
            except UnauthenticatedError:
                verdicts.append((each.token, False))

    checkers = [threading.Thread(target=check, daemon=True) for _ in range(THREADS)]
    for checker in checkers:
        checker.start()
    for checker in checkers:
        checker.join(30)
    assert len(verdicts) == THREADS * (TOKENS + len(replacements))
    fresh = {each.token for each in replacements}
    for token, accepted in verdicts:
        assert accepted == (token in keep or token in fresh)
    manager.flush()
    used = {record.id for record in manager.list() if record.last_used_at is not None}
    assert {each.record.id for each in issued if each.token in keep} <= used
    manager.close()
