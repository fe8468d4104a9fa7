"""Client-token settings, configured once for the ``bearerguard`` command and your app.

Three settings: the token store's URL, the token prefix and the known scopes. Each is
taken from the first of these that gives it:

1. an argument (the command's ``--store``, ``--prefix``, ``--known-scopes``);
2. the environment: ``BEARERGUARD_STORE``, ``BEARERGUARD_PREFIX``, ``BEARERGUARD_SCOPES``
   (scope names separated by spaces or commas; an empty variable counts as unset);
3. the ``[tool.bearerguard]`` table of the nearest ``pyproject.toml`` that has one,
   looking in the working directory and then each parent:

   ```toml
   [tool.bearerguard]
   store = "sqlite:///bearerguard.db"   # a relative SQLite path is relative to this file
   prefix = "pay_live_"
   scopes = ["payments.create", "payments.get", "*"]
   ```

4. the default: ``sqlite:///bearerguard.db`` (in the working directory), ``bg_live_``,
   and no known scopes (any well-formed scope is accepted).

```python
from bearerguard.config import load_settings

manager = load_settings().token_manager()  # the same store, prefix and scopes as the CLI
```
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .scopes import validate_scopes
from .tokens import DEFAULT_PREFIX
from .tokens._format import validate_prefix

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from .tokens import TokenManager

__all__ = [
    "DEFAULT_STORE",
    "PREFIX_VARIABLE",
    "SCOPES_VARIABLE",
    "STORE_VARIABLE",
    "ConfigError",
    "Settings",
    "load_settings",
]

DEFAULT_STORE = "sqlite:///bearerguard.db"
"""The store when none is configured: a SQLite file in the working directory."""
STORE_VARIABLE = "BEARERGUARD_STORE"
PREFIX_VARIABLE = "BEARERGUARD_PREFIX"
SCOPES_VARIABLE = "BEARERGUARD_SCOPES"
_KEYS = ("store", "prefix", "scopes")
_SCOPE_SEPARATORS = re.compile(r"[\s,]+")


class ConfigError(ValueError):
    """A setting is invalid; the message names where it came from."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The client-token settings and where each came from.

    Attributes:
        store: The token store's URL (for :func:`~bearerguard.stores.open_store`).
        prefix: The prefix of new tokens.
        known_scopes: The only scopes tokens may be issued with, or None for any.
        origins: For ``"store"``, ``"prefix"`` and ``"scopes"``: where the value came
            from (``"--prefix"``, ``"BEARERGUARD_PREFIX"``, a ``pyproject.toml`` path or
            ``"default"``), for messages.
    """

    store: str = DEFAULT_STORE
    prefix: str = DEFAULT_PREFIX
    known_scopes: frozenset[str] | None = None
    origins: Mapping[str, str] = field(default_factory=dict)

    def token_manager(self, **options: Any) -> TokenManager:
        """A :class:`~bearerguard.tokens.TokenManager` over these settings.

        ``options`` go to the manager (``last_used_interval=``, ``clock=``).
        """
        from .stores import open_store
        from .tokens import TokenManager

        return TokenManager(
            open_store(self.store),
            prefix=self.prefix,
            known_scopes=self.known_scopes,
            **options,
        )


def load_settings(
    *,
    store: str | None = None,
    prefix: str | None = None,
    known_scopes: Iterable[str] | None = None,
    environ: Mapping[str, str] | None = None,
    start: str | os.PathLike[str] | None = None,
) -> Settings:
    """The settings: arguments first, then the environment, then pyproject.toml.

    Args:
        store: A store URL that wins over every other source (the command's
            ``--store``); None means "not given".
        prefix: Likewise, a token prefix (``--prefix``).
        known_scopes: Likewise, the known scopes (``--known-scopes``).
        environ: The environment (default: ``os.environ``).
        start: Where the search for ``pyproject.toml`` starts (default: the working
            directory).

    Raises:
        ConfigError: a value is invalid, or a ``pyproject.toml`` cannot be read; the
            message names the variable or file.
    """
    environ = os.environ if environ is None else environ
    found = _file_table(Path.cwd() if start is None else Path(start))
    table, path = found if found is not None else ({}, None)
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    given = {"store": store, "prefix": prefix, "scopes": known_scopes}
    variables = {"store": STORE_VARIABLE, "prefix": PREFIX_VARIABLE, "scopes": SCOPES_VARIABLE}
    flags = {"store": "--store", "prefix": "--prefix", "scopes": "--known-scopes"}
    for key in _KEYS:
        if given[key] is not None:
            values[key], origins[key] = given[key], flags[key]
        elif environ.get(variables[key]):
            text = environ[variables[key]]
            values[key] = _SCOPE_SEPARATORS.split(text.strip()) if key == "scopes" else text
            origins[key] = variables[key]
        elif key in table:
            values[key], origins[key] = table[key], f"{path} [tool.bearerguard]"
        else:
            origins[key] = "default"
    if path is not None and origins["store"] == f"{path} [tool.bearerguard]":
        values["store"] = _relative_to(_text(values["store"], "store", origins), path.parent)
    return Settings(
        store=_text(values.get("store", DEFAULT_STORE), "store", origins),
        prefix=_prefix(values.get("prefix", DEFAULT_PREFIX), origins),
        known_scopes=_scopes(values.get("scopes"), origins),
        origins=origins,
    )


def _file_table(start: Path) -> tuple[dict[str, Any], Path] | None:
    """The nearest ``[tool.bearerguard]`` table at or above ``start``, and its file."""
    for folder in (start.resolve(), *start.resolve().parents):
        path = folder / "pyproject.toml"
        if not path.is_file():
            continue
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from None
        tool = document.get("tool")
        table = tool.get("bearerguard") if isinstance(tool, dict) else None
        if table is None:
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.bearerguard] must be a table")
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"{path} [tool.bearerguard]: unknown key {', '.join(unknown)} "
                f"(known: {', '.join(_KEYS)})"
            )
        return table, path
    return None


def _text(value: object, key: str, origins: Mapping[str, str]) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} from {origins[key]} must be non-empty text")
    return value


def _relative_to(url: str, folder: Path) -> str:
    # sqlite:///name.db in a pyproject.toml means next to that file, wherever the
    # command runs; sqlite:////absolute/path.db and other URLs are kept as they are.
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix:
        return prefix + str(folder / url[len(prefix) :])
    return url


def _prefix(value: object, origins: Mapping[str, str]) -> str:
    try:
        return validate_prefix(_text(value, "prefix", origins))
    except ValueError as exc:
        raise ConfigError(f"prefix from {origins['prefix']}: {exc}") from None


def _scopes(value: object, origins: Mapping[str, str]) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"scopes from {origins['scopes']} must be a list of scope names")
    try:
        names = validate_scopes(tuple(value), what="known scope")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"scopes from {origins['scopes']}: {exc}") from None
    if not names:
        raise ConfigError(f"scopes from {origins['scopes']} is empty")
    return frozenset(names)
