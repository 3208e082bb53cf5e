"""Warm the server at start-up: what every visitor's first page needs is built once, before anyone asks.

A fresh server used to make its first visitors wait 9–12 s on some pages: the page modules' imports, plotly's
trace validators, the default networks (EfficientNet-Lite0, the first detector and segmenter) and their results on
the default picture, the home page's pictures. :func:`start` runs :func:`warm_up` in a background thread as soon as
Streamlit's runtime exists (the server answers at once; a visitor who comes during the warm-up shares the work in
progress: ``st.cache_resource`` and ``st.cache_data`` compute a value once). The results go into the same caches the
pages read, through the same functions with the same arguments.

``CNN_DEMO_WARMUP=0`` turns it off (a benchmark of cold first visits). The server's log says what each step cost.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cnn_demo.settings import Settings

log = logging.getLogger("cnn_demo.warmup")

APP_PAGES = Path(__file__).resolve().parents[2] / "app_pages"
#: The line the server logs when the warm-up has finished (``bench/first_visit.py`` waits for it).
DONE = "cnn-demo warm-up done"


def page_imports(folder: Path = APP_PAGES) -> list[str]:
    """Every module the page scripts import (``cnn_demo.…``, plotly, pandas, ...), read from their source."""
    names: set[str] = set()
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return sorted(names)


def _import_pages() -> None:
    for name in page_imports():
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _plotly_validators() -> None:
    """Build one small figure of each trace type the pages draw: plotly imports and builds a trace type's
    validators the first time one is made (hundreds of milliseconds for the first figures of a process)."""
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    z = np.zeros((2, 2))
    fig = make_subplots(rows=1, cols=2)
    for trace in (
        go.Scatter(x=[0, 1], y=[0, 1]),
        go.Bar(x=[0, 1], y=[1, 2]),
        go.Heatmap(z=z),
        go.Image(z=np.zeros((2, 2, 3))),
        go.Histogram(x=[0, 1]),
        go.Contour(z=z),
    ):
        fig.add_trace(trace, row=1, col=1)
    fig.update_layout(sliders=[dict(steps=[dict(label="0", method="animate", args=[[]])])], updatemenus=[dict()])
    fig.to_json()


def _home() -> None:
    from cnn_demo.ui.thumbnails import cached_page_pictures

    cached_page_pictures()


def _feature_maps() -> None:
    """The feature-map page's defaults: EfficientNet-Lite0 with its weights on the chelsea photo."""
    from cnn_demo.models import DEFAULT_MODEL, class_names, data_config, explain, get_info
    from cnn_demo.ui import models as ui_models
    from cnn_demo.ui.picker import sample_image

    info = get_info(DEFAULT_MODEL)
    loaded = ui_models.load_model(DEFAULT_MODEL, info.has_pretrained)
    cfg = data_config(DEFAULT_MODEL)
    class_names(DEFAULT_MODEL)
    pixels = explain.preprocess(sample_image("chelsea", False, 512), cfg).numpy()
    preds = ui_models.cached_predictions(loaded, loaded.key, pixels, top=5)
    ui_models.cached_activation_maps(loaded, loaded.key, pixels, explain.conv_layers(loaded.model)[0])
    layer = explain.default_gradcam_layer(loaded.model, cfg.input_size)
    ui_models.cached_grad_cam(loaded, loaded.key, pixels, layer, preds[0].index)


def _detection() -> None:
    """The detection page's default on its default photo: the first COCO detector where its weights are installed
    (its boxes, and Faster R-CNN's look inside), else MTCNN's faces on the first group photo. Networks with random
    weights are never warmed: the page shows only their architecture."""
    import numpy as np

    from cnn_demo.applications import detection, faces
    from cnn_demo.ui import faces as face_ui
    from cnn_demo.ui import models as ui_models
    from cnn_demo.ui.picker import bundled_image, sample_image

    name = detection.DEFAULT_DETECTOR
    if ui_models.weights_state(name).pretrained:
        image = np.asarray(sample_image("chelsea", False, 800))
        ui_models.raw_detections(name, True, image)
        if detection.detector_info(name).family == "two-stage":  # the page's look inside Faster R-CNN
            ui_models.rcnn_internals(name, True, image)
        return
    photos = face_ui.group_photos()
    if photos:
        image = np.asarray(bundled_image(str(next(iter(photos.values()))), False, 1024))
        face_ui.face_cascade(image, faces.FaceConfig())


#: The segmentation page's default photo and the defaults of its k-means and SLIC sliders (the same values and
#: types the page passes, so the warm-up fills the very cache entries its first visitor reads).
SEGMENTATION_PHOTO = ("astronaut", False, 640)
KMEANS_DEFAULTS = (4, 0.0, 0)
SLIC_DEFAULTS = (150, 10.0)


def _segmentation() -> None:
    """The segmentation page's defaults on its default photo: k-means and SLIC, and the first VOC network (its
    labels where its weights are installed, else its architecture table, which builds the network once)."""
    import numpy as np

    from cnn_demo.applications import segmentation
    from cnn_demo.ui import models as ui_models
    from cnn_demo.ui import segmenter as seg_ui
    from cnn_demo.ui.picker import sample_image

    arr = np.asarray(sample_image(*SEGMENTATION_PHOTO))
    ui_models.kmeans_labels(arr, *KMEANS_DEFAULTS)
    ui_models.slic_labels(arr, *SLIC_DEFAULTS)
    name = segmentation.SEGMENTERS[0].name
    if ui_models.weights_state(name).pretrained:
        ui_models.semantic_labels(name, True, arr)
    else:
        seg_ui.architecture_rows(name)


#: (name, step) in the order they run: cheap and widely needed first.
STEPS: tuple[tuple[str, Callable[[], None]], ...] = (
    ("page imports", _import_pages),
    ("plotly validators", _plotly_validators),
    ("home pictures", _home),
    ("feature maps: EfficientNet-Lite0 on the default photo", _feature_maps),
    ("detection: default detector on the default photo", _detection),
    ("segmentation: k-means, SLIC and the first VOC network on the default photo", _segmentation),
)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Streamlit warns about every st.* call made outside a page run ("missing ScriptRunContext"): expected here."""
    noisy = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = noisy.level
    noisy.setLevel(logging.ERROR)
    try:
        yield
    finally:
        noisy.setLevel(level)


def warm_up(steps: tuple[tuple[str, Callable[[], None]], ...] = STEPS) -> dict[str, float]:
    """Run ``steps``; returns the seconds each took. A failing step is logged and skipped (a page then builds
    what it needs itself, as without the warm-up)."""
    took: dict[str, float] = {}
    with _quiet():
        for name, step in steps:
            t0 = time.perf_counter()
            try:
                step()
            except Exception:
                log.exception("warm-up step %r failed", name)
            took[name] = time.perf_counter() - t0
            log.info("warm-up: %s in %.2f s", name, took[name])
    log.info("%s in %.1f s", DONE, sum(took.values()))
    return took


def enabled(env: dict[str, str] | None = None) -> bool:
    """False when ``CNN_DEMO_WARMUP`` is ``0`` (or ``false``/``no``)."""
    return Settings.from_env(env).warmup


def start(timeout_s: float = 120.0) -> threading.Thread | None:
    """Start :func:`warm_up` in a daemon thread once Streamlit's runtime exists (its caches are then the
    server's; without one within ``timeout_s`` it does nothing); None when turned off."""
    if not enabled():
        return None
    if not log.handlers:  # the server's log shows each step (Streamlit configures only its own loggers)
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False

    def run() -> None:
        from streamlit.runtime import Runtime

        deadline = time.monotonic() + timeout_s
        while not Runtime.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if Runtime.exists():
            warm_up()
        else:  # no server came up (a failed start, a test of the launcher): nothing to warm
            log.info("no Streamlit runtime after %.0f s: warm-up skipped", timeout_s)

    thread = threading.Thread(target=run, name="cnn-demo-warmup", daemon=True)
    thread.start()
    return thread
