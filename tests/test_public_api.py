"""The public names of the 0.1 contract (issue 2): importable, sorted, framework-free core."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import bearerguard


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
