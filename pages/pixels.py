"""Images as numbers: the picture a CNN receives is a grid (or three grids) of pixel values."""

import streamlit as st

from cnn_demo.images import crop_around, to_array
from cnn_demo.ui.picker import image_picker
from cnn_demo.viz import histogram_figure, image_figure, matrix_figure, outline_region

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
row = c1.slider("Row", 0, arr.shape[0] - 1, arr.shape[0] // 2, key="pixels_row")
col = c2.slider("Column", 0, arr.shape[1] - 1, arr.shape[1] // 2, key="pixels_col")
size = c3.slider("Window", 4, 16, 8, key="pixels_size")
channel_names = ["Gray"] if arr.ndim == 2 else ["Red", "Green", "Blue"]
channel = c4.selectbox("Channel", channel_names, key="pixels_channel")
plane = arr if arr.ndim == 2 else arr[..., channel_names.index(channel)]
window, top, left_col = crop_around(plane, row, col, size)
photo.plotly_chart(
    outline_region(image_figure(arr), top, left_col, window.shape[0], window.shape[1], "zoom"),
    width="stretch",
    key="pixels_image",
)
st.plotly_chart(
    matrix_figure(
        window,
        f"{channel} values, rows {top}–{top + window.shape[0] - 1}, "
        f"columns {left_col}–{left_col + window.shape[1] - 1}",
        zmin=0,
        zmax=255,
    ),
    width="stretch",
    key="pixels_window",
)
st.plotly_chart(histogram_figure(arr), width="stretch", key="pixels_hist")
