"""The package's architecture as a contract: layers that only import downward, no circles, small modules.

Every ``import`` of a ``cnn_demo`` module is read from the source (function-level ones too, which a plain import
would not reveal), so a circle hidden inside a function fails here rather than in a user's session.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cnn_demo"

#: Top to bottom. A module may import its own subpackage and anything in a lower layer; packages that share a
#: layer are independent of each other.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("ui", "cli", "__main__"),
    ("applications", "finetune"),
    ("data", "models", "training", "blocks"),
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
#: No function (a nested one counts inside its outer function) over this many lines, ``def`` to its last line.
MAX_FUNCTION_LINES = 60


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
    assert layer_of("data") == layer_of("models") == layer_of("training")  # none of them imports another


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


def long_functions(source: str) -> dict[str, int]:
    """Functions (methods and nested ones too) of ``source`` longer than ``MAX_FUNCTION_LINES``, with their lengths."""
    return {
        node.name: n
        for node in ast.walk(ast.parse(source))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and (n := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    }


def private_imports(source: str, name: str, is_package: bool, known: set[str]) -> list[str]:
    """Private names module ``name`` imports from other ``cnn_demo`` modules.

    A private *module* (``_registry``) may be imported by the modules of its own package, as timm's are; a private
    *name* (``_helper``) is never imported across modules: what a sibling needs is public.
    """
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*parts, base] if base else parts)
        if base != "cnn_demo" and not base.startswith("cnn_demo."):
            continue
        for alias in node.names:
            if not alias.name.startswith("_") or alias.name.startswith("__"):
                continue
            if f"{base}.{alias.name}" in known and base == package:
                continue  # a private module of the importer's own package
            found.append(f"{base}.{alias.name}")
        parts = [p for p in base.split(".") if p.startswith("_") and not p.startswith("__")]
        if parts and not package.startswith(base.rpartition(".")[0]):
            found.append(base)  # a private module of another package
    return found


def test_no_function_is_long() -> None:
    long = {}
    for name, path in modules().items():
        if found := long_functions(path.read_text(encoding="utf-8")):
            long[name] = found
    assert not long, long


def test_no_private_name_is_imported_across_modules() -> None:
    known = set(modules())
    wrong = {}
    for name, path in modules().items():
        if found := private_imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", known):
            wrong[name] = found
    assert not wrong, wrong


def test_the_checkers_find_a_long_function_and_a_private_import() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    assert long_functions(f"def f():\n{body}\n") == {"f": MAX_FUNCTION_LINES + 1}
    assert long_functions(f"def f():\n{body[: body.rindex(chr(10))]}\n") == {}
    known = {"cnn_demo.a", "cnn_demo.a.b", "cnn_demo.a._c", "cnn_demo.d"}
    assert private_imports("from cnn_demo.a.b import _x, y", "cnn_demo.d", False, known) == ["cnn_demo.a.b._x"]
    assert private_imports("from .b import _x", "cnn_demo.a.e", False, known) == ["cnn_demo.a.b._x"]
    assert private_imports("from cnn_demo.a import _c", "cnn_demo.a.b", False, known) == []
    assert private_imports("from cnn_demo.a._c import f", "cnn_demo.a.b", False, known) == []
    assert private_imports("from cnn_demo.a._c import f", "cnn_demo.d", False, known) == ["cnn_demo.a._c"]
    assert private_imports("from __future__ import annotations", "cnn_demo.d", False, known) == []


def test_readme_layout_table_is_layers() -> None:
    """README's "Layout" table is the map: its layer numbers and subpackages are ``LAYERS``, top to bottom."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    head = text.index("| Layer | Subpackages | What they hold |")
    rows = text[head:].split("\n\n")[0].splitlines()[2:]
    table: dict[int, set[str]] = {}
    for row in rows:
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        names = {n.strip().strip("`").removesuffix("/").removesuffix(".py") for n in cells[1].split(",")}
        table.setdefault(int(cells[0]), set()).update(names)
    assert table == {i + 1: set(layer) - {"__main__"} for i, layer in enumerate(LAYERS)}


def test_tests_follow_the_package_tree() -> None:
    """``tests/<subpackage>/`` tests ``cnn_demo/<subpackage>/``; pages and browser tests have folders of their own."""
    tests = ROOT / "tests"
    folders = {p.name for p in tests.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert folders - {"pages", "browser"} == subpackages
    assert not {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))} - folders
