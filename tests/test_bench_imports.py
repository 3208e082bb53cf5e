"""The benchmarks stay runnable: every name they import from cnn_demo exists (a package re-layout broke two)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCH = sorted((Path(__file__).resolve().parent.parent / "bench").glob("*.py"))


def _cnn_demo_imports(path: Path) -> list[tuple[str, str | None]]:
    """(module, name) for each ``from cnn_demo… import name`` and (module, None) for ``import cnn_demo…``."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "cnn_demo":
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "cnn_demo"]
    return found


#: Benchmarks that only run other benchmarks (``bench/applications.py`` runs ``bench/applications_<part>.py``).
DRIVERS = {"applications.py"}


def test_every_benchmark_imports_something_from_cnn_demo():
    assert BENCH and all(_cnn_demo_imports(p) for p in BENCH if p.name not in DRIVERS)


@pytest.mark.parametrize("path", BENCH, ids=[p.name for p in BENCH])
def test_benchmark_imports_resolve(path):
    for module, name in _cnn_demo_imports(path):
        mod = importlib.import_module(module)
        if name is not None and not hasattr(mod, name):
            importlib.import_module(f"{module}.{name}")  # a submodule; raises ModuleNotFoundError if absent
