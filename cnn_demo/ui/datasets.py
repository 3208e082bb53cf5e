"""The dataset widget: upload a zip, build classes in the page (files or camera), or pick a built-in set.

``dataset_input(key)`` shows the validation report and returns the :class:`~cnn_demo.data.datasets.Dataset`
when nothing blocks training. Datasets built or uploaded by a user are decoded once into the server's dataset
store (``<state>/datasets``, see :class:`~cnn_demo.data.datasets.DiskImages`) and opened from there through
``st.cache_resource``, so every session with the same upload shares one small handle; a session keeps only the
upload's digest and the store folder. Built-in datasets are shared read-only through ``st.cache_resource``.
The reports themselves are drawn by :mod:`cnn_demo.ui.dataset_preview`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from cnn_demo import jobs
from cnn_demo.data import datasets as D
from cnn_demo.errors import InputError
from cnn_demo.io.images import UPLOAD_EXTENSIONS
from cnn_demo.settings import get_settings
from cnn_demo.ui.common import escape_markdown, retention_note, user_errors
from cnn_demo.ui.dataset_preview import show_dataset_report, show_segmentation_report
from cnn_demo.ui.identity import client_address, current_identity

SOURCES: tuple[str, ...] = ("Upload a zip", "Build in the page", "Built-in dataset")
#: The first source of a page that offers the dataset checked on "Datasets for training" in this visit.
CHECKED_SOURCE = "The dataset you checked"
#: Session entry: what the Datasets page last checked and found trainable (see :func:`_checked_ref`).
CHECKED_KEY = "dataset_checked"
#: Session entry: the split chosen for it there (given folders, validation share, seed).
CHECKED_SPLIT_KEY = "dataset_checked_split"
ZIP_HELP = (
    "A .zip with one folder per class (cats/…, dogs/…). A single wrapping folder is fine, and so are "
    "train/ and val/ folders, each holding the class folders; their split is then used as given."
)


@st.cache_resource(show_spinner="Preparing the built-in dataset…")
def _builtin(name: str) -> D.Dataset:
    return D.load_builtin(name)


@st.cache_data(max_entries=1, show_spinner=False)
def example_zip_bytes() -> bytes:
    """The example ImageFolder zip (texture patches), built once per server."""
    return D.example_zip()


def dataset_store() -> Path:
    """Where uploaded datasets are decoded to (shared by all sessions and web-server processes)."""
    return jobs.store_dir(get_settings())


def _stored_upload(incoming: int, decode: Callable[[], D.Dataset]) -> D.Dataset:
    """``decode()`` an upload into the dataset store within this user's and address's disk shares (checked and
    reserved first, so parallel uploads cannot all pass), and record that they keep what it stored."""
    s = get_settings()
    owner, client = current_identity().owner, jobs.client_key(client_address())
    with jobs.reserve_upload(s, owner, client, incoming):
        ds = decode()
        if isinstance(ds.images, D.DiskImages):
            jobs.hold_upload(s, owner, client, ds.images.folder)
    return ds


@st.cache_resource(max_entries=32, ttl=3600, show_spinner=False)
def _stored(folder: str) -> D.Dataset | None:
    return D.open_stored_dataset(Path(folder))


def _remembered(state_key: str, fingerprint) -> D.Dataset | None:
    """The stored dataset this session decoded for ``fingerprint``, if it is still on disk."""
    cached = st.session_state.get(state_key)
    if cached is None or cached[0] != fingerprint:
        return None
    ds = _stored(cached[1])
    if ds is None or not Path(cached[1]).is_dir():  # removed from the store (expired): decode again
        _stored.clear()
        return None
    return ds


def _remember(state_key: str, fingerprint, ds: D.Dataset) -> D.Dataset:
    """Keep only the store folder of ``ds`` in the session; return the shared handle for it."""
    if isinstance(ds.images, D.DiskImages):
        st.session_state[state_key] = (fingerprint, str(ds.images.folder))
        return _stored(str(ds.images.folder)) or ds
    return ds


def _state(key: str, suffix: str, default):
    full = f"{key}_{suffix}"
    if full not in st.session_state:
        st.session_state[full] = default
    return st.session_state[full]


def _from_zip(key: str, limits: D.DatasetLimits) -> D.Dataset | None:
    upload = st.file_uploader("Dataset (.zip)", type=["zip"], key=f"{key}_zip", help=ZIP_HELP)
    retention_note("dataset")
    if upload is None:
        st.info(ZIP_HELP)
        return None
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    found = _remembered(f"{key}_zip_dataset", digest)
    if found is not None:
        return found
    st.session_state.pop(f"{key}_zip_dataset", None)
    with user_errors(), st.spinner("Checking and decoding the images…"):
        # The store keeps the files as uploaded, and decoded pixels where smaller: at most twice the zip.
        ds = _stored_upload(2 * len(data), lambda: D.read_zip_dataset(data, upload.name, limits, store=dataset_store()))
        return _remember(f"{key}_zip_dataset", digest, ds)
    return None


def _add_class(key: str) -> None:
    ids = st.session_state[f"{key}_class_ids"]
    next_id = st.session_state[f"{key}_next_id"]
    ids.append(next_id)
    st.session_state[f"{key}_next_id"] = next_id + 1


def _remove_class(key: str, cid: int) -> None:
    st.session_state[f"{key}_class_ids"].remove(cid)
    st.session_state.pop(f"{key}_photos_{cid}", None)


def _keep_photo(key: str, cid: int) -> None:
    shot = st.session_state.get(f"{key}_cam_{cid}")
    if shot is not None:
        photos = st.session_state.setdefault(f"{key}_photos_{cid}", [])
        photos.append((f"camera_{len(photos) + 1}.jpg", shot.getvalue()))


def _clear_photos(key: str, cid: int) -> None:
    st.session_state[f"{key}_photos_{cid}"] = []


def _build_in_page(key: str, limits: D.DatasetLimits) -> D.Dataset | None:
    ids: list[int] = _state(key, "class_ids", [0, 1])
    _state(key, "next_id", 2)
    st.caption("Add a class, name it, then upload its images (several at once) or take photos with the camera.")
    retention_note("dataset")
    classes: list[tuple[str, list[tuple[str, bytes]]]] = []
    fingerprint: list[object] = []
    cols = st.columns(min(max(len(ids), 1), 3))
    for n, cid in enumerate(ids):
        with cols[n % len(cols)].container(border=True):
            name = st.text_input("Class name", value=f"Class {n + 1}", key=f"{key}_name_{cid}", max_chars=64)
            files = st.file_uploader(
                "Images",
                type=list(UPLOAD_EXTENSIONS),
                accept_multiple_files=True,
                key=f"{key}_files_{cid}",
            )
            photos: list[tuple[str, bytes]] = st.session_state.get(f"{key}_photos_{cid}", [])
            if st.toggle("Use the camera", key=f"{key}_camera_{cid}"):
                st.camera_input(
                    "Take a photo (each one is added to this class)",
                    key=f"{key}_cam_{cid}",
                    on_change=_keep_photo,
                    args=(key, cid),
                )
            items = [(f.name, f.getvalue()) for f in files or []] + list(photos)
            c1, c2 = st.columns(2)
            c1.caption(f"{len(items)} image(s)" + (f", {len(photos)} from the camera" if photos else ""))
            if photos:
                c2.button("Clear photos", key=f"{key}_clear_{cid}", on_click=_clear_photos, args=(key, cid))
            if len(ids) > 1:
                st.button(
                    "Remove this class",
                    key=f"{key}_remove_{cid}",
                    on_click=_remove_class,
                    args=(key, cid),
                    icon=":material/delete:",
                )
            classes.append((name, items))
            fingerprint.append((name, [f.file_id for f in files or []], len(photos)))
    if len(ids) < limits.max_classes:
        st.button("Add a class", key=f"{key}_add", on_click=_add_class, args=(key,), icon=":material/add:")
    if not any(items for _, items in classes):
        st.info("Upload images for each class (at least 2 per class) to build the dataset.")
        return None
    found = _remembered(f"{key}_built_dataset", fingerprint)
    if found is not None:
        return found
    st.session_state.pop(f"{key}_built_dataset", None)
    with user_errors(), st.spinner("Checking and decoding the images…"):
        incoming = 2 * sum(len(b) for _, items in classes for _, b in items)
        ds = _stored_upload(incoming, lambda: D.build_dataset(classes, limits=limits, store=dataset_store()))
        return _remember(f"{key}_built_dataset", fingerprint, ds)
    return None


def _from_builtin(key: str) -> D.Dataset | None:
    titles = {b.name: b for b in D.BUILTIN_DATASETS}
    name = st.selectbox(
        "Built-in dataset", D.builtin_names(), key=f"{key}_builtin", format_func=lambda n: titles[n].title
    )
    st.caption(titles[name].description + " Works offline.")
    with user_errors():
        return _builtin(name)
    return None


def _checked_ref(key: str, source: str, base: D.Dataset, dataset: D.Dataset) -> tuple | None:
    """What opens ``dataset`` again on another page: ``(kind, where, dropped classes, name)``, where ``kind`` is
    ``"stored"`` (``where`` a store folder) or ``"builtin"`` (``where`` its name); ``None`` for anything else."""
    dropped = tuple(c for c in base.class_names if c not in dataset.class_names)
    if isinstance(base.images, D.DiskImages):
        return ("stored", str(base.images.folder), dropped, dataset.name)
    if source == SOURCES[2]:
        return ("builtin", str(st.session_state.get(f"{key}_builtin")), dropped, dataset.name)
    return None


def _open_checked(ref: tuple, limits: D.DatasetLimits) -> D.Dataset | None:
    """The dataset :func:`_checked_ref` describes, or ``None`` when it is gone (expired from the store)."""
    kind, where, dropped, _ = ref
    if kind == "builtin":
        base: D.Dataset | None = _builtin(where)
    else:
        base = _stored(where) if Path(where).is_dir() else None
    if base is None:
        return None
    return D.drop_classes(base, list(dropped), limits) if dropped else base


def dataset_input(
    key: str, *, limits: D.DatasetLimits = D.DEFAULT_LIMITS, share: bool = False, offer_checked: bool = False
) -> D.Dataset | None:
    """Let the user upload, build or choose a dataset; show its report; return it when it can be trained on.

    Returns ``None`` while nothing is chosen or when the report has blocking errors (they are shown).
    ``key`` prefixes every widget and session-state entry, so several inputs can live on one page.
    ``share``: a trainable dataset chosen here becomes *the checked dataset* of this visit (the Datasets page);
    ``offer_checked``: that dataset is offered first, and chosen by default, so it needs no second upload.
    """
    checked = st.session_state.get(CHECKED_KEY) if offer_checked else None
    sources = (CHECKED_SOURCE, *SOURCES) if checked else SOURCES
    source = st.radio("Dataset", sources, horizontal=True, key=f"{key}_source")
    if source == CHECKED_SOURCE and checked:
        base = _open_checked(checked, limits)
        if base is None:
            del st.session_state[CHECKED_KEY]
            st.info(
                "The dataset you checked on *Datasets for training* is no longer on the server (uploads are kept "
                "for a limited time). Upload it again or choose another source.",
                icon=":material/info:",
            )
            return None
        st.caption(
            f"**{escape_markdown(str(checked[3]))}**, as checked on *Datasets for training* in this visit: "
            "no need to upload it again."
        )
        show_dataset_report(base, key, limits)
        return base if base.report.ok else None
    if source == SOURCES[0]:
        dataset = _from_zip(key, limits)
    elif source == SOURCES[1]:
        dataset = _build_in_page(key, limits)
    else:
        dataset = _from_builtin(key)
    if dataset is None:
        return None
    base, dataset = dataset, _offer_to_drop(dataset, key, limits)
    show_dataset_report(dataset, key, limits)
    if not dataset.report.ok:
        return None
    if share and (ref := _checked_ref(key, source, base, dataset)) is not None:
        st.session_state[CHECKED_KEY] = ref
    return dataset


def _offer_to_drop(dataset: D.Dataset, key: str, limits: D.DatasetLimits) -> D.Dataset:
    """When empty or tiny classes block training, a checkbox to train on the other classes without them."""
    small = D.too_small_classes(dataset, limits)
    if not dataset.report.errors or not small or len(dataset.class_names) - len(small) < limits.min_classes:
        return dataset
    listed = ", ".join(f"{escape_markdown(c.name)} ({c.total} image(s))" for c in small)
    if st.checkbox(
        f"Drop {listed} and train on the other {len(dataset.class_names) - len(small)} classes",
        key=f"{key}_drop_small",
        help=f"Each class needs at least {limits.min_images_per_class} images (and some in train/ when the data "
        "brings its own split). Dropped classes are left out of training and of the predictions.",
    ):
        return D.drop_classes(dataset, [c.name for c in small], limits)
    return dataset


def using_checked(key: str) -> bool:
    """Whether :func:`dataset_input` ``key`` shows the dataset checked on "Datasets for training"."""
    return st.session_state.get(f"{key}_source") == CHECKED_SOURCE and CHECKED_KEY in st.session_state


def split_input(
    key: str, dataset: D.Dataset, *, test: bool = False, share: bool = False, carried: bool = False
) -> D.Split:
    """Widgets for the train/validation split: the dataset's own split, or a stratified one with a seed.

    ``test``: also offer a held-out test share (taken from the training images), which no model selection sees.
    ``share``: remember the choice with the checked dataset (the Datasets page); ``carried``: start from it.
    """
    given, start_fraction, start_seed = True, 0.2, 0
    if carried and isinstance(remembered := st.session_state.get(CHECKED_SPLIT_KEY), tuple):
        given, start_fraction, start_seed = remembered
    use_given = False
    if dataset.given_split is not None:
        use_given = st.toggle("Use the train/ and val/ folders as given", value=given, key=f"{key}_use_given")
    fraction, seed = 0.2, 0
    if not use_given:
        c1, c2 = st.columns(2)
        fraction = c1.slider("Validation share", 0.1, 0.5, start_fraction, 0.05, key=f"{key}_val_fraction")
        seed = int(c2.number_input("Seed", 0, 2**31 - 1, start_seed, key=f"{key}_seed"))
    if share:
        st.session_state[CHECKED_SPLIT_KEY] = (use_given, float(fraction), seed)
    test_fraction = 0.0
    if test:
        test_fraction = st.slider(
            "Held-out test share (0 = none)",
            0.0,
            0.3,
            0.15,
            0.05,
            key=f"{key}_test_fraction",
            help="Taken from the training images of each class and only looked at once training has ended. The "
            "best epoch is chosen on the validation images, so their accuracy flatters the model; the test "
            "accuracy does not.",
        )
    split = D.split_dataset(dataset, fraction, seed, use_given=use_given, test_fraction=test_fraction)
    text = f"{len(split.train)} training and {len(split.val)} validation images"
    if len(split.test):
        text += f", {len(split.test)} held out for the test"
    st.caption(text)
    return split


SEG_SOURCES: tuple[str, ...] = ("PASCAL VOC sample", "Upload a zip")
SEG_HELP = (
    "A .zip with images/ and masks/ folders: each mask has the same name as its image (a.jpg ↔ a.png) and "
    "holds one class number per pixel (a palette or grayscale PNG, 255 = ignore). An optional class_names.txt "
    "lists the class names, one per line."
)


@st.cache_resource(show_spinner="Loading the VOC sample…")
def _voc_sample() -> D.SegmentationDataset:
    return D.load_voc_sample()


@st.cache_resource(max_entries=4, ttl=1800, show_spinner=False)
def _segmentation_zip(
    digest: str, name: str, limits_key: str, _limits: D.DatasetLimits, _data: bytes
) -> D.SegmentationDataset:
    """Image/mask pairs of an uploaded zip, decoded once per server for its content (``digest``) and shared by the
    sessions that upload it: no session holds a copy in its state, and at most a few are kept at once."""
    return D.read_segmentation_zip(_data, name, limits=_limits)


def segmentation_input(key: str, *, limits: D.DatasetLimits = D.DEFAULT_LIMITS) -> D.SegmentationDataset | None:
    """Let the user choose the VOC sample or upload image/mask pairs; show the report; return usable data or None."""
    source = st.radio("Image/mask pairs", SEG_SOURCES, horizontal=True, key=f"{key}_source")
    dataset: D.SegmentationDataset | None = None
    if source == SEG_SOURCES[0]:
        with user_errors():
            dataset = _voc_sample()
    else:
        upload = st.file_uploader("Pairs (.zip)", type=["zip"], key=f"{key}_zip", help=SEG_HELP)
        retention_note("dataset")
        if upload is None:
            st.info(SEG_HELP)
            return None
        data = upload.getvalue()
        digest = hashlib.sha256(data).hexdigest()
        with user_errors(), st.spinner("Checking the image/mask pairs…"):
            dataset = _segmentation_zip(digest, upload.name, repr(limits), limits, data)
    if dataset is None:
        return None
    show_segmentation_report(dataset, key)
    return dataset if dataset.report.ok else None


def pairs_zip_upload(
    key: str, container, label: str, check: Callable[[bytes, str], D.SegmentationDataset]
) -> bytes | None:
    """An uploader for a zip of image/mask pairs, checked at once with ``check`` (which raises :class:`InputError`).

    Shows the problem, or how many pairs are ready and which files were skipped, and returns the zip's bytes
    only when training can use it. Only the digest and the outcome are kept in the session, not the images.
    """
    from cnn_demo.applications.unet import skipped_summary

    upload = container.file_uploader(label, type=["zip"], key=f"{key}_zip")
    retention_note("dataset", container)
    if upload is None:
        return None
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    cached = st.session_state.get(f"{key}_zip_check")
    if cached is None or cached[0] != digest:
        try:
            with st.spinner("Checking the image/mask pairs…"):
                ds = check(data, upload.name)
        except InputError as exc:
            cached = (digest, str(exc), "")
        else:
            skipped = f"{len(ds.report.skipped)} file(s) skipped: {skipped_summary(ds.report.skipped)}."
            ready = f"{len(ds)} image/mask pairs, {ds.num_classes} classes: ready to train."
            cached = (digest, None, ready + (f" {skipped}" if ds.report.skipped else ""))
        st.session_state[f"{key}_zip_check"] = cached
    _, error, info = cached
    if error is not None:
        container.error(error, icon=":material/error:")
        return None
    container.success(info, icon=":material/check:")
    return data
