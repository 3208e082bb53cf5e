"""Labelled box zips in the three formats labelling tools export: the same boxes from each, and clear reports on
broken ones (outside the image, negative size, unknown class, missing image, malformed JSON/XML/txt)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from cnn_demo.data import boxes
from cnn_demo.data.boxes import formats
from cnn_demo.errors import InputError

#: The reference: three photos (width, height) and their person boxes x0, y0, x1, y1 in pixels, plus a dog box.
SIZES = {"a": (80, 60), "b": (64, 64), "c": (50, 70)}
PEOPLE = {"a": [(10, 5, 30, 55), (40, 10, 70, 50)], "b": [(0, 0, 64, 64)], "c": []}
DOGS = {"c": [(5, 40, 25, 60)]}


def photo(name: str) -> bytes:
    w, h = SIZES[name]
    rng = np.random.default_rng(ord(name))
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def coco_files(**change) -> dict[str, bytes | str]:
    """The reference written by hand as COCO JSON: bbox = [x, y, w, h]; person is category 1, dog 18."""
    images = [
        {"id": i, "file_name": f"{n}.png", "width": SIZES[n][0], "height": SIZES[n][1]}
        for i, n in enumerate(SIZES, start=1)
    ]
    anns = []
    for i, n in enumerate(SIZES, start=1):
        for cat, table in ((1, PEOPLE), (18, DOGS)):
            for x0, y0, x1, y1 in table.get(n, []):
                anns.append(
                    {"id": len(anns) + 1, "image_id": i, "category_id": cat, "bbox": [x0, y0, x1 - x0, y1 - y0]}
                )
    doc = {
        "images": images,
        "annotations": anns,
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}],
        **change,
    }
    return {"annotations.json": json.dumps(doc), **{f"images/{n}.png": photo(n) for n in SIZES}}


def yolo_files() -> dict[str, bytes | str]:
    """The reference as YOLO: class cx cy w h as fractions; classes.txt names 0 = dog, 1 = person."""
    files: dict[str, bytes | str] = {"classes.txt": "dog\nperson\n"}
    for n, (w, h) in SIZES.items():
        lines = [
            f"{cls} {(x0 + x1) / 2 / w} {(y0 + y1) / 2 / h} {(x1 - x0) / w} {(y1 - y0) / h}"
            for cls, table in ((1, PEOPLE), (0, DOGS))
            for x0, y0, x1, y1 in table.get(n, [])
        ]
        files[f"images/{n}.png"] = photo(n)
        files[f"labels/{n}.txt"] = "\n".join(lines) + "\n"
    return files


def voc_files() -> dict[str, bytes | str]:
    """The reference as Pascal VOC: 1-based xmin ymin, inclusive xmax ymax, so x0 + 1 … x1."""
    files: dict[str, bytes | str] = {}
    for n, (w, h) in SIZES.items():
        objs = "".join(
            f"<object><name>{cls}</name><bndbox><xmin>{x0 + 1}</xmin><ymin>{y0 + 1}</ymin><xmax>{x1}</xmax>"
            f"<ymax>{y1}</ymax></bndbox></object>"
            for cls, table in (("person", PEOPLE), ("dog", DOGS))
            for x0, y0, x1, y1 in table.get(n, [])
        )
        files[f"Annotations/{n}.xml"] = (
            f"<annotation><filename>{n}.png</filename><size><width>{w}</width>"
            f"<height>{h}</height><depth>3</depth></size>{objs}</annotation>"
        )
        files[f"JPEGImages/{n}.png"] = photo(n)
    return files


def as_dict(ds: boxes.BoxDataset) -> dict[str, list[tuple[float, ...]]]:
    return {
        name.rsplit("/", 1)[-1].split(".")[0]: [tuple(map(float, b)) for b in bx]
        for name, bx in zip(ds.names, ds.boxes, strict=True)
    }


@pytest.mark.parametrize(
    ("files", "fmt"), [(coco_files, "COCO JSON"), (yolo_files, "YOLO txt"), (voc_files, "Pascal VOC xml")]
)
def test_each_format_gives_the_reference_boxes(files, fmt):
    ds = boxes.read_box_zip(make_zip(files()), "labels.zip")
    r = ds.report
    assert r.format == fmt and r.ok and not r.problems, r
    got = as_dict(ds)
    assert set(got) == set(SIZES)
    for name, expected in PEOPLE.items():
        assert np.allclose(np.array(got[name]).reshape(-1, 4), np.array(expected, float).reshape(-1, 4), atol=1e-4)
    assert (r.n_images, r.n_boxes, r.n_without) == (3, 3, 1)
    assert dict(r.other_classes) == {"dog": 1}


@pytest.mark.parametrize("fmt", list(boxes.FORMATS))
def test_example_zips_read_back_with_their_boxes(fmt):
    sample = boxes.load_people_sample()
    sub = sample.subset([0, 1, 2, 3, 4, 5, 6, 7])
    back = boxes.read_box_zip(boxes.to_zip(sub, fmt), f"{fmt}.zip")
    assert back.report.ok and not back.report.problems and back.report.format == boxes.FORMATS[fmt]
    assert [n.rsplit("/", 1)[-1] for n in back.names] == [
        n.rsplit("/", 1)[-1].replace(".png", ".jpg") for n in sub.names
    ]
    for a, b in zip(sub.boxes, back.boxes, strict=True):
        assert a.shape == b.shape and np.allclose(a, b, atol=1.0)  # VOC stores whole pixels


def test_the_people_sample_reads_cleanly():
    ds = boxes.load_people_sample()
    r = ds.report
    assert (len(ds), r.n_images, r.format) == (128, 128, "COCO JSON") and r.ok and not r.problems
    assert r.n_boxes == sum(len(b) for b in ds.boxes) == 254 and r.n_crowd == 5 and r.n_without == 67
    assert max(max(a.shape[:2]) for a in ds.images) <= boxes.BOX_LIMITS.max_side


def problems(ds: boxes.BoxDataset) -> dict[str, list[formats.Problem]]:
    out: dict[str, list[formats.Problem]] = {}
    for p in ds.report.problems:
        out.setdefault(p.reason, []).append(p)
    return out


def test_broken_coco_boxes_are_left_out_with_reasons():
    files = coco_files()
    doc = json.loads(files["annotations.json"])
    doc["annotations"] += [
        {"image_id": 1, "category_id": 1, "bbox": [100, 100, 20, 20]},  # wholly outside the 80×60 photo
        {"image_id": 1, "category_id": 1, "bbox": [10, 10, -5, 20]},  # negative width
        {"image_id": 1, "category_id": 7, "bbox": [1, 1, 5, 5]},  # no category 7
        {"image_id": 1, "category_id": 1, "bbox": [64, 44, 20, 20]},  # crosses the border: cut to it
        {"image_id": 1, "category_id": 1, "bbox": [75, 55, 20, 20]},  # 1/16 of it inside: a box for another photo
        {"image_id": 1, "category_id": 1, "bbox": "wide"},
        {"image_id": 99, "category_id": 1, "bbox": [1, 1, 5, 5]},
    ]
    doc["images"].append({"id": 4, "file_name": "gone.png", "width": 10, "height": 10})
    files["annotations.json"] = json.dumps(doc)
    ds = boxes.read_box_zip(make_zip(files))
    found = problems(ds)
    assert len(found[formats.OUTSIDE]) == 2 and "100.0, 100.0, 120.0, 120.0" in found[formats.OUTSIDE][0].detail
    assert "75.0, 55.0, 95.0, 75.0 in a 80×60 photo" in found[formats.OUTSIDE][1].detail
    assert len(found[formats.NEGATIVE_SIZE]) == 1
    assert len(found[formats.UNKNOWN_CLASS]) == 1 and "category_id 7" in found[formats.UNKNOWN_CLASS][0].detail
    assert len(found[formats.MALFORMED]) == 1 and "bbox" in found[formats.MALFORMED][0].detail
    missing = " ".join(p.detail for p in found[formats.MISSING_IMAGE])
    assert "gone.png" in missing and "image_id 99" in missing
    assert ds.report.n_clipped == 1 and ds.report.ok
    assert np.allclose(as_dict(ds)["a"][-1], (64, 44, 80, 60))


def test_broken_yolo_lines_are_left_out_with_reasons():
    files = yolo_files()
    files["labels/a.txt"] += "1 0.5 0.5 -0.2 0.3\n5 0.5 0.5 0.1 0.1\n1 0.5 half 0.1 0.1\n1 1.5 1.5 0.2 0.2\n"
    files["labels/lost.txt"] = "1 0.5 0.5 0.1 0.1\n"
    ds = boxes.read_box_zip(make_zip(files))
    found = problems(ds)
    assert len(found[formats.NEGATIVE_SIZE]) == 1
    assert "class 5, but the classes file names 2" in found[formats.UNKNOWN_CLASS][0].detail
    assert "line 5" in found[formats.MALFORMED][0].detail and found[formats.MALFORMED][0].path == "labels/a.txt"
    assert len(found[formats.OUTSIDE]) == 1
    assert found[formats.MISSING_IMAGE][0].path == "labels/lost.txt"
    assert ds.report.n_boxes == 3


def test_broken_voc_files_are_left_out_with_reasons():
    files = voc_files()
    files["Annotations/bad.xml"] = "<annotation><filename>bad.png</filename><object>"
    files["Annotations/bomb.xml"] = '<!DOCTYPE a [<!ENTITY x "xx">]><annotation>&x;</annotation>'
    files["Annotations/nobox.xml"] = (
        "<annotation><filename>b.png</filename><object><name>person</name>"
        "<bndbox><xmin>a</xmin></bndbox></object></annotation>"
    )
    files["Annotations/lost.xml"] = "<annotation><filename>lost.jpg</filename></annotation>"
    ds = boxes.read_box_zip(make_zip(files))
    found = problems(ds)
    details = " ".join(f"{p.path}: {p.detail}" for p in found[formats.MALFORMED])
    assert "bad.xml: not valid XML" in details and "bomb.xml: XML with a DOCTYPE" in details
    assert any("lost.jpg" in p.detail for p in found[formats.MISSING_IMAGE])
    # nobox.xml names b.png a second time: its labels are refused, b.png keeps the first file's box.
    assert ds.report.n_boxes == 3


def test_a_photo_of_another_size_than_its_labels_is_left_out():
    files = voc_files()
    files["Annotations/b.xml"] = files["Annotations/b.xml"].replace("<width>64</width>", "<width>640</width>")
    ds = boxes.read_box_zip(make_zip(files))
    assert "the labels are for 640×64 pixels, the photo has 64×64" in problems(ds)[formats.SIZE_MISMATCH][0].detail
    assert len(ds) == 2


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"annotations.json": '{"images": [,]}', "a.png": b"x"}, "is not valid JSON: Expecting value at line 1"),
        ({"annotations.json": '{"images": [], "annotations": []}'}, "lists no 'categories'"),
        ({"labels/a.txt": "0 0.5 0.5 0.1 0.1", "images/a.png": b"x"}, "no classes file"),
        ({"images/a.png": b"x", "notes.md": "hello"}, "No box labels found in this zip"),
        ({"data.yaml": "names: [", "labels/a.txt": "0 0.5 0.5 0.1 0.1"}, "is not valid YAML"),
    ],
)
def test_unreadable_labels_are_a_clear_error(files, message):
    with pytest.raises(InputError, match=message):
        boxes.read_box_zip(make_zip(files))


def test_not_a_zip_is_a_clear_error():
    with pytest.raises(InputError, match=r"not a valid \.zip"):
        boxes.read_box_zip(b"PK this is no zip")


def test_no_person_box_blocks_training_and_names_the_classes_found():
    files = yolo_files()
    files["classes.txt"] = "dog\ncat\n"
    ds = boxes.read_box_zip(make_zip(files))
    assert not ds.report.ok
    assert "None of the boxes is of the class 'person'; the labels name cat (3), dog (1)" in ds.report.errors[0]
    with pytest.raises(InputError, match="label the persons as 'person'"):
        ds.require_trainable()


def test_one_photo_with_a_person_is_not_enough():
    files = coco_files()
    doc = json.loads(files["annotations.json"])
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] == 1]
    files["annotations.json"] = json.dumps(doc)
    ds = boxes.read_box_zip(make_zip(files))
    assert ds.report.errors == (
        "Only 1 photo has a person box; at least 2 are needed (one to train on, one to check).",
    )


def test_yolo_names_from_data_yaml_and_photos_without_labels_are_negatives():
    files = yolo_files()
    del files["classes.txt"], files["labels/c.txt"]
    files["data.yaml"] = "names:\n  0: dog\n  1: person\n"
    ds = boxes.read_box_zip(make_zip(files))
    assert ds.report.ok and not ds.report.problems and ds.report.n_without == 1 and ds.report.n_boxes == 3


def test_coco_photos_not_in_the_json_are_reported_and_crowds_counted():
    files = coco_files()
    files["images/extra.png"] = photo("a")
    doc = json.loads(files["annotations.json"])
    doc["annotations"].append({"image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 1})
    files["annotations.json"] = json.dumps(doc)
    ds = boxes.read_box_zip(make_zip(files))
    assert problems(ds)[formats.NO_LABELS][0].path == "images/extra.png"
    assert ds.report.n_crowd == 1 and ds.report.n_boxes == 3


def test_coco_ground_truth_of_a_dataset():
    ds = boxes.read_box_zip(make_zip(coco_files()))
    gt = ds.to_coco()
    assert [im["id"] for im in gt["images"]] == [1, 2, 3]
    assert [a["bbox"] for a in gt["annotations"]] == [[10, 5, 20, 50], [40, 10, 30, 40], [0, 0, 64, 64]]
