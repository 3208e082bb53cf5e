"""The package's architecture as a contract: layers that only import downward, no circles, small modules.

Every ``import`` of a ``cnn_demo`` module is read from the source (function-level ones too, which a plain import
would not reveal), so a circle hidden inside a function fails here rather than in a user's session.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

import cnn_demo

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cnn_demo"

#: Top to bottom. A module may import its own subpackage and anything in a lower layer; packages that share a
#: layer are independent of each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("ui", "cli", "__main__"),
    ("applications", "finetune"),
    ("training",),
    ("data",),
    ("models",),
    ("blocks",),
    ("images", "signals"),
    ("viz",),
    ("io", "jobs"),
    ("weights",),
    ("settings", "device"),
    ("errors",),
)
#: Allowed imports inside the top layer: ``python -m cnn_demo`` runs the command line, which starts the launcher.
TOP_LAYER_EDGES = {("cli", "ui"), ("__main__", "cli")}
#: "No module over about 400 lines."
MAX_LINES = 420


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The ``cnn_demo`` modules ``path`` imports, anywhere in the file, resolved to modules that exist."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            # "from a.b import c": c is a module when a/b/c.py exists, else a name defined in a.b
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            if target == "cnn_demo" or not target.startswith("cnn_demo."):
                continue
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, name, known) for name, path in known.items()}


def top(name: str) -> str:
    return name.split(".")[1] if name.count(".") else ""


def layer_of(package: str) -> int:
    for i, members in enumerate(LAYERS):
        if package in members:
            return i
    raise AssertionError(f"cnn_demo.{package} is in no layer of tests/test_architecture.py")


def test_every_import_points_down_the_layers() -> None:
    wrong = []
    for name, targets in graph().items():
        if name == "cnn_demo":
            continue
        here = top(name)
        for target in targets:
            there = top(target)
            if there == here:
                continue
            if layer_of(there) > layer_of(here) or (here, there) in TOP_LAYER_EDGES:
                continue
            wrong.append(f"{name} -> {target}")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(sorted(wrong))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_even_inside_functions() -> None:
    # A part of a package imports its siblings directly, never through the package's __init__ that re-exports it.
    assert not cycles(graph()), cycles(graph())


def test_the_checker_finds_a_circle_and_an_upward_import() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_of("weights") > layer_of("models") > layer_of("finetune")


def test_weights_is_a_leaf() -> None:
    allowed = {"cnn_demo.errors", "cnn_demo.settings", "cnn_demo.device"}
    for name, targets in graph().items():
        if top(name) == "weights":
            assert {t for t in targets if top(t) != "weights"} <= allowed, (name, targets)


def test_no_module_is_long() -> None:
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long


def test_the_package_never_reads_the_shared_data_folder() -> None:
    """../shared exists only for tests and benchmarks: a user's fresh clone has none, so data the app offers ships."""
    readers = [
        name
        for name, path in modules().items()
        if "shared/data" in (text := path.read_text("utf-8")) or '"shared"' in text or "CNN_DEMO_SHARED_DATA" in text
    ]
    assert not readers, readers
    from cnn_demo.data.samples import people_dir, voc_pairs_dir

    assert len(list((people_dir() / "images").glob("*.jpg"))) == 128
    assert len(list((voc_pairs_dir() / "masks").glob("*.png"))) == 14
    assert (people_dir().parent / "SOURCES.md").read_text("utf-8").count("people/images/") == 128


def test_the_package_uses_no_old_module_name() -> None:
    old = {f"cnn_demo.{name}" for name in cnn_demo.MOVED}
    users = {}
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                named = {node.module} | {f"{node.module}.{a.name}" for a in node.names}
                if named & old:
                    users[name] = sorted(named & old)
    assert not users, users


@pytest.mark.parametrize("old", sorted(cnn_demo.MOVED))
def test_old_module_names_still_import_as_their_new_homes(old: str) -> None:
    alias = importlib.import_module(f"cnn_demo.{old}")
    home = importlib.import_module(cnn_demo.MOVED[old])
    assert alias is home
    assert getattr(cnn_demo, old) is home  # "from cnn_demo import <old>" too
    assert home.__spec__.name == cnn_demo.MOVED[old]  # the real module is not renamed by its alias


def test_cnn_demo_images_still_offers_every_public_name_of_image_loading() -> None:
    """``cnn_demo.images`` held image loading before it became the Images section; notebooks still import it."""
    from cnn_demo import images
    from cnn_demo.io import images as loading

    tree = ast.parse(Path(loading.__file__).read_text(encoding="utf-8"))
    public = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            public.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            public |= {t.id for t in targets if isinstance(t, ast.Name)}
    public = {n for n in public if not n.startswith("_")}
    assert public and not {n for n in public if getattr(images, n, None) is not getattr(loading, n)}
