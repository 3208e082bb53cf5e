"""The compute package stays usable from a notebook: streamlit only under cnn_demo/ui/, pages stay thin."""

import ast
import pkgutil
import subprocess
import sys

import cnn_demo
from tests.conftest import ROOT


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_streamlit_only_under_ui():
    offenders = []
    for path in (ROOT / "cnn_demo").rglob("*.py"):
        rel = path.relative_to(ROOT)
        if rel.parts[:2] == ("cnn_demo", "ui"):
            continue
        if any(name == "streamlit" or name.startswith("streamlit.") for name in _imports(path)):
            offenders.append(str(rel))
    assert not offenders, f"streamlit imported outside cnn_demo/ui/: {offenders}"


def test_package_imports_without_streamlit():
    names = [m.name for m in pkgutil.walk_packages(cnn_demo.__path__, "cnn_demo.") if ".ui" not in m.name]
    names = [n for n in names if n != "cnn_demo.__main__"]
    code = (
        "import importlib, sys\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "assert 'streamlit' not in sys.modules, 'streamlit was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=300)


def test_pages_are_thin():
    """Pages hold widgets and layout: no torch math, model loading or file parsing."""
    banned = {"torch", "torchvision", "timm", "scipy", "PIL", "zipfile", "io", "pickle"}
    for path in (ROOT / "app_pages").rglob("*.py"):
        used = {name.split(".")[0] for name in _imports(path)}
        assert not used & banned, f"{path.name} imports {sorted(used & banned)}: move that work into cnn_demo/"


def test_no_raw_html_anywhere():
    """Nothing is rendered as raw HTML, so nothing a user typed or uploaded can become markup."""
    pattern = ("unsafe_allow_html=True", "st.html(", "components.html(", "components.v1.html")
    offenders = []
    for path in [ROOT / "app.py", *(ROOT / "app_pages").rglob("*.py"), *(ROOT / "cnn_demo").rglob("*.py")]:
        text = path.read_text()
        offenders += [f"{path.relative_to(ROOT)}: {p}" for p in pattern if p in text]
    assert not offenders, offenders


def test_pictures_go_through_inline_image():
    """``st.image`` of an array stores a media file that the next run deletes: a picture not fetched yet by then
    is a 404 and a broken image. Pages and widgets call ``cnn_demo.ui.common.inline_image`` instead."""
    import re

    call = re.compile(r"\.image\(")
    offenders = []
    for path in [ROOT / "app.py", *(ROOT / "app_pages").rglob("*.py"), *(ROOT / "cnn_demo" / "ui").glob("*.py")]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if call.search(line) and "container.image(payload" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, offenders
