"""Train a person detector: Faster R-CNN's RPN and box head on cached ImageNet features, as a background job."""

import numpy as np
import streamlit as st

from cnn_demo import jobs
from cnn_demo.applications import person_detector as pd
from cnn_demo.applications.person_detector.figures import detections_image, proposals_figure
from cnn_demo.data.boxes import FORMATS
from cnn_demo.ui import detector as ui
from cnn_demo.ui.common import inline_image, user_errors
from cnn_demo.ui.epochs import epoch_slider
from cnn_demo.ui.jobs import current_owner, job_panel, link_slot, page_job, submit_job
from cnn_demo.ui.picker import image_picker
from cnn_demo.viz import curves_figure, metric_curves

DEFAULTS = pd.DetectorConfig()

st.title("Train a person detector")
top = link_slot("detector_job")  # a ?job= link: the job's panel first
st.warning(
    "**A weak detector, trained on a few photos.** This page shows how a detector *learns*: in a few minutes on "
    "about a hundred photos it finds people only roughly (loose boxes, whole groups in one box, misses). A "
    "detector you could rely on trains on over 100,000 labelled photos for days. Treat its boxes on your photo "
    "as the result of a lesson, not as a detector.",
    icon=":material/school:",
)
st.markdown(
    "The lecture's **Faster R-CNN**, built from torchvision's parts on **MobileNetV2** with its ImageNet weights:\n"
    "1. **Backbone.** Its early blocks stay frozen, so their output for every training photo is computed **once** "
    "and cached; each epoch starts from there. Its last blocks (the 13×13 grid at stride 32 for a 416-pixel "
    "photo) are fine-tuned.\n"
    f"2. **Region proposal network (RPN).** At every cell of that grid sit {len(DEFAULTS.anchor_sizes)} sizes × "
    f"{len(DEFAULTS.aspect_ratios)} shapes of **anchor** boxes (people are taller than wide: height/width 1, 2 "
    "and 3). A small convolution scores each anchor's *objectness* and nudges its box; the best boxes after "
    "non-maximum suppression are the **proposals**.\n"
    "3. **Box head.** RoIAlign cuts a 7×7 patch of features out of the map for each proposal, two dense layers "
    "say *person or background* and refine the box.\n\n"
    "Four losses train it: objectness and box for the RPN, class and box for the head. After every epoch the job "
    "measures **AP50** (COCO's average precision, a box counting as found at IoU ≥ 0.5, computed by pycocotools) "
    "on photos it holds out, and keeps the RPN's proposals on one of them."
)

st.header("1. The labelled photos")
owner = current_owner()
sources = {"people": "People sample: 128 COCO photos with person boxes", "upload": "My labelled photos (zip)"}
data = st.radio("Train on", list(sources), format_func=sources.get, key="detector_data", horizontal=True)
files = None
upload_name = None
if data == "people":
    with user_errors():
        images, captions, report = ui.people_sample_preview()
        inline_image(st, images, caption=captions, width=180)
        ui.report_view(report)
        st.caption(
            "COCO train2017 photos (their licences are listed with the sample). Evaluation uses other photos "
            "(COCO val2017), which the detector never sees."
        )
else:
    got = ui.labels_upload("detector")
    if got is not None:
        files, upload_name = {pd.UPLOAD_NAME: got[0]}, got[1]
    with st.expander("What the zip should hold, with examples to download"):
        st.markdown(
            "Export your labels from a labelling tool (CVAT, Label Studio, Roboflow, labelImg, makesense.ai) in one "
            "of these formats and zip them with the photos. Label people as **person**; boxes of other classes are "
            "counted and left out.\n"
            "- **COCO JSON**: `annotations.json` (`images`, `annotations` with `bbox` = [x, y, width, height], "
            "`categories`) and the photos.\n"
            "- **YOLO txt**: `images/photo.jpg`, `labels/photo.txt` (one line `class x_centre y_centre width "
            "height`, fractions of the photo) and `classes.txt` (one class name a line) or `data.yaml`. A photo "
            "without a label file has no person in it.\n"
            "- **Pascal VOC xml**: `Annotations/photo.xml` (one `<object>` with `<name>` and `<bndbox>` per box) and "
            "`JPEGImages/photo.jpg`."
        )
        cols = st.columns(len(FORMATS))
        for col, (fmt, title) in zip(cols, FORMATS.items(), strict=True):
            col.download_button(
                f"Example: {title}",
                ui.example_zip(fmt),
                f"people_{fmt}.zip",
                "application/zip",
                key=f"detector_example_{fmt}",
            )

st.header("2. Train")
c1, c2 = st.columns(2)
epochs = c1.slider("Epochs", 2, 40, DEFAULTS.epochs, key="detector_epochs")
c2.caption(
    "On the people sample, with one CPU core: about 35 s to read the photos and cache their features, then about "
    f"8 s an epoch. Measured on 128 COCO val photos it never saw, {DEFAULTS.epochs} epochs (about 3½ minutes) "
    "reach a person AP50 of about 0.14, and 40 epochs (about 6 minutes) 0.14–0.17. The job runs on the server's "
    "job worker: you may close the page and come back with its link."
)
if st.button("Train the detector", type="primary", key="detector_train"):
    with user_errors():
        if data == "upload" and files is None:
            st.warning("Upload a zip of labelled photos that can be trained on first.")
        else:
            config = pd.DetectorConfig(epochs=epochs, seed=0)
            params = pd.DetectorParams(data, upload_name or pd.UPLOAD_NAME, config)
            submit_job("detector_train", params.to_dict(), owner, "detector_job", files=files)


def show_job(job: jobs.JobStatus) -> None:
    """Curves, the proposals after each epoch and (when finished) the detector on a photo."""
    folder = jobs.job_folder(job.job_id, owner)
    if job.metrics:
        a, b = st.columns(2)
        a.plotly_chart(
            curves_figure(
                metric_curves(job.metrics, [*pd.LOSS_NAMES, "loss"], names=pd.METRIC_LABELS), title="Training losses"
            ),
            width="stretch",
            key="detector_losses",
        )
        b.plotly_chart(
            curves_figure(
                metric_curves(job.metrics, ["ap50", "ap"], names=pd.METRIC_LABELS),
                title="AP50 and AP on the held-out photos",
            ),
            width="stretch",
            key="detector_ap",
        )
        last = job.metrics[-1]
        start = job.metrics[0]
        text = f"After epoch {last['epoch']}: **AP50 {last['ap50']:.3f}** on the held-out photos"
        if start.get("epoch") == 0 and last["epoch"]:
            text += f" (untrained heads: {start['ap50']:.3f})"
        st.markdown(text + ".")
        held_out = (
            "25 of the people sample" if pd.DetectorParams.from_params(job.params).data == "people" else "of your zip"
        )
        st.caption(
            f"The held-out photos are a fifth of the photos ({held_out}): a small check, so the curve jumps from "
            "epoch to epoch. The losses: objectness and box of the RPN's anchors, class and box of the head's "
            "proposals; `loss` is their sum. AP50 counts a person found when a box overlaps the true one with "
            "IoU ≥ 0.5, ranked by score; 1 would be every person found with no false box above any true one."
        )
    preview = pd.load_preview(folder)
    per_epoch = pd.load_epochs(folder)
    if preview is not None and per_epoch:
        shown = epoch_slider("Proposals after epoch", list(per_epoch), "detector_view_epoch", job)
        c1, c2 = st.columns(2)
        top = c1.slider("Proposals shown (best first)", 1, 50, 15, key="detector_top")
        thr = c2.slider("Detection score threshold", 0.05, 0.95, 0.5, 0.05, key="detector_preview_thr")
        fig = proposals_figure(preview[0], preview[1], per_epoch[shown], top=top, threshold=thr)
        st.plotly_chart(fig, width="stretch", key="detector_proposals")
        st.markdown(pd.preview_summary(per_epoch[shown], preview[1], thr))
        st.caption(
            "A held-out photo. Green: the true person boxes. Orange, dotted: the RPN's best proposals after that "
            "epoch (hover for objectness). Red: the final detections. Epoch 0 is the untrained network: its "
            "proposals are anchors barely moved; watch them gather on the people as it learns."
        )


panel = job_panel(
    page_job("detector_job"),
    owner,
    "detector_job",
    place=top,
    kind="detector_train",
    live=show_job,
    empty="No detector trained in this session yet: choose the photos and press Train the detector.",
    refresh_s=2.0,
)

if panel is not None and panel.state == "done":
    st.header("3. Your photo")
    folder = jobs.job_folder(panel.job_id, owner) / "model"
    with user_errors():
        if not pd.is_detector_folder(folder):
            st.info("This job kept no model to run.")
        else:
            st.caption(
                "Remember: a detector trained on a few photos for a few minutes. Expect misses, loose boxes "
                "around groups and the odd box on something that is not a person."
            )
            image = image_picker("detector_photo", default="astronaut", max_side=1024)
            if image is not None:
                arr = np.asarray(image.convert("RGB"))
                stamp = ui.model_stamp(folder)
                found, scores = ui.detect_people(str(folder), stamp, arr)
                thr = st.slider("Score threshold", 0.05, 0.95, 0.5, 0.05, key="detector_photo_thr")
                n = int((scores >= thr).sum())
                inline_image(
                    st,
                    detections_image(arr, found, scores, thr),
                    caption=f"{n} person box{'' if n == 1 else 'es'} scoring at least {thr:.2f}",
                )
