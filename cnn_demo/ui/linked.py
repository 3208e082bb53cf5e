"""Linked convolution views for the pages: CNN Explainer's input/kernel/output view, and a kernel edited in a grid."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st
import streamlit.components.v2 as components

from cnn_demo.errors import InputError
from cnn_demo.images import filters
from cnn_demo.images.figures import linked_conv_data
from cnn_demo.images.windows import ConvWindows, linked_cell

_HERE = Path(__file__).parent

#: The linked view as a Streamlit component, registered once when this module is imported. Its JavaScript draws
#: the grids and lights up a cell's window and kernel on hover in the browser; only a click reaches Python.
LINKED_VIEW = components.component(
    "cnn_demo_linked_conv",
    html='<div class="lv-root"></div>',
    css=(_HERE / "linked_view.css").read_text(encoding="utf-8"),
    js=(_HERE / "linked_view.js").read_text(encoding="utf-8"),
)


def _picked(key: str, shape: tuple[int, int], on_cell: Callable[[int, int], None]) -> None:
    """Click callback: hand the output cell the browser sent to ``on_cell`` (runs before the rerun, so it may set
    the values of widgets drawn above the view)."""
    cell = linked_cell((st.session_state.get(key) or {}).get("cell"), shape)
    if cell is not None:
        on_cell(*cell)


def linked_chart(
    cw: ConvWindows, selected: tuple[int, int] | None, *, key: str, on_cell: Callable[[int, int], None], **kwargs
) -> None:
    """Draw the linked view of ``cw`` (:func:`cnn_demo.images.figures.linked_conv_data`, ``kwargs`` go there):
    hovering or focusing an output cell lights up its input window and the kernel and writes its products, in the
    browser; clicking one (or Enter) calls ``on_cell(i, j)`` and reruns with it selected."""
    LINKED_VIEW(
        key=key,
        data=linked_conv_data(cw, selected, **kwargs),
        on_cell_change=functools.partial(_picked, key, cw.output_shape, on_cell),
    )


def _grid_edited(text_key: str, grid_key: str, version_key: str) -> None:
    edits = (st.session_state.get(grid_key) or {}).get("edited_rows") or {}
    try:
        st.session_state[text_key] = filters.edit_kernel_text(st.session_state[text_key], edits)
    except InputError as exc:
        st.session_state[f"{text_key}_grid_error"] = str(exc)
    st.session_state[version_key] = st.session_state.get(version_key, 0) + 1  # a fresh grid from the new text


def kernel_grid(text_key: str) -> None:
    """The kernel typed in ``text_key`` as an editable grid of numbers: an edited cell rewrites that entry of the
    text (the other entries keep their typed form, e.g. ``1/16``), so text and grid always show one kernel.
    Nothing is drawn while the text does not parse (the page shows that error)."""
    try:
        kernel = filters.parse_kernel(st.session_state.get(text_key, ""))
    except InputError:
        return
    version_key = f"{text_key}_grid_version"
    grid_key = f"{text_key}_grid_{st.session_state.get(version_key, 0)}"
    error = st.session_state.pop(f"{text_key}_grid_error", None)
    if error:
        st.error(error)
    table = pd.DataFrame(kernel, columns=[str(j) for j in range(kernel.shape[1])])
    st.data_editor(
        table,
        key=grid_key,
        hide_index=True,
        num_rows="fixed",
        column_config={
            str(j): st.column_config.NumberColumn(str(j + 1), required=True, width="small")
            for j in range(kernel.shape[1])
        },
        on_change=_grid_edited,
        args=(text_key, grid_key, version_key),
    )
