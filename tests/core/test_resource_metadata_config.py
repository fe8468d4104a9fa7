"""``Guard(resource_metadata=...)`` is checked at construction, with clear ValueErrors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bearerguard import Guard, JWTVerifier, Rule, StaticTokenVerifier

RESOURCE = "https://payments.example/api"


def build(metadata: Any, **options: Any) -> Guard:
    return Guard([StaticTokenVerifier({"t0ken": ["a"]})], resource_metadata=metadata, **options)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (["resource", RESOURCE], "must be a mapping"),
        ({}, '"resource"'),
        ({"resource": ""}, '"resource"'),
        ({"resource": 42}, '"resource"'),
        ({"resource": "http://payments.example/api"}, "resource must be https"),
        ({"resource": "ftp://payments.example/api"}, "resource must be https"),
        ({"resource": "payments-api"}, "resource must be https"),
        ({"resource": "https:///api"}, "resource must be https"),
        ({"resource": RESOURCE + "#frag"}, "no fragment"),
        ({"resource": RESOURCE + "?tenant=1"}, "no query"),
        ({"resource": "https://user:pw@payments.example/api"}, "credentials"),
        ({"resource": 'https://payments.example/a"b'}, "without spaces or quotes"),
        ({"resource": "https://payments.example/a b"}, "without spaces or quotes"),
        ({"resource": "https://payments.example/caf\u00e9"}, "printable ASCII"),
        ({"resource": "https://payments.example/a\r\nX-Evil: 1"}, "printable ASCII"),
        ({"resource": RESOURCE, "authorization_servers": "https://id.example.com/"}, "a list"),
        ({"resource": RESOURCE, "authorization_servers": []}, "non-empty list of strings"),
        ({"resource": RESOURCE, "authorization_servers": [42]}, "non-empty list of strings"),
        ({"resource": RESOURCE, "authorization_servers": ["id.example.com"]}, "issuer URLs"),
        ({"resource": RESOURCE, "authorization_servers": ["http://id.example.com/"]}, "https"),
        ({"resource": RESOURCE, "authorization_servers": ["https://id.example/?a=1"]}, "query"),
        ({"resource": RESOURCE, "scopes_supported": "payments.get"}, "list of scope names"),
        ({"resource": RESOURCE, "scopes_supported": ["two words"]}, "scopes_supported scope"),
        ({"resource": RESOURCE, "bearer_methods_supported": ["query"]}, '["header"]'),
        ({"resource": RESOURCE, "bearer_methods_supported": "header"}, '["header"]'),
        ({"resource": RESOURCE, "resource_name": ["Payments"]}, "resource_name must be a string"),
        (
            {"resource": RESOURCE, "dpop_signing_alg_values_supported": "ES256"},
            "must be a list of strings",
        ),
        ({"resource": RESOURCE, "dpop_bound_access_tokens_required": True}, "can only be false"),
        (
            {"resource": RESOURCE, "tls_client_certificate_bound_access_tokens": True},
            "can only be false",
        ),
        ({"resource": RESOURCE, "jwks_uri": "http://keys.example/"}, "jwks_uri must be https"),
        ({"resource": RESOURCE, "x_extension": {1, 2}}, "JSON values only"),
        ({"resource": RESOURCE, "x_extension": float("nan")}, "JSON values only"),
        ({"resource": RESOURCE, 1: "one"}, "names must be strings"),
    ],
)
def test_bad_metadata_is_refused_at_construction(metadata: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build(metadata)


@pytest.mark.parametrize(
    "resource",
    ["http://127.0.0.1:8000/api", "http://localhost/", "http://[::1]:9000", RESOURCE + "/"],
)
def test_loopback_http_and_trailing_slashes_are_accepted(resource: str) -> None:
    metadata = build({"resource": resource}).resource_metadata
    assert metadata is not None
    assert metadata.document["resource"] == resource


def test_the_metadata_url_inserts_the_suffix_between_host_and_path() -> None:
    cases = {
        "https://payments.example": "https://payments.example/.well-known/oauth-protected-resource",
        "https://payments.example/": "https://payments.example/.well-known/oauth-protected-resource",
        "https://payments.example:8443/v1/api/": (
            "https://payments.example:8443/.well-known/oauth-protected-resource/v1/api/"
        ),
    }
    for resource, url in cases.items():
        metadata = build({"resource": resource}).resource_metadata
        assert metadata is not None
        assert metadata.url == url


def test_extension_parameters_pass_through_and_the_given_mapping_is_not_changed() -> None:
    given = {"resource": RESOURCE, "x_tenant": {"region": "eu"}, "bearer_methods_supported": []}
    with pytest.raises(ValueError, match="bearer_methods_supported"):
        build(given)
    given = {"resource": RESOURCE, "x_tenant": {"region": "eu"}}
    metadata = build(given).resource_metadata
    assert metadata is not None
    assert metadata.document["x_tenant"] == {"region": "eu"}
    assert given == {"resource": RESOURCE, "x_tenant": {"region": "eu"}}
    with pytest.raises(TypeError):
        metadata.document["resource"] = "https://evil.example/"  # type: ignore[index]


def test_rules_scopes_and_verifier_issuers_fill_the_defaults() -> None:
    verifiers = [
        JWTVerifier(key="k" * 32, algorithms=["HS256"], issuer="https://a.example/", audience="x"),
        JWTVerifier(key="k" * 32, algorithms=["HS256"], issuer="https://b.example/", audience="x"),
        JWTVerifier(key="k" * 32, algorithms=["HS256"], issuer="https://a.example/", audience="y"),
        StaticTokenVerifier({"t0ken": ["a"]}),
    ]
    guard = Guard(
        verifiers,
        rules=[
            Rule("GET", "/a", scopes=["a.read", "b.read"]),
            Rule("POST", "/a", any_scopes=["a.write", "a.read"]),
            Rule("GET", "/open", public=True),
        ],
        resource_metadata={"resource": RESOURCE},
    )
    assert guard.resource_metadata is not None
    document = guard.resource_metadata.document
    assert document["authorization_servers"] == ["https://a.example/", "https://b.example/"]
    assert document["scopes_supported"] == ["a.read", "b.read", "a.write"]
    assert list(document) == [
        "resource",
        "authorization_servers",
        "scopes_supported",
        "bearer_methods_supported",
    ]


def test_a_guard_without_rules_lists_no_scopes() -> None:
    metadata = build({"resource": RESOURCE}).resource_metadata
    assert metadata is not None
    assert "scopes_supported" not in metadata.document


def test_with_rules_adds_its_rules_and_scopes_after_the_defaults() -> None:
    base = build({"resource": RESOURCE}, rules=[Rule("GET", "/a", scopes=["a"])])
    extended = base.with_rules([Rule("GET", "/b", any_scopes=["b1", "b2"])], scopes=["c", "a"])
    assert extended.resource_metadata is not None
    assert extended.resource_metadata.document["scopes_supported"] == ["a", "b1", "b2", "c"]
    assert extended.resource_metadata.url == RESOURCE.replace(
        "/api", "/.well-known/oauth-protected-resource/api"
    )
    # The guard it was made from keeps its document.
    assert base.resource_metadata is not None
    assert base.resource_metadata.document["scopes_supported"] == ["a"]


def test_with_rules_leaves_given_scopes_supported_alone() -> None:
    given = build({"resource": RESOURCE, "scopes_supported": ["x"]})
    extended = given.with_rules([Rule("GET", "/b", scopes=["b"])], scopes=["c"])
    assert extended.resource_metadata is not None
    assert extended.resource_metadata.document["scopes_supported"] == ["x"]


def test_with_rules_scopes_need_no_metadata() -> None:
    plain = build(None).with_rules([], scopes=["c"])
    assert plain.resource_metadata is None
    assert plain.check("GET", "/x", "Bearer t0ken") is not None
