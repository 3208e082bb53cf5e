"""U-Net: the encoder–decoder with skip connections, its tensor shapes, and a small one trained from scratch."""

import streamlit as st

from cnn_demo import jobs
from cnn_demo.applications import unet
from cnn_demo.applications.figures import colour_key_figure, unet_figure
from cnn_demo.applications.job_records import UNetParams
from cnn_demo.data.figures import colourise
from cnn_demo.ui.common import escape_markdown, inline_image, user_errors
from cnn_demo.ui.datasets import pairs_zip_upload
from cnn_demo.ui.epochs import epoch_slider
from cnn_demo.ui.jobs import current_owner, job_panel, link_slot, loss_and_quality_curves, page_job, submit_job

st.title("U-Net")
top = link_slot("unet_job")  # a ?job= link: the job's panel first
st.markdown(
    "U-Net (Ronneberger et al., 2015) segments images with an **encoder** that halves the resolution and doubles "
    "the channels at every level (what is there?), a **decoder** that up-samples back to full size (where is "
    "it?), and **skip connections** that copy each encoder feature map across to the decoder level of the same "
    "size, so the fine detail lost by pooling comes back. The output has one score per class for every pixel."
)

st.header("Architecture and tensor shapes")
c1, c2, c3, c4 = st.columns(4)
height = c1.number_input("Input height", 16, 1024, 128, key="unet_h")
width = c2.number_input("Input width", 16, 1024, 128, key="unet_w")
depth = c3.slider("Levels (poolings)", 1, 5, 3, key="unet_depth")
base = c4.selectbox("Channels at level 1", [8, 16, 32, 64], index=1, key="unet_base")
with user_errors():
    rows = unet.unet_shapes(int(height), int(width), base=base, depth=depth, num_classes=2)
    st.plotly_chart(unet_figure(rows), width="stretch", key="unet_diagram")
    table = []
    for r in rows:
        c, h, w = r["shape"]
        note = ""
        if r["side"] == "decoder":
            note = f"up-conv → {r['up'][0]}×{r['up'][1]}×{r['up'][2]}, + skip from enc{r['depth'] + 1} → " + "×".join(
                map(str, r["concat"])
            )
            if r["padded"]:
                note += " (padded by one row/column to match the skip)"
        elif r["side"] == "encoder":
            note = "two 3×3 conv + BN + ReLU; then 2×2 max-pool"
        elif r["side"] == "bottleneck":
            note = "the coarsest, widest level"
        elif r["side"] == "output":
            note = "1×1 conv: a score per class and pixel"
        table.append({"stage": r["name"], "channels": c, "height": h, "width": w, "what happens": note})
    st.dataframe(table, hide_index=True, width="stretch", key="unet_shapes_table")
    n_params = unet.count_parameters(unet.UNet(3, 2, base, depth))
    st.caption(
        f"{n_params:,} parameters. Convolutions are padded, so the output keeps the input size; the original U-Net "
        "used unpadded ones (572×572 in, 388×388 out) and cropped the skips instead. Try 572×572, 4 levels, 64."
    )


@st.cache_resource(show_spinner=False)
def _voc_example(objects_only: bool):
    """The first shipped VOC pair and its mask, read once per server."""
    return unet.voc_example(objects_only)


st.header("Train a small U-Net from scratch")
owner = current_owner()
data_labels = {
    "shapes": "Generated shapes (discs and squares)",
    "voc_objects": "PASCAL VOC sample: object vs background (14 real photos)",
    "voc_sample": "PASCAL VOC sample: all 21 classes (14 real photos)",
    "upload": "My image/mask pairs (zip)",
}
c1, c2 = st.columns([2, 1])
data = c1.radio("Data", list(data_labels), format_func=data_labels.get, key="unet_data")
files = None
if data == "upload":
    pairs = pairs_zip_upload(
        "unet",
        c1,
        "A zip with images/ and masks/ (masks: PNG with one class number per pixel, 255 = ignore)",
        unet.check_pairs,
    )
    if pairs is not None:
        files = {"pairs.zip": pairs}
if data in ("voc_objects", "voc_sample"):
    photo, mask, names = _voc_example(data == "voc_objects")
    a, b = c1.columns(2)
    inline_image(a, photo, caption="One of the 14 photos", width="stretch")
    inline_image(b, colourise(mask), caption="Its mask: the class of every pixel", width="stretch")
    c1.plotly_chart(
        colour_key_figure([(n, sw[0, 0]) for n, sw in unet.legend(names, mask)], per_row=3),
        width="content",
        key="unet_voc_key",
        config={"staticPlot": True},
    )
    c1.caption(
        "What the network learns from: photo in, mask out. The cream border around each object is VOC's "
        "'void' label, ignored in training and scoring."
    )
if data == "voc_objects":
    c1.caption(
        "Every VOC class merged into one 'object' class: 12 photos train, 2 check. At 64 px the network starts "
        "finding the objects after about 12 epochs (IoU of 'object' on the 2 check photos 0.29 after 15 epochs, "
        "0.35 after 30; painting every pixel 'object' would score 0.14, all background 0): blobs in the right "
        "places, rough edges. Two photos are a small check: treat the figure as a rough sign, not a measurement."
    )
if data == "voc_sample":
    c1.caption(
        "21 classes from 12 training photos, most classes in one photo or none: the network ends up painting "
        "nearly every pixel in one colour and the IoU of the object classes stays near 0 (0.000 after 15 epochs "
        "at 64 px). That is the lesson: segmentation needs far more labelled masks. Choose 'object vs "
        "background' to see it learn."
    )
size = c2.select_slider("Image size", [32, 48, 64, 96], 64, key="unet_size")
epochs = c2.slider("Epochs", 1, 40, 15, key="unet_epochs")
train_depth = c2.slider("Levels", 1, 4, 3, key="unet_train_depth")
if st.button("Train", type="primary", key="unet_train"):
    with user_errors():
        if data == "upload" and files is None:
            st.warning("Upload a zip of usable image/mask pairs first.")
        else:
            params = UNetParams(data=data, size=size, epochs=epochs, depth=train_depth, base=8, seed=0)
            submit_job("unet_train", params.to_dict(), owner, "unet_job", files=files)


def show_job(job: jobs.JobStatus) -> None:
    """Curves and predictions per epoch of the U-Net job (the job panel refreshes them while it runs)."""
    if job.metrics:
        loss_and_quality_curves(job, ["iou", "dice"], "Validation IoU and Dice (foreground classes)", "unet")
        last = job.metrics[-1]
        st.markdown(f"After epoch {last['epoch']}: **IoU {last['iou']:.3f}**, **Dice {last['dice']:.3f}**.")
    previews = unet.load_previews(jobs.job_folder(job.job_id, owner))
    if previews["images"] is not None and previews["pred"]:
        epochs_done = sorted(previews["pred"])
        shown = epoch_slider("Predictions after epoch", epochs_done, "unet_view_epoch", job)
        inline_image(
            st,
            unet.preview_grid(previews["images"], previews["truth"], previews["pred"][shown]),
            caption=f"Validation images: picture | true mask | prediction after epoch {shown}",
        )
        if previews["classes"]:
            key = unet.legend(previews["classes"], previews["truth"], previews["pred"][shown])
            st.markdown("**Colour key** (the classes in these masks)")
            st.plotly_chart(
                colour_key_figure([(name, swatch[0, 0]) for name, swatch in key]),
                width="content",
                key="unet_colour_key",
                config={"staticPlot": True},
            )
            st.caption("All classes: " + ", ".join(escape_markdown(c) for c in previews["classes"]))


job_panel(
    page_job("unet_job"),
    owner,
    "unet_job",
    place=top,
    kind="unet_train",
    live=show_job,
    empty="No U-Net trained in this session yet: choose the data and press Train.",
    refresh_s=2.0,
)
