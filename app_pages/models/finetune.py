"""Fine-tune a custom head on a backbone (the lecture's Model zoos slide), trained as a background job."""

import numpy as np
import streamlit as st

from cnn_demo import finetune, jobs
from cnn_demo.finetune.figures import compare_figure, per_class_figure, probability_figure
from cnn_demo.finetune.job import FinetuneParams, FinetuneResult
from cnn_demo.ui.common import escape_markdown, inline_image, user_errors
from cnn_demo.ui.datasets import dataset_input, split_input, using_checked
from cnn_demo.ui.finetune import (
    accuracy_column_config,
    accuracy_columns,
    accuracy_metrics,
    closed_set_note,
    confusion_chart,
    gradcam,
    job_model_bytes,
    job_model_with_key,
    job_validation,
    onnx_zip,
    predictions,
    unfamiliar_threshold,
    uploaded_model_with_key,
)
from cnn_demo.ui.gallery import publish_box
from cnn_demo.ui.jobs import (
    current_owner,
    job_panel,
    jobs_table,
    link_slot,
    page_job,
    set_url_job,
    submit_job,
)
from cnn_demo.ui.picker import YOUR_PHOTOS, choose_your_photos, remember_photos, your_photos

st.title("Fine-tune a model on your images")
st.markdown(
    "The lecture's *Model zoos* slide: take a network pretrained on a big dataset, put a **new head** on it "
    "for your classes, and either keep the backbone **frozen** (a small dataset) or **fine-tune** part or all "
    "of it (more data). Training runs as a background job: you may close the tab and come back with the link."
)

owner = current_owner()
top = link_slot("finetune_job")  # a ?job= link: the job's panel first, above the forms
job_id = page_job("finetune_job")

# ----------------------------------------------------------------------------- 1. data
st.header("1. Data")
ds = dataset_input("finetune_data", offer_checked=True)
carried = using_checked("finetune_data")
split = split_input("finetune_split", ds, test=True, carried=carried) if ds is not None else None

# ----------------------------------------------------------------------------- 2. model
st.header("2. Model and training")
defaults = finetune.TrainConfig()  # the widgets start where the command line and the benchmark do
left, right = st.columns(2)
with left:
    names = finetune.backbone_choices()
    backbone = st.selectbox(
        "Backbone",
        names,
        index=names.index(finetune.DEFAULT_BACKBONE) if finetune.DEFAULT_BACKBONE in names else 0,
        key="finetune_backbone",
    )
    info = finetune.describe_backbone(backbone)
    st.caption(f"{info['description']} {info['params']:,} parameters.")
    pretrained = st.toggle(
        "Start from pretrained weights",
        value=info["weights_here"],
        key=f"finetune_pretrained_{backbone}",  # per backbone: switching to one without weights cannot keep "on"
        disabled=not info["weights_here"],
    )
    if info["weights_origin"]:
        st.caption(f":material/check_circle: Pretrained weights from the {info['weights_origin']}.")
    if info["has_pretrained"] and not info["weights_here"]:
        st.caption(":material/info: Its pretrained weights are not on this server, so it starts from random weights.")
    elif not info["has_pretrained"]:
        st.caption(":material/info: This model has no pretrained weights: it trains from scratch.")
    image_size = int(
        st.select_slider(
            "Image size (pixels)",
            finetune.image_size_choices(info["input_size"]),
            info["input_size"],
            key=f"finetune_image_size_{backbone}",
            help="The side of the square the images are resized and cropped to. The default is the backbone's own "
            "(its data config); larger sizes keep more detail and cost time (about the square of the side).",
        )
    )
    st.markdown(
        f"Preprocessing from the backbone's data config: resize and centre-crop to **{image_size}** px "
        f"(the backbone's own size: {info['input_size']} px; crop {info['crop_pct']:.3f}, {info['interpolation']}), "
        f"normalise with mean `{info['mean']}`, std `{info['std']}`."
    )
    strategy = st.radio(
        "Strategy",
        finetune.STRATEGIES,
        horizontal=True,
        key="finetune_strategy",
        format_func={"frozen": "Frozen backbone", "partial": "Unfreeze last stages", "full": "Fine-tune all"}.get,
        help="Frozen: features computed once, only the head trains (fast). Partial: the last N stages train too. "
        "Full: everything trains, the backbone at a lower learning rate.",
    )
    unfreeze = st.slider(
        "Stages to unfreeze", 1, 4, defaults.unfreeze, key="finetune_unfreeze", disabled=strategy != "partial"
    )
    head_kind = st.radio("Head", finetune.HEADS, horizontal=True, key="finetune_head", format_func=str.upper)
    h1, h2 = st.columns(2)
    hidden = h1.select_slider(
        "Hidden width",
        [32, 64, 128, 256, 512],
        defaults.head.hidden,
        key="finetune_hidden",
        disabled=head_kind != "mlp",
    )
    dropout = h2.slider("Dropout", 0.0, 0.8, defaults.head.dropout, 0.05, key="finetune_dropout")
with right:
    e1, e2 = st.columns(2)
    epochs = int(e1.number_input("Epochs", 1, 100, defaults.epochs, key="finetune_epochs"))
    batch_size = int(e2.select_slider("Batch size", [8, 16, 32, 64, 128], defaults.batch_size, key="finetune_batch"))
    lr = e1.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2], defaults.lr, key="finetune_lr")
    weight_decay = e2.select_slider(
        "Weight decay", [0.0, 1e-5, 1e-4, 1e-3, 1e-2], defaults.weight_decay, key="finetune_wd"
    )
    smoothing = e1.slider("Label smoothing", 0.0, 0.3, defaults.label_smoothing, 0.05, key="finetune_smoothing")
    patience = int(
        e2.number_input("Early stopping patience (0 = off)", 0, 50, defaults.patience, key="finetune_patience")
    )
    seed = int(e1.number_input("Seed", 0, 10_000, defaults.seed, key="finetune_seed"))
    backbone_factor = e2.select_slider(
        "Backbone LR factor",
        [0.01, 0.03, 0.1, 0.3, 1.0],
        defaults.backbone_lr_factor,
        key="finetune_bb_lr",
        disabled=strategy != "full",
    )
    st.subheader("Augmentation")
    a1, a2, a3 = st.columns(3)
    flip = a1.checkbox("Flip", key="finetune_flip")
    crop = a2.checkbox("Random crop", key="finetune_crop")
    jitter = a3.slider("Colour jitter", 0.0, 0.5, 0.0, 0.05, key="finetune_jitter")
    views = st.slider(
        "Cached augmented views (frozen)",
        1,
        8,
        defaults.views,
        key="finetune_views",
        disabled=strategy != "frozen" or not (flip or crop or jitter),
    )

cfg = None
with user_errors():
    cfg = finetune.TrainConfig(
        backbone=backbone,
        pretrained=pretrained,
        strategy=strategy,
        unfreeze=unfreeze,
        head=finetune.HeadSpec(kind=head_kind, hidden=hidden, dropout=dropout),
        augment=finetune.AugmentSpec(flip=flip, crop=crop, jitter=jitter),
        views=views,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        backbone_lr_factor=backbone_factor,
        weight_decay=weight_decay,
        label_smoothing=smoothing,
        patience=patience,
        seed=seed,
        image_size=image_size,
    )
n_classes = ds.num_classes if ds is not None else 2
with st.expander("The head that will be trained", expanded=True):
    st.code(finetune.head_module(backbone, n_classes, cfg.head if cfg else finetune.HeadSpec()), language=None)
if split is not None and len(split.train) and cfg is not None and cfg.augment.enabled:
    with st.expander("Augmentation preview", expanded=True):
        first = finetune.as_image(ds.images[int(split.train[0])])
        preview = finetune.augment_preview(first, cfg.augment, n=8, size=112, seed=seed)
        inline_image(st, list(preview), width=112, caption=[f"view {i + 1}" for i in range(len(preview))])

# ----------------------------------------------------------------------------- 3. train
st.header("3. Train")
want_onnx = st.checkbox("Also export ONNX when training ends", key="finetune_onnx")
if st.button(
    "Train as a background job",
    type="primary",
    key="finetune_submit",
    disabled=split is None or cfg is None,
    icon=":material/rocket_launch:",
):
    with user_errors():
        total = len(split.train) + len(split.val) + len(split.test)
        packing = st.progress(0.0, text=f"Handing {total:,} images to the job…")
        blob = finetune.pack_dataset(
            ds,
            split,
            on_progress=lambda done, n: packing.progress(
                done / n, text=f"Handing the images to the job: {done:,} of {n:,} packed"
            ),
        )
        params = FinetuneParams(cfg, want_onnx, ds.name)
        job_id = submit_job("finetune", params.to_dict(), owner, "finetune_job", files={"data.zip": blob})
        packing.empty()

status = job_panel(job_id, owner, key="finetune_job", kind="finetune", place=top)
if top is not None and status is not None and status.state == "done":
    top.markdown(":material/arrow_downward: [See its results](#results) (and predict with it below them).")
with st.expander("Your fine-tuning jobs", expanded=False):
    mine = jobs_table(owner, "finetune")
    if mine:
        pick = st.selectbox(
            "Open a job",
            [j.job_id for j in mine],
            key="finetune_open",
            format_func=lambda j, states={x.job_id: x.state for x in mine}: f"{j} ({states.get(j, '?')})",
        )
        if st.button("Open", key="finetune_open_button") and pick != job_id:
            set_url_job(pick)
            st.rerun()

# ----------------------------------------------------------------------------- 4. results
model, model_key, val = None, "", None
if status is not None and status.state == "done" and status.result:
    res = FinetuneResult.from_dict(status.result)
    classes = res.class_names
    st.header("4. Results", anchor="results")
    accuracy_metrics(res)
    m1, m2, m3 = st.columns(3)
    m1.metric("Epochs trained", res.epochs)
    m2.metric("Training time", f"{res.seconds:.1f} s")
    m3.metric("Feature extraction", f"{res.feature_seconds:.1f} s")
    with st.expander("Head module"):
        st.code(res.head_module, language=None)
    c1, c2 = st.columns(2)
    c1.plotly_chart(per_class_figure(res.per_class_accuracy), width="stretch", key="finetune_per_class")
    with c2:
        st.markdown("**Confusion matrix** (rows: true class). Click a cell to see its validation images.")
        confusion_chart(
            res.confusion,
            classes,
            key="finetune_confusion",
            true_key="finetune_cell_true",
            pred_key="finetune_cell_pred",
        )
    val = job_validation(status.job_id, owner)
    s1, s2 = st.columns(2)
    true_name = s1.selectbox("True class", classes, key="finetune_cell_true")
    pred_name = s2.selectbox("Predicted class", classes, key="finetune_cell_pred")
    if val is not None:
        t, p = classes.index(true_name), classes.index(pred_name)
        idx = np.flatnonzero((val["labels"] == t) & (val["probs"].argmax(1) == p))
        st.markdown(
            f"**{len(idx)} validation image(s)** of *{escape_markdown(true_name)}* predicted as "
            f"*{escape_markdown(pred_name)}*"
        )
        if len(idx):
            inline_image(
                st, list(val["thumbs"][idx[:40]]), width=96, caption=[f"{val['probs'][i, p]:.0%}" for i in idx[:40]]
            )
    if val is not None and res.mistakes:
        st.subheader("Most confident mistakes")
        ms = res.mistakes[:12]
        inline_image(
            st,
            [val["thumbs"][m["index"]] for m in ms],
            width=96,
            caption=[
                f"{escape_markdown(classes[m['true']])} → {escape_markdown(classes[m['pred']])} ({m['confidence']:.0%})"
                for m in ms
            ],
        )
    elif val is not None:
        st.success("No validation image was misclassified.")

    others = [j for j in jobs.list_jobs(owner) if j.kind == "finetune" and j.state == "done" and j.job_id != job_id]
    settings = {j.job_id: FinetuneParams.from_params(j.params).config for j in [status, *others]}
    results = {j.job_id: FinetuneResult.from_dict(j.result or {}) for j in others}
    if others:
        st.subheader("Compare with another run")
        other_id = st.selectbox(
            "Other run",
            [j.job_id for j in others],
            key="finetune_compare",
            format_func=lambda j: f"{settings[j].strategy} {settings[j].backbone} ({j[:6]}…)",
        )
        other = next(j for j in others if j.job_id == other_id)
        this_label = f"this run ({settings[status.job_id].strategy})"
        other_label = f"other run ({settings[other.job_id].strategy})"
        runs = {this_label: res.history, other_label: results[other.job_id].history}
        k1, k2 = st.columns(2)
        k1.plotly_chart(compare_figure(runs, "val_accuracy"), width="stretch", key="finetune_cmp_acc")
        k2.plotly_chart(compare_figure(runs, "val_loss"), width="stretch", key="finetune_cmp_loss")
        st.dataframe(
            [
                {
                    "run": label,
                    "strategy": settings[job.job_id].strategy,
                    "backbone": settings[job.job_id].backbone,
                    **accuracy_columns(job.result or {}),
                    "epochs": r.epochs,
                    "seconds": r.seconds,
                }
                for label, job, r in ((this_label, status, res), (other_label, other, results[other.job_id]))
            ],
            hide_index=True,
            width="stretch",
            column_config=accuracy_column_config(),
        )

    publish_box(status, owner)

    st.subheader("Export")
    with user_errors():
        model, model_key = job_model_with_key(status.job_id, owner) or (None, "")
        blob = job_model_bytes(status.job_id, owner)
        d1, d2 = st.columns(2)
        d1.download_button(
            "Download model.zip (safetensors + config.json)",
            blob,
            file_name="model.zip",
            mime="application/zip",
            key="finetune_download",
            icon=":material/download:",
        )
        if d2.button("Build a zip with ONNX", key="finetune_build_onnx"):
            d2.download_button(
                "Download model-onnx.zip",
                onnx_zip(status.job_id, status.finished or 0, model, status.result),
                file_name="model-onnx.zip",
                mime="application/zip",
                key="finetune_download_onnx",
            )
        st.markdown("**Reload it in Python** with cnn-demo installed (`reload.py` in the zip):")
        st.code(finetune.RELOAD_SNIPPET.format(zip_name="model.zip"), language="python")
        st.markdown(
            "**Without cnn-demo or torch**: the ONNX zip holds `model.onnx` (any batch size; class names and "
            "preprocessing in its metadata) and `predict_onnx.py`, which needs only numpy, Pillow and onnxruntime:"
        )
        st.code(finetune.ONNX_SCRIPT, language="python")

# ----------------------------------------------------------------------------- 5. predict
st.header("5. Predict")
st.caption("Use the model trained above, or upload a model.zip exported by this page (safetensors only).")
restore = st.file_uploader("Model zip", type=["zip"], key="finetune_model_upload")
if restore is not None:
    with user_errors():
        model, model_key = uploaded_model_with_key(restore.getvalue())
        st.success(f"Restored a {escape_markdown(model.config.backbone)} model for {len(model.class_names)} classes.")
        if about := finetune.metrics_summary(model.metrics):
            st.caption(escape_markdown(about))
if model is None:
    st.info("Train a model or upload a model zip to predict.")
else:
    threshold, threshold_why = unfamiliar_threshold(model, None if restore is not None else val)
    kept = bool(your_photos())  # photos uploaded on any image page of this visit
    if "finetune_predict_source" not in st.session_state:  # the options never change: a change would reset it
        st.session_state["finetune_predict_source"] = YOUR_PHOTOS if kept else "Upload"
    src = st.radio("Images", ["Upload", YOUR_PHOTOS, "Camera"], horizontal=True, key="finetune_predict_source")
    files = []
    if src == YOUR_PHOTOS:
        files = choose_your_photos("finetune_predict") if kept else []
        if not kept:
            st.info("Photos you upload on any image page of this visit (or here) are offered here.")
    elif src == "Upload":
        ups = (
            st.file_uploader(
                "Images to classify",
                type=["png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff"],
                accept_multiple_files=True,
                key="finetune_predict_upload",
            )
            or []
        )
        files = [(u.name, u.getvalue()) for u in ups[:12]]
    elif src == "Camera":
        shot = st.camera_input("Take a photo", key="finetune_camera")
        if shot is not None:
            files = [("camera", shot.getvalue())]
    with user_errors():
        preds = predictions(model_key, model, files) if files else []  # cached per model and images
        if src == "Upload" and preds:
            remember_photos(files)  # photos that decoded: offered on the other image pages too
        show_cam = bool(preds) and st.toggle("Show Grad-CAM (where the model looked)", key="finetune_gradcam")
        for i, (name, image, probs) in enumerate(preds):
            p1, p2, p3 = st.columns([1, 1, 2])
            inline_image(
                p1, image, caption=escape_markdown(name), width=180
            )  # captions are markdown: names stay literal
            if show_cam:
                heat, cls = gradcam(model_key, model, files[i][1], image)
                inline_image(p2, heat, caption=f"Grad-CAM for {escape_markdown(model.class_names[cls])}", width=180)
            p3.plotly_chart(probability_figure(probs, model.class_names), width="stretch", key=f"finetune_pred_{i}")
            if finetune.looks_unfamiliar(probs, threshold):
                p3.warning(
                    f"**This photo may show none of the {len(model.class_names)} classes.** The model is only "
                    f"{probs.max():.0%} sure, less than {threshold:.0%} ({threshold_why}).",
                    icon=":material/help:",
                )
        if preds:
            st.caption(closed_set_note(model.class_names))
