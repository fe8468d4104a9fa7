"""The public names of the 0.1 contract (issue 2): importable, sorted, framework-free core."""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import pkgutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import bearerguard


def _public_modules() -> list[str]:
    """Every module a user may import: no component of its dotted name starts with "_"."""
    return sorted(
        info.name
        for info in pkgutil.walk_packages(bearerguard.__path__, "bearerguard.")
        if not any(part.startswith("_") for part in info.name.split(".")[1:])
    )


PUBLIC_MODULES = ["bearerguard", *_public_modules()]


def _top_level_names(module: ModuleType) -> tuple[set[str], set[str]]:
    """The names a module's source defines at top level, and those it imports.

    Read from the source, not from ``vars()``: a constant imported from another module
    is indistinguishable from one defined here once imported.
    """
    tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
    defined: set[str] = set()
    imported: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defined.add(node.target.id)
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                imported.update(alias.asname or alias.name for alias in node.names)
            elif isinstance(node, ast.Import):
                imported.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
            elif isinstance(node, ast.If):  # TYPE_CHECKING imports too: a lazy __getattr__
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)

    visit(tree.body)
    return defined, imported


def _is_api(value: object) -> bool:
    # A module's logger is configuration, not API (logging.getLogger("bearerguard")).
    return not isinstance(value, ModuleType | logging.Logger)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_all_lists_exactly_what_the_module_defines(name: str) -> None:
    # As httpx's test_exported_members.py: a public name defined in a public module is
    # in its __all__, and __all__ names nothing but what the module defines or
    # deliberately re-exports from one of its imports.
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    defined, imported = _top_level_names(module)
    public = {
        member
        for member in defined
        if not member.startswith("_") and _is_api(getattr(module, member, None))
    }
    assert sorted(public - set(exported)) == [], f"public in {name}, missing from __all__"
    assert sorted(set(exported) - defined - imported) == [], f"{name}.__all__ names unknowns"
    for member in exported:
        assert hasattr(module, member), f"{name}.{member}"


@pytest.mark.parametrize(
    "name", [name for name in PUBLIC_MODULES if hasattr(importlib.import_module(name), "__path__")]
)
def test_a_package_exports_the_public_names_it_gathers(name: str) -> None:
    # A package's __init__ gathers classes and functions from its modules: every public
    # one it holds is exported, as httpx checks its own vars().
    package = importlib.import_module(name)
    held = {
        member
        for member, value in vars(package).items()
        if not member.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__.startswith("bearerguard")
    }
    assert sorted(held - set(package.__all__)) == []


def test_all_is_sorted_without_duplicates() -> None:
    assert list(bearerguard.__all__) == sorted(bearerguard.__all__)
    assert len(set(bearerguard.__all__)) == len(bearerguard.__all__)


@pytest.mark.parametrize("name", bearerguard.__all__)
def test_every_name_in_all_is_importable(name: str) -> None:
    assert getattr(bearerguard, name) is not None


def test_version_is_a_string() -> None:
    assert isinstance(bearerguard.__version__, str)
    assert bearerguard.__version__.count(".") >= 2


def test_package_is_typed() -> None:
    assert (Path(bearerguard.__file__).parent / "py.typed").is_file()


def test_contract_imports() -> None:
    from bearerguard import Guard, JWTVerifier, Principal, Rule, StaticTokenVerifier
    from bearerguard.exceptions import (
        AuthError,
        InsufficientScopeError,
        InvalidRequestError,
        ServiceUnavailableError,
        UnauthenticatedError,
    )
    from bearerguard.fastapi import current_principal as fastapi_current_principal
    from bearerguard.fastapi import require_scopes as fastapi_require_scopes
    from bearerguard.flask import current_principal as flask_current_principal
    from bearerguard.flask import require_scopes as flask_require_scopes
    from bearerguard.starlette import BearerGuardMiddleware as AsgiMiddleware
    from bearerguard.starlette import requires
    from bearerguard.werkzeug import BearerGuardMiddleware as WsgiMiddleware

    for name in (Guard, JWTVerifier, Principal, Rule, StaticTokenVerifier):
        assert inspect.isclass(name)
    for error in (
        UnauthenticatedError,
        InvalidRequestError,
        InsufficientScopeError,
        ServiceUnavailableError,
    ):
        assert issubclass(error, AuthError)
    for function in (fastapi_require_scopes, flask_require_scopes, requires):
        assert callable(function)
    assert callable(fastapi_current_principal)
    assert flask_current_principal is not None
    assert AsgiMiddleware is not WsgiMiddleware


def _keyword_defaults(callable_: object) -> dict[str, object]:
    parameters = inspect.signature(callable_).parameters  # type: ignore[arg-type]
    return {
        name: parameter.default
        for name, parameter in parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }


def test_guard_signature_matches_the_contract() -> None:
    parameters = inspect.signature(bearerguard.Guard).parameters
    assert next(iter(parameters)) == "verifiers"
    assert parameters["verifiers"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    defaults = _keyword_defaults(bearerguard.Guard)
    assert {
        "rules": (),
        "public_paths": (),
        "default": "authenticated",
        "cache_ttl": 60.0,
        "cache_maxsize": 10_000,
        "negative_cache_ttl": 5.0,
        "realm": "api",
        "renderer": None,
    }.items() <= defaults.items()


def test_rule_signature_matches_the_contract() -> None:
    parameters = inspect.signature(bearerguard.Rule).parameters
    assert list(parameters)[:2] == ["methods", "path"]
    assert _keyword_defaults(bearerguard.Rule) == {
        "scopes": (),
        "any_scopes": (),
        "kinds": (),
        "public": False,
    }


def test_jwt_verifier_signature_matches_the_contract() -> None:
    parameters = inspect.signature(bearerguard.JWTVerifier).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())
    assert {
        "key": None,
        "jwks_url": None,
        "algorithms": ("RS256",),
        "issuer": None,
        "audience": None,
        "leeway": 30,
        "scope_claim": "scope",
        "kind": "oauth",
        "jwks_refresh_interval": 300.0,
        "jwks_refetch_cooldown": 10.0,
    }.items() <= _keyword_defaults(bearerguard.JWTVerifier).items()


def test_static_verifier_signature_matches_the_contract() -> None:
    parameters = inspect.signature(bearerguard.StaticTokenVerifier).parameters
    assert list(parameters) == ["tokens", "kind"]
    assert parameters["kind"].default == "client"


def test_principal_fields_match_the_contract() -> None:
    principal = bearerguard.Principal(kind="oauth", subject="user-42")
    for name in ("kind", "subject", "scopes", "client_id", "token_id", "expires_at", "claims"):
        assert hasattr(principal, name)
    assert callable(principal.has_scopes)


def test_errors_carry_the_contract_attributes() -> None:
    from bearerguard.exceptions import InsufficientScopeError

    for name in (
        "AuthError",
        "UnauthenticatedError",
        "InvalidRequestError",
        "InsufficientScopeError",
        "ServiceUnavailableError",
    ):
        error = getattr(bearerguard, name)()
        assert isinstance(error.status_code, int)
        assert error.error_code is None or isinstance(error.error_code, str)
        assert isinstance(error.description, str)
    assert InsufficientScopeError(required_scopes=["a"]).required_scopes == ("a",)


def test_import_bearerguard_imports_no_web_framework() -> None:
    code = (
        "import sys, bearerguard, bearerguard.exceptions, bearerguard.guard\n"
        "frameworks = ('starlette', 'fastapi', 'flask', 'werkzeug')\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in frameworks)\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
