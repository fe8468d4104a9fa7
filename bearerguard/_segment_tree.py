"""The segment tree the rules match through, as radix routers keep theirs.

A request walks down the tree a dict lookup per path segment, so a match costs about
the same with a thousand rules as with one. Each rule is known by its index in the
rule table, and a walk answers with the lowest index that matches: the first match
wins, as if every rule were tried in order. Empty segments are skipped, so
``//api/payment/checkout/`` meets the rule of ``/api/payment/checkout``.

The common shapes skip the walk: the paths the literal segments spell, and the
parents of a final parameter segment, are answered from dicts whose answers the walk
computed once, when the tree was built; and when every template is literal text, a
path in its usual form that is not in the first dict meets no rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TypeAlias

__all__ = ["Template", "Tree", "parse"]

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::(str|path))?\}")

Template: TypeAlias = "tuple[tuple[str | None, ...], str | None]"
"""A parsed template: its leading segments that are literal text (str) or one parameter
(None), then a regular expression for the rest of the path from the first that is not."""


def parse(path: str) -> Template:
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


class Tree:
    """The templates of one method's rules, by index; ``none`` is "no rule matched".

    Args:
        templates: ``(index, template)`` pairs, in index order.
        none: The index no rule has.
    """

    __slots__ = ("exact", "literal", "none", "parents", "root")

    def __init__(self, templates: Iterable[tuple[int, Template]], none: int) -> None:
        self.none = none
        self.root = root = _Node(0, none)
        literal = True
        for index, (plain, remainder) in templates:
            literal = literal and remainder is None and None not in plain
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
        _link(root)
        # Answered before any walk, each by the walk itself: every path the literal
        # segments of the templates spell ("/api/payment"), and the parents of a
        # parameter segment whose answer does not depend on it (below).
        self.exact: dict[str, int] = {}
        self.parents: dict[str, int] = {}
        self.literal = False
        exact, parents = _shortcuts(root)
        self.exact = {path: self.find(path) for path in exact}
        self.parents = parents
        self.literal = literal

    def find(self, path: str) -> int:
        """The lowest index of a rule that ``path`` (the router's path) meets, or ``none``."""
        index = self.exact.get(path)
        if index is not None:
            return index
        if self.literal and path and path[-1] not in "/\n" and "//" not in path:
            # Every template is literal text, and this path is in its usual form (no
            # empty segment, no final newline): it meets a rule only if it is in exact.
            return self.none
        head, _, last = path.rpartition("/")
        index = self.parents.get(head)
        # A last segment that is a literal one of the tree is in exact; one that ends
        # with a newline may meet a literal one once stripped (see below).
        if index is not None and last and last[-1] != "\n":
            return index
        index = self.none
        # (Indexing, not startswith: half the cost, on every request.)
        if not path or path[0] == "/":
            index = _walk(self.root, path.split("/"), path, index)
        if path[-1:] == "\n":
            # Starlette anchors routes with "$", which matches before a final newline:
            # /admin%0A reaches the /admin endpoint and must meet its rule (P-02). The
            # newline may also belong to a parameter, so try both.
            stripped = path[:-1]
            if not stripped or stripped[0] == "/":
                index = _walk(self.root, stripped.split("/"), stripped, index)
        return index


def _shortcuts(root: _Node) -> tuple[list[str], dict[str, int]]:
    """The paths of the nodes reached by literal segments alone, and the parents.

    A parent is such a node (not the root) with a parameter child, where no literal
    segment on the way has a parameter sibling and no remainder applies below: there,
    ``parent/x`` meets the parameter child's rule for every ``x`` that is not a literal
    child, with nothing to try but that.
    """
    exact = ["/"]
    parents: dict[str, int] = {}
    chain: list[tuple[str, _Node]] = [("", root)]
    for path, node in chain:  # grows as it goes
        for segment, child in node.literal.items():
            exact.append(f"{path}/{segment}")
            if child.fork is None:
                chain.append((f"{path}/{segment}", child))
        param = node.param
        if path and param is not None and not param.checks:
            parents[path] = param.end
    return exact, parents


def _link(root: _Node) -> None:
    """Compile each node's remainders and hand every node the checks above it."""
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
