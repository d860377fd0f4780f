"""Packaging: the wheel installs one top-level package, ``pfterm``, holding the design's folders.

``core/``, ``widgets/`` and ``tui/`` are mapped to ``pfterm.core``, ``pfterm.widgets`` and
``pfterm.tui`` by ``[tool.setuptools]`` in ``pyproject.toml``; these tests build the wheel
offline (``--no-build-isolation --no-index``) from a copy of the tree and read it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("core", "widgets", "tui")
_SKIP = shutil.ignore_patterns(".venv", "build", "dist", "__pycache__", ".git", "*.egg-info", ".mypy_cache")


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _packages_on_disk() -> set[str]:
    return {
        "pfterm." + ".".join(init.parent.relative_to(REPO).parts)
        for folder in FOLDERS
        for init in (REPO / folder).rglob("__init__.py")
    }


def test_every_package_folder_is_listed_and_nothing_else() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    assert listed == _packages_on_disk()


def test_console_script_points_into_pfterm() -> None:
    assert _pyproject()["project"]["scripts"] == {"pfterm": "pfterm.tui.cli:main"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    src = tmp_path_factory.mktemp("src") / "pfterm"
    shutil.copytree(REPO, src, ignore=_SKIP)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        str(out),
        str(src),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [built] = out.glob("pfterm-*.whl")
    return zipfile.ZipFile(built)


def test_wheel_has_pfterm_as_its_only_top_level_package(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/", 1)[0] for name in wheel.namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"pfterm"}


def test_wheel_holds_every_module_and_the_data_files(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for folder in FOLDERS:
        for path in (REPO / folder).rglob("*.py"):
            if "__pycache__" not in path.parts:
                assert "pfterm/" + path.relative_to(REPO).as_posix() in names
    assert any(n.startswith("pfterm/tui/") and n.endswith(".tcss") for n in names)
    for data in (REPO / "core/sim/data").glob("*.json"):
        assert "pfterm/" + data.relative_to(REPO).as_posix() in names


def test_readme_layout_names_every_package_folder_and_only_real_ones() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("## How it is built", 1)[1].split("```", 2)[1]
    named: set[str] = set()
    parents: list[tuple[int, str]] = []
    for line in block.splitlines():
        stripped = line.lstrip()
        first = stripped.split("  ", 1)[0]
        if not stripped or not first.endswith("/"):
            continue
        indent = len(line) - len(stripped)
        parents = [(i, p) for i, p in parents if i < indent]
        for folder in first.split():
            path = (parents[-1][1] + folder) if parents else folder
            assert (REPO / path).is_dir(), f"README names {path}, which is not a folder"
            named.add(path.rstrip("/"))
        if len(first.split()) == 1:
            parents.append((indent, (parents[-1][1] if parents else "") + first))
    packages = {p.removeprefix("pfterm.").replace(".", "/") for p in _packages_on_disk()}
    assert packages - {"core/sim/routes"} <= named, sorted(packages - named)
