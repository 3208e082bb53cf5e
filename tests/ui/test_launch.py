"""The server launcher freezes the imported modules out of the garbage collector (see cnn_demo.ui.launch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PROBE = """
import gc, json, sys, time
from unittest import mock
from cnn_demo.ui import launch

seen = {}

def fake_cli_main():
    # What the server's first collection would walk, measured at the moment Streamlit would start.
    seen["frozen"] = gc.get_freeze_count()
    seen["tracked"] = len(gc.get_objects())
    t0 = time.perf_counter()
    gc.collect(2)
    seen["collect_ms"] = (time.perf_counter() - t0) * 1000
    seen["switch_interval"] = sys.getswitchinterval()
    return 0

with mock.patch("streamlit.web.cli.main", fake_cli_main):
    launch.main(["run", "app.py"])
print(json.dumps(seen))
"""


def test_server_start_freezes_the_imported_modules_out_of_the_collector():
    env = {k: v for k, v in os.environ.items() if k != "CNN_DEMO_SWITCH_INTERVAL_MS"}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    # torch, torchvision, timm and plotly alone are a few hundred thousand objects.
    assert seen["frozen"] > 200_000, seen
    # What a post-run collection still walks is a tiny fraction of that (it was all of it before).
    assert seen["tracked"] < seen["frozen"] // 20, seen
    assert seen["switch_interval"] == 0.0005, seen  # CNN_DEMO_SWITCH_INTERVAL_MS default, not Python's 0.005


def test_index_html_tells_the_frontend_the_base_url_before_its_bundle_runs():
    """Deep links (/pixels) would otherwise first probe /pixels/_stcore/health: two 404s in the console."""
    from streamlit import file_util

    from cnn_demo.ui.catalog import PAGES
    from cnn_demo.ui.launch import index_html_with_base_url

    original = (Path(file_util.get_static_dir()) / "index.html").read_text()
    html = index_html_with_base_url(original, [p.url_path for p in PAGES])
    script = html.index("BACKEND_BASE_URL")
    assert script < html.index('<script type="module"'), "must run before Streamlit's bundle reads window.__streamlit"
    for page in PAGES:
        assert f'"{page.url_path}"' in html
    assert html.replace(html[html.index("<script>(function") : html.index("</script>", script) + 9], "") == original


def test_a_stale_pages_folder_is_removed_and_one_with_scripts_stops_the_start(tmp_path: Path):
    """An older checkout leaves pages/__pycache__ behind: any pages/ folder would switch Streamlit to legacy mode."""
    import pytest

    from cnn_demo.ui.launch import clear_stale_pages_folder

    clear_stale_pages_folder(tmp_path)  # no folder: nothing to do
    cache = tmp_path / "pages" / "__pycache__"
    cache.mkdir(parents=True)
    (cache / "pixels.cpython-311.pyc").write_bytes(b"old")
    clear_stale_pages_folder(tmp_path)
    assert not (tmp_path / "pages").exists()
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "mine.py").write_text("print('a page someone wrote')")
    with pytest.raises(SystemExit, match="app_pages"):
        clear_stale_pages_folder(tmp_path)
    assert (tmp_path / "pages" / "mine.py").exists()
