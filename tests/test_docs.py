"""The documentation site: every code block of every page runs, and the site builds and renders.

How a page's code blocks are executed (everyone who writes a page follows this)
================================================================================

Each page of ``docs/`` (every ``*.md`` under it) is one test, ``test_page_blocks[<page>]``.
Its fenced blocks run top to bottom in a scratch directory of their own, which is the
working directory of every block and the first entry of ``sys.path``. A block's info
string is a language, optionally followed by attributes in braces::

    ```python
    ```python {title="app.py"}
    ```sh {data-test="server"}

(``title="app.py"`` without braces works too; any other attribute must be in braces,
which is the form the site's Markdown understands.) Allowed attributes: ``title`` and
``data-test``. Languages and what happens to them:

``python``
    Executed in the page's namespace: a later block sees the names of an earlier one,
    as a reader following the page would. Its stdout is its output (see ``text``).
    With ``title="NAME.py"`` the block is also saved as that file first, so a server
    or a shell block can use it (``uvicorn app:app``); modules imported from the
    scratch directory are forgotten after the page.
``sh`` (or ``bash``)
    Run as one ``bash`` script (``set -euo pipefail``) in the scratch directory with
    the test environment's ``bin`` first on ``PATH``; it must exit 0 within 60
    seconds. Its stdout is its output. ``data-test`` changes that:

    - ``data-test="server"``: one command that starts a server and keeps running
      (``uvicorn app:app --port 8000``). It must name port ``8000``, which is
      replaced by a free port; the test waits until the port accepts connections
      and stops the server when the page ends. In every later block of the page,
      ``:8000`` is replaced by ``:<that port>``, so ``curl -s localhost:8000/health``
      reaches it.
    - ``data-test="install"``: only ``pip install`` lines. Nothing is downloaded:
      ``bearerguard`` may name only extras that ``pyproject.toml`` defines, and every
      distribution those extras pull in, and every other package named, must be
      installed here, so the page promises what the tests run with.
``text`` or ``json`` with ``data-test="output"``
    The expected output of the block just before it. ``json`` is compared as parsed
    JSON. ``text`` is compared line by line after stripping trailing blanks, where
    ``...`` matches any run of characters (doctest's ELLIPSIS).
``json`` or ``toml`` without ``data-test``
    Parsed, so it is valid; with ``title="NAME"`` also saved as that file (a
    ``pyproject.toml`` or ``bearerguard.toml`` a later command reads).

API reference pages render docstrings with ``::: name`` directives; the fenced blocks
of those docstrings (the object's and its public members') run too, by the same rules,
at the place of their directive: after the page's blocks above it, in the page's
namespace, with the public names of the module they are written in. So a reference
page starts a section with the set-up its examples need (a guard, an ``app``), as a
visible ``python`` block.

Any other language, attribute or ``data-test`` value fails the page with a message
naming the block. No Mermaid (it would load a script from a CDN): pictures are SVG
files in ``docs/``.

Besides the pages: ``mkdocs build --strict`` must pass (broken links, pages missing
from the nav, docstrings mkdocstrings cannot read), and the built site is opened in
the headless Chromium of ``tests/conftest.py``, served from 127.0.0.1, with no request
leaving the machine.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib
import inspect
import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md"))
BIN = Path(sys.executable).parent
PORT = "8000"  # the port pages name; each server gets a free one instead

_FENCE = re.compile(r"^(?P<indent>[ ]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_INFO = re.compile(
    r"^(?P<lang>[A-Za-z0-9_+-]*)\s*"
    r"(?:\{(?P<attrs>[^}]*)\}|title=\"(?P<title>[^\"]*)\")?\s*$"
)
_ATTR = re.compile(r"(?P<key>[A-Za-z][\w-]*)=\"(?P<value>[^\"]*)\"")
_MODES = {
    "python": {None},
    "sh": {None, "server", "install"},
    "text": {"output"},
    "json": {None, "output"},
    "toml": {None},
}
_ALIASES = {"bash": "sh"}


@dataclass
class Block:
    """One fenced code block of a page."""

    page: str
    line: int
    lang: str
    source: str
    title: str | None = None
    test: str | None = None

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def blocks(page: str, text: str | None = None) -> list[Block]:
    """The page's fenced blocks (of ``text`` when given), checked against the convention."""
    found: list[Block] = []
    if text is None:
        text = (DOCS / page).read_text(encoding="utf-8")
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        start = index
        body: list[str] = []
        while index < len(lines) and not re.match(
            rf"^[ ]*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[index]
        ):
            body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
            index += 1
        index += 1
        found.append(_block(page, start, opening["info"].strip(), "\n".join(body) + "\n"))
    return found


def _block(page: str, line: int, info: str, source: str) -> Block:
    where = f"docs/{page}:{line}"
    parsed = _INFO.match(info)
    if parsed is None or not parsed["lang"]:
        pytest.fail(f'{where}: write the fence as ```LANG or ```LANG {{key="value"}}, not {info!r}')
    attrs = {"title": parsed["title"]} if parsed["title"] is not None else {}
    leftover = _ATTR.sub("", parsed["attrs"] or "").strip()
    if leftover:
        pytest.fail(f'{where}: attributes are key="value" pairs, found {leftover!r}')
    attrs.update((m["key"], m["value"]) for m in _ATTR.finditer(parsed["attrs"] or ""))
    unknown = set(attrs) - {"title", "data-test"}
    if unknown:
        pytest.fail(f"{where}: unknown attributes {sorted(unknown)} (see tests/test_docs.py)")
    lang = _ALIASES.get(parsed["lang"], parsed["lang"])
    test = attrs.get("data-test")
    if lang not in _MODES:
        pytest.fail(f"{where}: no test runs {lang!r} blocks (see tests/test_docs.py)")
    if test not in _MODES[lang]:
        pytest.fail(f"{where}: a {lang} block cannot have data-test={test!r}")
    return Block(page, line, lang, source, attrs.get("title"), test)


# -- running a page -------------------------------------------------------------------


@dataclass
class PageRun:
    """The state a page's blocks share: directory, namespace, servers, last output."""

    page: str
    directory: Path
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "docs_page"})
    servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    port: str | None = None
    output: str | None = None

    def localize(self, source: str) -> str:
        """Point the page's ``:8000`` at the server it started."""
        return source if self.port is None else source.replace(f":{PORT}", f":{self.port}")

    def env(self) -> dict[str, str]:
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        env["PYTHONPATH"] = os.pathsep.join([str(self.directory), env.get("PYTHONPATH", "")])
        env.pop("NO_COLOR", None)
        env["NO_COLOR"] = "1"  # plain output to compare with the page
        return env

    def run(self, block: Block) -> None:
        if block.title is not None and block.lang in ("python", "json", "toml"):
            (self.directory / block.title).write_text(block.source, encoding="utf-8")
        runner = getattr(self, f"_{block.lang}")
        runner(block)

    def _python(self, block: Block) -> None:
        stdout = io.StringIO()
        # Padded, so that a traceback names the line of the page.
        source = "\n" * block.line + self.localize(block.source)
        code = compile(source, f"docs/{block.page}", "exec")
        with contextlib.redirect_stdout(stdout):
            exec(code, self.namespace)  # noqa: S102 - the project's own documentation
        self.output = stdout.getvalue()

    def _sh(self, block: Block) -> None:
        if block.test == "install":
            check_install(block)
            self.output = ""
            return
        if block.test == "server":
            self._start_server(block)
            self.output = ""
            return
        script = "set -euo pipefail\n" + self.localize(block.source)
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=self.directory,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"{block.where}: exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        self.output = result.stdout

    def _text(self, block: Block) -> None:
        assert self.output is not None, f"{block.where}: an output block needs a block before it"
        expected = [line.rstrip() for line in block.source.strip("\n").splitlines()]
        actual = [line.rstrip() for line in self.output.strip("\n").splitlines()]
        pattern = "\n".join(re.escape(line).replace(r"\.\.\.", ".*") for line in expected)
        assert re.fullmatch(pattern, "\n".join(actual), re.S), (
            f"{block.where}: the block before printed\n" + "\n".join(actual)
        )

    def _json(self, block: Block) -> None:
        document = json.loads(block.source)
        if block.test == "output":
            assert self.output is not None, f"{block.where}: an output block needs a block before"
            assert json.loads(self.output) == document, f"{block.where}: got {self.output}"

    def _toml(self, block: Block) -> None:
        tomllib.loads(block.source)

    def _start_server(self, block: Block) -> None:
        command = block.source.strip()
        assert "\n" not in command, f"{block.where}: a server block is one command"
        assert PORT in command, f"{block.where}: a server command names port {PORT}"
        port = free_port()
        # A file, not a pipe: a server that logs every request must never fill a pipe
        # nobody reads and stall.
        log = self.directory.parent / f"server-{len(self.servers)}.log"
        with log.open("wb") as output:
            server = subprocess.Popen(
                ["bash", "-c", "exec " + command.replace(PORT, str(port))],
                cwd=self.directory,
                env=self.env(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, stopped as one
            )
        self.servers.append(server)
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                pytest.fail(f"{block.where}: the server exited\n{log.read_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", int(port)), 1),
            ):
                break
            assert time.monotonic() < deadline, f"{block.where}: the server never listened"
            time.sleep(0.05)
        self.port = str(port)

    def stop(self) -> None:
        for server in self.servers:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def check_install(block: Block) -> None:
    """A ``pip install`` block names what this environment has: bearerguard extras that
    ``pyproject.toml`` defines, whose requirements are installed, and installed packages.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for line in block.source.strip().splitlines():
        words = shlex.split(line)
        assert words[:2] == ["pip", "install"], f"{block.where}: only pip install lines here"
        for word in words[2:]:
            wanted = Requirement(word)
            if wanted.name != "bearerguard":
                assert_installed(block, wanted)
                continue
            for extra in wanted.extras:
                assert extra in extras, f"{block.where}: bearerguard has no extra {extra!r}"
                for requirement in map(Requirement, extras[extra]):
                    if requirement.marker is None or requirement.marker.evaluate():
                        assert_installed(block, requirement)


def assert_installed(block: Block, requirement: Requirement) -> None:
    try:
        installed = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        pytest.fail(f"{block.where}: {requirement.name} is not installed for the tests")
    assert requirement.specifier.contains(installed, prereleases=True), (
        f"{block.where}: {requirement} is not what the tests run with ({installed})"
    )


@pytest.fixture
def page_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PageRun]:
    directory = tmp_path / "page"
    directory.mkdir()
    monkeypatch.chdir(directory)
    monkeypatch.syspath_prepend(str(directory))
    before = set(sys.modules)
    environ = dict(os.environ)  # a page may set a variable its examples read
    run = PageRun("", directory)
    try:
        yield run
    finally:
        run.stop()
        os.environ.clear()
        os.environ.update(environ)
        for name in set(sys.modules) - before:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if origin.startswith(str(directory)):
                del sys.modules[name]


def test_pages_name_test_files_that_exist() -> None:
    """The security page (and any other) cites tests by path: each must exist."""
    for page in PAGES:
        for cited in re.findall(r"`(tests/[\w/]+\.py)`", (DOCS / page).read_text()):
            assert (ROOT / cited).is_file(), f"docs/{page} cites {cited}, which is not there"


@pytest.mark.parametrize("page", PAGES)
def test_page_blocks(page: str, page_run: PageRun) -> None:
    page_run.page = page
    for names, block in page_blocks(page):
        page_run.namespace.update(names)
        page_run.run(block)


# -- the examples in the docstrings of the API reference ------------------------------

_DIRECTIVE = re.compile(r"^::: ([\w.]+)")


def page_blocks(page: str) -> Iterator[tuple[dict[str, Any], Block]]:
    """The page's blocks and, where a ``::: name`` directive renders docstrings, the
    blocks of those docstrings, in the order of the page. A docstring's block comes
    with the public names of the module it is written in (nothing for the page's own)."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    items: list[tuple[int, dict[str, Any], Block]] = [(b.line, {}, b) for b in blocks(page)]
    for number, line in enumerate(lines, start=1):
        directive = _DIRECTIVE.match(line)
        if directive is None:
            continue
        for owner, module, doc in documented(resolve(directive[1]), set()):
            for block in blocks(f"{page}, docstring of {owner}", doc):
                items.append((number, exported(module), block))
    for _, names, block in sorted(items, key=lambda item: item[0]):
        yield names, block


def resolve(identifier: str) -> Any:
    parts = identifier.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for part in parts[split:]:
            found = getattr(found, part)
        return found
    raise LookupError(identifier)


def documented(obj: Any, seen: set[int]) -> Iterator[tuple[str, ModuleType, str]]:
    """``(name, module, docstring)`` of an object and of the public members mkdocstrings
    renders with it: a module's exported names, a class's methods and properties."""
    documentable = inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isfunction(obj)
    if id(obj) in seen or not (documentable or isinstance(obj, property)):
        return  # constants' docstrings are in the source, which mkdocstrings reads
    seen.add(id(obj))
    target = obj.fget if isinstance(obj, property) else obj
    module = obj if inspect.ismodule(obj) else sys.modules[target.__module__]
    doc = inspect.getdoc(target)
    name = getattr(target, "__qualname__", getattr(target, "__name__", repr(target)))
    if doc:
        yield f"{module.__name__}.{name}" if module is not obj else name, module, doc
    if inspect.ismodule(obj):
        for member in map(obj.__dict__.get, public_names(obj)):
            if getattr(member, "__module__", None) == obj.__name__ or hasattr(obj, "__all__"):
                yield from documented(member, seen)
    elif inspect.isclass(obj):
        for member_name, member in vars(obj).items():
            if not member_name.startswith("_") and (
                inspect.isfunction(member) or isinstance(member, property)
            ):
                yield from documented(member, seen)


def public_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    return list(names) if names is not None else [n for n in vars(module) if n[0] != "_"]


def exported(module: ModuleType) -> dict[str, Any]:
    return {name: getattr(module, name) for name in public_names(module)}


def test_the_convention_is_enforced() -> None:
    """A block the convention does not cover fails its page instead of being skipped."""
    cases = {
        "```mermaid\ngraph TD\n```\n": "no test runs 'mermaid'",
        '```python data-test="x"\nx = 1\n```\n': "write the fence as",
        '```python {data-run="x"}\nx = 1\n```\n': "unknown attributes",
        '```python {data-test="server"}\nx = 1\n```\n': "cannot have data-test='server'",
        "```\nplain\n```\n": "write the fence as",
    }
    for text, message in cases.items():
        with pytest.raises(pytest.fail.Exception, match=re.escape(message)):
            blocks("probe.md", text)


def test_output_blocks_compare_with_ellipsis(tmp_path: Path) -> None:
    run = PageRun("probe", tmp_path)
    run.output = "token bg_live_abc123\ncreated\n"
    run.run(Block("probe", 1, "text", "token bg_live_...\ncreated\n", test="output"))
    with pytest.raises(AssertionError, match="printed"):
        run.run(Block("probe", 2, "text", "token pay_live_...\ncreated\n", test="output"))


def test_a_server_that_exits_fails_the_page(tmp_path: Path) -> None:
    directory = tmp_path / "page"
    directory.mkdir()
    run = PageRun("probe", directory)
    command = "python -c \"print('cannot bind 8000')\"\n"
    try:
        with pytest.raises(pytest.fail.Exception, match="the server exited\ncannot bind"):
            run.run(Block("probe", 1, "sh", command, test="server"))
    finally:
        run.stop()


# -- the built site -------------------------------------------------------------------


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mkdocs build --strict`` into a temporary directory."""
    directory = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(directory)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr
    return directory


def test_site_builds_strict_with_every_page_in_the_nav(site: Path) -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    missing = [page for page in PAGES if f": {page}" not in config and f"- {page}" not in config]
    assert not missing, f"add these pages to the nav of mkdocs.yml: {missing}"
    for page in PAGES:
        assert (site / page.replace(".md", ".html")).is_file(), page
    index = json.loads((site / "search" / "search_index.json").read_text())
    assert {entry["location"].split("#")[0] for entry in index["docs"]} >= {
        page.replace(".md", ".html").replace("index.html", "") for page in PAGES
    } - {""}


def test_api_reference_comes_from_the_docstrings(site: Path) -> None:
    import bearerguard

    html = (site / "reference" / "core.html").read_text()
    first_line = (bearerguard.Guard.__doc__ or "").strip().splitlines()[0]
    assert first_line in html
    assert 'id="bearerguard.Guard.decide"' in html
    # Sphinx roles in docstrings become links (mkdocs_hooks.py), never literal text.
    for page in (site / "reference").glob("*.html"):
        leftover = re.findall(
            r":(?:class|meth|func|attr|data|mod|exc|obj):<code>", page.read_text()
        )
        assert not leftover, f"{page.name}: {len(leftover)} Sphinx roles left as text"
    assert 'href="#bearerguard.Guard.decide"><code>Guard.decide</code></a>' in html


@pytest.fixture
def served(site: Path) -> Iterator[str]:
    """The built site over HTTP on 127.0.0.1 (search needs HTTP, not file://)."""
    handler = functools.partial(QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


BROWSED = {
    "index.html": "bearerguard",
    "decisions.html": "How a request is decided",
    "testing.html": "Testing",
    "reference/core.html": "Guard and rules",
}


@pytest.mark.server
def test_site_renders_offline_in_a_browser(
    browser: Any, served: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    shots = tmp_path_factory.mktemp("screenshots")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    outside: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda r: None if r.url.startswith(served) else outside.append(r.url))
    try:
        for path, heading in BROWSED.items():
            page.goto(f"{served}/{path}", wait_until="networkidle")
            assert heading in page.title()
            assert page.locator("article h1").first.inner_text().startswith(heading)
            assert page.locator("nav.md-nav--primary a.md-nav__link").count() >= len(BROWSED)
            # Every picture loaded (the decision diagram is an SVG file of the site).
            for image in page.locator("article img").all():
                assert image.evaluate("i => i.complete && i.naturalWidth > 0"), path
            page.screenshot(path=str(shots / (path.replace("/", "-") + ".png")))
        # The search index is served and the search box finds a page from it.
        page.goto(f"{served}/index.html", wait_until="networkidle")
        page.keyboard.press("s")  # the theme's search shortcut, as a reader types it
        page.keyboard.type("verifier", delay=20)
        page.locator(".md-search-result__item").first.wait_for(timeout=10_000)
        page.screenshot(path=str(shots / "search.png"))
    finally:
        context.close()
    assert not problems, problems
    assert not outside, f"the site asked for outside resources: {outside}"
    print(f"screenshots in {shots}")
