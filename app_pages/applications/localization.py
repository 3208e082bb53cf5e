"""Object localization as regression: a small CNN learns to output the box (x, y, w, h) of the one object."""

import streamlit as st

from cnn_demo import jobs
from cnn_demo.applications import localization
from cnn_demo.applications.job_records import LocalizationParams
from cnn_demo.ui.common import inline_image, user_errors
from cnn_demo.ui.epochs import epoch_slider
from cnn_demo.ui.jobs import current_owner, job_panel, link_slot, loss_and_quality_curves, page_job, submit_job

st.title("Object localization")
top = link_slot("localization_job")  # a ?job= link: the job's panel first
st.markdown(
    "The lecture's first step towards detection: when an image holds **one** object, finding it is a "
    "**regression** problem. The network reads the image and outputs four numbers — the top-left corner "
    "$(x, y)$ and the size $(w, h)$ of the box — and is trained to bring them close to the true box. "
    "How good a box is, is measured by its **IoU** with the true one (1 = perfect, above 0.5 usually counts as found)."
)

st.header("The data: one shape on a textured background")
with user_errors():
    images, boxes, kinds = localization.make_localization_data(6, 64, seed=123)
    cols = st.columns(6)
    for col, img, box, kind in zip(cols, images, boxes, kinds, strict=True):
        inline_image(
            col, localization.draw_boxes(img, box), caption=f"{localization.SHAPES[kind]}: {box.round(1).tolist()}"
        )
st.caption(
    "Generated on the fly: discs, squares and triangles of random size, colour and place; green is the true "
    "box, the caption its (x, y, w, h) in pixels of the 64×64 image."
)

st.header("Train the regressor")
st.markdown(
    "A small CNN: four blocks of 3×3 convolution, batch norm, ReLU and 2×2 max-pooling, then a dense layer "
    "(which keeps *where* the features are) and four outputs squashed into [0, 1] by a sigmoid, as fractions "
    "of the image side. Loss: smooth L1 between predicted and true boxes."
)
owner = current_owner()
c1, c2 = st.columns(2)
epochs = c1.slider("Epochs", 1, 30, 10, key="localization_epochs")
n_train = c2.select_slider("Training images", [300, 600, 1200, 2400], 1200, key="localization_ntrain")
if st.button("Train", type="primary", key="localization_train"):
    with user_errors():
        params = LocalizationParams(epochs=epochs, n_train=n_train, size=64, seed=0)
        submit_job("localization_train", params.to_dict(), owner, "localization_job")


def show_job(job: jobs.JobStatus) -> None:
    """IoU curves and predicted boxes per epoch of the localization job (refreshed by the job panel)."""
    if job.metrics:
        loss_and_quality_curves(
            job, ["iou", "iou>=0.5"], "Validation: mean IoU and share with IoU ≥ 0.5", "localization"
        )
        last = job.metrics[-1]
        st.markdown(
            f"After epoch {last['epoch']}: mean **IoU {last['iou']:.3f}**; "
            f"{100 * last['iou>=0.5']:.0f} % of the validation boxes have IoU ≥ 0.5."
        )
    preds = localization.load_predictions(jobs.job_folder(job.job_id, owner))
    if preds:
        done = sorted(preds)
        shown = epoch_slider("Predictions after epoch", done, "localization_view_epoch", job)
        images, truth = localization.preview_data(LocalizationParams.from_params(job.params))
        ious = localization.paired_iou(preds[shown], truth)
        cols = st.columns(4)
        for i, (img, t, p) in enumerate(zip(images, truth, preds[shown], strict=True)):
            inline_image(cols[i % 4], localization.draw_boxes(img, t, p), caption=f"IoU {ious[i]:.2f}")
        st.caption("Green: true box. Red: the network's box after that epoch (validation images it never trained on).")


job_panel(
    page_job("localization_job"),
    owner,
    "localization_job",
    place=top,
    kind="localization_train",
    live=show_job,
    empty="Nothing trained in this session yet: press Train.",
    refresh_s=2.0,
)
