"""Route rules: which requests need what.

A :class:`Rule` names methods and a path template; the :class:`RuleSet` a guard builds
from its rules and public paths answers, per request, with a :class:`Requirement`.

The rule set is a tree keyed by path segments, as radix routers keep theirs: a request
walks down it a dict lookup per segment, so a match costs about the same with a thousand
rules as with one. Empty segments are skipped, so ``//api/payment/checkout/`` meets the
rule of ``/api/payment/checkout``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from .exceptions import InsufficientScopeError
from .scopes import has_all, has_any, validate_scopes

if TYPE_CHECKING:
    from .principal import Principal

__all__ = ["Requirement", "Rule", "RuleSet"]

_KIND_REFUSED = "This kind of token is not accepted here"

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(str|path))?\}")
_METHOD = re.compile(r"[A-Z]+")
# A "." or ".." segment, or a ";" parameter: a path the router and a proxy may read
# differently (security cases P-05). Such a path is never public.
_SUSPICIOUS = re.compile(r"(?:^|/)\.{1,2}(?:/|$)|;")

# A parsed template: its leading segments that are literal text (str) or one parameter
# (None), then a regular expression for the rest of the path from the first that is not.
_Template: TypeAlias = "tuple[tuple[str | None, ...], str | None]"


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a request must present, as decided by rules or a route declaration.

    Attributes:
        public: No token needed (a token that is presented is still verified).
        scopes: All of these must be granted.
        any_scopes: At least one of these must be granted (when not empty).
        kinds: The token kinds accepted (empty: any kind).
    """

    public: bool = False
    scopes: tuple[str, ...] = ()
    any_scopes: tuple[str, ...] = ()
    kinds: frozenset[str] = frozenset()
    # ``scopes`` as a set, made once: a subset test against a set is the cheapest
    # check of the common case, exactly granted scopes.
    _scope_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_scope_set", frozenset(self.scopes))

    @classmethod
    def build(
        cls,
        scopes: str | Iterable[str] = (),
        any_scopes: str | Iterable[str] = (),
        kinds: str | Iterable[str] = (),
        *,
        public: bool = False,
    ) -> Requirement:
        """Build a requirement, validating scope names (``ValueError`` when bad)."""
        if isinstance(kinds, str):
            kinds = (kinds,)
        return cls(
            public=public,
            scopes=validate_scopes(scopes),
            any_scopes=validate_scopes(any_scopes),
            kinds=frozenset(kinds),
        )

    def authorize(self, principal: Principal) -> None:
        """Check kind, then all-of scopes, then any-of scopes (``public`` is not consulted).

        Raises:
            InsufficientScopeError: listing the set that failed (empty for the kind).
        """
        if self.kinds and principal.kind not in self.kinds:
            raise InsufficientScopeError(_KIND_REFUSED)
        scopes = self.scopes
        granted = principal.scopes
        # The subset test (in C) settles exactly granted scopes; has_all, the wildcards,
        # which only bearerguard's own tokens carry (an identity provider's "*" is a
        # plain string: Principal.literal_scopes).
        if (
            scopes
            and not self._scope_set <= granted
            and (principal.literal_scopes or not has_all(granted, scopes))
        ):
            raise InsufficientScopeError(required_scopes=scopes)
        if self.any_scopes and not (
            not granted.isdisjoint(self.any_scopes)
            if principal.literal_scopes
            else has_any(granted, self.any_scopes)
        ):
            raise InsufficientScopeError(required_scopes=self.any_scopes)


PUBLIC = Requirement(public=True)
AUTHENTICATED = Requirement()


class Rule:
    """Declare what requests to ``path`` with one of ``methods`` require.

    Args:
        methods: A method or list of methods; ``"*"`` for all. A ``GET`` rule also
            covers ``HEAD``; a WebSocket handshake counts as ``GET``.
        path: A template such as ``/api/payment/{payment_id}``: ``{name}`` is one
            segment, ``{name:path}`` the rest of the path.
        scopes: Scopes that must all be granted.
        any_scopes: Scopes of which at least one must be granted.
        kinds: Token kinds accepted (``"oauth"``, ``"client"``…); empty means any.
        public: The route needs no token.
    """

    __slots__ = ("_template", "methods", "path", "requirement")

    def __init__(
        self,
        methods: str | Sequence[str],
        path: str,
        *,
        scopes: str | Iterable[str] = (),
        any_scopes: str | Iterable[str] = (),
        kinds: str | Iterable[str] = (),
        public: bool = False,
    ) -> None:
        self.methods = _methods(methods)
        self.path = path
        self._template = _parse(path)
        self.requirement = Requirement.build(scopes, any_scopes, kinds, public=public)
        if public and (
            self.requirement.scopes or self.requirement.any_scopes or self.requirement.kinds
        ):
            raise ValueError("a public rule cannot require scopes or kinds")

    def __repr__(self) -> str:
        methods = "*" if self.methods is None else sorted(self.methods)
        return f"Rule({methods!r}, {self.path!r}, requirement={self.requirement!r})"


def _methods(methods: str | Sequence[str]) -> frozenset[str] | None:
    names = [methods] if isinstance(methods, str) else list(methods)
    if not names:
        raise ValueError("a rule needs at least one method")
    upper = {name.upper() for name in names}
    if "*" in upper:
        return None
    for name in upper:
        if not _METHOD.fullmatch(name):
            raise ValueError(f"invalid HTTP method: {name!r}")
    if "GET" in upper:
        upper.add("HEAD")
    return frozenset(upper)


def _parse(path: str) -> _Template:
    """Split a template for the tree; ``ValueError`` when it is malformed.

    As in the regular expressions Starlette compiles routes to, ``{name}`` is ``[^/]+``
    (a segment, ``%2F`` or a newline in it too) and ``{name:path}`` is ``.*``: all after
    the slash before it, even nothing (``/files/`` meets ``/files/{p:path}``, ``/files``
    does not), but no newline.
    """
    if not path.startswith("/"):
        raise ValueError(f"a path template must start with '/': {path!r}")
    names = [segment for segment in path.split("/") if segment]
    plain: list[str | None] = []
    sources: list[str] = []  # from the first segment that is not plain
    for index, segment in enumerate(names):
        pieces: list[str] = []
        position = 0
        for match in _PARAM.finditer(segment):
            pieces.append(re.escape(segment[position : match.start()]))
            if match.group(2) == "path":
                if index != len(names) - 1 or match.end() != len(segment):
                    raise ValueError(f"{{name:path}} must end the template: {path!r}")
                lead = "".join(pieces)
                # Alone, an empty lead still needs its slash: something must follow.
                rest = "/".join([*sources, lead]) if sources else lead or "."
                return tuple(plain), rest + ".*"
            pieces.append("[^/]+")
            position = match.end()
        rest = segment[position:]
        if "{" in rest or "}" in rest:
            raise ValueError(f"invalid path template: {path!r}")
        pieces.append(re.escape(rest))
        if sources or (position and pieces != ["", "[^/]+", ""]):
            sources.append("".join(pieces))
        else:
            plain.append(segment if position == 0 else None)
    return tuple(plain), "/".join(sources) + "/?" if sources else None


class _Node:
    """A segment position in the tree; indices are positions in the rule table."""

    __slots__ = ("checks", "depth", "end", "floor", "fork", "literal", "param", "pending")

    def __init__(self, depth: int, none: int) -> None:
        self.depth = depth
        self.literal: dict[str, _Node] = {}
        self.param: _Node | None = None
        self.fork: _Node | None = None  # on a literal child: the parent's param child
        self.end = none  # the first rule that ends here
        self.floor = none  # the first rule anywhere below
        self.pending: list[tuple[int, str]] = []  # rules with a remainder from here
        # From the root to here: where remainders start, their pattern, their indices.
        self.checks: tuple[tuple[int, re.Pattern[str], tuple[int, ...]], ...] = ()


class RuleSet:
    """The compiled decision table of a guard: public paths, then rules, then default.

    One tree per method, one for methods no rule names. A request takes the lowest
    index that matches: the first match wins, as if every rule were tried in order.
    """

    __slots__ = ("_answers", "_fallback", "_none", "_trees")

    def __init__(self, rules: Iterable[Rule], public_paths: Iterable[str], default: str) -> None:
        if default not in ("authenticated", "public"):
            raise ValueError("default must be 'authenticated' or 'public'")
        entries: list[tuple[frozenset[str] | None, _Template, Requirement]] = [
            (None, _parse(path), PUBLIC) for path in public_paths
        ]
        for rule in rules:
            if not isinstance(rule, Rule):
                raise TypeError(f"rules must be Rule objects, not {type(rule).__name__}")
            entries.append((rule.methods, rule._template, rule.requirement))
        # The default sits at the index no rule has: "nothing matched".
        self._answers = [requirement for _, _, requirement in entries]
        self._answers.append(PUBLIC if default == "public" else AUTHENTICATED)
        self._none = len(entries)
        methods = {name for listed, _, _ in entries if listed is not None for name in listed}
        self._trees = {name: _tree(entries, name) for name in methods}
        self._fallback = _tree(entries, None)

    def match(self, method: str, path: str) -> Requirement:
        """The requirement for a request; ``path`` is the one the app's router sees."""
        tree = self._trees.get(method)
        if tree is None:
            # Werkzeug upper-cases REQUEST_METHOD before routing, so Flask runs the POST
            # view for "post": the POST rules must apply to it (security case P-09).
            tree = self._trees.get(method.upper(), self._fallback)
        index = self._none
        if tree is not None:
            # (Indexing, not startswith: half the cost, on every request.)
            if not path or path[0] == "/":
                index = _walk(tree, path.split("/"), path, index)
            if path and path[-1] == "\n":
                # Starlette anchors routes with "$", which matches before a final
                # newline: /admin%0A reaches the /admin endpoint and must meet its rule
                # (P-02). The newline may also belong to a parameter, so try both.
                stripped = path[:-1]
                if not stripped or stripped[0] == "/":
                    index = _walk(tree, stripped.split("/"), stripped, index)
        requirement = self._answers[index]
        if requirement.public and _SUSPICIOUS.search(path):
            return AUTHENTICATED
        return requirement


def _tree(
    entries: list[tuple[frozenset[str] | None, _Template, Requirement]], method: str | None
) -> _Node | None:
    """The tree of the entries that apply to ``method`` (None: to every method only)."""
    none = len(entries)
    root = _Node(0, none)
    for index, (methods, (plain, remainder), _) in enumerate(entries):
        if not (methods is None or (method is not None and method in methods)):
            continue
        node = root
        node.floor = min(node.floor, index)
        for segment in plain:
            if segment is None:
                child = node.param = node.param or _Node(node.depth + 1, none)
            else:
                child = node.literal.setdefault(segment, _Node(node.depth + 1, none))
            node = child
            node.floor = min(node.floor, index)
        if remainder is None:
            node.end = min(node.end, index)
        else:
            node.pending.append((index, remainder))
    if root.floor == none:
        return None
    nodes = [root]
    for node in nodes:  # grows as it goes: every node once, parents first
        if node.pending:
            # The first alternative that matches is the first rule; its empty group
            # (after the pattern, which keeps the match fast) says which.
            pattern = re.compile("|".join(f"(?:{source})()" for _, source in node.pending))
            indices = tuple(index for index, _ in node.pending)
            node.checks = (*node.checks, (node.depth, pattern, indices))
        for child in node.literal.values():
            child.fork, child.checks = node.param, node.checks
            nodes.append(child)
        if node.param is not None:
            node.param.checks = node.checks
            nodes.append(node.param)
    return root


def _walk(node: _Node, parts: list[str], path: str, best: int) -> int:
    """The lowest index below ``best`` of a rule that ``parts``, the rest of ``path``, meet."""
    forks: list[_Node] | None = None
    for part in parts:
        if part:  # not the gap of a repeated or trailing slash
            child = node.literal.get(part, node.param)
            if child is None:
                break
            if child.fork is not None:
                forks = [*(forks or ()), child.fork]
            node = child
    else:
        if node.end < best:
            best = node.end
    if node.checks or forks is not None:
        segments = [part for part in path.split("/") if part]
        slash = "/" if path[-1:] == "/" else ""
        for depth, pattern, indices in node.checks:
            found = pattern.fullmatch("/".join(segments[depth:]) + slash)
            if found is not None and found.lastindex is not None:
                best = min(best, indices[found.lastindex - 1])
        for fork in reversed(forks or ()):  # the deepest first: its rules are the closest
            if fork.floor < best:
                best = _walk(fork, segments[fork.depth :], path, best)
    return best
