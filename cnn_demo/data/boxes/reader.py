"""A labelled box dataset from a zip or a folder in any of the three formats, checked box by box, with its report.

The format is recognised from the files (a COCO ``.json``, VOC ``.xml`` files, YOLO ``.txt`` files with a classes
file); each annotation is matched to its image by path, then by file name, then by name without extension. Every
box is checked against its image: a box with negative or zero size or wholly outside the image is left out, one
that only crosses the border is cut to it (labelling tools let boxes overshoot by a pixel or two). Boxes of classes
other than the one asked for are counted, not used. What was left out is listed with the file and the reason.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np

from cnn_demo.data.boxes import formats
from cnn_demo.data.boxes.formats import Labels, Problem
from cnn_demo.data.boxes.types import BoxDataset, BoxReport
from cnn_demo.data.datasets.readers import IMAGE_EXTENSIONS, _FolderReader, _ZipReader
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


# ------------------------------------------------------------------------------------------------ matching


class _Images:
    """The image files of an upload, found by path, by file name or by name without extension (case-blind)."""

    def __init__(self, files: list[ArchiveFile]) -> None:
        self.by_path = {f.path.lower(): f for f in files}
        self.by_name: dict[str, list[ArchiveFile]] = {}
        self.by_stem: dict[str, list[ArchiveFile]] = {}
        for f in files:
            p = PurePosixPath(f.path.lower())
            self.by_name.setdefault(p.name, []).append(f)
            self.by_stem.setdefault(str(p.with_suffix("")), []).append(f)
            self.by_stem.setdefault("~" + p.stem, []).append(f)

    def find(self, name: str, near: str) -> ArchiveFile | None:
        """The image ``name`` (as an annotation writes it) for an annotation file at ``near``."""
        name = name.replace("\\", "/").lower()
        folder = PurePosixPath(near.lower()).parent
        candidates = [folder / name, folder.parent / name, folder.parent / "images" / name, PurePosixPath(name)]
        candidates += [folder.parent / "jpegimages" / name]
        for c in candidates:
            if str(c) in self.by_path:
                return self.by_path[str(c)]
        base = PurePosixPath(name).name
        for table, key in ((self.by_name, base), (self.by_stem, "~" + PurePosixPath(base).stem)):
            found = table.get(key, [])
            if len(found) == 1:
                return found[0]
            near_ones = [f for f in found if PurePosixPath(f.path.lower()).parent.parent == folder.parent]
            if len(near_ones) == 1:
                return near_ones[0]
        return None

    def for_label_file(self, path: str) -> ArchiveFile | None:
        """The image of a YOLO label file: ``labels/`` swapped for ``images/``, else beside it, else by name."""
        p = PurePosixPath(path.lower()).with_suffix("")
        parts = list(p.parts)
        for i in range(len(parts) - 1, -1, -1):
            if parts[i] == "labels":
                swapped = str(PurePosixPath(*parts[:i], "images", *parts[i + 1 :]))
                if len(self.by_stem.get(swapped, [])) == 1:
                    return self.by_stem[swapped][0]
        if len(self.by_stem.get(str(p), [])) == 1:
            return self.by_stem[str(p)][0]
        found = self.by_stem.get("~" + p.name, [])
        return found[0] if len(found) == 1 else None


# ------------------------------------------------------------------------------------------------ reading


def _text(reader, f: ArchiveFile, problems: list[Problem]) -> bytes | None:
    got = reader.read(f)
    if isinstance(got, SkippedFile):
        problems.append(Problem(got.path, formats.MALFORMED, f"{got.reason}{': ' + got.detail if got.detail else ''}"))
        return None
    return got


def _labels_of(reader, files: list[ArchiveFile], images: _Images) -> tuple[str, list, list[Problem], set[str]]:
    """The format found and its labels as (Labels, image file or None); also which image paths are negatives."""
    problems: list[Problem] = []
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
    pairs: list[tuple[Labels, ArchiveFile | None]] = []
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
    if coco:
        for f, doc in coco:
            labels, found = formats.parse_coco(doc, f.path)
            problems += found
            pairs += [(lab, images.find(lab.image, f.path)) for lab in labels]
        return "COCO JSON", pairs, problems, set()
    voc = [(f, data) for f in xmls if (data := _text(reader, f, problems)) is not None and formats.looks_like_voc(data)]
    if voc or xmls:
        for f, data in voc:
            lab, found = formats.parse_voc(data, f.path)
            problems += found
            if lab is not None:
                pairs.append((lab, images.find(lab.image, f.path)))
        seen = {f.path for f, _ in voc} | {p.path for p in problems}
        problems += [
            Problem(f.path, formats.MALFORMED, "not a Pascal VOC <annotation> file") for f in xmls if f.path not in seen
        ]
        return "Pascal VOC xml", pairs, problems, set()
    if txts:
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
            raise InputError(f"The classes file {formats._q(names_file.path)} cannot be read: {raw.reason}.")
        names = formats.parse_yolo_names(raw, names_file.path)
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
        return "YOLO txt", pairs, problems, {f.path for f in images.by_path.values()} - labelled
    if broken_json is not None:
        raise broken_json
    raise InputError(
        "No box labels found in this zip. It needs one of: a COCO .json file (with 'images', 'annotations' and "
        "'categories'), Pascal VOC .xml files (one per photo), or YOLO .txt files (one per photo) with a classes.txt."
    )


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


def _read(reader, source: str, limits: DatasetLimits, wanted: frozenset[str]) -> BoxDataset:
    problems: list[Problem] = [Problem(s.path, str(s.reason), s.detail) for s in reader.skipped]
    image_files = [f for f in reader.files if PurePosixPath(f.path).suffix.lower() in IMAGE_EXTENSIONS]
    image_paths = {f.path for f in image_files}
    other = [f for f in reader.files if f.path not in image_paths]
    images = _Images(image_files)
    fmt, pairs, found, negatives = _labels_of(reader, other, images)
    problems += found
    used: dict[str, tuple[Labels, ArchiveFile]] = {}
    for lab, f in pairs:
        if f is None:
            problems.append(Problem(lab.source, formats.MISSING_IMAGE, f"{formats._q(lab.image)} is not in the zip"))
        elif f.path in used:
            problems.append(Problem(lab.source, formats.MALFORMED, f"a second set of labels for {formats._q(f.path)}"))
        else:
            used[f.path] = (lab, f)
    for f in image_files:
        if f.path in negatives:
            used[f.path] = (Labels(f.path, f.path, normalised=True), f)
        elif f.path not in used:
            problems.append(Problem(f.path, formats.NO_LABELS, "no annotation names this photo"))
    if len(used) > limits.max_images:
        raise InputError(f"The zip has {len(used):,} labelled photos; the limit is {limits.max_images:,}.")
    out_images, out_boxes, names = [], [], []
    other_classes: Counter[str] = Counter()
    clipped = crowd = 0
    for path in sorted(used):
        lab, f = used[path]
        data = reader.read(f)
        if isinstance(data, SkippedFile):
            problems.append(Problem(f.path, formats.BAD_IMAGE, str(data.reason)))
            continue
        try:
            img = load_image(data, max_pixels=limits.max_pixels, max_side=limits.max_side)
        except InputError as exc:
            problems.append(Problem(f.path, formats.BAD_IMAGE, str(exc)))
            continue
        w0, h0 = original_size(img)
        if lab.size is not None and lab.size != (w0, h0):
            problems.append(
                Problem(
                    f.path,
                    formats.SIZE_MISMATCH,
                    f"the labels are for {lab.size[0]}×{lab.size[1]} pixels, the photo has {w0}×{h0}",
                )
            )
            continue
        crowd += lab.crowd
        sx, sy = (w0, h0) if lab.normalised else (1.0, 1.0)
        kept = []
        for cls, x0, y0, x1, y1 in lab.boxes:
            if cls.strip().lower() not in wanted:
                other_classes[cls.strip()[:40]] += 1
                continue
            box, why, cut = _check_box((x0 * sx, y0 * sy, x1 * sx, y1 * sy), w0, h0)
            if box is None:
                detail = f"{formats._q(f.path)}: " + ", ".join(f"{v:.1f}" for v in (x0 * sx, y0 * sy, x1 * sx, y1 * sy))
                problems.append(Problem(lab.source, why, f"{detail} in a {w0}×{h0} photo"))
                continue
            clipped += cut
            kept.append(box)
        scale = img.width / w0
        arr = np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
        arr.flags.writeable = False
        out_images.append(arr)
        out_boxes.append(np.asarray(kept, dtype=np.float32).reshape(-1, 4) * np.float32(scale))
        names.append(f.path)
    with_object = sum(len(b) > 0 for b in out_boxes)
    errors, warnings = [], []
    target = sorted(wanted)[0] if "person" not in wanted else "person"
    if not out_images:
        errors.append("No labelled photo could be read: the list below says why for each file.")
    elif sum(len(b) for b in out_boxes) == 0:
        seen = ", ".join(f"{c} ({n})" for c, n in other_classes.most_common(5))
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
    if clipped:
        warnings.append(f"{clipped} box(es) crossed the photo's border and were cut to it.")
    report = BoxReport(
        source,
        fmt,
        len(out_images),
        sum(len(b) for b in out_boxes),
        len(out_images) - with_object,
        clipped,
        tuple(other_classes.most_common()),
        crowd,
        tuple(problems),
        tuple(warnings),
        tuple(errors),
    )
    return BoxDataset(tuple(out_images), tuple(out_boxes), tuple(names), report, target)


def read_box_zip(
    data: bytes, name: str = "labels.zip", *, limits: DatasetLimits = BOX_LIMITS, wanted=PERSON_NAMES
) -> BoxDataset:
    """Photos and ``wanted`` boxes from an uploaded zip in COCO JSON, YOLO txt or Pascal VOC xml format."""
    reader = _ZipReader(data, limits)
    try:
        return _read(reader, f"zip file {formats._q(name)}", limits, frozenset(w.lower() for w in wanted))
    finally:
        reader.close()


def read_box_folder(path: str | Path, *, limits: DatasetLimits = BOX_LIMITS, wanted=PERSON_NAMES) -> BoxDataset:
    """The same as :func:`read_box_zip` for a folder on the server."""
    root = Path(path)
    return _read(
        _FolderReader(root, limits), f"folder {formats._q(root.name)}", limits, frozenset(w.lower() for w in wanted)
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
    from dataclasses import replace

    return replace(ds, report=replace(report, source="people sample (COCO train2017)", problems=kept, warnings=()))
