"""Start ``streamlit run`` for a shared server: heavy imports done and frozen, metrics closed, base URL given.

The page scripts live in ``app_pages/`` (not ``pages/``, which Streamlit would treat as a legacy v1 multipage app),
so every session goes through ``app.py``'s ``st.navigation`` without touching Streamlit's internals.

Streamlit also runs a full garbage collection after every script run (``runner.postScriptGC``), holding the
GIL: with torch, torchvision, timm and plotly loaded that walks about 470,000 objects, roughly a quarter of a
second on a small server, during which it answers nothing, not even ``/_stcore/health``. With a class of users
these pauses add up to seconds. :func:`preload` imports what the pages use once, before the first session,
and moves those long-lived objects into the collector's permanent generation (``gc.freeze``), so the
collections after each run only walk what the sessions created.

Streamlit's ``/_stcore/metrics`` (sessions, memory, caches: open to anyone, with no option to close it) answers
404 (:func:`close_metrics`).

Finally the GIL switch interval is shortened (``CNN_DEMO_SWITCH_INTERVAL_MS``, 0.5 ms instead of Python's
5 ms): the event-loop thread that answers every request otherwise queues behind each busy script thread in
turn. Measured with ``bench/load.py --sessions 10``: health p95 about 1 s at 5 ms, 0.2-0.3 s at 0.5-1 ms.

It also puts the identity middleware in front of Streamlit (:mod:`cnn_demo.ui.gatekeeper`): each browser's signed
HttpOnly identity cookie, the client's address, and proxy headers believed only from the configured proxies; and
it holds uploads only for the uploaders that asked for them, within bounds (:mod:`cnn_demo.ui.uploads`).

Once Streamlit's runtime exists, :mod:`cnn_demo.ui.warmup` builds in a background thread what every visitor's first
page needs (page imports, the default networks and their results on the default photo, the home page's pictures).

A browser opening a deep link (``/pixels``) does not know where the server's root is: Streamlit's frontend
first asks ``/pixels/_stcore/health`` and ``/pixels/_stcore/host-config``, gets two 404s (logged as errors in the
console) and only then tries ``/`` (streamlit/streamlit#7074). :func:`serve_index_with_base_url` gives the page
a small script that tells the frontend the base URL (the address without a trailing page name), so its first
try is the right one, behind a proxy's path prefix too.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

#: Modules every page set needs; imported before the server starts so their objects can be frozen.
PRELOAD = (
    "numpy",
    "pandas",
    "plotly.graph_objects",
    "PIL.Image",
    "scipy.ndimage",
    "torch",
    "torchvision",
    "timm",
    "streamlit",
    "cnn_demo.models",
    "cnn_demo.models.explain",
    "cnn_demo.applications.detection",
    "cnn_demo.applications.segmentation",
    "cnn_demo.finetune",
    "cnn_demo.jobs",
    "cnn_demo.viz",
)


def preload(modules: tuple[str, ...] = PRELOAD) -> int:
    """Import ``modules``, then freeze every object alive now out of the cyclic collector; returns how many."""
    for name in modules:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


#: Runs before Streamlit's bundle: the base URL is the page's address less a trailing page name.
BASE_URL_SCRIPT = (
    "<script>(function(){{var pages={pages};"
    'var parts=window.location.pathname.replace(/\\/+$/,"").split("/");'
    "if(pages.indexOf(parts[parts.length-1])>=0)parts.pop();"
    'window.__streamlit=Object.assign({{}},window.__streamlit,{{BACKEND_BASE_URL:window.location.origin+parts.join("/")+"/"}});'
    "}})();</script>"
)


def index_html_with_base_url(html: str, url_paths: Iterable[str]) -> str:
    """Streamlit's ``index.html`` with :data:`BASE_URL_SCRIPT` first in its ``<head>``."""
    script = BASE_URL_SCRIPT.format(pages=json.dumps(sorted(url_paths)))
    head = html.index("<head>") + len("<head>")
    return html[:head] + script + html[head:]


def serve_index_with_base_url(url_paths: Iterable[str]) -> str:
    """Make Streamlit serve its static files from a folder of links whose ``index.html`` sets the base URL.

    Returns the folder (removed at exit). Every other file is a symlink to Streamlit's own.
    """
    from streamlit import file_util

    original = file_util.get_static_dir()
    folder = tempfile.mkdtemp(prefix="cnn-demo-static-")
    atexit.register(shutil.rmtree, folder, True)
    for name in os.listdir(original):
        if name != "index.html":
            os.symlink(os.path.join(original, name), os.path.join(folder, name))
    with open(os.path.join(original, "index.html"), encoding="utf-8") as f:
        html = index_html_with_base_url(f.read(), url_paths)
    with open(os.path.join(folder, "index.html"), "w", encoding="utf-8") as f:
        f.write(html)
    file_util.get_static_dir = lambda: folder
    return folder


def close_metrics() -> None:
    """Answer ``/_stcore/metrics`` with 404: Streamlit serves its session, memory and cache statistics there to
    anyone, with no option to turn it off, and on a class server that tells every visitor how busy the others are.

    ``CNN_DEMO_METRICS=1`` keeps the endpoint (an operator scraping it from a trusted network).
    """
    from cnn_demo.settings import get_settings

    if get_settings().metrics:
        return
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route
    from streamlit.web.server.starlette import starlette_app, starlette_routes

    async def _closed(request) -> PlainTextResponse:
        return PlainTextResponse("Not found", status_code=404)

    def _routes(runtime, base_url):
        path = starlette_routes._with_base(starlette_routes.ROUTE_METRICS, base_url)
        return [Route(path, _closed, methods=["GET", "OPTIONS", "HEAD", "POST"])]

    starlette_app.create_metrics_routes = _routes


def clear_stale_pages_folder(app_dir: Path) -> None:
    """Remove a ``pages/`` folder that an older checkout left beside ``app.py`` (bytecode caches only).

    The page scripts moved to ``app_pages/``; git removes the old scripts but not their ``__pycache__``, and any
    ``pages/`` folder puts Streamlit in its legacy multipage mode (a deep link would run a page without ``app.py``).
    A ``pages/`` folder that still holds scripts is someone's work: refuse to start and say what to do.
    """
    folder = app_dir / "pages"
    if not folder.is_dir():
        return
    scripts = [p for p in folder.rglob("*") if p.is_file() and p.suffix != ".pyc"]
    if scripts:
        raise SystemExit(
            f"{folder} holds files ({scripts[0].name}, ...): pages now live in app_pages/<section>/. "
            "Move or remove that folder, then start the server again."
        )
    shutil.rmtree(folder)


def main(argv: list[str]) -> int:
    """Run the Streamlit CLI with ``argv`` (e.g. ``["run", "app.py", "--server.port", "8501"]``).

    A leading ``--parent PID`` (``serve``'s) stops the server once that process is gone.
    """
    from streamlit.web import cli

    from cnn_demo import jobs
    from cnn_demo.settings import get_settings
    from cnn_demo.ui import warmup
    from cnn_demo.ui.catalog import PAGES
    from cnn_demo.ui.gatekeeper import install_middleware
    from cnn_demo.ui.signin import SignInErrors, secrets_auth_section, sign_in_problem
    from cnn_demo.ui.uploads import UploadGuard, install_upload_manager

    if argv[:1] == ["--parent"]:
        jobs.stop_with_parent(int(argv[1]))
        argv = argv[2:]
    clear_stale_pages_folder(Path(__file__).resolve().parents[2])
    preload()
    # identity cookie, client address, trusted proxies; uploads asked for only; failed sign-ins explained
    install_middleware(UploadGuard, SignInErrors)
    problem = sign_in_problem(secrets_auth_section())
    if problem:
        print(f"serve: warning: sign-in is not offered: {problem}", file=sys.stderr, flush=True)
    install_upload_manager()  # uploads bounded and freed with their session (cnn_demo.ui.uploads)
    jobs.remove_abandoned(jobs.store_dir(get_settings()))  # decodes a restart cut off leave nothing behind
    close_metrics()
    sys.setswitchinterval(get_settings().switch_interval_ms / 1000)
    serve_index_with_base_url(p.url_path for p in PAGES)
    warmup.start()  # default networks, their results and the home pictures, built before the first visitor asks
    sys.argv = ["streamlit", *argv]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
