"""Route rules: which requests need what.

A :class:`Rule` names methods and a path template; the :class:`RuleSet` a guard builds
from its rules and public paths answers, per request, with a :class:`Requirement`.
Templates compile to regular expressions that tolerate repeated and trailing slashes
themselves, so ``//api/payment/checkout/`` meets the same rule as
``/api/payment/checkout`` without rewriting the path on every request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
# Bounds of RuleSet's memo of recent answers.
_MEMO_SIZE = 1024
_MEMO_PATH_LENGTH = 256


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
        # The subset test (in C) settles exactly granted scopes; has_all, the wildcards.
        if (
            scopes
            and not self._scope_set <= principal.scopes
            and not has_all(principal.scopes, scopes)
        ):
            raise InsufficientScopeError(required_scopes=scopes)
        if self.any_scopes and not has_any(principal.scopes, self.any_scopes):
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

    __slots__ = ("methods", "path", "pattern", "requirement")

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
        self.pattern = compile_template(path)
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


def compile_template(path: str) -> str:
    """Compile a path template to a regular expression source (without anchors).

    Repeated slashes in the request collapse and a trailing slash is ignored, so the
    pattern allows ``/+`` between segments and ``/*`` at the end. It also allows one
    final ``\\n``: Starlette anchors its routes with ``$``, which matches before a
    trailing newline, so ``/admin%0A`` reaches the ``/admin`` endpoint and must meet
    its rule, not the default.
    """
    if not path.startswith("/"):
        raise ValueError(f"a path template must start with '/': {path!r}")
    segments = [segment for segment in path.split("/") if segment]
    parts: list[str] = []
    for index, segment in enumerate(segments):
        pieces: list[str] = []
        position = 0
        for match in _PARAM.finditer(segment):
            pieces.append(re.escape(segment[position : match.start()]))
            if match.group(2) == "path":
                if index != len(segments) - 1 or match.end() != len(segment):
                    raise ValueError(f"{{name:path}} must end the template: {path!r}")
                pieces.append(".*")
            else:
                pieces.append("[^/]+")
            position = match.end()
        rest = segment[position:]
        if "{" in rest or "}" in rest:
            raise ValueError(f"invalid path template: {path!r}")
        pieces.append(re.escape(rest))
        parts.append("/+" + "".join(pieces))
    return "".join(parts) + "/*\n?"


class RuleSet:
    """The compiled decision table of a guard: public paths, then rules, then default.

    One combined regular expression per method: the first alternative that matches is
    the first rule that matches, so a request costs one ``fullmatch``.
    """

    __slots__ = ("_by_method", "_default", "_fallback", "_recent")

    def __init__(self, rules: Iterable[Rule], public_paths: Iterable[str], default: str) -> None:
        if default not in ("authenticated", "public"):
            raise ValueError("default must be 'authenticated' or 'public'")
        self._default = PUBLIC if default == "public" else AUTHENTICATED
        entries: list[tuple[frozenset[str] | None, str, Requirement]] = [
            (None, compile_template(path), PUBLIC) for path in public_paths
        ]
        for rule in rules:
            if not isinstance(rule, Rule):
                raise TypeError(f"rules must be Rule objects, not {type(rule).__name__}")
            entries.append((rule.methods, rule.pattern, rule.requirement))
        methods = {name for listed, _, _ in entries if listed is not None for name in listed}
        self._by_method = {name: _combine(entries, name) for name in methods}
        self._fallback = _combine(entries, None)
        self._recent: dict[tuple[str, str], Requirement] = {}

    def match(self, method: str, path: str) -> Requirement:
        """The requirement for a request; ``path`` is the one the app's router sees.

        The answer depends only on ``(method, path)``, so recent answers are kept: a
        path asked for again costs a dict lookup instead of a regular expression. The
        memo is bounded in entries and in path length, and is emptied when full, so
        a flood of distinct paths costs a match each and nothing more.
        """
        recent = self._recent
        known = recent.get((method, path))
        if known is not None:
            return known
        requirement = self._match(method, path)
        if len(path) <= _MEMO_PATH_LENGTH:
            if len(recent) >= _MEMO_SIZE:
                recent.clear()
            recent[(method, path)] = requirement
        return requirement

    def _match(self, method: str, path: str) -> Requirement:
        table = self._by_method.get(method)
        if table is None:
            # Werkzeug upper-cases REQUEST_METHOD before routing, so Flask runs the POST
            # view for "post": the POST rules must apply to it (security case P-09).
            table = self._by_method.get(method.upper(), self._fallback)
        requirement = self._default
        if table is not None:
            pattern, requirements = table
            found = pattern.fullmatch(path)
            if found is not None:
                requirement = requirements[found.lastgroup]  # type: ignore[index]
        if requirement.public and _SUSPICIOUS.search(path):
            return AUTHENTICATED
        return requirement


def _combine(
    entries: list[tuple[frozenset[str] | None, str, Requirement]], method: str | None
) -> tuple[re.Pattern[str], dict[str, Requirement]] | None:
    alternatives: list[str] = []
    requirements: dict[str, Requirement] = {}
    for index, (methods, pattern, requirement) in enumerate(entries):
        if methods is None or (method is not None and method in methods):
            name = f"r{index}"
            alternatives.append(f"(?P<{name}>{pattern})")
            requirements[name] = requirement
    if not alternatives:
        return None
    return re.compile("|".join(alternatives)), requirements
