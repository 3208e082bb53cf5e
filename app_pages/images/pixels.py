"""Images as numbers: the picture a CNN receives is a grid (or three grids) of pixel values."""

import pandas as pd
import streamlit as st

from cnn_demo import models
from cnn_demo.io.images import crop_around, to_array
from cnn_demo.ui.common import KEEP, fit_kept
from cnn_demo.ui.picker import image_picker
from cnn_demo.viz import histogram_figure, image_figure, matrix_figure, outline_region


@st.cache_data(max_entries=16, show_spinner=False)
def _config(name: str) -> models.DataConfig:
    return models.data_config(name)


@st.cache_data(max_entries=8, show_spinner="Preparing the tensor…")
def _tensor(arr, name: str) -> models.InputTensor:
    return models.input_tensor(arr, _config(name))


st.title("Images as numbers")
st.markdown(
    "For a CNN an image is a grid of numbers: one grid for a grayscale picture, three (red, green, blue) "
    "for a colour one, each value from 0 (dark) to 255 (bright). Pick an image and zoom into its pixels."
)

left, right = st.columns([1, 2])
with left:
    gray = st.toggle("Grayscale", value=False, key="pixels_gray")
    img = image_picker("pixels", grayscale=gray, max_side=1024)
if img is None:
    st.stop()

arr = to_array(img)
with right:
    photo = st.empty()  # drawn below, once the zoom window is known, with that window marked on it
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    st.write(f"NumPy shape `{arr.shape}`: {arr.shape[0]} rows × {arr.shape[1]} columns × {channels} channel(s)")

st.subheader("Zoom into the pixels")
c1, c2, c3, c4 = st.columns(4)
fit_kept("pixels_row", lo=0, hi=arr.shape[0] - 1)
fit_kept("pixels_col", lo=0, hi=arr.shape[1] - 1)
row = c1.slider("Row", 0, arr.shape[0] - 1, arr.shape[0] // 2, key="pixels_row", **KEEP)
col = c2.slider("Column", 0, arr.shape[1] - 1, arr.shape[1] // 2, key="pixels_col", **KEEP)
size = c3.slider("Window", 4, 16, 8, key="pixels_size", **KEEP)
channel_names = ["Gray"] if arr.ndim == 2 else ["Red", "Green", "Blue"]
fit_kept("pixels_channel", options=channel_names)
channel = c4.selectbox("Channel", channel_names, key="pixels_channel", **KEEP)
plane = arr if arr.ndim == 2 else arr[..., channel_names.index(channel)]
window, top, left_col = crop_around(plane, row, col, size)
photo.plotly_chart(
    outline_region(image_figure(arr), top, left_col, window.shape[0], window.shape[1], "zoom"),
    width="stretch",
    key="pixels_image",
)
grid, hist = st.columns(2)
grid.plotly_chart(
    matrix_figure(
        window,
        f"{channel} values, rows {top}–{top + window.shape[0] - 1}, "
        f"columns {left_col}–{left_col + window.shape[1] - 1}",
        zmin=0,
        zmax=255,
        rows=range(top, top + window.shape[0]),
        cols=range(left_col, left_col + window.shape[1]),
        max_width=540,
    ),
    width="content",
    key="pixels_window",
)
hist.plotly_chart(histogram_figure(arr), width="stretch", key="pixels_hist")

st.subheader("The tensor a CNN receives")
st.markdown(
    "A network does not take the picture as it is stored. PyTorch wants a float tensor of shape "
    "**(N, C, H, W)**: channels first, a batch of N pictures, values divided by 255 to lie in 0..1, and then each "
    "channel shifted by a **mean** and divided by a **std**, the statistics of the images the model was trained "
    "on. The mean and std below are read from the chosen model's published weights (its data config), never "
    "typed in by hand; the model's transform also resizes and centre-crops the picture to its input size."
)
names = models.list_models()
model = st.selectbox("Model", names, index=names.index("resnet18"), key="pixels_model", **KEEP)
cfg = _config(model)
t = _tensor(arr, model)
c_in, h_in, w_in = t.chw_shape
_, c_m, h_m, w_m = t.batch_shape
st.code(
    f"np.asarray(img).shape                       # {t.image_shape}: (H, W{', C' if arr.ndim == 3 else ''}), 0..255\n"
    + (
        f"torch.from_numpy(...).permute(2, 0, 1)      # ({c_in}, {h_in}, {w_in}): (C, H, W)\n"
        if arr.ndim == 3
        else f"torch.from_numpy(...)[None]                # ({c_in}, {h_in}, {w_in}): (C, H, W)\n"
    )
    + f'cfg = models.data_config("{model}")\n'
    f"x = models.transform(cfg)(img).unsqueeze(0)  # torch.Size([1, {c_m}, {h_m}, {w_m}])",
    language="python",
)
st.caption(
    f"Read from: {cfg.source}. Resize the shorter side to {cfg.resize_size} ({cfg.interpolation}), centre-crop "
    f"{h_m}×{w_m}, divide by 255, normalise."
    + (" The grayscale picture is repeated into 3 identical channels." if c_in == 1 and c_m == 3 else "")
)
st.table(
    pd.DataFrame(
        {
            "channel": [c.name for c in t.channels],
            "mean": [f"{c.mean:.4g}" for c in t.channels],
            "std": [f"{c.std:.4g}" for c in t.channels],
            "after /255": ["0 … 1"] * len(t.channels),
            "after (x − mean)/std": [f"{c.lo:.3f} … {c.hi:.3f}" for c in t.channels],
            "this picture": [f"{c.image_min:.3f} … {c.image_max:.3f}" for c in t.channels],
        }
    ).set_index("channel")
)
v = float(plane[row, col])
lines = []
for k, c in enumerate(t.channels):
    if arr.ndim == 3 and k != channel_names.index(channel):
        continue
    scaled, normed = t.pixel(v, k)
    lines.append(f"{c.name}: {v:.0f} / 255 = {scaled:.4f};  ({scaled:.4f} − {c.mean:.4f}) / {c.std:.4f} = {normed:.4f}")
st.markdown(f"The pixel at row {row}, column {col} ({channel.lower()} = {v:.0f}) becomes:")
st.code("\n".join(lines), language=None)
lo_all, hi_all = min(c.lo for c in t.channels), max(c.hi for c in t.channels)
st.caption(
    f"For {model}, 0..255 becomes {lo_all:.3f} … {hi_all:.3f}: values centred near 0 with a spread near 1, the "
    "range the network's first layer saw in training. Feed it 0..255 or 0..1 instead and every activation is off."
)
