"""bearerguard.config: the CLI's settings, loadable by an app so both agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from bearerguard import ClientTokenVerifier, Guard
from bearerguard.config import ConfigError, load_settings


def test_an_app_gets_the_same_manager_as_the_command(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.bearerguard]\nstore = "sqlite:///tokens.db"\nprefix = "pay_live_"\n'
        'scopes = ["payments.get"]\n'
    )
    settings = load_settings(environ={}, start=tmp_path)
    assert settings.store == f"sqlite:///{tmp_path.resolve() / 'tokens.db'}"
    assert settings.prefix == "pay_live_"
    assert settings.known_scopes == frozenset({"payments.get"})
    assert (
        settings.origins["prefix"] == f"{tmp_path.resolve() / 'pyproject.toml'} [tool.bearerguard]"
    )
    manager = settings.token_manager(last_used_interval=5)
    with pytest.raises(ValueError, match="unknown scope"):
        manager.issue(client_id="A" * 32, label="x", scopes=["payments.create"])
    issued = manager.issue(client_id="A" * 32, label="x", scopes=["payments.get"])
    assert issued.token.startswith("pay_live_")
    assert (tmp_path / "tokens.db").exists()
    assert Guard([ClientTokenVerifier(manager)]).authenticate(f"Bearer {issued.token}")
    manager.close()
    manager.store.close()


def test_arguments_beat_the_environment_which_beats_defaults(tmp_path: Path) -> None:
    environ = {"BEARERGUARD_PREFIX": "env_", "BEARERGUARD_SCOPES": " a, b  c ", "OTHER": "x"}
    settings = load_settings(environ=environ, start=tmp_path)
    assert (settings.prefix, settings.known_scopes) == ("env_", frozenset({"a", "b", "c"}))
    assert settings.store == "sqlite:///bearerguard.db"
    assert settings.origins == {
        "store": "default",
        "prefix": "BEARERGUARD_PREFIX",
        "scopes": "BEARERGUARD_SCOPES",
    }
    given = load_settings(prefix="arg_", known_scopes=["z"], environ=environ, start=tmp_path)
    assert (given.prefix, given.known_scopes) == ("arg_", frozenset({"z"}))
    assert load_settings(environ={}, start=tmp_path).known_scopes is None


def test_errors_are_config_errors_and_value_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BEARERGUARD_PREFIX") as caught:
        load_settings(environ={"BEARERGUARD_PREFIX": "UPPER_"}, start=tmp_path)
    assert isinstance(caught.value, ValueError)
    (tmp_path / "pyproject.toml").write_text("[tool]\nbearerguard = 3\n")
    with pytest.raises(ConfigError, match="must be a table"):
        load_settings(environ={}, start=tmp_path)
