"""The three box formats labelling tools export, parsed from bytes: COCO JSON, YOLO txt and Pascal VOC xml.

Each parser turns one annotation file into :class:`Labels` (an image it names, its size when the file says it,
its boxes as ``(class name, x0, y0, x1, y1)`` in pixels) and :class:`Problem` rows for what it could not read, so
one bad line or box never costs the whole upload. Coordinates follow each format's own convention:

* COCO: ``bbox`` is ``[x, y, width, height]`` in pixels, the top-left corner at (x, y).
* YOLO: one line ``class cx cy w h`` per box, centre and size as fractions of the image (0–1); class numbers index
  the names of a classes file (``classes.txt``, ``obj.names``, ``data.yaml``).
* Pascal VOC: ``<bndbox>`` holds ``xmin ymin xmax ymax``, 1-based pixel indices with the end pixel included, so the
  box's edges are ``xmin - 1`` … ``xmax`` (the conversion Detectron2 and Ultralytics use).
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from cnn_demo.errors import InputError

#: Why a box, a line or a file was left out (shown to the student with the file's name).
MALFORMED = "malformed"
NEGATIVE_SIZE = "box with negative or zero size"
OUTSIDE = "box (mostly) outside the image"
UNKNOWN_CLASS = "unknown class"
MISSING_IMAGE = "missing image"
NO_LABELS = "image not in the annotations"
BAD_IMAGE = "image cannot be read"
SIZE_MISMATCH = "image size differs from the annotation"
CROWD = "crowd region (not a single object)"


@dataclass(frozen=True)
class Problem:
    """Something left out of an upload: the file, why, and a detail a student can act on."""

    path: str
    reason: str
    detail: str = ""


@dataclass
class Labels:
    """The boxes one annotation file gives one image (before the image is opened)."""

    #: The image's name as the annotation file writes it (a path relative to somewhere, or a bare file name).
    image: str
    #: The file the labels came from (for messages).
    source: str
    #: (width, height) the annotation file states, if any.
    size: tuple[int, int] | None = None
    #: (class name, x0, y0, x1, y1) in pixels of the ``size`` image; YOLO boxes are fractions until :meth:`scaled`.
    boxes: list[tuple[str, float, float, float, float]] = field(default_factory=list)
    #: Crowd regions (COCO ``iscrowd``): counted, not trained on.
    crowd: int = 0
    #: YOLO's boxes are fractions of the image, known only once the image is opened.
    normalised: bool = False


def _number(text: object) -> float:
    value = float(text)  # type: ignore[arg-type]
    if not math.isfinite(value):
        raise ValueError("not a finite number")
    return value


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


# ------------------------------------------------------------------------------------------------ COCO


def read_json(data: bytes, path: str) -> object:
    """A JSON file's content; :class:`InputError` saying where it breaks when it is not valid JSON."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise InputError(f"{quote_file(path)} is not UTF-8 text, so it cannot be JSON.") from exc
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{quote_file(path)} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from exc
    except RecursionError as exc:
        raise InputError(f"{quote_file(path)} is nested too deeply to be read.") from exc


def is_coco(doc: object) -> bool:
    """Whether a JSON document is meant as COCO annotations (an object with ``annotations``)."""
    return isinstance(doc, dict) and "annotations" in doc


def parse_coco(doc: object, path: str) -> tuple[list[Labels], list[Problem]]:
    """The images and boxes of a COCO JSON document (:func:`read_json`); :class:`InputError` when it lacks what
    every COCO file has (lists of images and annotations, categories with names).

    Images listed without annotations are kept (photos with no object teach the network what is not one).
    Annotations of an unknown ``category_id`` or image, and boxes that are not four numbers, are problems.
    """
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("images"), list)
        or not isinstance(doc.get("annotations"), list)
    ):
        raise InputError(f"{quote_file(path)} is not COCO JSON: it needs lists called 'images' and 'annotations'.")
    categories: dict[object, str] = {}
    for cat in doc.get("categories") or []:
        if isinstance(cat, dict) and "id" in cat and isinstance(cat.get("name"), str):
            categories[cat["id"]] = cat["name"]
    if not categories:
        raise InputError(f"{quote_file(path)} lists no 'categories' with an id and a name, so no box has a class.")
    problems: list[Problem] = []
    by_id: dict[object, Labels] = {}
    for i, entry in enumerate(doc["images"]):
        try:
            name = entry["file_name"]
            if not isinstance(name, str) or not name:
                raise ValueError("no file_name")
            size = (int(_number(entry["width"])), int(_number(entry["height"]))) if "width" in entry else None
            by_id[entry["id"]] = Labels(name, path, size)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(Problem(path, MALFORMED, f"images[{i}] needs an id and a file_name ({_short(exc)})"))
    for i, ann in enumerate(doc["annotations"]):
        problem = _add_coco_annotation(i, ann, by_id, categories, path)
        if problem is not None:
            problems.append(problem)
    return list(by_id.values()), problems


def _add_coco_annotation(
    i: int, ann: object, by_id: dict[object, Labels], categories: dict[object, str], path: str
) -> Problem | None:
    """Add annotation ``i`` to the labels of its image (a box, or a crowd region counted); the problem if it has
    no known image or category, or no box of four numbers."""
    if not isinstance(ann, dict):
        return Problem(path, MALFORMED, f"annotations[{i}] is not an object")
    labels = by_id.get(ann.get("image_id"))
    if labels is None:
        return Problem(
            path, MISSING_IMAGE, f"annotations[{i}] names image_id {ann.get('image_id')!r}, which is not in 'images'"
        )
    cls = categories.get(ann.get("category_id"))
    if cls is None:
        return Problem(
            path,
            UNKNOWN_CLASS,
            f"annotations[{i}] has category_id {ann.get('category_id')!r}, which is not in 'categories'",
        )
    if ann.get("iscrowd"):
        labels.crowd += 1
        return None
    try:
        x, y, w, h = (_number(v) for v in ann["bbox"])
    except (KeyError, TypeError, ValueError) as exc:
        return Problem(path, MALFORMED, f"annotations[{i}]: bbox must be [x, y, width, height] ({_short(exc)})")
    labels.boxes.append((cls, x, y, x + w, y + h))
    return None


# ------------------------------------------------------------------------------------------------ YOLO

#: File names a YOLO export keeps its class names in (Darknet, Ultralytics, labelImg, CVAT, Label Studio).
YOLO_NAME_FILES = ("classes.txt", "obj.names", "data.yaml", "dataset.yaml", "data.yml", "notes.json")


def parse_yolo_names(data: bytes, path: str) -> list[str]:
    """Class names, index = class number, from ``classes.txt``/``*.names`` (one a line), ``data.yaml`` (``names:``
    as a list or a mapping) or Label Studio's ``notes.json``; :class:`InputError` when none can be read."""
    text = data.decode("utf-8-sig", errors="replace")
    name = PurePosixPath(path).name.lower()
    if name.endswith((".yaml", ".yml")):
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"{quote_file(path)} is not valid YAML ({_short(exc)}).") from exc
        names = doc.get("names") if isinstance(doc, dict) else None
        if isinstance(names, dict):
            try:
                top = max(int(k) for k in names)
                return [str(names.get(k, names.get(str(k), f"class {k}"))) for k in range(top + 1)]
            except (TypeError, ValueError) as exc:
                raise InputError(f"{quote_file(path)}: the keys of 'names' must be class numbers.") from exc
        if isinstance(names, list) and names:
            return [str(n) for n in names]
        raise InputError(f"{quote_file(path)} has no 'names' list of classes.")
    if name.endswith(".json"):
        try:
            cats = json.loads(text).get("categories", [])
            return [str(c["name"]) for c in sorted(cats, key=lambda c: int(c["id"]))]
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InputError(f"{quote_file(path)} does not list 'categories' with ids and names.") from exc
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise InputError(f"{quote_file(path)} is empty: it should name one class a line.")
    return names


def parse_yolo(data: bytes, path: str, image: str, names: list[str]) -> tuple[Labels, list[Problem]]:
    """The boxes of one YOLO label file (for ``image``); a bad line is a problem, the other lines still count.

    Boxes stay fractions of the image (``normalised``) until the image's size is known. Segment lines (a class
    and a polygon of x y pairs, as Ultralytics writes for segmentation) give their polygon's bounding box.
    """
    labels = Labels(image, path, normalised=True)
    problems: list[Problem] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return labels, [Problem(path, MALFORMED, "not a text file")]
    for n, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        where = f"line {n}: {line.strip()[:60]!r}"
        try:
            cls_number = int(parts[0])
            values = [_number(v) for v in parts[1:]]
        except ValueError:
            problems.append(Problem(path, MALFORMED, f"{where} should be: class x_centre y_centre width height"))
            continue
        if len(values) == 4:
            cx, cy, w, h = values
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            box = (min(xs), min(ys), max(xs), max(ys))
        else:
            problems.append(Problem(path, MALFORMED, f"{where} should be: class x_centre y_centre width height"))
            continue
        if not 0 <= cls_number < len(names):
            problems.append(
                Problem(
                    path,
                    UNKNOWN_CLASS,
                    f"{where}: class {cls_number}, but the classes file names {len(names)} (0–{len(names) - 1})",
                )
            )
            continue
        labels.boxes.append((names[cls_number], *box))
    return labels, problems


# ------------------------------------------------------------------------------------------------ VOC

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def looks_like_voc(data: bytes) -> bool:
    """Whether an ``.xml`` file is a Pascal VOC annotation (its root element is ``<annotation>``)."""
    return b"<annotation" in data[:4096]


def parse_voc(data: bytes, path: str) -> tuple[Labels | None, list[Problem]]:
    """The image and boxes of one Pascal VOC xml file; ``None`` and a problem when the file cannot be read.

    Files with a DOCTYPE or entities are refused unread (VOC files never need them; entity expansion is how XML
    bombs work). ``difficult`` objects are kept, as torchvision's VOC reader keeps them.
    """
    if _DOCTYPE.search(data):
        return None, [Problem(path, MALFORMED, "XML with a DOCTYPE or entities is not accepted")]
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        return None, [Problem(path, MALFORMED, f"not valid XML ({_short(exc)})")]
    if root.tag != "annotation":
        return None, [Problem(path, MALFORMED, f"the root element is <{root.tag[:30]}>, not <annotation>")]
    image = (root.findtext("filename") or "").strip()
    if not image:  # some tools write only <path>, the file's place on the labeller's own computer
        image = (root.findtext("path") or "").strip().replace("\\", "/").rsplit("/", 1)[-1]
    image = image or PurePosixPath(path).stem  # then an image of the xml's own name
    size = None
    try:
        w, h = int(_number(root.findtext("size/width"))), int(_number(root.findtext("size/height")))
        size = (w, h) if w > 0 and h > 0 else None
    except (TypeError, ValueError):
        size = None
    labels = Labels(image, path, size)
    problems: list[Problem] = []
    for i, obj in enumerate(root.iter("object"), start=1):
        cls = (obj.findtext("name") or "").strip()
        where = f"object {i}" + (f" ({cls[:40]})" if cls else "")
        if not cls:
            problems.append(Problem(path, UNKNOWN_CLASS, f"{where} has no <name>"))
            continue
        try:
            x0, y0, x1, y1 = (_number(obj.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax"))
        except (TypeError, ValueError):
            problems.append(Problem(path, MALFORMED, f"{where}: <bndbox> needs numbers xmin, ymin, xmax, ymax"))
            continue
        labels.boxes.append((cls, x0 - 1, y0 - 1, x1, y1))
    return labels, problems


def quote_file(text: str) -> str:
    """A file name quoted for a message to the student (shown literally, on one line, cut short)."""
    return "“" + text.replace("\n", " ")[:80] + "”"
