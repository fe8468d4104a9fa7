"""Rules and path matching (security cases P-04..P-09): which requests need what."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bearerguard import Guard, Requirement, Rule, StaticTokenVerifier
from bearerguard.rules import RuleSet

PAYMENTS_RULES = [
    Rule("POST", "/api/payment/checkout", scopes=["payments.create"], kinds=["client"]),
    Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"]),
    Rule(
        "GET",
        "/api/payment/{payment_id}/instructions/{provider}",
        scopes=["payments.user-instructions.get"],
    ),
    Rule("GET", "/api/payment-applications", kinds=["oauth"]),
]
CHECKOUT = Requirement.build(["payments.create"], kinds=["client"])
GET_PAYMENT = Requirement.build(["payments.get"])
INSTRUCTIONS = Requirement.build(["payments.user-instructions.get"])
DASHBOARD = Requirement.build(kinds="oauth")
PUBLIC = Requirement(public=True)
AUTHENTICATED = Requirement()


def _guard(
    rules: list[Rule] | None = None,
    public_paths: tuple[str, ...] = ("/health",),
    default: str = "authenticated",
) -> Guard:
    return Guard(
        [StaticTokenVerifier({})],
        rules=PAYMENTS_RULES if rules is None else rules,
        public_paths=public_paths,
        default=default,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        pytest.param("POST", "/api/payment/checkout", CHECKOUT, id="checkout"),
        pytest.param("GET", "/api/payment/pay_123", GET_PAYMENT, id="payment"),
        pytest.param(
            "GET", "/api/payment/pay_1/instructions/stripe", INSTRUCTIONS, id="instructions"
        ),
        pytest.param("GET", "/api/payment-applications", DASHBOARD, id="dashboard"),
        pytest.param("GET", "/health", PUBLIC, id="health"),
        pytest.param("POST", "/health", PUBLIC, id="public-path-any-method"),
        pytest.param("GET", "/api/payment/a/b", AUTHENTICATED, id="one-segment-only"),
        pytest.param("GET", "/api/payment/", AUTHENTICATED, id="empty-segment-no-match"),
        pytest.param("GET", "/nowhere", AUTHENTICATED, id="P-08-unmatched"),
        pytest.param("GET", "/", AUTHENTICATED, id="root"),
        pytest.param("GET", "", AUTHENTICATED, id="empty-path"),
        pytest.param("DELETE", "/api/payment/pay_123", AUTHENTICATED, id="other-method"),
        pytest.param("GET", "/api/payment/checkout", GET_PAYMENT, id="checkout-is-an-id-for-get"),
    ],
)
def test_payments_rules(method: str, path: str, expected: Requirement) -> None:
    assert _guard().requirement(method, path) == expected


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        pytest.param("POST", "//api/payment/checkout/", CHECKOUT, id="brief-example"),
        pytest.param("POST", "/api/payment/checkout/", CHECKOUT, id="trailing-slash"),
        pytest.param("POST", "/api/payment/checkout//", CHECKOUT, id="trailing-slashes"),
        pytest.param("POST", "///api//payment///checkout", CHECKOUT, id="repeated-inside"),
        pytest.param("GET", "/api//payment//pay_1", GET_PAYMENT, id="repeated-around-param"),
        pytest.param(
            "GET",
            "//api/payment/pay_1//instructions//stripe/",
            INSTRUCTIONS,
            id="repeated-in-deep-template",
        ),
        pytest.param("GET", "/health/", PUBLIC, id="public-trailing-slash"),
        pytest.param("GET", "//health", PUBLIC, id="public-leading-slashes"),
    ],
)
def test_P04_P07_repeated_and_trailing_slashes_meet_the_rule(
    method: str, path: str, expected: Requirement
) -> None:
    assert _guard().requirement(method, path) == expected


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/healthz", id="suffix-letter"),
        pytest.param("/health-admin", id="suffix-hyphen"),
        pytest.param("/health.json", id="suffix-dot"),
        pytest.param("/healthcheck/x", id="longer-segment"),
        pytest.param("/health/x", id="child-segment"),
        pytest.param("/x/health", id="as-a-suffix"),
        pytest.param("/HEALTH", id="P-07-upper-case"),
        pytest.param("/Health", id="P-07-capitalised"),
        pytest.param("/health/../api/payment/checkout", id="P-05-dot-dot-escape"),
        pytest.param("/health;x=1", id="P-05-matrix-parameter"),
        pytest.param("/health%2F", id="P-02-encoded-slash"),
    ],
)
def test_P06_P07_public_path_boundaries(path: str) -> None:
    guard = _guard()
    assert guard.requirement("GET", path) == AUTHENTICATED


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/API/payment/checkout", id="upper-prefix"),
        pytest.param("/api/Payment/checkout", id="capitalised-segment"),
        pytest.param("/api/payment/CHECKOUT", id="upper-last"),
    ],
)
def test_P07_matching_is_case_sensitive_like_the_routers(path: str) -> None:
    # Starlette and Werkzeug route case-sensitively: a differently cased path reaches
    # no route, so it falls to the default like any unmatched path.
    assert _guard(default="public").requirement("POST", path) == PUBLIC
    assert _guard().requirement("POST", path) == AUTHENTICATED


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/static/../api/payment/checkout", id="dot-dot-under-path-param"),
        pytest.param("/static/./x", id="dot-segment"),
        pytest.param("/static/..", id="trailing-dot-dot"),
        pytest.param("/static/a/../../admin", id="nested-dot-dot"),
        pytest.param("/static/a;jsessionid=1", id="matrix-parameter"),
        pytest.param("/open/..", id="dot-dot-as-one-segment-param"),
        pytest.param("/open/.", id="dot-as-one-segment-param"),
    ],
)
def test_P05_dot_segments_and_matrix_parameters_are_never_public(path: str) -> None:
    guard = _guard(rules=[], public_paths=("/static/{rest:path}", "/open/{name}"))
    assert guard.requirement("GET", path) == AUTHENTICATED


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/docs/../admin", id="dot-dot"),
        pytest.param("/./admin", id="dot"),
        pytest.param("/;/admin", id="shiro-style"),
    ],
)
def test_P05_dot_segments_not_public_under_default_public(path: str) -> None:
    assert _guard(rules=[], default="public").requirement("GET", path) == AUTHENTICATED


def test_P05_dots_inside_a_segment_are_not_dot_segments() -> None:
    guard = _guard(rules=[], public_paths=("/static/{rest:path}",))
    assert guard.requirement("GET", "/static/app.v2..min.js") == PUBLIC
    assert guard.requirement("GET", "/static/.well-known/x") == PUBLIC
    assert guard.requirement("GET", "/static/css/site.css") == PUBLIC


# -- methods (P-09) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        pytest.param("GET", GET_PAYMENT, id="get"),
        pytest.param("HEAD", GET_PAYMENT, id="head-follows-get"),
        pytest.param("POST", AUTHENTICATED, id="post-falls-to-default"),
        pytest.param("OPTIONS", AUTHENTICATED, id="options-falls-to-default"),
        pytest.param("PROPFIND", AUTHENTICATED, id="unknown-method-falls-to-default"),
    ],
)
def test_P09_get_covers_head_and_other_methods_fall_to_default(
    method: str, expected: Requirement
) -> None:
    assert _guard().requirement(method, "/api/payment/pay_1") == expected


def test_P09_unknown_method_falls_to_a_public_default() -> None:
    guard = _guard(default="public")
    assert guard.requirement("PROPFIND", "/api/payment/pay_1") == PUBLIC
    assert guard.requirement("GET", "/api/payment/pay_1") == GET_PAYMENT


@pytest.mark.parametrize(
    "method",
    [
        pytest.param("post", id="lower"),
        pytest.param("Post", id="capitalised"),
    ],
)
@pytest.mark.parametrize("default", ["public", "authenticated"])
def test_P09_method_case_cannot_slip_past_a_rule(method: str, default: str) -> None:
    # Werkzeug upper-cases REQUEST_METHOD before routing, so Flask runs the POST view
    # for "post": the rule written for POST must apply.
    assert _guard(default=default).requirement(method, "/api/payment/checkout") == CHECKOUT


def test_P09_head_rule_does_not_cover_get() -> None:
    guard = _guard(rules=[Rule("HEAD", "/x", scopes=["x.head"])])
    assert guard.requirement("HEAD", "/x") == Requirement.build(["x.head"])
    assert guard.requirement("GET", "/x") == AUTHENTICATED


@pytest.mark.parametrize(
    "method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "TRACE"]
)
def test_star_rule_covers_every_method(method: str) -> None:
    guard = _guard(rules=[Rule("*", "/admin/{rest:path}", scopes=["admin"])], default="public")
    assert guard.requirement(method, "/admin/users/1") == Requirement.build(["admin"])


def test_method_list_and_lower_case_rule_methods() -> None:
    rule = Rule(["get", "put"], "/x", scopes=["x"])
    assert rule.methods == frozenset({"GET", "HEAD", "PUT"})
    guard = _guard(rules=[rule])
    for method in ("GET", "HEAD", "PUT"):
        assert guard.requirement(method, "/x") == Requirement.build(["x"])
    assert guard.requirement("POST", "/x") == AUTHENTICATED


def test_star_among_other_methods_means_all() -> None:
    assert Rule(["GET", "*"], "/x").methods is None


# -- ordering ------------------------------------------------------------------------------


def test_first_matching_rule_wins() -> None:
    export = Rule("GET", "/api/payment/export", scopes=["payments.export"])
    by_id = Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"])
    assert _guard(rules=[export, by_id]).requirement("GET", "/api/payment/export") == (
        Requirement.build(["payments.export"])
    )
    assert _guard(rules=[by_id, export]).requirement("GET", "/api/payment/export") == GET_PAYMENT


def test_first_rule_wins_across_star_and_specific_methods() -> None:
    star = Rule("*", "/x", scopes=["star"])
    get = Rule("GET", "/x", scopes=["get"])
    assert _guard(rules=[star, get]).requirement("GET", "/x") == Requirement.build(["star"])
    assert _guard(rules=[get, star]).requirement("GET", "/x") == Requirement.build(["get"])
    assert _guard(rules=[get, star]).requirement("POST", "/x") == Requirement.build(["star"])


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PROPFIND", "get"])
def test_public_paths_are_consulted_before_rules_for_every_method(method: str) -> None:
    rules = [Rule("*", "/status", scopes=["admin"]), Rule("GET", "/status", scopes=["x"])]
    assert _guard(rules=rules, public_paths=("/status",)).requirement(method, "/status") == PUBLIC


def test_public_rule() -> None:
    guard = _guard(rules=[Rule("GET", "/docs", public=True)])
    assert guard.requirement("GET", "/docs") == PUBLIC
    assert guard.requirement("POST", "/docs") == AUTHENTICATED


# -- defaults ------------------------------------------------------------------------------


def test_default_authenticated_and_public() -> None:
    assert _guard(default="authenticated").requirement("GET", "/unknown") == AUTHENTICATED
    assert _guard(default="public").requirement("GET", "/unknown") == PUBLIC
    assert _guard(default="public").requirement("POST", "/api/payment/checkout") == CHECKOUT


def test_default_is_authenticated() -> None:
    guard = Guard([StaticTokenVerifier({})])
    assert guard.requirement("GET", "/anything") == AUTHENTICATED


# -- templates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "path", "matches"),
    [
        pytest.param("/files/{rest:path}", "/files/a/b/c.txt", True, id="path-param-deep"),
        pytest.param("/files/{rest:path}", "/files/a", True, id="path-param-one"),
        pytest.param("/files/{rest:path}", "/files/", True, id="path-param-empty"),
        pytest.param("/files/{rest:path}", "/filesx/a", False, id="path-param-boundary"),
        pytest.param("/reports/{id}.csv", "/reports/42.csv", True, id="param-with-suffix"),
        pytest.param("/reports/{id}.csv", "/reports/42.json", False, id="suffix-is-literal"),
        pytest.param("/reports/{id:str}", "/reports/42", True, id="explicit-str"),
        pytest.param("/a.b", "/aXb", False, id="dot-is-literal"),
        pytest.param("/a+b", "/aab", False, id="plus-is-literal"),
        pytest.param("/v1/(x)", "/v1/(x)", True, id="parentheses-are-literal"),
        pytest.param("/", "/", True, id="root"),
        pytest.param("/", "", True, id="root-empty"),
        pytest.param("/", "/x", False, id="root-only"),
        pytest.param("/api/", "/api", True, id="template-trailing-slash"),
        pytest.param("/{a}/{b}", "/x/y", True, id="two-params"),
        pytest.param("/{a}/{b}", "/x", False, id="two-params-one-given"),
        # Starlette's "$" matches before a final newline: /admin%0A reaches /admin.
        pytest.param("/admin", "/admin\n", True, id="P-02-trailing-newline"),
        pytest.param("/files/{rest:path}", "/files/a\n", True, id="P-02-path-param-newline"),
        pytest.param("/admin", "/admin\n\n", False, id="P-02-two-newlines"),
    ],
)
def test_templates(template: str, path: str, matches: bool) -> None:
    guard = _guard(rules=[Rule("GET", template, scopes=["t"])], public_paths=())
    expected = Requirement.build(["t"]) if matches else AUTHENTICATED
    assert guard.requirement("GET", path) == expected


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("api/payment", id="no-leading-slash"),
        pytest.param("", id="empty"),
        pytest.param("/a/{b", id="unclosed-brace"),
        pytest.param("/a/b}", id="stray-close-brace"),
        pytest.param("/a/{}", id="empty-name"),
        pytest.param("/a/{1b}", id="name-starts-with-digit"),
        pytest.param("/a/{b:int}", id="unknown-converter"),
        pytest.param("/a/{b:path}/c", id="path-param-not-last"),
        pytest.param("/a/{b:path}.txt", id="path-param-with-suffix"),
    ],
)
def test_bad_templates_raise_at_construction(template: str) -> None:
    with pytest.raises(ValueError, match="template"):
        Rule("GET", template)
    with pytest.raises(ValueError, match="template"):
        Guard([StaticTokenVerifier({})], public_paths=[template])


@pytest.mark.parametrize(
    "methods",
    [
        pytest.param([], id="no-method"),
        pytest.param("", id="empty-string"),
        pytest.param("GE T", id="space"),
        pytest.param("GET\r\n", id="crlf"),
        pytest.param(["GET", "P0ST"], id="digit"),
        pytest.param("G\u00c9T", id="non-ascii"),
    ],
)
def test_bad_methods_raise_at_construction(methods: str | list[str]) -> None:
    with pytest.raises(ValueError, match="method"):
        Rule(methods, "/x")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"scopes": [""]}, id="empty-scope"),
        pytest.param({"scopes": "payments get"}, id="space-in-scope"),
        pytest.param({"scopes": ['pay"ments']}, id="quote-in-scope"),
        pytest.param({"any_scopes": ["a", "b\\c"]}, id="backslash-in-any-scope"),
        pytest.param({"any_scopes": ["\u00e9"]}, id="non-ascii-any-scope"),
        pytest.param({"public": True, "scopes": ["a"]}, id="public-with-scopes"),
        pytest.param({"public": True, "kinds": ["oauth"]}, id="public-with-kinds"),
        pytest.param({"public": True, "any_scopes": ["a"]}, id="public-with-any-scopes"),
    ],
)
def test_F05_bad_requirements_raise_at_construction(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"scope|public"):
        Rule("GET", "/x", **changes)  # type: ignore[arg-type]


def test_bad_default_and_rule_objects_raise() -> None:
    with pytest.raises(ValueError, match="default"):
        _guard(default="private")
    with pytest.raises(ValueError, match="default"):
        RuleSet([], [], "Public")
    with pytest.raises(TypeError, match="Rule objects"):
        Guard([StaticTokenVerifier({})], rules=[("GET", "/x")])  # type: ignore[list-item]


def test_string_scopes_and_kinds_are_one_name_each() -> None:
    rule = Rule("GET", "/x", scopes="payments.get", any_scopes="a.b", kinds="client")
    assert rule.requirement == Requirement(
        scopes=("payments.get",), any_scopes=("a.b",), kinds=frozenset({"client"})
    )


def test_rule_repr_names_methods_and_path() -> None:
    text = repr(Rule(["POST"], "/api/payment/checkout", scopes=["payments.create"]))
    assert "POST" in text
    assert "/api/payment/checkout" in text
    assert "payments.create" in text
    assert repr(Rule("*", "/x")).startswith("Rule('*', '/x'")


def test_many_rules_still_match_the_first() -> None:
    rules = [Rule("GET", f"/r{index}/{{id}}", scopes=[f"s{index}"]) for index in range(300)]
    guard = _guard(rules=rules, public_paths=())
    assert guard.requirement("GET", "/r0/x") == Requirement.build(["s0"])
    assert guard.requirement("GET", "/r299/x") == Requirement.build(["s299"])
    assert guard.requirement("GET", "/r300/x") == AUTHENTICATED


def test_requirements_compare_by_value() -> None:
    assert Requirement.build(["a"], kinds=["client"]) == Requirement.build("a", kinds="client")
    assert Requirement.build(["a"]) != Requirement.build(any_scopes=["a"])


def test_recent_answers_are_remembered_within_bounds() -> None:
    from bearerguard import rules as rules_module

    table = RuleSet(
        [Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"])],
        ["/health"],
        "authenticated",
    )
    first = table.match("GET", "/api/payment/p1")
    assert table.match("GET", "/api/payment/p1") is first
    # The method is part of the key: POST falls to the default, not to GET's answer.
    assert table.match("POST", "/api/payment/p1") == Requirement()
    for index in range(rules_module._MEMO_SIZE * 3):
        table.match("GET", f"/api/payment/p{index}")
        assert len(table._recent) <= rules_module._MEMO_SIZE
    long_path = "/api/payment/" + "p" * rules_module._MEMO_PATH_LENGTH
    assert table.match("GET", long_path) == first
    assert ("GET", long_path) not in table._recent


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "post", "DELETE"]),
    path=st.lists(
        st.sampled_from(["/", "api", "payment", "p1", "..", ".", ";x", "health", "\n"]),
        max_size=6,
    ).map("/".join),
)
def test_a_remembered_answer_is_the_answer_the_table_gives_afresh(method: str, path: str) -> None:
    table = RuleSet(
        [
            Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"]),
            Rule("POST", "/api/payment/{payment_id:path}", scopes=["payments.create"]),
            Rule("*", "/api/public", public=True),
        ],
        ["/health"],
        "public",
    )
    fresh = table._match(method, path)
    assert table.match(method, path) == fresh
    assert table.match(method, path) == fresh  # now from the memo
