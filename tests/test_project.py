"""``pyproject.toml`` declares the project: its dependencies are requirements.txt's pins; every file it needs ships."""

from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def pinned(requirements: str) -> set[str]:
    """Distribution names pinned in a requirements file, normalised (PEP 503)."""
    names = set()
    for line in (ROOT / requirements).read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(re.sub(r"[-_.]+", "-", re.split(r"[=<>\[ ]", line)[0]).lower())
    return names


def third_party_imports(paths: list[Path]) -> set[str]:
    """Top-level modules imported by ``paths`` that are neither the standard library nor this project."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in {"cnn_demo", "__future__"}}


def test_dependencies_are_the_pinned_requirements() -> None:
    dynamic = PROJECT["tool"]["setuptools"]["dynamic"]
    assert set(PROJECT["project"]["dynamic"]) == {"dependencies", "optional-dependencies"}
    assert dynamic["dependencies"] == {"file": ["requirements.txt"]}
    assert dynamic["optional-dependencies"]["dev"] == {"file": ["requirements-dev.txt"]}


def unpinned(modules: set[str]) -> dict[str, list[str]]:
    """Modules no distribution pinned in requirements.txt provides, with the distributions that do."""
    providers = importlib.metadata.packages_distributions()
    runtime = pinned("requirements.txt")
    missing = {}
    for module in sorted(modules):
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in providers.get(module, [])}
        if not dists & runtime:
            missing[module] = sorted(dists)
    return missing


def test_every_module_the_app_imports_is_a_pinned_dependency() -> None:
    code = [*(ROOT / "cnn_demo").rglob("*.py"), ROOT / "app.py", *(ROOT / "app_pages").rglob("*.py")]
    missing = unpinned(third_party_imports(code))
    assert not missing, f"imported but not pinned in requirements.txt: {missing}"


def test_the_checker_sees_an_unpinned_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import os\nimport numpy as np\nfrom pytest import fixture\nfrom . import x\n")
    assert third_party_imports([source]) == {"numpy", "pytest"}
    assert unpinned({"numpy", "pytest"}) == {"pytest": ["pytest"]}  # a dev tool, not a dependency


def test_package_data_ships_every_file_the_package_reads() -> None:
    patterns = PROJECT["tool"]["setuptools"]["package-data"]["cnn_demo"]
    package = ROOT / "cnn_demo"
    files = [p for p in package.rglob("*") if p.is_file() and p.suffix not in {".py", ".pyc"}]
    assert files
    unshipped = [
        str(p.relative_to(package))
        for p in files
        if "__pycache__" not in p.parts
        and not any(p.relative_to(package).match(pat) for pat in patterns)
        and not any(fnmatch.fnmatch(str(p.relative_to(package)), pat) for pat in patterns)
    ]
    assert not unshipped, unshipped
