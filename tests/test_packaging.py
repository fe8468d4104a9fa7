"""What a package index and a downstream packager get: the built sdist and wheel.

Built with the build backend itself (``python -m build --no-isolation``, the ``build``,
``hatchling`` and ``hatch-fancy-pypi-readme`` of the dev group), then unpacked: the
metadata, the files, and the sdist's own tests that read the source tree.
"""

from __future__ import annotations

import email
import email.message
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import bearerguard

ROOT = Path(__file__).resolve().parent.parent
VERSION = bearerguard.__version__
# A Markdown link whose target is neither a URL nor an anchor: dead on a package index.
RELATIVE_LINK = re.compile(r"\]\((?!https?://|#|mailto:)[^)\s]+\)")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--sdist",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    unpacked = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as archive:
        archive.extractall(unpacked, filter="data")
    return {"sdist": sdist, "wheel": wheel, "tree": unpacked / f"bearerguard-{VERSION}"}


def _metadata(text: str) -> email.message.Message:
    return email.message_from_string(text)


def test_the_version_and_the_release_notes_agree(built: dict[str, Path]) -> None:
    assert VERSION == "0.2.0"
    assert built["sdist"].name == f"bearerguard-{VERSION}.tar.gz"
    assert built["wheel"].name == f"bearerguard-{VERSION}-py3-none-any.whl"
    notes = (ROOT / "docs" / "release-notes.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", notes, re.M)
    assert headings[0] == VERSION, "the newest release-notes heading is this version"
    assert "Unreleased" not in headings


def test_the_metadata_has_license_urls_and_classifiers(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = wheel.namelist()
        info = f"bearerguard-{VERSION}.dist-info"
        metadata = _metadata(wheel.read(f"{info}/METADATA").decode())
        license_text = wheel.read(f"{info}/licenses/LICENSE").decode()
    assert license_text.startswith("MIT License")
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    assert set(urls) >= {"Homepage", "Documentation", "Changelog", "Source", "Issues"}
    assert all(url.startswith("https://") for url in urls.values())
    classifiers = set(metadata.get_all("Classifier") or [])
    assert "Development Status :: 4 - Beta" in classifiers
    for minor in (10, 11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert metadata["Requires-Python"] == ">=3.10"
    assert "bearerguard/py.typed" in names
    assert not any(name.startswith("tests/") for name in names)


def test_the_description_has_only_absolute_links(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        metadata = _metadata(wheel.read(f"bearerguard-{VERSION}.dist-info/METADATA").decode())
    description = metadata.get_payload()
    assert isinstance(description, str)
    assert description.startswith("# bearerguard")
    assert RELATIVE_LINK.findall(description) == []
    assert RELATIVE_LINK.findall((ROOT / "README.md").read_text()), "the README has some"
    assert "blob/main/docs/release-notes.md)" in description


def test_the_sdist_holds_the_license_and_the_tests_not_the_local_junk(
    built: dict[str, Path],
) -> None:
    with tarfile.open(built["sdist"]) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "pyproject.toml", "tests/conftest.py"} <= names
    assert not any(
        part in {".venv", "node_modules", "__pycache__", ".git"}
        for name in names
        for part in name.split("/")
    )


def test_the_sdists_own_tree_tests_pass_from_the_unpacked_sdist(built: dict[str, Path]) -> None:
    # The tests that read files of the tree (README, .ci/run, the package itself),
    # run from the unpacked sdist against the sdist's own bearerguard.
    tree = built["tree"]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("CI", None)  # CI=true would make the repository-only tests mandatory
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            "tests/test_readme.py",
            "tests/test_public_api.py",
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert ".ci/run is in the repository, not the sdist" in done.stdout
    assert " failed" not in done.stdout
