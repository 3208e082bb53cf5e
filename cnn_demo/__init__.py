"""cnn-demo: the computation behind the CNN teaching app, importable from a notebook.

The package follows the app's navigation: ``signals``, ``images``, ``blocks``, ``models``, ``data``, ``training``,
``finetune``, ``applications``, with ``jobs``, ``io``, ``weights`` below them and ``ui`` (the only streamlit user)
on top. Every name has one import path: its home module (README, "Layout"; docs/DEVELOPING.md).
"""

from __future__ import annotations

__version__ = "0.1.0"
