"""Server settings: one pydantic-settings model of the ``CNN_DEMO_*`` variables, read from the environment once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnn_demo.errors import InputError
from cnn_demo.settings import Settings
from tests.conftest import ROOT


def test_settings_from_env_and_bad_values():
    s = Settings.from_env({"CNN_DEMO_STATE_DIR": "/tmp/x", "CNN_DEMO_MAX_JOBS": "3", "CNN_DEMO_JOB_THREADS": "2"})
    assert (s.state_dir, s.max_concurrent_jobs, s.torch_threads, s.redis_url) == (Path("/tmp/x"), 3, 2, None)
    assert s.jobs_dir == Path("/tmp/x/jobs")
    with pytest.raises(InputError, match="CNN_DEMO_MAX_JOBS must be a whole number"):
        Settings.from_env({"CNN_DEMO_MAX_JOBS": "many"})
    with pytest.raises(InputError, match="at least 1"):
        Settings.from_env({"CNN_DEMO_JOB_THREADS": "0"})
    with pytest.raises(InputError, match="redis://"):
        Settings.from_env({"CNN_DEMO_REDIS_URL": "localhost:6379"})
    assert Settings.from_env({"CNN_DEMO_REDIS_URL": "redis://127.0.0.1:1/0"}).redis_url == "redis://127.0.0.1:1/0"


def test_settings_blank_values_exact_names_and_keyword_arguments(monkeypatch, tmp_path):
    """Issue 25: a blank variable counts as unset, only the documented (upper-case) names count, keyword arguments
    of a Settings built directly win over the environment, and get_settings follows a changed variable."""
    from cnn_demo.settings import get_settings

    s = Settings.from_env({"CNN_DEMO_MAX_JOBS": "  ", "CNN_DEMO_REDIS_URL": "", "cnn_demo_queue_capacity": "7"})
    assert s == Settings.from_env({}) and s.queue_capacity == 100 and s.redis_url is None
    assert Settings.from_env({"CNN_DEMO_TEACHERS": " a@school.example, ,b "}).teachers == ("a@school.example", "b")
    monkeypatch.setenv("CNN_DEMO_QUEUE_CAPACITY", "9")
    assert get_settings().queue_capacity == 9 and Settings(state_dir=tmp_path, queue_capacity=5).queue_capacity == 5
    monkeypatch.setenv("CNN_DEMO_QUEUE_CAPACITY", "11")
    assert get_settings().queue_capacity == 11
    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(tmp_path / "w" / ".." / "weights"))
    assert get_settings().weights_dir == tmp_path / "weights"
    assert Settings.from_env({}).warmup and not Settings.from_env({"CNN_DEMO_WARMUP": "Off"}).warmup
    assert (
        Settings.from_env({"CNN_DEMO_METRICS": "1"}).metrics
        and not Settings.from_env({"CNN_DEMO_METRICS": "yes"}).metrics
    )


def test_dataset_limits_are_settings():
    """Issue 25: the dataset readers' limits are CNN_DEMO_DATASET_* settings, checked like the others, and are the
    defaults of DatasetLimits in a program started with them."""
    from cnn_demo.settings import DatasetSettings

    assert DatasetSettings.from_env({"CNN_DEMO_DATASET_MAX_IMAGES": "10"}).dataset_max_images == 10
    with pytest.raises(InputError, match="CNN_DEMO_DATASET_MAX_SIDE must be at least 8, not 4"):
        DatasetSettings.from_env({"CNN_DEMO_DATASET_MAX_SIDE": "4"})
    with pytest.raises(InputError, match="CNN_DEMO_DATASET_MAX_ZIP_MB must be a number, not 'big'"):
        DatasetSettings.from_env({"CNN_DEMO_DATASET_MAX_ZIP_MB": "big"})
    with pytest.raises(InputError, match=r"CNN_DEMO_DATASET_MAX_CLASSES \(3\) must be at least CNN_DEMO_DATASET_MIN"):
        DatasetSettings.from_env({"CNN_DEMO_DATASET_MIN_CLASSES": "4", "CNN_DEMO_DATASET_MAX_CLASSES": "3"})
    code = "from cnn_demo.data.datasets import DEFAULT_LIMITS as L; print(L.max_images, L.max_zip_bytes, L.max_side)"
    env = dict(
        os.environ, CNN_DEMO_DATASET_MAX_IMAGES="7", CNN_DEMO_DATASET_MAX_ZIP_MB="2", CNN_DEMO_DATASET_MAX_SIDE="64"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["7", str(2 * 1024 * 1024), "64"], out.stderr


def test_worker_nice_setting():
    from cnn_demo.settings import Settings

    assert Settings.from_env({}).worker_nice == 10
    assert Settings.from_env({"CNN_DEMO_WORKER_NICE": "0"}).worker_nice == 0
    assert Settings.from_env({"CNN_DEMO_WORKER_NICE": "40"}).worker_nice == 19


def test_switch_interval_setting():
    from cnn_demo.errors import InputError
    from cnn_demo.settings import Settings

    assert Settings.from_env({}).switch_interval_ms == 0.5
    assert Settings.from_env({"CNN_DEMO_SWITCH_INTERVAL_MS": "2"}).switch_interval_ms == 2.0
    with pytest.raises(InputError):
        Settings.from_env({"CNN_DEMO_SWITCH_INTERVAL_MS": "fast"})
