"""Linked convolution views for the pages: a clickable input/kernel/output figure, and a kernel edited in a grid."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pandas as pd
import streamlit as st

from cnn_demo import filters
from cnn_demo.errors import InputError
from cnn_demo.ui.figcache import cached_figure
from cnn_demo.windows import ConvWindows, linked_cell


def _picked(chart_key: str, shape: tuple[int, int], on_cell: Callable[[int, int], None]) -> None:
    """on_select callback: hand the clicked output cell to ``on_cell`` (runs before the rerun, so it may set the
    values of widgets drawn above the chart)."""
    event = st.session_state.get(chart_key)
    points = event["selection"]["points"] if event and event.get("selection") else []
    cell = linked_cell(points, shape)
    if cell is not None:
        on_cell(*cell)


def linked_chart(
    cw: ConvWindows, selected: tuple[int, int] | None, *, key: str, on_cell: Callable[[int, int], None], **kwargs
) -> None:
    """Draw :func:`linked_conv_figure`; hovering a cell shows its products in the browser, clicking one calls
    ``on_cell(i, j)`` and reruns with it selected."""
    st.plotly_chart(
        cached_figure("linked_conv", cw, selected, **kwargs),
        width="stretch",
        key=key,
        on_select=functools.partial(_picked, key, cw.output_shape, on_cell),
        selection_mode="points",
        config={"displayModeBar": False},
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
