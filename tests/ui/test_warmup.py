"""The start-up warm-up fills the very caches the pages read, so a class's first visitors do not wait for it."""

from __future__ import annotations

import pytest

from cnn_demo.ui import warmup
from tests.conftest import app_test, assert_no_exception


def test_page_imports_are_read_from_the_page_scripts():
    names = warmup.page_imports()
    assert {"cnn_demo.ui.picker", "cnn_demo.images.figures", "streamlit", "numpy"} <= set(names)
    assert not any(n.startswith(".") for n in names)


def test_the_warm_up_can_be_turned_off():
    assert warmup.enabled({}) and warmup.enabled({"CNN_DEMO_WARMUP": "1"})
    assert not warmup.enabled({"CNN_DEMO_WARMUP": "0"}) and not warmup.enabled({"CNN_DEMO_WARMUP": "off"})


def test_a_failing_step_is_logged_and_the_others_still_run(caplog):
    ran = []

    def broken() -> None:
        raise RuntimeError("no network today")

    took = warmup.warm_up((("broken", broken), ("next", lambda: ran.append(1))))
    assert ran == [1] and set(took) == {"broken", "next"}
    assert "warm-up step 'broken' failed" in caplog.text


@pytest.fixture(scope="module")
def warmed():
    took = warmup.warm_up()
    assert set(took) == {name for name, _ in warmup.STEPS}
    return took


@pytest.mark.parametrize(
    ("page", "costly"),
    [
        (None, [("cnn_demo.ui.thumbnails", "page_pictures")]),
        (
            "app_pages/models/feature_maps.py",
            [
                ("cnn_demo.models.explain", "predict"),
                ("cnn_demo.models.explain", "activation_maps"),
                ("cnn_demo.models.explain", "grad_cam"),
            ],
        ),
        (
            "app_pages/applications/detection.py",
            [
                ("cnn_demo.applications.detection", "run_detector"),
                ("cnn_demo.applications.faces", "run_cascade"),
                ("cnn_demo.applications.faces", "build_mtcnn"),
            ],
        ),
        (
            "app_pages/applications/segmentation.py",
            [
                ("cnn_demo.applications.segmentation", "run_segmenter"),
                ("cnn_demo.applications.segmentation", "kmeans_segment"),
                ("cnn_demo.applications.segmentation", "slic_segment"),
                ("cnn_demo.applications.segmentation", "architecture"),
            ],
        ),
    ],
    ids=["home", "feature_maps", "detection", "segmentation"],
)
def test_after_the_warm_up_a_first_visit_builds_nothing_heavy(warmed, monkeypatch, page, costly):
    """Opening the page with its defaults loads no network and runs none: every result is already cached."""
    import importlib

    from cnn_demo.ui import models as ui_models

    calls: list[str] = []

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return fn(*args, **kwargs)

        return wrapper

    for kind, build in list(ui_models._BUILDERS.items()):
        monkeypatch.setitem(ui_models._BUILDERS, kind, counting(f"load {kind}", build))
    for module, name in costly:
        mod = importlib.import_module(module)
        monkeypatch.setattr(mod, name, counting(name, getattr(mod, name)))
    at = app_test(page)
    assert_no_exception(at)
    assert calls == [], f"the first visit still computed {calls}"


def test_without_a_streamlit_server_nothing_is_warmed(monkeypatch):
    """The launcher's tests (and a server that fails to start) must not leave a thread loading networks."""
    ran = []
    monkeypatch.setattr(warmup, "warm_up", lambda *a, **k: ran.append(1))
    monkeypatch.setenv("CNN_DEMO_WARMUP", "1")
    thread = warmup.start(timeout_s=0.2)
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive() and ran == []
    monkeypatch.setenv("CNN_DEMO_WARMUP", "0")
    assert warmup.start() is None
