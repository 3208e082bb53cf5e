"""Every image upload path in the app refuses broken files with a message and copes with odd valid ones."""

from __future__ import annotations

import pytest

from cnn_demo.ui.catalog import PAGES
from tests.conftest import app_test, assert_no_exception
from tests.hostile import broken_images, odd_images

LOADER_REFUSALS = ("not an image", "truncated or corrupt", "the limit is", "at least 8 pixels", "too many pixels")
MIME = {"png": "image/png", "jpg": "image/jpeg"}


def _is_picker(radio) -> bool:
    return bool(radio.key) and radio.key.endswith("_source") and list(radio.options) == ["Sample", "Upload"]


def _upload_pickers(at):
    """Switch every shared image picker on the page to 'Upload'; return the keys of their uploaders."""
    prefixes = [r.key[: -len("_source")] for r in at.radio if _is_picker(r)]
    for prefix in prefixes:
        at.radio(key=f"{prefix}_source").set_value("Upload")
    if prefixes:
        at.run()
    return [f"{p}_upload" for p in prefixes]


def _pages_with_pickers():
    found = []
    for spec in PAGES:
        at = app_test(spec.path)
        if any(_is_picker(r) for r in at.radio):
            found.append(spec)
    return found


PICKER_PAGES = _pages_with_pickers()


def test_some_pages_have_pickers():
    assert any(p.url_path == "pixels" for p in PICKER_PAGES)


@pytest.mark.parametrize("spec", PICKER_PAGES, ids=[p.url_path for p in PICKER_PAGES])
def test_broken_and_odd_uploads(spec):
    at = app_test(spec.path)
    keys = _upload_pickers(at)
    assert keys
    for case in broken_images():
        at.file_uploader(key=keys[0]).set_value((case.name, case.data, MIME[case.name.rsplit(".", 1)[-1]]))
        at.run()
        assert_no_exception(at)
        errors = " ".join(e.value for e in at.error)
        assert case.message.lower() in errors.lower(), (spec.path, case.name, errors)
    for case in odd_images():
        at.file_uploader(key=keys[0]).set_value((case.name, case.data, MIME[case.name.rsplit(".", 1)[-1]]))
        at.run()
        assert_no_exception(at)
        # Odd but valid images must decode; a page may still explain why it cannot use one (a 17×17 kernel on
        # a 2000×8 strip), but never with one of the loader's refusals.
        refusals = [e.value for e in at.error if any(m in e.value for m in LOADER_REFUSALS)]
        assert not refusals, (spec.path, case.name, refusals)
