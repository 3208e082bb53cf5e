"""2-D filtering: convolve a photo with Gaussian, gradient, Sobel, preset or typed kernels, and see why it works."""

import functools

import numpy as np
import streamlit as st

from cnn_demo.images import filters
from cnn_demo.images.figures import (
    border_modes_figure,
    breakdown_figure,
    kernel_figure,
    spectrum_figure,
)
from cnn_demo.io.images import to_array
from cnn_demo.ui.common import KEEP, fit_kept, user_errors
from cnn_demo.ui.linked import kernel_grid, linked_chart
from cnn_demo.ui.picker import image_picker
from cnn_demo.viz import image_figure

PREVIEW_SIDE = 512
INSPECTOR_MAX = 17
LINKED_SIDE = 7  # output cells a side in the linked view
KERNEL_PLOT_MAX = 41
CROP = 48
TOP = 400  # height of the input and result images
THIRD = 320  # height of images shown three in a row

st.title("2-D filtering")
st.markdown(
    "A filter slides a small grid of weights, the **kernel** $K$, over the image $I$ and replaces every pixel by "
    "a weighted sum of its neighbours: the 2-D convolution "
    r"$(I * K)(t_1, t_2) = \sum_{\tau_1}\sum_{\tau_2} I(\tau_1, \tau_2)\,K(t_1-\tau_1, t_2-\tau_2)$. "
    "Blurring, sharpening and edge detection are all this one operation with different kernels."
)


@st.cache_data(max_entries=16, show_spinner=False)
def _filtered(image: np.ndarray, spec: filters.FilterSpec) -> np.ndarray:
    return filters.apply_filter(image, spec)


@st.cache_data(max_entries=8, show_spinner=False)
def _borders(image: np.ndarray, spec: filters.FilterSpec, pad: int, corner: str) -> dict:
    return filters.border_comparison(image, spec, crop=CROP, pad=pad, corner=corner)


@st.cache_data(max_entries=8, show_spinner=False)
def _low_high(image: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    return filters.split_frequencies(image, sigma)


left, right = st.columns([1, 2])
with left:
    gray = st.toggle("Grayscale", value=True, key="images_filtering_gray", help="Off: each colour channel is filtered.")
    img = image_picker("images_filtering", grayscale=gray, max_side=PREVIEW_SIDE)
    st.caption(
        f"Large uploads are shrunk to at most {PREVIEW_SIDE} pixels on the longer side so every slider answers "
        "at once; the code below runs unchanged on the full-size image."
    )
if img is None:
    st.stop()
image = to_array(img)

with left:
    kinds = filters.filter_kinds()
    kind = st.selectbox("Filter", kinds, index=0, key="images_filtering_filter", **KEEP)
    preset_table = filters.presets()
    kernel = None
    sigma = 2.0
    if kind == filters.GAUSSIAN:
        sigma = st.slider("σ (width of the Gaussian)", 0.5, 10.0, 2.0, 0.5, key="images_filtering_sigma", **KEEP)
        st.caption("The lecture's example uses σ = 3 and σ = 10: the larger σ, the smoother the result.")
    elif kind == filters.CUSTOM:
        text = st.text_area(
            "Kernel (one row per line; numbers, decimals or fractions like 1/9)",
            "1/16 2/16 1/16\n2/16 4/16 2/16\n1/16 2/16 1/16",
            key="images_filtering_kernel",
            **KEEP,
            height=140,
        )
        st.caption(f"Any size up to {filters.MAX_KERNEL_SIDE}×{filters.MAX_KERNEL_SIDE}; rows need equal lengths.")
        st.caption("Or edit the kernel in place, cell by cell (type the size in the box above):")
        kernel_grid("images_filtering_kernel")
    elif kind in preset_table:
        st.caption(preset_table[kind].description)
    elif kind == filters.GRADIENT_MAGNITUDE:
        st.caption("√(edge_h² + edge_v²) with the lecture's k_h = [-1, 0, 1]ᵀ and k_v = [-1, 0, 1], scaled to 0..255.")
    else:
        st.caption("√(sobel_h² + sobel_v²) with the Sobel kernels, scaled to 0..255 as on the slide.")
    mode = st.selectbox(
        "Border mode",
        list(filters.MODES),
        key="images_filtering_mode",
        **KEEP,
        help="How pixels outside the image are invented (scipy.ndimage's modes).",
    )
    st.caption(f"`{mode}`: {filters.MODES[mode]}")
    cval = 0.0
    if mode == "constant":
        cval = st.number_input("Constant value k", -255.0, 255.0, 0.0, key="images_filtering_cval", **KEEP)
    shown = st.selectbox(
        "Show the result as",
        ["auto", *filters.DISPLAY_MODES],
        key="images_filtering_display",
        **KEEP,
        help="A filter can give negative values or values over 255; this chooses how they become grey levels.",
    )

spec, result = None, None
with user_errors():
    if kind == filters.CUSTOM:
        kernel = filters.parse_kernel(text)
    spec = filters.make_spec(kind, kernel=kernel, sigma=sigma, mode=mode, cval=cval)
    result = _filtered(image, spec)
if spec is None or result is None:
    st.stop()

how = filters.default_display(spec) if shown == "auto" else shown
with right:
    c1, c2 = st.columns(2)
    c1.plotly_chart(image_figure(image, "Input", height=TOP), width="stretch", key="images_filtering_input")
    c2.plotly_chart(
        image_figure(filters.to_display(result, how), f"{kind}", height=TOP),
        width="stretch",
        key="images_filtering_out",
    )
    st.caption(
        f"Result values range from {result.min():.4g} to {result.max():.4g}; shown as: {filters.DISPLAY_MODES[how]}."
    )
    k = filters.spec_kernel(spec)
    if max(k.shape) <= KERNEL_PLOT_MAX:
        title = (
            "Kernel k_h (and k_v = its transpose)" if not spec.uses_kernel and kind != filters.GAUSSIAN else "Kernel"
        )
        st.plotly_chart(
            kernel_figure(k, f"{title}: {k.shape[0]}×{k.shape[1]}"), width="content", key="images_filtering_k"
        )
    else:
        st.caption(f"The Gaussian kernel for σ = {sigma:g} is {k.shape[0]}×{k.shape[1]}: too big to draw here.")
    if kind == filters.GAUSSIAN:
        st.caption("A Gaussian kernel has radius ⌊4σ + ½⌋ (as scipy's gaussian_filter), so it is (2r+1)×(2r+1).")

st.subheader("The same result in code")
colour = image.ndim == 3
tab_scipy, tab_torch = st.tabs(["scipy.ndimage", "torch.nn.functional.conv2d"])
tab_scipy.code(filters.scipy_code(spec, colour), language="python", wrap_lines=True)
tab_torch.code(filters.torch_code(spec, colour), language="python", wrap_lines=True)
st.caption(
    "`image` is the picture above as a float array (`np.asarray(img, dtype=np.float64)`). Both snippets give this "
    "page's result to within rounding (the tests run them). `conv2d` computes a cross-correlation, so the code "
    "flips the kernel to get a convolution."
)


@st.fragment
def _border_modes(image: np.ndarray, spec: filters.FilterSpec, how: str) -> None:
    """The border-mode panels; a fragment, so its own widgets rerun only this section."""
    st.markdown(
        "Near the edge the kernel hangs over the image. The border mode decides which values it finds there. "
        f"Each top panel shows a {CROP}×{CROP} corner of the image (inside the dashed line) with the pixels the "
        "mode invents beyond the edge; under it, the filter's result on that corner. Differences show up within "
        "one kernel radius of the edge: try a large σ or kernel."
    )
    b1, b2 = st.columns(2)
    pad = b1.slider("Border width shown", 1, 16, 8, key="images_filtering_pad", **KEEP)
    corners = list(filters.CORNERS)
    corner = b2.selectbox(
        "Corner",
        corners,
        index=corners.index(filters.busiest_corner(image, CROP)),
        key="images_filtering_corner",
        **KEEP,
        help="The default is the corner with the most detail.",
    )
    with user_errors():
        compared = _borders(image, spec, pad, corner)
        offset = filters.corner_offset(corner, pad)
        panels = {m: (padded, filters.to_display(res, how)) for m, (padded, res) in compared.items()}
        size = next(iter(compared.values()))[1].shape[0]
        st.plotly_chart(
            border_modes_figure(panels, offset, size),
            width="stretch",
            key="images_filtering_borders",
            config={"displayModeBar": False},  # its buttons would cover the last mode's name
        )


h, w = image.shape[:2]
kernel_now = filters.spec_kernel(spec)


def _go_to(cw, i: int, j: int) -> None:
    """A click on output cell (i, j) of the linked view moves the inspector's sliders to that pixel."""
    st.session_state["images_filtering_row"] = int(cw.out_rows[i])
    st.session_state["images_filtering_col"] = int(cw.out_cols[j])


@st.fragment
def _inspector() -> None:
    """Sliders, linked view and breakdown: moving a slider or clicking a cell reruns only this part of the page."""
    st.markdown(
        "Pick an output pixel: its value is the sum of the neighbourhood times the kernel **flipped** in both "
        "directions (that flip is what makes it a convolution rather than a correlation). Cells marked * lie "
        "outside the image and come from the border mode."
    )
    if not spec.uses_kernel and kind != filters.GAUSSIAN:
        st.caption("This filter combines two convolutions; the inspector shows the first one, edge_h with k_h.")
    i1, i2, i3 = st.columns(3)
    fit_kept("images_filtering_row", lo=0, hi=h - 1)
    fit_kept("images_filtering_col", lo=0, hi=w - 1)
    row = i1.slider("Row", 0, h - 1, h // 2, key="images_filtering_row", **KEEP)
    col_ = i2.slider("Column", 0, w - 1, w // 2, key="images_filtering_col", **KEEP)
    channel_names = ["Gray"] if image.ndim == 2 else ["Red", "Green", "Blue"]
    fit_kept("images_filtering_channel", options=channel_names)
    channel = i3.selectbox("Channel", channel_names, key="images_filtering_channel", **KEEP)
    plane = image if image.ndim == 2 else image[..., channel_names.index(channel)]
    if max(kernel_now.shape) > INSPECTOR_MAX:
        st.info(f"The inspector shows kernels up to {INSPECTOR_MAX}×{INSPECTOR_MAX}: pick σ ≤ 2 to inspect a Gaussian.")
    else:
        with user_errors():
            cw = filters.conv_windows(plane, kernel_now, row, col_, spec.mode, spec.cval, side=LINKED_SIDE)
            linked_chart(
                cw, cw.cell_of(row, col_), key="images_filtering_linked", on_cell=functools.partial(_go_to, cw)
            )
            st.caption(
                "Hover an output cell (right) to light up its input window (orange) and the kernel and read its "
                "window × kernel products and their sum; click it (or Tab to it and press Enter) to inspect it "
                "below. Input values with * come from the border mode."
            )
            b = filters.inspect_pixel(plane, kernel_now, row, col_, spec.mode, spec.cval)
            st.plotly_chart(breakdown_figure(b), width="stretch", key="images_filtering_inspector")
            if spec.uses_kernel or kind == filters.GAUSSIAN:
                plane_out = result if result.ndim == 2 else result[..., channel_names.index(channel)]
                where = f"the filtered {channel.lower()} channel above holds {plane_out[row, col_]:.6g} there"
            else:
                method = "sobel" if kind == filters.SOBEL_MAGNITUDE else "central"
                e = filters.edge_pixel(plane, method, row, col_, spec.mode, spec.cval)
                where = f"edge_h holds {e.edge_h:.6g} there; the magnitude shown above combines it with edge_v"
            st.markdown(f"Output at row {row}, column {col_}: Σ products = **{b.total:.6g}** ({where}).")
            if kind == filters.GRADIENT_MAGNITUDE:
                st.caption(
                    f"Convolution flips k_h upside down, so edge_h = I(row − 1) − I(row + 1) = {e.edge_h:.6g}. "
                    f"The slide writes the derivative ∂I/∂y ≈ ½[I(row + 1) − I(row − 1)] as a dot product with k_h "
                    f"(no flip) and a ½: {e.derivative:.6g} here, −½ × edge_h. The magnitude squares both parts "
                    "and scales its maximum to 255, so the sign and the ½ do not change the picture."
                )
            elif kind == filters.SOBEL_MAGNITUDE:
                st.caption(
                    f"The code above uses `ndimage.sobel(image, 0)`, which **correlates** with k_h (a dot product, no "
                    f"flip, as on the slide): {e.edge_h:.6g} here. Convolving with the slide's k_h flips it and "
                    f"changes the sign: Σ = {e.convolved:.6g}. The magnitude squares it, so both give the same picture."
                )


@st.fragment
def _low_and_high_pass(image: np.ndarray) -> None:
    """The low-/high-pass split of the image; a fragment, so its σ slider reruns only this section."""
    st.markdown(
        "A **low-pass** filter (the Gaussian) keeps slow changes and removes fine detail; a **high-pass** filter "
        "keeps the detail. The image minus its blur is exactly the detail the blur removed."
    )
    lp_sigma = st.slider("σ of the blur", 0.5, 10.0, 3.0, 0.5, key="images_filtering_lp_sigma", **KEEP)
    low, high = _low_high(image, lp_sigma)
    p1, p2, p3 = st.columns(3)
    p1.plotly_chart(image_figure(image, "Image", height=THIRD), width="stretch", key="images_filtering_lp_img")
    p2.plotly_chart(
        image_figure(filters.to_display(low), "Low-pass: blur", height=THIRD),
        width="stretch",
        key="images_filtering_lp",
    )
    p3.plotly_chart(
        image_figure(filters.to_display(high, "offset"), "High-pass: image − blur (128 = 0)", height=THIRD),
        width="stretch",
        key="images_filtering_hp",
    )


def _spectra() -> None:
    """Fourier spectra of the image, the kernel and the result."""
    st.markdown(
        "The 2-D Fourier transform splits an image into waves: the centre of each plot is the zero frequency (the "
        "average brightness), points further out are finer patterns. The kernel's plot shows how much it "
        "multiplies each frequency, so the result's spectrum is the image's times the kernel's."
    )
    plane_f = image if image.ndim == 2 else image.mean(axis=2)
    f1, f2, f3 = st.columns(3)
    f1.plotly_chart(
        spectrum_figure(filters.fft_magnitude(plane_f), "Image: log(1 + |F|)"),
        width="stretch",
        key="images_filtering_f1",
    )
    if max(kernel_now.shape) <= min(plane_f.shape):
        f2.plotly_chart(
            spectrum_figure(filters.kernel_response(kernel_now, plane_f.shape), "Kernel: gain |H|"),
            width="stretch",
            key="images_filtering_f2",
        )
    res_plane = result if result.ndim == 2 else result.mean(axis=2)
    f3.plotly_chart(
        spectrum_figure(filters.fft_magnitude(res_plane), "Result: log(1 + |F|)"),
        width="stretch",
        key="images_filtering_f3",
    )
    st.caption(
        "Gaussian and box blurs are bright only in the middle (low-pass); Sobel, Laplacian and outline kernels are "
        "dark in the middle (they remove the average) and bright outside (high-pass)."
    )


#: The page's deeper sections. Only the open tab is computed and drawn (lazy tabs), so a page-wide widget (filter,
#: image, border mode) redraws the input, the result, the kernel and one section instead of some twenty charts.
SECTIONS = ("Pixel inspector", "Border modes", "Low-pass and high-pass", "Frequencies")
tabs = st.tabs(SECTIONS, key="images_filtering_section", on_change="rerun")
if tabs[0].open:
    with tabs[0]:
        _inspector()
if tabs[1].open:
    with tabs[1]:
        _border_modes(image, spec, how)
if tabs[2].open:
    with tabs[2]:
        _low_and_high_pass(image)
if tabs[3].open:
    with tabs[3]:
        _spectra()
