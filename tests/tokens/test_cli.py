"""The ``bearerguard`` command, end to end in subprocesses, plus its bad-input table."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bearerguard import ClientTokenVerifier, Guard, UnauthenticatedError
from bearerguard.cli import main
from bearerguard.stores import SQLiteTokenStore
from bearerguard.tokens import TOKEN_PATTERN, TokenManager, is_well_formed, token_pattern
from bearerguard.tokens._format import generate_token

SCRIPT = Path(sys.executable).with_name("bearerguard")
CLIENT = "Hh3kR9vTq2LmX8wZ4bN7cP1sD6fG0jKy"


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None, script: bool = False
) -> subprocess.CompletedProcess[str]:
    command = [str(SCRIPT)] if script else [sys.executable, "-m", "bearerguard.cli"]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("BEARERGUARD_")}
    environment.update(env or {})
    return subprocess.run(
        [*command, *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60
    )


def rows(path: Path) -> list[tuple[Any, ...]]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as connection:
        found = connection.execute("SELECT * FROM bearerguard_tokens ORDER BY id").fetchall()
    connection.close()
    return found


def verify(path: Path, token: str) -> Any:
    manager = TokenManager(SQLiteTokenStore(path), prefix=token[: token.rindex("_") + 1])
    try:
        return Guard([ClientTokenVerifier(manager)]).authenticate(f"Bearer {token}")
    finally:
        manager.close()


def test_console_script_create_prints_the_token_last_then_list_show_revoke(tmp_path: Path) -> None:
    assert SCRIPT.exists(), "the bearerguard console script is installed with the project"
    created = run(
        "tokens", "create", "--client-id", CLIENT, "--label", "Checkout server",
        "--scope", "payments.create", "--scope", "payments.get", "--expires-in", "90d",
        cwd=tmp_path, script=True,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    lines = created.stdout.splitlines()
    token = lines[-1]
    assert TOKEN_PATTERN.fullmatch(token)
    assert is_well_formed(token)
    assert created.stdout.count(token) == 1  # once, alone on the last line
    assert "shown only now" in created.stderr
    assert token not in created.stderr
    database = tmp_path / "bearerguard.db"  # the default store, in the working directory
    principal = verify(database, token)
    assert principal.client_id == CLIENT
    assert principal.scopes == {"payments.create", "payments.get"}
    token_id = principal.token_id

    listed = run("tokens", "list", cwd=tmp_path, script=True)
    assert listed.returncode == 0
    header, line = listed.stdout.splitlines()
    assert header.split()[:3] == ["ID", "CLIENT", "ID"]
    assert token_id in line
    assert "Checkout server" in line
    assert "active" in line
    assert token not in listed.stdout
    assert token[8:-6] not in listed.stdout

    shown = run("tokens", "show", token_id, cwd=tmp_path)
    assert shown.returncode == 0
    assert f"id:        {token_id}" in shown.stdout
    assert "payments.create payments.get" in shown.stdout

    revoked = run("tokens", "revoke", token_id, cwd=tmp_path)
    assert revoked.returncode == 0
    assert f"Revoked {token_id}" in revoked.stdout
    with pytest.raises(UnauthenticatedError):
        verify(database, token)
    assert run("tokens", "list", cwd=tmp_path).stdout == "No tokens.\n"
    assert "revoked" in run("tokens", "list", "--all", cwd=tmp_path).stdout


def test_json_store_and_prefix_work_after_the_subcommand_in_any_order(tmp_path: Path) -> None:
    database = tmp_path / "other.db"
    store = f"sqlite:///{database}"
    created = run(
        "tokens", "create", "--json", "--client-id", CLIENT, "--store", store,
        "--label", "Reporting", "--scope", "payments.get", "--prefix", "pay_live_",
        "--expires-at", "2999-01-01T00:00:00Z",
        cwd=tmp_path,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    document = json.loads(created.stdout)
    token = document["token"]
    assert token_pattern("pay_live_").fullmatch(token)
    assert document["record"]["expires_at"] == "2999-01-01T00:00:00+00:00"
    assert "token_hash" not in document["record"]
    assert verify(database, token).token_id == document["record"]["id"]
    assert not (tmp_path / "bearerguard.db").exists()

    listed = run("tokens", "list", "--store", store, "--json", "--client-id", CLIENT, cwd=tmp_path)
    assert [entry["id"] for entry in json.loads(listed.stdout)] == [document["record"]["id"]]
    assert token not in listed.stdout

    rotated = run(
        "--json", "tokens", "rotate", document["record"]["id"], "--grace", "0s",
        cwd=tmp_path, env={"BEARERGUARD_STORE": store},
    )  # fmt: skip
    assert rotated.returncode == 0, rotated.stderr
    result = json.loads(rotated.stdout)
    assert result["previous"]["id"] == document["record"]["id"]
    assert result["record"]["label"] == "Reporting"
    with pytest.raises(UnauthenticatedError):
        verify(database, token)
    assert verify(database, result["token"]).token_id == result["record"]["id"]

    new_id = run("clients", "new-id", "--json", cwd=tmp_path)
    assert len(json.loads(new_id.stdout)["client_id"]) == 32
    plain = run("clients", "new-id", cwd=tmp_path).stdout.strip()
    assert len(plain) == 32
    assert plain.isalnum()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["tokens", "show", "tok_AAAAAAAAAAAAAAAAAAAA"], id="unknown-id"),
        pytest.param(
            ["tokens", "create", "--client-id", "short", "--label", "x", "--scope", "a"],
            id="bad-client-id",
        ),
        pytest.param(["tokens", "create", "--client-id", CLIENT, "--label", "x"], id="no-scope"),
    ],
)
def test_bad_input_in_a_subprocess_is_one_line_and_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("bearerguard: error: ")


def test_an_unreachable_store_is_exit_1(tmp_path: Path) -> None:
    result = run("tokens", "list", "--store", f"sqlite:///{tmp_path}/missing/x.db", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"bearerguard: error: the token store failed: cannot open the SQLite database "
        f"{tmp_path}/missing/x.db: the folder {tmp_path}/missing does not exist"
    ]


# -- the bad-input table, in process (same main(), no interpreter start-up each) ----------


@pytest.fixture
def seeded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for variable in ("BEARERGUARD_STORE", "BEARERGUARD_PREFIX", "BEARERGUARD_SCOPES"):
        monkeypatch.delenv(variable, raising=False)
    code = main(
        ["tokens", "create", "--client-id", CLIENT, "--label", "Seed", "--scope", "payments.get"]
    )
    assert code == 0
    return tmp_path / "bearerguard.db"


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no-command"),
        pytest.param(["tokens"], id="no-subcommand"),
        pytest.param(["tokens", "delete", "x"], id="unknown-subcommand"),
        pytest.param(["tokens", "create", "--label", "x", "--scope", "a"], id="no-client-id"),
        pytest.param(["tokens", "create", "--client-id", CLIENT, "--scope", "a"], id="no-label"),
        pytest.param(["--label", "", "--scope", "a"], id="empty-label"),
        pytest.param(["--label", "x" * 101, "--scope", "a"], id="long-label"),
        pytest.param(["--label", "a\tb", "--scope", "a"], id="tab-in-label"),
        pytest.param(["--label", "x", "--scope", "a b"], id="scope-with-space"),
        pytest.param(["--label", "x", "--scope", ""], id="empty-scope"),
        pytest.param(["--label", "x", "--scope", "a", "--expires-in", "0d"], id="zero-lifetime"),
        pytest.param(["--label", "x", "--scope", "a", "--expires-in", "90"], id="no-unit"),
        pytest.param(["--label", "x", "--scope", "a", "--expires-in", "-5d"], id="negative"),
        pytest.param(["--label", "x", "--scope", "a", "--expires-in", "9" * 30 + "d"], id="huge"),
        pytest.param(
            ["--label", "x", "--scope", "a", "--expires-at", "2020-01-01T00:00:00Z"], id="past"
        ),
        pytest.param(
            ["--label", "x", "--scope", "a", "--expires-at", "2999-01-01T00:00:00"], id="naive"
        ),
        pytest.param(["--label", "x", "--scope", "a", "--expires-at", "soon"], id="not-a-time"),
        pytest.param(
            ["--label", "x", "--scope", "a", "--expires-in", "1d", "--expires-at", "2999-01-01Z"],
            id="both-expiries",
        ),
        pytest.param(["--label", "x", "--scope", "a", "--prefix", "Live_"], id="bad-prefix"),
        pytest.param(["tokens", "show", "tok_AAAAAAAAAAAAAAAAAAAA"], id="show-unknown"),
        pytest.param(["tokens", "show", "not-an-id"], id="show-malformed"),
        pytest.param(["tokens", "revoke", "tok_AAAAAAAAAAAAAAAAAAAA"], id="revoke-unknown"),
        pytest.param(["tokens", "rotate", "tok_AAAAAAAAAAAAAAAAAAAA"], id="rotate-unknown"),
        pytest.param(["tokens", "rotate", "x", "--grace", "soon"], id="bad-grace"),
        pytest.param(["tokens", "list", "--client-id", "nope"], id="list-bad-client"),
        pytest.param(["tokens", "list", "--store", "bogus"], id="bad-store-url"),
        pytest.param(["tokens", "list", "--store", "sqlite:///:memory:"], id="memory-sqlite"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    seeded: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    if args and args[0].startswith("--"):
        args = ["tokens", "create", "--client-id", CLIENT, *args]
    capsys.readouterr()
    before = rows(seeded)
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1, captured.err
    assert captured.err.startswith("bearerguard: error: ")
    assert rows(seeded) == before


def test_revoking_a_revoked_token_is_fine_and_rotating_it_is_not(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_id = rows(seeded)[0][0]
    assert main(["tokens", "revoke", token_id]) == 0
    assert main(["tokens", "revoke", token_id, "--json"]) == 0
    capsys.readouterr()
    assert main(["tokens", "rotate", token_id]) == 2
    assert "revoked" in capsys.readouterr().err
    assert len(rows(seeded)) == 1


def test_rotate_prints_the_new_token_last_and_when_the_old_one_stops(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token_id = rows(seeded)[0][0]
    capsys.readouterr()
    assert main(["tokens", "rotate", token_id, "--grace", "1d12h"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith(f"Rotated {token_id} into tok_")
    assert "the old token works until" in lines[0]
    assert is_well_formed(lines[-1])
    assert "shown only now" in captured.err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["tokens", "show", "{token}"], id="show"),
        pytest.param(["tokens", "revoke", "{token}"], id="revoke"),
        pytest.param(["tokens", "{token}"], id="as-a-command"),
        pytest.param(["tokens", "list", "--client-id", "{token}"], id="as-client-id"),
    ],
)
def test_a_token_pasted_in_the_wrong_place_is_not_echoed(
    seeded: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    token = generate_token()
    capsys.readouterr()
    assert main([arg.format(token=token) for arg in args]) == 2
    captured = capsys.readouterr()
    assert token not in captured.err + captured.out
    assert token[8:-6] not in captured.err
