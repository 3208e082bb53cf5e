"""cnn-demo: the computation behind the CNN teaching app, importable from a notebook.

The package follows the app's navigation: ``signals``, ``images``, ``blocks``, ``models``, ``data``, ``training``,
``finetune``, ``applications``, with ``jobs``, ``io``, ``weights`` below them and ``ui`` (the only streamlit user)
on top. Modules that moved keep their old names (``cnn_demo.filters``, ``cnn_demo.viz_signals``, …) as aliases of
their new homes, so notebooks written against the flat layout keep working.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

__version__ = "0.1.0"

#: Old flat module name -> its home now. Code inside the package uses the new names (tests/test_architecture.py).
MOVED: dict[str, str] = {
    "viz_signals": "cnn_demo.signals.figures",
    "samples": "cnn_demo.io.samples",
    "filters": "cnn_demo.images.filters",
    "windows": "cnn_demo.images.windows",
    "arithmetic": "cnn_demo.images.arithmetic",
    "viz_filters": "cnn_demo.images.figures",
    "layers": "cnn_demo.blocks.layers",
    "pooling": "cnn_demo.blocks.pooling",
    "inspector": "cnn_demo.models.inspector",
    "explain": "cnn_demo.models.explain",
    "viz_models": "cnn_demo.models.figures",
    "datasets": "cnn_demo.data.datasets",
    "viz_datasets": "cnn_demo.data.figures",
    "viz_finetune": "cnn_demo.finetune.figures",
    "detection": "cnn_demo.applications.detection",
    "detection_raw": "cnn_demo.applications.detection.raw",
    "segmentation": "cnn_demo.applications.segmentation",
    "localization": "cnn_demo.applications.localization",
    "unet": "cnn_demo.applications.unet",
    "metrics": "cnn_demo.applications.metrics",
    "viz_applications": "cnn_demo.applications.figures",
    "tv_weights": "cnn_demo.weights",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports ``cnn_demo.<old name>`` as the module that now holds it (the same object, not a copy)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec:
        prefix, _, name = fullname.rpartition(".")
        if prefix != __name__ or name not in MOVED:
            return None  # type: ignore[return-value]
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        # The import system reads the module back from sys.modules after this, so the alias becomes the real one.
        sys.modules[module.__name__] = importlib.import_module(MOVED[module.__name__.rpartition(".")[2]])


if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
    sys.meta_path.append(_MovedModules())
