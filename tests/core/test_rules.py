"""Rules and path matching (security cases P-04..P-09): which requests need what."""

from __future__ import annotations

import re

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


def test_an_answer_does_not_depend_on_the_requests_before_it() -> None:
    table = RuleSet(
        [Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"])],
        ["/health"],
        "authenticated",
    )
    assert table.match("GET", "/api/payment/p1") == GET_PAYMENT
    assert table.match("GET", "/api/payment/p1") == GET_PAYMENT
    # The method counts: POST falls to the default, not to GET's answer for the path.
    assert table.match("POST", "/api/payment/p1") == AUTHENTICATED
    for index in range(3000):  # more distinct paths than any bounded memo would hold
        assert table.match("GET", f"/api/payment/p{index}") == GET_PAYMENT
    assert table.match("GET", "/api/payment/" + "p" * 5000) == GET_PAYMENT
    assert table.match("POST", "/api/payment/p1") == AUTHENTICATED
    assert table.match("GET", "/health") == PUBLIC


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    requests=st.lists(
        st.tuples(
            st.sampled_from(["GET", "HEAD", "POST", "post", "DELETE"]),
            st.lists(
                st.sampled_from(["/", "api", "payment", "p1", "..", ".", ";x", "health", "\n"]),
                max_size=6,
            ).map("/".join),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_a_long_lived_table_answers_as_a_fresh_one(requests: list[tuple[str, str]]) -> None:
    def table() -> RuleSet:
        return RuleSet(
            [
                Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"]),
                Rule("POST", "/api/payment/{payment_id:path}", scopes=["payments.create"]),
                Rule("*", "/api/public", public=True),
            ],
            ["/health"],
            "public",
        )

    kept = table()
    for method, path in requests:
        assert kept.match(method, path) == table().match(method, path)


# -- the tree against the regular expressions it replaced ------------------------------------


def _reference_pattern(template: str) -> re.Pattern[str]:
    """A template as the rules' regex was compiled before the tree (0.1), anchors aside."""
    if not template.startswith("/"):
        raise ValueError("template")
    segments = [segment for segment in template.split("/") if segment]
    parts: list[str] = []
    for index, segment in enumerate(segments):
        pieces: list[str] = []
        position = 0
        for found in _REFERENCE_PARAM.finditer(segment):
            pieces.append(re.escape(segment[position : found.start()]))
            if found.group(2) == "path":
                if index != len(segments) - 1 or found.end() != len(segment):
                    raise ValueError("template")
                pieces.append(".*")
            else:
                pieces.append("[^/]+")
            position = found.end()
        rest = segment[position:]
        if "{" in rest or "}" in rest:
            raise ValueError("template")
        pieces.append(re.escape(rest))
        parts.append("/+" + "".join(pieces))
    return re.compile("".join(parts) + "/*\n?")


_REFERENCE_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(str|path))?\}")
_REFERENCE_SUSPICIOUS = re.compile(r"(?:^|/)\.{1,2}(?:/|$)|;")


def _reference(
    rules: list[Rule], public_paths: list[str], default: str, method: str, path: str
) -> Requirement:
    """Every entry tried in order with ``fullmatch``: the first that matches wins."""
    entries = [(None, _reference_pattern(template), PUBLIC) for template in public_paths]
    entries += [(rule.methods, _reference_pattern(rule.path), rule.requirement) for rule in rules]
    named = {name for methods, _, _ in entries if methods is not None for name in methods}
    chosen = method if method in named else method.upper() if method.upper() in named else None
    found = PUBLIC if default == "public" else AUTHENTICATED
    for methods, pattern, requirement in entries:
        if (methods is None or chosen in methods) and pattern.fullmatch(path):
            found = requirement
            break
    return AUTHENTICATED if found.public and _REFERENCE_SUSPICIOUS.search(path) else found


# Template segments: literal, parameter, text around parameters, {name:path} tails, and
# pieces that break the template (to check refusals match too).
_TEMPLATE_SEGMENTS = [
    "a", "b", "ab", "a.b", "..", "\n", "{p}", "{q:str}", "{p}.json", "a{p}", "{p}{q}",
    "{p}b{q}", "}{p}", "{r:path}", "x{r:path}", "{p}{r:path}", "", "{", "b}", "{1}",
    "{p:int}",
]  # fmt: skip
_PATH_SEGMENTS = [
    "", "a", "b", "ab", "a.b", "x", "xa", "p1", "p1.json", ".json", "ap1", "a\n", "\n",
    ".", "..", ";x", "%2F", "a%2Fb", "{p}",
]  # fmt: skip
_TEMPLATES = st.builds(
    lambda segments, slash: "/" + "/".join(segments) + slash,
    st.lists(st.sampled_from(_TEMPLATE_SEGMENTS), max_size=4),
    st.sampled_from(["", "/"]),
)
_PATHS = st.one_of(
    st.builds(
        lambda lead, segments, end: lead + "/".join(segments) + end,
        st.sampled_from(["/", "//", ""]),
        st.lists(st.sampled_from(_PATH_SEGMENTS), max_size=5),
        st.sampled_from(["", "/", "\n", "/\n", "\n\n", "//"]),
    ),
    st.text(alphabet="/ab.x;\n{}", max_size=10),
)
_RULE_METHODS = st.sampled_from(["GET", "POST", "HEAD", "get", "*", ("GET", "POST")])
_METHODS = st.sampled_from(["GET", "HEAD", "POST", "post", "Get", "DELETE", "PROPFIND"])


def _instances(template: str) -> st.SearchStrategy[str]:
    """Paths made from a template: each parameter filled in, then an ending."""
    texts = re.split(r"\{[^{}]*\}", template)
    return st.builds(
        lambda values, end: "".join(map(str.__add__, texts, [*values, ""])) + end,
        st.lists(
            st.sampled_from(["a", "p1", "x.json", "", "x/y", "\n", ".."]),
            min_size=len(texts) - 1,
            max_size=len(texts) - 1,
        ),
        st.sampled_from(["", "/", "\n", "//", "/\n"]),
    )


def _valid(template: str) -> bool:
    try:
        _reference_pattern(template)
    except ValueError:
        return False
    return True


@settings(max_examples=500, deadline=None, derandomize=True)
@given(template=_TEMPLATES)
def test_templates_are_refused_exactly_where_the_regex_refused_them(template: str) -> None:
    if _valid(template):
        Rule("GET", template)
    else:
        with pytest.raises(ValueError, match="template"):
            Rule("GET", template)


@settings(max_examples=600, deadline=None, derandomize=True)
@given(
    rules=st.lists(st.tuples(_RULE_METHODS, _TEMPLATES.filter(_valid), st.booleans()), max_size=8),
    public_paths=st.lists(_TEMPLATES.filter(_valid), max_size=2),
    default=st.sampled_from(["authenticated", "public"]),
    data=st.data(),
)
def test_the_tree_answers_as_every_rule_tried_in_order(
    rules: list[tuple[str | tuple[str, ...], str, bool]],
    public_paths: list[str],
    default: str,
    data: st.DataObject,
) -> None:
    # A distinct scope per rule tells which rule answered; a few rules are public.
    built = [
        Rule(methods, template, public=True)
        if public and index % 3 == 0
        else Rule(methods, template, scopes=[f"s{index}"])
        for index, (methods, template, public) in enumerate(rules)
    ]
    table = RuleSet(built, public_paths, default)
    # Paths of any shape, and paths made from the templates so that many match.
    templates = [template for _, template, _ in rules] + public_paths
    paths = st.one_of(_PATHS, *map(_instances, templates))
    for method, path in data.draw(st.lists(st.tuples(_METHODS, paths), min_size=1, max_size=6)):
        expected = _reference(built, public_paths, default, method, path)
        assert table.match(method, path) == expected, (method, path)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    templates=st.lists(
        st.lists(st.sampled_from(["a", "b", "{p}", "{q}.x", "{r:path}"]), max_size=4).map(
            lambda segments: "/" + "/".join(segments)
        ),
        min_size=5,
        max_size=30,
    ).map(lambda templates: [t for t in templates if _valid(t)]),
    paths=st.lists(
        st.lists(st.sampled_from(["a", "b", "c", "c.x", "a.x", ""]), max_size=5).map(
            lambda segments: "/" + "/".join(segments)
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_the_tree_answers_as_in_order_where_many_rules_overlap(
    templates: list[str], paths: list[str]
) -> None:
    # Few segment names, many rules: literal and parameter branches meet at most levels.
    rules = [Rule("GET", template, scopes=[f"s{i}"]) for i, template in enumerate(templates)]
    table = RuleSet(rules, [], "authenticated")
    for path in paths:
        assert table.match("GET", path) == _reference(rules, [], "authenticated", "GET", path)


@pytest.mark.parametrize(
    ("templates", "path", "winner"),
    [
        pytest.param(["/api/{id}/b", "/api/a/b"], "/api/a/b", 0, id="param-before-literal"),
        pytest.param(["/api/a/b", "/api/{id}/b"], "/api/a/b", 0, id="literal-before-param"),
        pytest.param(["/a/x", "/{p}/b", "/a/b"], "/a/b", 1, id="earlier-rule-across-a-fork"),
        pytest.param(["/a/{p}/c", "/a/b/{q}"], "/a/b/c", 0, id="fork-then-param"),
        pytest.param(["/a/{p}.json", "/a/{q}"], "/a/x.json", 0, id="text-around-param-first"),
        pytest.param(["/a/{q}", "/a/{p}.json"], "/a/x.json", 0, id="param-before-text"),
        pytest.param(["/a/{p}.json", "/a/{q}"], "/a/x.json/", 0, id="trailing-slash-text"),
        pytest.param(["/s/{p:path}", "/s/a"], "/s/a", 0, id="tail-before-literal"),
        pytest.param(["/s/a", "/s/{p:path}"], "/s/a/b", 1, id="tail-past-literal"),
        pytest.param(["/x/{a}{b}", "/x/{c}"], "/x/y", 1, id="two-params-need-two-chars"),
        pytest.param(["/x/{a}{b}", "/x/{c}"], "/x/yz", 0, id="two-params-share-a-segment"),
        pytest.param(["/a/{x}"], "/a/\n", 0, id="param-takes-a-lone-newline"),
        pytest.param(["/a/{x}"], "/a/b%2Fc", 0, id="encoded-slash-in-one-segment"),
        pytest.param(["/f/{p:path}"], "/f", None, id="tail-needs-its-slash"),
        pytest.param(["/f/{p:path}"], "/f//", 0, id="tail-empty-after-slashes"),
        pytest.param(["/f/{p:path}"], "/f/a\nb", None, id="tail-refuses-inner-newline"),
        pytest.param(["/f/{p:path}"], "/f/a\n", 0, id="tail-final-newline"),
        pytest.param(["/x{p:path}"], "/x", 0, id="tail-with-text-may-be-empty"),
        pytest.param(["/x{p:path}"], "/xy/z/", 0, id="tail-with-text-deep"),
        pytest.param(["/{p:path}"], "/", 0, id="root-tail-slash"),
        pytest.param(["/{p:path}"], "", None, id="root-tail-empty-path"),
        pytest.param(["/files/{n}.json"], "/files/.json", None, id="text-needs-the-param"),
        pytest.param(["/{id}"], "x", None, id="no-leading-slash"),
        pytest.param(["/"], "\n", 0, id="root-newline"),
        pytest.param(["/a", "/{p}"], "/a\n", 0, id="newline-as-terminator-first"),
        pytest.param(["/{p}", "/a"], "/a\n", 0, id="newline-in-param-first"),
        pytest.param(["/a/b/{x}", "/a/{p}"], "/a/b", 1, id="literal-prefix-of-a-rule"),
        pytest.param(["/a/{x}", "/a/b"], "/a/b", 0, id="param-before-its-literal-sibling"),
        pytest.param(["/a/b", "/a/{x}"], "/a/b\n", 0, id="newline-after-a-literal-sibling"),
        pytest.param(["/a/{x}/c", "/a/{p}"], "/a/z", 1, id="param-parent-with-deeper-param"),
        pytest.param(["/a/{p}"], "/a/z/", 0, id="param-then-trailing-slash"),
        pytest.param(["/docs", "/docs/o"], "/docs/", 0, id="literal-only-trailing-slash"),
        pytest.param(["/docs", "/docs/o"], "//docs//o", 1, id="literal-only-repeated-slashes"),
        pytest.param(["/docs", "/docs/o"], "/docs\n", 0, id="literal-only-final-newline"),
        pytest.param(["/docs", "/docs/o"], "/api/x", None, id="literal-only-no-match"),
        pytest.param(["/docs", "/docs/o"], "/docs/o/x", None, id="literal-only-deeper"),
        pytest.param(["/", "/docs"], "", 0, id="literal-only-empty-path"),
    ],
)
def test_tricky_matches(templates: list[str], path: str, winner: int | None) -> None:
    rules = [Rule("GET", template, scopes=[f"s{i}"]) for i, template in enumerate(templates)]
    expected = AUTHENTICATED if winner is None else Requirement.build([f"s{winner}"])
    assert _guard(rules=rules, public_paths=()).requirement("GET", path) == expected
    assert _reference(rules, [], "authenticated", "GET", path) == expected


@pytest.mark.parametrize(
    ("template", "path"),
    [
        pytest.param("/api/r{i}/{{id}}", "/api/r{i}/pay_1", id="parting-at-second-segment"),
        pytest.param("/api/payment/{{id}}/x{i}", "/api/payment/pay_1/x{i}", id="shared-prefix"),
    ],
)
def test_a_thousand_rules_still_match_the_first_that_fits(template: str, path: str) -> None:
    rules = [Rule("GET", template.format(i=i), scopes=[f"s{i}"]) for i in range(1000)]
    guard = _guard(rules=rules, public_paths=())
    for i in (0, 1, 500, 999):
        assert guard.requirement("GET", path.format(i=i)) == Requirement.build([f"s{i}"])
    assert guard.requirement("GET", path.format(i=1000)) == AUTHENTICATED
