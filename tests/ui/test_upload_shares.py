"""Uploaded datasets count against the disk shares of their user and address, together with their job folders (before:
four re-zipped uploads stored 234 MB with nothing refused), and a decode cut off by a restart leaves nothing behind.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnn_demo import jobs
from cnn_demo.data import datasets as D
from cnn_demo.settings import Settings
from tests.conftest import assert_no_exception, shown_errors
from tests.hostile import make_zip
from tests.jobs_fixture import job_env

MB = 1_000_000


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict[str, str]:
    return job_env(tmp_path, monkeypatch, CNN_DEMO_DISK_PER_USER_MB="3", CNN_DEMO_DISK_PER_ADDRESS_MB="5")


def noisy_zip(seed: int, images: int = 8) -> bytes:
    """A dataset zip of incompressible images (~60 kB each): what a student's re-zipped photos look like."""
    from PIL import Image

    from tests.hostile import _encode

    rng = np.random.default_rng(seed)
    return make_zip(
        [
            (f"{c}/{i}.png", _encode(Image.fromarray(rng.integers(0, 256, (140, 140, 3), dtype=np.uint8))))
            for c in "ab"
            for i in range(images // 2)
        ]
    )


def dataset_page() -> None:
    from cnn_demo.ui.datasets import dataset_input

    dataset_input("d")


def upload(at: AppTest, data: bytes) -> list[str]:
    at.file_uploader(key="d_zip").set_value(("data.zip", data, "application/zip")).run()
    assert_no_exception(at)
    return shown_errors(at)


def test_re_zipped_uploads_stop_at_the_users_disk_share(env):
    at = AppTest.from_function(dataset_page, default_timeout=60)
    at.run()
    taken = refused = 0
    for seed in range(6):  # the same student, six different zips of ~0.5 MB (1 MB reserved for each)
        errors = upload(at, noisy_zip(seed))
        if any("Your jobs and uploads take" in e and "more than the 3 MB each user may keep" in e for e in errors):
            refused += 1
        else:
            assert not errors, errors
            taken += 1
    owner = at.session_state["jobs_owner"]
    assert taken >= 2 and refused >= 1 and jobs.held_bytes(Settings.from_env(), owner=owner) <= 3 * MB


def test_uploads_and_jobs_share_one_disk_share(env):
    at = AppTest.from_function(dataset_page, default_timeout=60)
    at.run()
    assert upload(at, noisy_zip(0)) == []
    owner = at.session_state["jobs_owner"]
    jobs.submit("test_count", {"steps": 1}, owner, files={"data.zip": b"x" * 2_000_000})
    assert any("Your jobs and uploads take 3 MB" in e for e in upload(at, noisy_zip(1))), shown_errors(at)


def test_new_identities_on_one_address_share_its_disk_share(env):
    refused = 0
    for seed in range(8):  # cleared cookies every time: a new tab identity, the same (unknown) address
        at = AppTest.from_function(dataset_page, default_timeout=60)
        at.run()
        errors = upload(at, noisy_zip(seed))
        refused += any("from your network address take" in e and "5 MB one address may keep" in e for e in errors)
    assert refused >= 1
    assert jobs.held_bytes(Settings.from_env(), client=jobs.UNKNOWN_CLIENT) <= 5 * MB


def test_a_decode_cut_off_by_a_restart_leaves_nothing_behind(env):
    store = jobs.store_dir(Settings.from_env())
    store.mkdir(parents=True)
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout)
    tag = jobs.storage.HOST_TAG
    cut_off = store / f".tmp-{'k' * 40}-{tag}-{dead}-abcd1234"
    running = store / f".tmp-{'k' * 40}-{tag}-{os.getpid()}-abcd1234"
    elsewhere = store / f".tmp-{'k' * 40}-00000000-{dead}-abcd1234"  # another machine's: only its age tells
    for folder in (cut_off, running, elsewhere):
        folder.mkdir()
        (folder / "pixels.bin").write_bytes(b"\0" * 14 * MB)
    assert jobs.remove_abandoned(store) == [cut_off.name]
    old = os.stat(elsewhere).st_mtime - jobs.storage.TEMP_TTL_S - 10
    os.utime(elsewhere, (old, old))
    assert D.cleanup_store(store, 72 * 3600) == [elsewhere.name]
    assert [p.name for p in store.iterdir()] == [running.name]
