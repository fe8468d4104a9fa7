"""MkDocs hook: the docstrings' Sphinx roles become links in the API reference.

The docstrings are written for ``help()`` and IDEs as well, so they keep Sphinx roles
(``:class:`~bearerguard.Guard```); mkdocstrings renders those as the literal text
``:class:<code>~bearerguard.Guard</code>``. This turns each into an optional
mkdocs-autorefs reference, which autorefs resolves once every page is rendered (a link
where the object is documented, plain code where it is not).
"""

from __future__ import annotations

import re
from typing import Any

# :role:`target`, :role:`~target` (shown by its last name) and :role:`title <target>`.
_ROLE = re.compile(
    r":(?:class|meth|func|attr|data|mod|exc|obj):<code>"
    r"(?:(?P<title>[^<&]+?) &lt;(?P<titled>[\w.]+)&gt;"
    r"|(?P<short>~?)(?P<target>[\w.]+)(?P<call>\(\))?)"
    r"</code>"
)


def _reference(match: re.Match[str]) -> str:
    target = match["titled"] or match["target"]
    if match["titled"]:
        title = match["title"]
    else:
        title = target.rsplit(".", 1)[-1] if match["short"] else target
        title += match["call"] or ""
    return f'<autoref identifier="{target}" optional><code>{title}</code></autoref>'


def on_page_content(html: str, **kwargs: Any) -> str:
    """Rewrite the roles of one rendered page."""
    return _ROLE.sub(_reference, html)
