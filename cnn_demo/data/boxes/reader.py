"""A labelled box dataset from a zip or a folder in any of the three formats, checked box by box, with its report.

The format is recognised from the files (a COCO ``.json``, VOC ``.xml`` files, YOLO ``.txt`` files with a classes
file); each annotation is matched to its image by path, then by file name, then by name without extension. Every
box is checked against its image: a box with negative or zero size or wholly outside the image is left out, one
that only crosses the border is cut to it (labelling tools let boxes overshoot by a pixel or two). Boxes of classes
other than the one asked for are counted, not used. What was left out is listed with the file and the reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

import numpy as np

from cnn_demo.data.boxes import formats
from cnn_demo.data.boxes.formats import Labels, Problem
from cnn_demo.data.boxes.matching import PhotoIndex
from cnn_demo.data.boxes.types import BoxDataset, BoxReport
from cnn_demo.data.datasets.readers import IMAGE_EXTENSIONS, FolderReader, ZipReader
from cnn_demo.data.datasets.types import DatasetLimits, SkippedFile
from cnn_demo.data.samples import people_dir
from cnn_demo.errors import InputError
from cnn_demo.io.archive import MB, ArchiveFile
from cnn_demo.io.images import load_image, original_size

#: Class names read as "person" (any case): what labelling tools and datasets call people.
PERSON_NAMES: frozenset[str] = frozenset({"person", "persons", "people", "pedestrian", "human"})
#: Photos are kept at most this large (the detector reads them at 416 px); 500 of them are about 460 MB.
BOX_LIMITS = DatasetLimits(max_side=640, max_images=500, min_classes=1, max_uncompressed_bytes=400 * MB)
#: A box may cross the image's border by this many pixels before that counts as a problem worth reporting.
BORDER_SLACK = 2.0
#: Share of a box's area that must lie inside its photo (less is a box for another photo or in the wrong unit).
MIN_INSIDE = 0.5
#: Fewest photos with a person: one to train on, one to check.
MIN_PHOTOS_WITH_OBJECT = 2


# ------------------------------------------------------------------------------------------------ reading


def _text(reader, f: ArchiveFile, problems: list[Problem]) -> bytes | None:
    got = reader.read(f)
    if isinstance(got, SkippedFile):
        problems.append(Problem(got.path, formats.MALFORMED, f"{got.reason}{': ' + got.detail if got.detail else ''}"))
        return None
    return got


def _labels_of(reader, files: list[ArchiveFile], images: PhotoIndex) -> tuple[str, list, list[Problem], set[str]]:
    """The format found and its labels as (Labels, image file or None); also which image paths are negatives."""
    problems: list[Problem] = []
    jsons, xmls, txts, names_files = _by_kind(files)
    coco, broken_json = _coco_documents(reader, jsons, problems)
    if coco:
        pairs: list[tuple[Labels, ArchiveFile | None]] = []
        for f, doc in coco:
            labels, found = formats.parse_coco(doc, f.path)
            problems += found
            pairs += [(lab, images.find(lab.image, f.path)) for lab in labels]
        return "COCO JSON", pairs, problems, set()
    voc = [(f, data) for f in xmls if (data := _text(reader, f, problems)) is not None and formats.looks_like_voc(data)]
    if voc or xmls:
        return "Pascal VOC xml", _voc_pairs(voc, xmls, images, problems), problems, set()
    if txts:
        pairs, negatives = _yolo_pairs(reader, txts, names_files, images, problems)
        return "YOLO txt", pairs, problems, negatives
    if broken_json is not None:
        raise broken_json
    raise InputError(
        "No box labels found in this zip. It needs one of: a COCO .json file (with 'images', 'annotations' and "
        "'categories'), Pascal VOC .xml files (one per photo), or YOLO .txt files (one per photo) with a classes.txt."
    )


def _by_kind(files: list[ArchiveFile]) -> tuple[list[ArchiveFile], ...]:
    """The annotation files sorted by kind: JSON, xml, txt, and YOLO class-name files."""
    jsons, xmls, txts, names_files = [], [], [], []
    for f in files:
        name = PurePosixPath(f.path).name.lower()
        suffix = PurePosixPath(name).suffix
        if name in formats.YOLO_NAME_FILES or suffix == ".names":
            names_files.append(f)
        elif suffix == ".json":
            jsons.append(f)
        elif suffix == ".xml":
            xmls.append(f)
        elif suffix == ".txt":
            txts.append(f)
    return jsons, xmls, txts, names_files


def _coco_documents(
    reader, jsons: list[ArchiveFile], problems: list[Problem]
) -> tuple[list[tuple[ArchiveFile, object]], InputError | None]:
    """The JSON files that are COCO annotations, and the first JSON error (raised if no format is found at all)."""
    coco: list[tuple[ArchiveFile, object]] = []
    broken_json: InputError | None = None
    for f in jsons:
        if (data := _text(reader, f, problems)) is None:
            continue
        try:
            doc = formats.read_json(data, f.path)
        except InputError as exc:
            broken_json = broken_json or exc
            problems.append(Problem(f.path, formats.MALFORMED, str(exc)))
            continue
        if formats.is_coco(doc):
            coco.append((f, doc))
    return coco, broken_json


def _voc_pairs(
    voc: list[tuple[ArchiveFile, bytes]], xmls: list[ArchiveFile], images: PhotoIndex, problems: list[Problem]
) -> list[tuple[Labels, ArchiveFile | None]]:
    """The labels of each Pascal VOC file with its image; xml files that are not VOC annotations are problems."""
    pairs: list[tuple[Labels, ArchiveFile | None]] = []
    for f, data in voc:
        lab, found = formats.parse_voc(data, f.path)
        problems += found
        if lab is not None:
            pairs.append((lab, images.find(lab.image, f.path)))
    seen = {f.path for f, _ in voc} | {p.path for p in problems}
    problems += [
        Problem(f.path, formats.MALFORMED, "not a Pascal VOC <annotation> file") for f in xmls if f.path not in seen
    ]
    return pairs


def _yolo_pairs(
    reader, txts: list[ArchiveFile], names_files: list[ArchiveFile], images: PhotoIndex, problems: list[Problem]
) -> tuple[list[tuple[Labels, ArchiveFile | None]], set[str]]:
    """The labels of each YOLO file with its image, and the images with no label file (negatives, by YOLO's
    convention); the class numbers are named by the classes file a YOLO export keeps them in."""
    if not names_files:
        raise InputError(
            "These look like YOLO label files, but the zip has no classes file naming the class numbers: add a "
            "classes.txt with one class name a line (line 1 is class 0), or the data.yaml of your export."
        )
    names_file = min(
        names_files,
        key=lambda f: (
            formats.YOLO_NAME_FILES.index(PurePosixPath(f.path).name.lower())
            if PurePosixPath(f.path).name.lower() in formats.YOLO_NAME_FILES
            else 99,
            f.path.count("/"),
        ),
    )
    raw = reader.read(names_file)
    if isinstance(raw, SkippedFile):
        raise InputError(f"The classes file {formats.quote_file(names_file.path)} cannot be read: {raw.reason}.")
    names = formats.parse_yolo_names(raw, names_file.path)
    pairs: list[tuple[Labels, ArchiveFile | None]] = []
    labelled: set[str] = set()
    for f in txts:
        data = _text(reader, f, problems)
        if data is None:
            continue
        image = images.for_label_file(f.path)
        lab, found = formats.parse_yolo(data, f.path, PurePosixPath(f.path).stem, names)
        problems += found
        pairs.append((lab, image))
        if image is not None:
            labelled.add(image.path)
    # YOLO's convention: an image without a label file has no object in it.
    return pairs, {f.path for f in images.by_path.values()} - labelled


def _check_box(
    box: tuple[float, float, float, float], width: int, height: int
) -> tuple[tuple[float, float, float, float] | None, str, bool]:
    """The box cut to the image, or ``None`` and the reason it is left out; and whether it was cut noticeably.

    A box with less than half of its area inside the photo is left out as outside it: cutting it would make up a
    box nobody drew (a label for another photo size, or coordinates in the wrong unit).
    """
    x0, y0, x1, y1 = box
    if not (x1 > x0 and y1 > y0):
        return None, formats.NEGATIVE_SIZE, False
    cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))
    if cx1 - cx0 < 1 or cy1 - cy0 < 1 or (cx1 - cx0) * (cy1 - cy0) < MIN_INSIDE * (x1 - x0) * (y1 - y0):
        return None, formats.OUTSIDE, False
    cut = max(cx0 - x0, cy0 - y0, x1 - cx1, y1 - cy1) > BORDER_SLACK
    return (cx0, cy0, cx1, cy1), "", cut


@dataclass
class _Tally:
    """What the photos' boxes add up to besides the boxes kept: boxes of other classes, boxes cut, crowd regions."""

    other_classes: Counter[str] = field(default_factory=Counter)
    clipped: int = 0
    crowd: int = 0


def _read(reader, source: str, limits: DatasetLimits, wanted: frozenset[str]) -> BoxDataset:
    """The labelled photos of ``reader``: labels found and matched to photos, each photo read, its boxes checked."""
    problems: list[Problem] = [Problem(s.path, str(s.reason), s.detail) for s in reader.skipped]
    image_files = [f for f in reader.files if PurePosixPath(f.path).suffix.lower() in IMAGE_EXTENSIONS]
    image_paths = {f.path for f in image_files}
    other = [f for f in reader.files if f.path not in image_paths]
    fmt, pairs, found, negatives = _labels_of(reader, other, PhotoIndex(image_files))
    problems += found
    used = _labelled_photos(pairs, image_files, negatives, problems)
    if len(used) > limits.max_images:
        raise InputError(f"The zip has {len(used):,} labelled photos; the limit is {limits.max_images:,}.")
    out_images, out_boxes, names = [], [], []
    tally = _Tally()
    for path in sorted(used):
        lab, f = used[path]
        photo = _read_photo(reader, lab, f, limits, wanted, problems, tally)
        if photo is not None:
            out_images.append(photo[0])
            out_boxes.append(photo[1])
            names.append(f.path)
    with_object = sum(len(b) > 0 for b in out_boxes)
    target = sorted(wanted)[0] if "person" not in wanted else "person"
    errors, warnings = _box_messages(out_boxes, with_object, target, tally, problems)
    report = BoxReport(
        source,
        fmt,
        len(out_images),
        sum(len(b) for b in out_boxes),
        len(out_images) - with_object,
        tally.clipped,
        tuple(tally.other_classes.most_common()),
        tally.crowd,
        tuple(problems),
        tuple(warnings),
        tuple(errors),
    )
    return BoxDataset(tuple(out_images), tuple(out_boxes), tuple(names), report, target)


def _labelled_photos(
    pairs: list[tuple[Labels, ArchiveFile | None]], image_files: list[ArchiveFile], negatives: set[str], problems: list
) -> dict[str, tuple[Labels, ArchiveFile]]:
    """Each photo with its one set of labels (an empty one for a negative); labels without their photo, a second
    set for one photo, and photos no annotation names are problems."""
    used: dict[str, tuple[Labels, ArchiveFile]] = {}
    for lab, f in pairs:
        if f is None:
            problems.append(
                Problem(lab.source, formats.MISSING_IMAGE, f"{formats.quote_file(lab.image)} is not in the zip")
            )
        elif f.path in used:
            problems.append(
                Problem(lab.source, formats.MALFORMED, f"a second set of labels for {formats.quote_file(f.path)}")
            )
        else:
            used[f.path] = (lab, f)
    for f in image_files:
        if f.path in negatives:
            used[f.path] = (Labels(f.path, f.path, normalised=True), f)
        elif f.path not in used:
            problems.append(Problem(f.path, formats.NO_LABELS, "no annotation names this photo"))
    return used


def _read_photo(
    reader, lab: Labels, f: ArchiveFile, limits: DatasetLimits, wanted: frozenset[str], problems: list, tally: _Tally
) -> tuple[np.ndarray, np.ndarray] | None:
    """One photo (read-only RGB, within the limits) and its boxes of the ``wanted`` class in its pixels, each checked
    against the photo; ``None`` when the photo cannot be read or its labels are for another size."""
    data = reader.read(f)
    if isinstance(data, SkippedFile):
        problems.append(Problem(f.path, formats.BAD_IMAGE, str(data.reason)))
        return None
    try:
        img = load_image(data, max_pixels=limits.max_pixels, max_side=limits.max_side)
    except InputError as exc:
        problems.append(Problem(f.path, formats.BAD_IMAGE, str(exc)))
        return None
    w0, h0 = original_size(img)
    if lab.size is not None and lab.size != (w0, h0):
        detail = f"the labels are for {lab.size[0]}×{lab.size[1]} pixels, the photo has {w0}×{h0}"
        problems.append(Problem(f.path, formats.SIZE_MISMATCH, detail))
        return None
    tally.crowd += lab.crowd
    sx, sy = (w0, h0) if lab.normalised else (1.0, 1.0)
    kept = []
    for cls, x0, y0, x1, y1 in lab.boxes:
        if cls.strip().lower() not in wanted:
            tally.other_classes[cls.strip()[:40]] += 1
            continue
        box, why, cut = _check_box((x0 * sx, y0 * sy, x1 * sx, y1 * sy), w0, h0)
        if box is None:
            detail = f"{formats.quote_file(f.path)}: " + ", ".join(
                f"{v:.1f}" for v in (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
            )
            problems.append(Problem(lab.source, why, f"{detail} in a {w0}×{h0} photo"))
            continue
        tally.clipped += cut
        kept.append(box)
    scale = img.width / w0
    arr = np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    arr.flags.writeable = False
    return arr, np.asarray(kept, dtype=np.float32).reshape(-1, 4) * np.float32(scale)


def _box_messages(
    boxes: list[np.ndarray], with_object: int, target: str, tally: _Tally, problems: list
) -> tuple[list[str], list[str]]:
    """Errors (what blocks training: no photo, no box of the class, too few photos with one) and warnings."""
    errors, warnings = [], []
    if not boxes:
        errors.append("No labelled photo could be read: the list below says why for each file.")
    elif sum(len(b) for b in boxes) == 0:
        seen = ", ".join(f"{c} ({n})" for c, n in tally.other_classes.most_common(5))
        errors.append(
            f"None of the boxes is of the class {target!r}"
            + (f"; the labels name {seen}" if seen else "")
            + f". This page trains a {target} detector: label the {target}s as {target!r}."
        )
    elif with_object < MIN_PHOTOS_WITH_OBJECT:
        errors.append(
            f"Only {with_object} photo has a {target} box; at least {MIN_PHOTOS_WITH_OBJECT} are needed "
            "(one to train on, one to check)."
        )
    if problems:
        warnings.append(f"{len(problems)} item(s) were left out; the list says which and why.")
    if tally.clipped:
        warnings.append(f"{tally.clipped} box(es) crossed the photo's border and were cut to it.")
    return errors, warnings


def read_box_zip(
    data: bytes, name: str = "labels.zip", *, limits: DatasetLimits = BOX_LIMITS, wanted=PERSON_NAMES
) -> BoxDataset:
    """Photos and ``wanted`` boxes from an uploaded zip in COCO JSON, YOLO txt or Pascal VOC xml format."""
    reader = ZipReader(data, limits)
    try:
        return _read(reader, f"zip file {formats.quote_file(name)}", limits, frozenset(w.lower() for w in wanted))
    finally:
        reader.close()


def read_box_folder(path: str | Path, *, limits: DatasetLimits = BOX_LIMITS, wanted=PERSON_NAMES) -> BoxDataset:
    """The same as :func:`read_box_zip` for a folder on the server."""
    root = Path(path)
    return _read(
        FolderReader(root, limits),
        f"folder {formats.quote_file(root.name)}",
        limits,
        frozenset(w.lower() for w in wanted),
    )


def load_boxes(path: str | Path, *, limits: DatasetLimits = BOX_LIMITS, wanted=PERSON_NAMES) -> BoxDataset:
    """A labelled box dataset from a ``.zip`` or a folder given by its path."""
    p = Path(path)
    if p.is_dir():
        return read_box_folder(p, limits=limits, wanted=wanted)
    if not p.is_file():
        raise InputError(f"{p} does not exist.")
    if p.stat().st_size > limits.max_zip_bytes:
        raise InputError(f"{p.name} is larger than the {limits.max_zip_bytes // MB} MB limit.")
    return read_box_zip(p.read_bytes(), p.name, limits=limits, wanted=wanted)


def load_people_sample(limits: DatasetLimits = BOX_LIMITS) -> BoxDataset:
    """The people sample that ships with the app: 128 COCO train2017 photos and their person boxes (COCO JSON)."""
    ds = read_box_folder(people_dir(), limits=limits)
    report = ds.report
    # The sample's masks/ are not labels for this reader; they are left out silently.
    kept = tuple(p for p in report.problems if not p.path.startswith("masks/"))
    return replace(ds, report=replace(report, source="people sample (COCO train2017)", problems=kept, warnings=()))
