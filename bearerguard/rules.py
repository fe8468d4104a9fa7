"""Route rules: which requests need what.

A :class:`Rule` names methods and a path template; the :class:`RuleSet` a guard builds
from its rules and public paths answers, per request, with a :class:`Requirement`. It
matches through a segment tree per method (:mod:`bearerguard._segment_tree`), so a match
costs about the same with a thousand rules as with one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._segment_tree import Template, Tree, parse
from .exceptions import InsufficientScopeError
from .scopes import has_all, has_any, validate_scopes

if TYPE_CHECKING:
    from .principal import Principal

__all__ = ["AUTHENTICATED", "PUBLIC", "Requirement", "Rule", "RuleSet"]

_METHOD = re.compile(r"[A-Z]+")
# A "." or ".." segment, or a ";" parameter: a path the router and a proxy may read
# differently (security cases P-05). Such a path is never public.
_SUSPICIOUS = re.compile(r"(?:^|/)\.{1,2}(?:/|$)|;")


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
            raise InsufficientScopeError.for_kinds(self.kinds)
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
"""No token needed: a public path, or a public rule."""
AUTHENTICATED = Requirement()
"""Any valid token, of any kind, with any scopes."""


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
        self._template = parse(path)
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


class RuleSet:
    """The compiled decision table of a guard: public paths, then rules, then default.

    One tree per method, one for methods no rule names. A request takes the lowest
    index that matches: the first match wins, as if every rule were tried in order.
    """

    __slots__ = ("_answers", "_fallback", "_none", "_trees")

    def __init__(self, rules: Iterable[Rule], public_paths: Iterable[str], default: str) -> None:
        if default not in ("authenticated", "public"):
            raise ValueError("default must be 'authenticated' or 'public'")
        entries: list[tuple[frozenset[str] | None, Template, Requirement]] = [
            (None, parse(path), PUBLIC) for path in public_paths
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
        requirement = self._answers[self._none if tree is None else tree.find(path)]
        if requirement.public and _SUSPICIOUS.search(path):
            return AUTHENTICATED
        return requirement


def _tree(
    entries: list[tuple[frozenset[str] | None, Template, Requirement]], method: str | None
) -> Tree | None:
    """The tree of the entries that apply to ``method`` (None: to every method only)."""
    templates = [
        (index, template)
        for index, (methods, template, _) in enumerate(entries)
        if methods is None or (method is not None and method in methods)
    ]
    return Tree(templates, len(entries)) if templates else None
