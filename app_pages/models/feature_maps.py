"""Feature maps and Grad-CAM: what a CNN's layers respond to in a picture, and where it looked for a class."""

import pandas as pd
import streamlit as st

from cnn_demo.io.images import to_array
from cnn_demo.models import DEFAULT_MODEL, class_names, data_config, explain, get_info
from cnn_demo.models.figures import crop_figure, filters_figure, heat_figure
from cnn_demo.ui.common import KEEP, user_errors
from cnn_demo.ui.models import (
    cached_activation_maps,
    cached_grad_cam,
    cached_predictions,
    load_model,
    model_badge,
    model_picker,
)
from cnn_demo.ui.picker import image_picker
from cnn_demo.viz import image_figure

st.title("Feature maps & Grad-CAM")
st.markdown(
    "Run a picture through a CNN. The **first layer's filters** are small colour patterns it matches against the "
    "pixels; each conv layer outputs one **feature map** per filter, showing where its pattern was found. "
    "**Grad-CAM** weights the maps of a late layer by how much they raise a class's score, showing where the "
    "network looked."
)

left, right = st.columns([1, 2])
with left:
    name = model_picker("feature_maps_model", default=DEFAULT_MODEL)
    info = get_info(name)
    pretrained = st.toggle(
        "Pretrained weights", value=info.has_pretrained, key="feature_maps_pretrained", disabled=not info.has_pretrained
    )
    img = image_picker("feature_maps", default="chelsea", max_side=512)
if img is None:
    st.stop()

with user_errors():
    loaded = load_model(name, pretrained)
    model = loaded.model
    cfg = data_config(name)
    labels = class_names(name)
    batch = explain.preprocess(img, cfg)
    view = explain.model_view(batch, cfg)
    pixels = batch.numpy()  # results below are cached per model, weights, picture and choice, shared by all users
    preds = cached_predictions(loaded, loaded.key, pixels, top=5)
    with right:
        model_badge(loaded)
        a, b = st.columns(2)
        a.plotly_chart(
            image_figure(view, f"What the model sees: {view.shape[1]}×{view.shape[0]}"),
            width="stretch",
            key="feature_maps_view",
        )
        b.markdown("**Top predictions**")
        b.dataframe(
            pd.DataFrame({"class": [p.label for p in preds], "probability": [p.probability for p in preds]}),
            hide_index=True,
            key="feature_maps_preds",
            column_config={
                "probability": st.column_config.ProgressColumn(
                    "probability", min_value=0.0, max_value=1.0, format="%.3f"
                )
            },
        )
        if info.num_classes != 1000:  # not an ImageNet classifier: say what it knows and sees
            _, h, w = info.input_size
            b.caption(f"This network knows {info.num_classes} classes and sees {h}×{w} pixels.")
    box = explain.crop_box(img.size, cfg)
    if explain.crops_away(box, img.size):
        st.plotly_chart(
            crop_figure(to_array(img), box, f"Your {img.size[0]}×{img.size[1]} picture: the model sees the box"),
            width="stretch",
            key="feature_maps_crop",
        )
        st.caption(
            f"The model's preprocessing resizes the shorter side and keeps the centre {view.shape[1]}×{view.shape[0]}: "
            f"the part outside the box (x {box[0]:.0f} … {box[2]:.0f}, y {box[1]:.0f} … {box[3]:.0f} of your "
            "picture) is cut off. Put what matters in the middle, or upload a square picture."
        )

    st.subheader("First-layer filters")
    conv_name, conv = explain.first_conv(model)
    filters = explain.first_layer_filters(model)
    st.caption(
        f"`{conv_name}`: {filters.shape[0]} filters of {filters.shape[1]}×{filters.shape[2]}×{filters.shape[3]} "
        "weights, drawn with grey = 0 (brighter colour = positive weight on that channel)."
    )
    st.plotly_chart(
        filters_figure(explain.filters_as_images(filters), columns=16), width="stretch", key="feature_maps_filters"
    )

    st.subheader("Activation maps")
    layers = explain.conv_layers(model)
    layer = st.selectbox("Conv layer", layers, index=0, key=f"feature_maps_layer_{name}", **KEEP)
    maps = cached_activation_maps(loaded, loaded.key, pixels, layer)
    shown = min(32, maps.shape[0])
    st.caption(
        f"`{layer}` outputs {maps.shape[0]} maps of {maps.shape[1]}×{maps.shape[2]}; "
        f"the first {shown} are shown, each scaled to its own range (yellow = strong response)."
    )
    st.plotly_chart(
        heat_figure(explain.tile_maps(maps, columns=8, count=shown)), width="stretch", key="feature_maps_maps"
    )

    st.subheader("Grad-CAM")
    cam_layers = explain.gradcam_layers(model)
    default_layer = explain.default_gradcam_layer(model, cfg.input_size)
    c1, c2 = st.columns(2)
    cam_layer = c1.selectbox(
        "Layer", cam_layers, index=cam_layers.index(default_layer), key=f"feature_maps_cam_layer_{name}", **KEEP
    )
    options = list(range(len(labels)))
    # keyed by the top prediction, so a new picture starts from its own most likely class
    target = c2.selectbox(
        "Class",
        options,
        index=preds[0].index,
        key=f"feature_maps_class_{name}_{preds[0].index}",
        **KEEP,
        format_func=lambda i: f"{i}: {labels[i]}",
    )
    cam = cached_grad_cam(loaded, loaded.key, pixels, cam_layer, int(target))
    a, b = st.columns(2)
    a.plotly_chart(
        image_figure(explain.overlay(view, cam), f"Grad-CAM for “{labels[int(target)]}”"),
        width="stretch",
        key="feature_maps_cam",
    )
    b.plotly_chart(
        heat_figure(cam, f"At {cam_layer}'s resolution: {cam.shape[0]}×{cam.shape[1]}", "Jet", width_hint=450),
        width="stretch",
        key="feature_maps_cam_raw",
    )
    if not loaded.pretrained:
        st.caption("With random weights the heat map is as meaningless as the predictions.")
