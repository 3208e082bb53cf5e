"""The class gallery (issue 23): publish a finished run read-only, unpublish, the teacher's hide, the leaderboard."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from cnn_demo import jobs
from cnn_demo.errors import InputError
from cnn_demo.jobs import gallery
from cnn_demo.jobs.records import owner_key
from cnn_demo.settings import get_settings

ALICE = "session-" + "1" * 32
BOB = "session-" + "2" * 32


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_DEMO_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def finished(owner: str, test: float | None, best: float = 0.9, model: bytes = b"MODEL-ZIP") -> str:
    """A finetune job of ``owner`` marked done with a result, a model and validation thumbnails."""
    job = jobs.submit("finetune", {"config": {"backbone": "myconvnet"}, "dataset": "ants & bees"}, owner)
    folder = get_settings().jobs_dir / job
    result = {
        "class_names": ["ants", "bees"],
        "n_train": 200,
        "n_val": 40,
        "n_test": 30 if test is not None else 0,
        "val_accuracy": best,
        "best_val_accuracy": best,
        "final_val_accuracy": best - 0.01,
        "baseline_val_accuracy": 0.5,
        "history": [{"epoch": 1, "val_accuracy": 0.7, "val_loss": 0.6}, {"epoch": 2, "val_accuracy": best}],
        "confusion": [[18, 2], [2, 18]],
        "mistakes": [{"index": 3, "true": 0, "pred": 1, "confidence": 0.8}],
        "config": {"backbone": "myconvnet", "strategy": "frozen", "epochs": 2, "image_size": 64},
        "owner_secret_field": owner,
    }
    if test is not None:
        result |= {"test_accuracy": test, "baseline_test_accuracy": 0.5}
    (folder / "result.json").write_text(json.dumps(result))
    status = json.loads((folder / "status.json").read_text())
    (folder / "status.json").write_text(json.dumps({**status, "state": "done", "done": 2, "total": 2}))
    (folder / "model.zip").write_bytes(model)
    thumbs = np.arange(5 * 8 * 8 * 3, dtype=np.uint8).reshape(5, 8, 8, 3)
    np.savez_compressed(folder / "val.npz", thumbs=thumbs, labels=np.zeros(5), probs=np.zeros((5, 2)))
    return job


def gallery_bytes(state) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((state / "gallery").rglob("*")) if p.is_file())


def test_publish_copies_only_the_public_parts(state):
    job = finished(ALICE, 0.9)
    code = jobs.new_recovery_code(job, ALICE)
    jobs.claim(job, code, BOB)  # a second owner, through the recovery code
    entry = gallery.publish(job, ALICE, "  Alice\u202e\n  <b>A.</b> ", include_model=True)
    assert entry.name == "Alice <b>A.</b>"  # control and bidi characters gone; markup is escaped where shown
    assert entry.accuracies["test_accuracy"] == 0.9 and entry.accuracies["baseline_test_accuracy"] == 0.5
    assert entry.counts == {"train": 200, "val": 40, "test": 30} and entry.dataset == "ants & bees"
    assert gallery.model_bytes(job) == b"MODEL-ZIP"
    assert gallery.mistake_thumbnails(job).shape == (1, 8, 8, 3)
    stored = gallery_bytes(state) + json.dumps([e.to_dict() for e in gallery.published()]).encode()
    recovery = json.loads((get_settings().jobs_dir / job / "recovery.json").read_text())["hash"]
    for secret in (ALICE, BOB, owner_key(ALICE), owner_key(BOB), code, code.replace("-", ""), recovery):
        assert secret.encode() not in stored, secret
    assert b"owner_secret_field" not in stored
    assert {p.name for p in (state / "gallery" / job).iterdir()} == {
        "entry.json",
        "mistakes.npz",
        "model.zip",
        "publisher",
    }


def test_the_model_is_shared_only_when_asked():
    job = finished(ALICE, 0.8)
    entry = gallery.publish(job, ALICE, "Alice")
    assert not entry.has_model and gallery.model_bytes(job) is None


def test_only_the_owner_publishes_and_only_a_finished_finetune_run():
    job = finished(ALICE, 0.8)
    with pytest.raises(InputError):
        gallery.publish(job, BOB, "Bob")
    queued = jobs.submit("finetune", {"config": {}}, ALICE)
    with pytest.raises(InputError, match="finished fine-tuning"):
        gallery.publish(queued, ALICE, "Alice")
    with pytest.raises(InputError, match="display name"):
        gallery.publish(job, ALICE, " \n\t ")
    with pytest.raises(InputError):
        gallery.publish("../../etc", ALICE, "Alice")
    assert gallery.published() == []


def test_unpublish_by_the_publisher_only():
    job = finished(ALICE, 0.8)
    gallery.publish(job, ALICE, "Alice")
    assert gallery.is_publisher(job, ALICE) and not gallery.is_publisher(job, BOB)
    with pytest.raises(InputError, match="Only the student"):
        gallery.unpublish(job, BOB)
    assert [e.job_id for e in gallery.published()] == [job]
    jobs.delete(job, ALICE)  # the job is gone; its publisher may still take the entry out
    assert [e.job_id for e in gallery.published()] == [job]
    gallery.unpublish(job, ALICE)
    assert gallery.published() == []
    with pytest.raises(InputError, match="not in the class gallery"):
        gallery.unpublish(job, ALICE)


def test_the_teacher_hides_and_shows_again():
    job = finished(ALICE, 0.8)
    gallery.publish(job, ALICE, "Alice", include_model=True)
    gallery.hide(job)
    assert gallery.published() == [] and gallery.entry(job) is None and gallery.model_bytes(job) is None
    assert [e.hidden for e in gallery.published(include_hidden=True)] == [True]
    gallery.hide(job, hidden=False)
    assert [e.job_id for e in gallery.published()] == [job]


def test_leaderboard_by_held_out_accuracy():
    low = finished(ALICE, 0.70, best=0.99)
    high = finished(BOB, 0.95, best=0.80)
    untested = finished(BOB, None, best=1.0)
    tie = finished(ALICE, 0.95, best=0.90)
    for job, who, name in ((low, ALICE, "a"), (high, BOB, "b"), (untested, BOB, "c"), (tie, ALICE, "d")):
        gallery.publish(job, who, name)
    assert [e.name for e in gallery.published()] == ["d", "b", "a", "c"]


def test_damaged_and_hostile_entries_are_skipped(state):
    good = finished(ALICE, 0.8)
    gallery.publish(good, ALICE, "Alice")
    root = state / "gallery"
    bad = {
        "A" * 22: b"{not json",
        "B" * 22: json.dumps({"job_id": "C" * 22, "name": "x"}).encode(),  # names another entry
        "D" * 22: json.dumps([1, 2]).encode(),
        "E" * 22: b"",
    }
    for name, data in bad.items():
        (root / name).mkdir()
        (root / name / "entry.json").write_bytes(data)
    entry = json.loads((root / good / "entry.json").read_text())
    for name, change in {
        "F" * 22: {"confusion": [[1, 2, 3]]},
        "G" * 22: {"mistakes": [{"true": 7, "pred": 0, "confidence": 1.0}]},
        "H" * 22: {"name": "\n\t"},
        "I" * 22: {"history": "nope"},
    }.items():
        (root / name).mkdir()
        (root / name / "entry.json").write_text(json.dumps({**entry, **change, "job_id": name}))
    (root / "..hidden").mkdir()
    (root / ("J" * 22)).symlink_to(root / good)
    (root / ("K" * 22)).write_text("a file, not a folder")
    (root / ("L" * 22)).mkdir()
    (root / ("L" * 22) / "entry.json").write_bytes(b"[" * 100_000)  # nested too deeply for the parser
    assert [e.job_id for e in gallery.published()] == [good]


def test_cli_lists_and_hides(state):
    job = finished(ALICE, 0.875)
    gallery.publish(job, ALICE, "Alice")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cnn_demo", "gallery", *args], capture_output=True, text=True, timeout=120
        )

    out = cli("list")
    assert out.returncode == 0 and job in out.stdout and "Alice" in out.stdout and "87.5%" in out.stdout
    listed = json.loads(cli("list", "--json").stdout)
    assert [e["job_id"] for e in listed] == [job] and ALICE not in cli("list", "--json").stdout
    assert cli("hide", job).returncode == 0
    assert gallery.published() == [] and "hidden" in cli("list").stdout
    assert cli("unhide", job).returncode == 0 and [e.job_id for e in gallery.published()] == [job]
    bad = cli("hide", "nope")
    assert bad.returncode == 2 and "not in the class gallery" in bad.stderr


def test_delete_my_data_and_the_class_reset_take_published_runs(state):
    """A student's "Delete my data" removes the runs they published (not those of jobs they only opened with a
    recovery code); the class reset removes the whole gallery."""
    from cnn_demo.jobs import admin

    mine, theirs = finished(ALICE, 0.9), finished(BOB, 0.8)
    gallery.publish(mine, ALICE, "Alice")
    gallery.publish(theirs, BOB, "Bob")
    jobs.claim(theirs, jobs.new_recovery_code(theirs, BOB), ALICE)  # Alice opened Bob's job with its code
    assert gallery.published_by(ALICE) == [mine] and gallery.published_by(BOB) == [theirs]
    admin.delete_owner_data(ALICE)
    assert [e.job_id for e in gallery.published()] == [theirs]
    admin.purge(everything=True)
    assert gallery.published() == [] and admin.storage_use()["gallery"] == 0
