"""Memory and disk (issue #14): uploaded datasets are decoded once into a shared store on disk, a session keeps
only a folder name, jobs get the original compressed files, and a refused submit leaves nothing behind."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from cnn_demo import finetune, jobs
from cnn_demo.data import datasets as D
from tests.conftest import app_test, assert_no_exception, shown_errors


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path))
    return tmp_path


def small_pngs_zip(n: int = 60, side: int = 64) -> bytes:
    """Flat-colour PNGs: tiny files whose pixels are 100 times larger (the issue's 5,000-image zip, scaled down)."""
    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(n):
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            b = io.BytesIO()
            Image.new("RGB", (side, side), colour).save(b, "PNG")
            zf.writestr(f"{'abc'[i % 3]}/{i}.png", b.getvalue())
    return buf.getvalue()


def photos_zip(n: int = 8, size: tuple[int, int] = (160, 120)) -> tuple[bytes, dict[str, bytes]]:
    """Small JPEG photos (smooth, so they compress as photos do) and the files themselves by name."""
    rng = np.random.default_rng(1)
    files = {}
    for i in range(n):
        x = np.linspace(0, 1, size[0])[None, :, None]
        y = np.linspace(0, 1, size[1])[:, None, None]
        arr = (255 * (0.5 + 0.5 * np.sin(6 * x + 4 * y + rng.uniform(0, 6, 3)))).astype(np.uint8)
        b = io.BytesIO()
        Image.fromarray(arr).save(b, "JPEG", quality=80)
        files[f"{'ab'[i % 2]}/{i}.jpg"] = b.getvalue()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue(), files


def test_a_stored_dataset_is_decoded_once_shared_and_small(tmp_path):
    data = small_pngs_zip()
    ds = D.read_zip_dataset(data, "flat.zip", store=tmp_path)
    assert isinstance(ds.images, D.DiskImages)
    again = D.read_zip_dataset(data, "flat.zip", store=tmp_path)
    assert again.images.folder == ds.images.folder  # the second upload of the same zip decodes nothing
    assert [p.name for p in tmp_path.iterdir() if p.is_dir()] == [ds.images.folder.name]  # no temporary folder
    # Small PNGs stay as files (decoded on access): the store is about the zip's size, not 100 times it.
    assert ds.nbytes == 60 * 64 * 64 * 3 and ds.images.disk_bytes < 3 * len(data) < ds.nbytes
    memory = D.read_zip_dataset(data, "flat.zip")
    assert memory.report == again.report and memory.class_names == again.class_names
    assert all(np.array_equal(memory.images[i], again.images[i]) for i in range(len(memory)))
    assert not again.images[0].flags.writeable
    # Large photos shrunk to 256 px keep their pixels too (smaller than the file), mapped from disk.
    big = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (600, 800, 3), dtype=np.uint8)).save(big, "PNG")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as zf:
        for c in "ab":
            for i in range(2):
                zf.writestr(f"{c}/{i}.png", big.getvalue() + bytes([i]) + c.encode())  # distinct files, same image
    photo = D.read_zip_dataset(zipped.getvalue(), "big.zip", store=tmp_path)
    assert isinstance(photo.images[0], np.memmap) and photo.images[0].shape == (192, 256, 3)


def test_stored_datasets_expire_unless_opened(tmp_path):
    import os
    import time

    ds = D.read_zip_dataset(small_pngs_zip(9), "x.zip", store=tmp_path)
    folder = ds.images.folder
    old = time.time() - 7200
    os.utime(folder, (old, old))
    assert D.cleanup_store(tmp_path, 3600) == [folder.name]
    assert D.open_stored_dataset(folder) is None
    assert D.read_zip_dataset(small_pngs_zip(9), "x.zip", store=tmp_path).report.n_images == 9  # decoded again


def test_a_job_gets_the_uploaded_jpegs_not_re_encoded_pngs(tmp_path):
    data, files = photos_zip()
    ds = D.read_zip_dataset(data, "photos.zip", store=tmp_path)
    split = D.split_dataset(ds, 0.25, seed=0)
    packed = finetune.pack_dataset(ds, split)
    with zipfile.ZipFile(io.BytesIO(packed)) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != "manifest.json"}
    assert set(members.values()) == set(files.values())  # byte for byte the uploaded files
    reencoded = finetune.pack_dataset(D.read_zip_dataset(data, "photos.zip"), split)  # the old way: PNGs
    assert len(packed) < 1.1 * len(data) < len(reencoded)
    unpacked = finetune.unpack_data(packed)
    assert all(
        np.array_equal(np.asarray(unpacked.train_images[k]), ds.images[int(i)]) for k, i in enumerate(split.train)
    )  # the job trains on exactly the pixels the page showed


def test_the_fine_tune_page_keeps_no_dataset_in_the_session_and_a_refused_submit_leaves_no_folder(state, monkeypatch):
    from tests.conftest import free_port

    data, _ = photos_zip()
    at = app_test("app_pages/models/finetune.py")
    at.file_uploader(key="finetune_data_zip").set_value(("photos.zip", data, "application/zip")).run()
    assert_no_exception(at)
    assert any("Ready to train" in s.value for s in at.success)
    held = at.session_state["finetune_data_zip_dataset"]
    assert isinstance(held, tuple) and all(isinstance(x, str) for x in held)  # a digest and a folder name
    stored = [p for p in (state / "datasets").iterdir() if not p.name.startswith(".lock-")]
    assert len(stored) == 1, stored
    # The queue refuses the job: the student reads why, and no job folder (with its dataset copy) is left.
    monkeypatch.setenv("CNN_DEMO_REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    jobs.backends._queue.cache_clear()
    at.button(key="finetune_submit").click().run()
    assert_no_exception(at)
    assert any("queue is not reachable" in e for e in shown_errors(at))
    assert not (state / "jobs").exists() or not any((state / "jobs").iterdir())


def test_a_class_uploading_the_same_zip_at_once_decodes_it_once(tmp_path, monkeypatch):
    import threading

    data = small_pngs_zip(30)
    calls = []
    decode = D.decode_image
    # _decode_all, in the folders part, decodes each image
    monkeypatch.setattr(
        "cnn_demo.data.datasets.folders.decode_image", lambda *a, **k: calls.append(1) or decode(*a, **k)
    )
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(D.read_zip_dataset(data, "same.zip", store=tmp_path)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len({r.images.folder for r in results}) == 1
    assert len(calls) == 30  # one decode of each image, not four
