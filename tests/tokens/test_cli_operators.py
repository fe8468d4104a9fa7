"""The ``bearerguard`` command for operators: configuration once, prune, help, successors."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import bearerguard
from bearerguard.cli import main

SCRIPT = Path(sys.executable).with_name("bearerguard")
CLIENT = "Hh3kR9vTq2LmX8wZ4bN7cP1sD6fG0jKy"
VARIABLES = ("BEARERGUARD_STORE", "BEARERGUARD_PREFIX", "BEARERGUARD_SCOPES")
KNOWN = ["payments.create", "payments.get", "payments.user-instructions.get", "*"]
CREATE = ["tokens", "create", "--client-id", CLIENT, "--label", "Checkout server"]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory with no bearerguard variables set."""
    monkeypatch.chdir(tmp_path)
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return tmp_path


def pyproject(folder: Path, table: str) -> Path:
    path = folder / "pyproject.toml"
    path.write_text(f'[project]\nname = "payments"\n\n[tool.bearerguard]\n{table}\n')
    return path


def ids(database: Path) -> list[str]:
    if not database.exists():
        return []
    with sqlite3.connect(database) as connection:
        found = [row[0] for row in connection.execute("SELECT id FROM bearerguard_tokens")]
    connection.close()
    return found


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def issued_token(out: str) -> str:
    return out.splitlines()[-1]


# -- version and help ------------------------------------------------------------------


def test_version_from_the_console_script(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(SCRIPT), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stdout == f"bearerguard {bearerguard.__version__}\n"
    assert result.stderr == ""


def test_every_duration_form_the_help_shows_is_accepted(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "tokens", "create", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "--expires-in DURATION lifetime from now: 90d, 12h, 30m, 3600s, 2w, 1d12h" in text
    assert "2026-03-01T00:00:00Z" in text
    forms = re.search(r"lifetime from now: ([^(]+) \(", text)
    assert forms is not None
    for form in forms.group(1).split(", "):
        code, out, err = cli(capsys, *CREATE, "--scope", "payments.get", "--expires-in", form)
        assert code == 0, (form, err)
    for command in ("rotate", "prune"):
        code, out, _ = cli(capsys, "tokens", command, "--help")
        assert "a DURATION is a number and a unit w, d, h, m or s" in " ".join(out.split())


# -- configuration: flag > environment > pyproject.toml > default ------------------------


def test_prefix_precedence_flag_then_environment_then_file_then_default(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject(here, 'prefix = "file_live_"')
    monkeypatch.setenv("BEARERGUARD_PREFIX", "env_live_")
    scope = ["--scope", "payments.get"]
    assert issued_token(cli(capsys, *CREATE, *scope, "--prefix", "flag_live_")[1]).startswith(
        "flag_live_"
    )
    assert issued_token(cli(capsys, *CREATE, *scope)[1]).startswith("env_live_")
    monkeypatch.setenv("BEARERGUARD_PREFIX", "")  # empty counts as unset
    assert issued_token(cli(capsys, *CREATE, *scope)[1]).startswith("file_live_")
    (here / "pyproject.toml").unlink()
    assert issued_token(cli(capsys, *CREATE, *scope)[1]).startswith("bg_live_")


@pytest.mark.parametrize("source", ["file", "environment", "flag"])
def test_a_scope_typo_is_refused_with_exit_2_and_nothing_written(
    here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    source: str,
) -> None:
    extra: list[str] = []
    if source == "file":
        path = pyproject(here, f"scopes = {json.dumps(KNOWN)}")
        origin = f"{path} [tool.bearerguard]"
    elif source == "environment":
        monkeypatch.setenv("BEARERGUARD_SCOPES", ",".join(KNOWN))
        origin = "BEARERGUARD_SCOPES"
    else:
        extra = ["--known-scopes", " ".join(KNOWN)]
        origin = "--known-scopes"
    code, out, err = cli(capsys, *CREATE, "--scope", "payments.craete", *extra)
    assert code == 2
    assert out == ""
    assert err.splitlines() == [
        "bearerguard: error: unknown scope payments.craete (did you mean payments.create?); "
        f"the known scopes, from {origin}, are: * payments.create payments.get "
        "payments.user-instructions.get"
    ]
    assert ids(here / "bearerguard.db") == []
    code, out, err = cli(capsys, *CREATE, "--scope", "payments.create", *extra)
    assert code == 0, err


def test_without_known_scopes_any_well_formed_scope_is_issued(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, *CREATE, "--scope", "anything.at-all")[0] == 0


def test_the_store_in_pyproject_is_relative_to_it_from_any_subfolder(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject(here, 'store = "sqlite:///var/tokens.db"\nprefix = "pay_live_"')
    (here / "var").mkdir()
    deep = here / "src" / "payments"
    deep.mkdir(parents=True)
    # A pyproject.toml without the table is passed over: the nearest *with* it counts.
    (here / "src" / "pyproject.toml").write_text('[project]\nname = "inner"\n')
    monkeypatch.chdir(deep)
    code, _out, err = cli(capsys, *CREATE, "--scope", "payments.get")
    assert code == 0, err
    assert len(ids(here / "var" / "tokens.db")) == 1
    assert not (deep / "bearerguard.db").exists()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        pytest.param('prefx = "pay_live_"', "unknown key prefx", id="unknown-key"),
        pytest.param('prefix = "Pay-"', "prefix from", id="bad-prefix"),
        pytest.param('scopes = "payments.get"', "must be a list", id="scopes-as-text"),
        pytest.param("scopes = []", "is empty", id="no-scopes"),
        pytest.param('scopes = ["a b"]', "invalid known scope", id="bad-scope"),
        pytest.param("store = 5", "store from", id="store-not-text"),
        pytest.param("prefix = ", "cannot read", id="not-toml"),
    ],
)
def test_a_bad_pyproject_is_exit_2_naming_the_file(
    here: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    path = pyproject(here, table)
    code, out, err = cli(capsys, "tokens", "list")
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert message in err
    assert str(path) in err
    assert not (here / "bearerguard.db").exists()


def test_a_bad_environment_value_is_exit_2_naming_the_variable(
    here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BEARERGUARD_PREFIX", "Pay-")
    code, _, err = cli(capsys, "tokens", "list")
    assert code == 2
    assert "prefix from BEARERGUARD_PREFIX" in err


def test_configuration_reaches_the_console_script(tmp_path: Path) -> None:
    pyproject(tmp_path, f'prefix = "pay_live_"\nscopes = {json.dumps(KNOWN)}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEARERGUARD_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    typo = run(*CREATE, "--scope", "payments.craete")
    assert typo.returncode == 2
    assert "did you mean payments.create?" in typo.stderr
    made = run(*CREATE, "--scope", "payments.create")
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[-1].startswith("pay_live_")


# -- prune --------------------------------------------------------------------------------


def test_prune_dry_run_then_prune_deletes_only_ended_tokens(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = here / "bearerguard.db"
    for label in ("Revoked", "Rotated", "Alive"):
        assert main([*CREATE[:-1], label, "--scope", "payments.get", "--json"]) == 0
    listed = json.loads(cli(capsys, "tokens", "list", "--json")[1])
    revoked, rotated, alive = (entry["id"] for entry in listed)
    assert main(["tokens", "revoke", revoked]) == 0
    assert main(["tokens", "rotate", rotated, "--grace", "0s", "--json"]) == 0
    successor = json.loads(cli(capsys, "tokens", "show", rotated, "--json")[1])["replaced_by"]

    code, out, _ = cli(capsys, "tokens", "prune")  # default: ended 30 days ago
    assert code == 0
    assert out.startswith("Nothing to prune: no token was revoked or expired before ")

    code, out, _ = cli(capsys, "tokens", "prune", "--older-than", "0s", "--dry-run")
    assert code == 0
    assert out.splitlines()[0].startswith("Would delete 2 tokens revoked or expired before ")
    assert revoked in out
    assert rotated in out
    assert len(ids(database)) == 4

    code, out, _ = cli(capsys, "tokens", "prune", "--older-than", "0s", "--json")
    assert code == 0
    document = json.loads(out)
    assert document["dry_run"] is False
    assert sorted(entry["id"] for entry in document["tokens"]) == sorted([revoked, rotated])
    assert sorted(ids(database)) == sorted([alive, successor])
    assert cli(capsys, "tokens", "show", revoked)[0] == 2


@pytest.mark.parametrize("age", ["soon", "-1d", "30"])
def test_prune_refuses_a_bad_age(here: Path, capsys: pytest.CaptureFixture[str], age: str) -> None:
    code, out, err = cli(capsys, "tokens", "prune", "--older-than", age)
    assert code == 2
    assert out == ""
    assert "--older-than" in err


# -- a rotated token names its successor ----------------------------------------------------


def test_list_and_show_mark_a_rotated_token_and_name_its_successor(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*CREATE, "--scope", "payments.get", "--expires-in", "90d"]) == 0
    old = json.loads(cli(capsys, "tokens", "list", "--json")[1])[0]["id"]
    code, out, _ = cli(capsys, "tokens", "rotate", old, "--grace", "1h", "--json")
    assert code == 0
    new = json.loads(out)["record"]["id"]

    code, out, _ = cli(capsys, "tokens", "list")
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split()[-2:] == ["STATUS", "SUCCESSOR"]
    by_id = {line.split()[0]: line.split() for line in lines}
    assert by_id[old][-2:] == ["rotated", new]
    assert by_id[new][-2:] == ["active", "-"]

    _code, out, _ = cli(capsys, "tokens", "show", old)
    assert f"successor: {new}" in out.splitlines()
    assert any(
        line.startswith(f"status:    rotated into {new}, works until ") for line in out.splitlines()
    )
    shown: dict[str, Any] = json.loads(cli(capsys, "tokens", "show", old, "--json")[1])
    assert shown["replaced_by"] == new
    assert json.loads(cli(capsys, "tokens", "show", new, "--json")[1])["replaced_by"] is None


def test_a_reader_that_leaves_early_is_no_store_failure(tmp_path: Path) -> None:
    # `bearerguard tokens list | head` closes the pipe while the command still writes.
    from bearerguard.stores import SQLiteTokenStore
    from bearerguard.tokens import TokenManager

    manager = TokenManager(SQLiteTokenStore(tmp_path / "bearerguard.db"))
    for n in range(800):  # far more output than a pipe holds
        manager.issue(client_id=CLIENT, label=f"Server {n:04d}", scopes=["payments.get"])
    manager.close()
    manager.store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEARERGUARD_")}
    reading = subprocess.Popen(
        [str(SCRIPT), "tokens", "list"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert reading.stdout is not None
    assert reading.stdout.readline().startswith(b"ID ")
    reading.stdout.close()  # the reader leaves
    _, err = reading.communicate(timeout=60)
    assert reading.returncode == 141
    assert err == b""
