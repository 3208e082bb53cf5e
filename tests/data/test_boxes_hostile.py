"""Hostile and broken labelled zips (the shared corpus of tests/hostile.py): a clear message or a skip report,
never a traceback, in the reader and on the page."""

from __future__ import annotations

import json

import pytest

from cnn_demo.data import boxes
from cnn_demo.data.boxes import formats
from cnn_demo.errors import InputError
from tests.conftest import app_test, assert_no_exception, shown_errors
from tests.hostile import EMPTY_ZIP, Case, bad_utf8_names, bomb_entry, broken_images, make_zip, png_bytes, symlink_entry

CLASSES = ("classes.txt", b"person\n")


def replaced(entries: list[tuple[str, bytes]], name: str, data: bytes) -> list[tuple[str, bytes]]:
    """``entries`` with ``name``'s content replaced (a zip with two entries of one name is damaged, not malformed)."""
    assert any(n == name for n, _ in entries)
    return [(n, data if n == name else d) for n, d in entries]


def yolo(n: int = 3) -> list[tuple[str, bytes]]:
    return [
        CLASSES,
        *[
            e
            for i in range(n)
            for e in ((f"images/p{i}.png", png_bytes(i, (40, 30))), (f"labels/p{i}.txt", b"0 0.5 0.5 0.4 0.6\n"))
        ],
    ]


def coco(annotations, images=None) -> bytes:
    images = images or [{"id": 1, "file_name": "p0.png", "width": 40, "height": 30}]
    return json.dumps(
        {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
    ).encode()


def errors() -> list[Case]:
    """Zips that cannot be trained on: the message a student must read."""
    nested = b"[" * 100_000 + b"]" * 100_000
    return [
        Case("not-a-zip.zip", b"not a zip at all", "not a valid .zip"),
        Case("zero-bytes.zip", b"", "empty"),
        Case("empty.zip", EMPTY_ZIP, "No box labels found"),
        Case(
            "names.zip",
            bad_utf8_names([CLASSES, ("images/é.png", png_bytes(1)), ("labels/é.txt", b"0 .5 .5 .2 .2")]),
            "not valid UTF-8",
        ),
        Case("bomb.zip", make_zip([*yolo(), bomb_entry("images/z.png")]), "compression bomb"),
        Case("bomb-json.zip", make_zip([bomb_entry("annotations.json")]), "compression bomb"),
        Case("nested-json.zip", make_zip([("annotations.json", nested)]), "nested too deeply"),
        Case("not-json.zip", make_zip([("annotations.json", b"\xff\xfe{"), ("p0.png", png_bytes(1))]), "not UTF-8"),
        Case("coco-list.zip", make_zip([("a.json", json.dumps({"annotations": {}}).encode())]), "is not COCO JSON"),
        Case(
            "links.zip",
            make_zip(
                [
                    CLASSES,
                    *[(symlink_entry(f"images/p{i}.png"), "/etc/passwd") for i in range(2)],
                    *[(f"labels/p{i}.txt", b"0 .5 .5 .2 .2") for i in range(2)],
                ]
            ),
            "No labelled photo could be read",
        ),
        Case(
            "slip.zip",
            make_zip([CLASSES, ("../images/p0.png", png_bytes(1)), ("/labels/p0.txt", b"0 .5 .5 .2 .2")]),
            "No box labels found",
        ),
        Case(
            "all-broken.zip",
            make_zip(
                [
                    CLASSES,
                    *[
                        e
                        for i, c in enumerate(broken_images()[:4])
                        for e in ((f"images/b{i}.png", c.data), (f"labels/b{i}.txt", b"0 .5 .5 .2 .2"))
                    ],
                ]
            ),
            "No labelled photo could be read",
        ),
    ]


def skips() -> list[tuple[Case, str]]:
    """Zips that train on what is good and list the rest: (case, the reason reported)."""
    bad_json = coco(
        [
            {"image_id": 1, "category_id": 1, "bbox": [float("nan"), 1, 5, 5]},
            {"image_id": 1, "category_id": 1, "bbox": [1, 1, 20, 20]},
        ]
    )
    return [
        (
            Case("nan.zip", make_zip([*replaced(yolo(), "labels/p0.txt", b"0 nan 0.5 0.1 0.1\n0 inf 1 1 1\n")]), None),
            formats.MALFORMED,
        ),
        (
            Case(
                "nan-coco.zip",
                make_zip(
                    [
                        ("annotations.json", bad_json),
                        ("p0.png", png_bytes(0, (40, 30))),
                        ("p1.png", png_bytes(1, (40, 30))),
                    ]
                ),
                None,
            ),
            formats.MALFORMED,
        ),
        (
            Case(
                "xml-bomb.zip",
                make_zip(
                    [
                        (
                            "Annotations/a.xml",
                            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                            b'<!ENTITY lol2 "&lol;&lol;&lol;">]><annotation>&lol2;</annotation>',
                        )
                    ]
                ),
                None,
            ),
            formats.MALFORMED,
        ),
        (
            Case(
                "one-broken-photo.zip",
                make_zip([*yolo(3), ("images/x.png", broken_images()[0].data), ("labels/x.txt", b"0 .5 .5 .2 .2")]),
                None,
            ),
            formats.BAD_IMAGE,
        ),
        (
            Case("giant-box.zip", make_zip(replaced(yolo(3), "labels/p1.txt", b"0 0.5 0.5 1e30 1e30\n")), None),
            formats.OUTSIDE,
        ),
    ]


@pytest.mark.parametrize("case", errors(), ids=lambda c: c.name)
def test_unusable_zips_are_one_clear_error(case):
    try:
        ds = boxes.read_box_zip(case.data, case.name)
    except InputError as exc:
        assert case.message.lower() in str(exc).lower(), str(exc)
    else:
        assert case.message.lower() in " ".join(ds.report.errors).lower(), ds.report


@pytest.mark.parametrize(("case", "reason"), skips(), ids=lambda c: getattr(c, "name", ""))
def test_broken_parts_are_listed_and_the_rest_is_read(case, reason):
    ds = boxes.read_box_zip(case.data, case.name)
    assert reason in {p.reason for p in ds.report.problems}, ds.report.problems


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    return tmp_path


def test_the_page_refuses_hostile_zips_then_accepts_a_good_one(state):
    at = app_test("app_pages/applications/train_detector.py")
    at.radio(key="detector_data").set_value("upload").run()
    good = make_zip(yolo(3))
    for case in errors():
        at.file_uploader(key="detector_zip").set_value((case.name, case.data, "application/zip")).run()
        assert_no_exception(at)
        assert case.message.lower() in " ".join(shown_errors(at)).lower(), (case.name, shown_errors(at))
        assert not at.success, case.name
        at.file_uploader(key="detector_zip").set_value(("good.zip", good, "application/zip")).run()
        assert not at.error, (case.name, shown_errors(at))
        assert any("Ready to train: 3 photos, 3 person boxes" in s.value for s in at.success)
