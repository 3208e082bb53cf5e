"""Server settings: one pydantic-settings model read from ``CNN_DEMO_*`` environment variables.

Every limit that protects a shared class server lives here, so an operator changes behaviour with environment
variables (the table in ``docs/DEVELOPING.md`` is :func:`markdown_table` of this model) instead of code. Each default
is written once, in its field; this package is the only place that reads the environment (``_reading``: how).
"""

from __future__ import annotations

import functools
import ipaddress
import math
import os
from pathlib import Path
from typing import Annotated, Self

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from cnn_demo.settings._reading import (
    ENV_PREFIX,
    CommaList,
    FromEnvironment,
    absolute,
    check_networks,
    check_proxy_secret,
    check_redis_url,
    on_if_one,
    on_unless_off,
)

# --------------------------------------------------------------------------- capacity sized from the machine

#: Students in the class the per-address defaults are sized for: a class behind one NAT shares one address, so
#: one address may hold what this many students may each hold (``jobs_per_user``, ``disk_per_user_mb``).
CLASS_SIZE = 30

#: Memory one running job may need (EfficientNet-Lite0 on a few hundred photos peaks well under this) and what is
#: left to the web server; the default of jobs at once never plans for more than the machine holds.
JOB_MEMORY_BYTES = 3 * 2**30 // 2
APP_MEMORY_BYTES = 2 * 2**30


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cgroup_cpus() -> float | None:
    """The CPU quota of this process's cgroup (a container's ``--cpus``), in CPUs; ``None`` when unlimited."""
    quota = _read("/sys/fs/cgroup/cpu.max")  # cgroup v2: "max 100000" or "200000 100000"
    if quota is not None:
        parts = quota.split()
        if len(parts) == 2 and parts[0] != "max" and float(parts[1]) > 0:
            return float(parts[0]) / float(parts[1])
        return None
    limit, period = _read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), _read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    if limit and period and int(limit) > 0 and int(period) > 0:  # cgroup v1; -1 = unlimited
        return int(limit) / int(period)
    return None


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, lowered to a cgroup CPU quota (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpus()
    if quota is not None:
        cpus = min(cpus, math.floor(quota))
    return max(1, cpus)


def available_memory() -> int | None:
    """Bytes of memory this machine (or this process's cgroup, when lower) has; ``None`` when unknown."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None
    limit = _read("/sys/fs/cgroup/memory.max") or _read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if limit and limit.isdigit():
        total = min(total, int(limit))
    return total


def machine_capacity(cpus: int | None = None, memory: int | None = None) -> tuple[int, int]:
    """``(jobs at once, torch threads per job)`` for a machine with ``cpus`` CPUs and ``memory`` bytes.

    One thread per job up to 4 CPUs, two above (a student alone still gets a quick result on a big machine):
    the jobs of a class run side by side rather than one after the other with more threads each, which spends the
    CPU better (decoding, reading and exporting use one core whatever the threads). Jobs at once fill the CPUs,
    as far as the memory holds them (:data:`JOB_MEMORY_BYTES` each beside :data:`APP_MEMORY_BYTES` for the app);
    when memory allows fewer, each gets more threads (at most 4).
    """
    cpus = available_cpus() if cpus is None else max(1, int(cpus))
    memory = available_memory() if memory is None else memory
    threads = 1 if cpus <= 4 else 2
    jobs = max(1, cpus // threads)
    if memory:
        jobs = min(jobs, max(1, (memory - APP_MEMORY_BYTES) // JOB_MEMORY_BYTES))
    return jobs, min(4, max(threads, cpus // jobs))  # fewer jobs than planned (memory): more threads each, up to 4


# --------------------------------------------------------------------------- the settings


class DatasetSettings(FromEnvironment):
    """The limits on one uploaded dataset (``data.datasets.DatasetLimits`` takes its defaults from them)."""

    dataset_max_zip_mb: float = Field(100.0, ge=1.0, description="Megabytes of one uploaded dataset zip.")
    dataset_max_uncompressed_mb: float = Field(300.0, ge=1.0, description="Megabytes a dataset holds unpacked.")
    dataset_max_file_mb: float = Field(40.0, ge=0.01, description="Megabytes of one file in a dataset.")
    dataset_max_images: int = Field(5_000, ge=1, description="Images in one dataset.")
    dataset_max_entries: int = Field(20_000, ge=1, description="Files and folders in one dataset zip.")
    dataset_min_classes: int = Field(2, ge=1, description="Classes a dataset needs at least.")
    dataset_max_classes: int = Field(100, ge=1, description="Classes a dataset may have.")
    dataset_min_images_per_class: int = Field(2, ge=1, description="Images each class needs at least.")
    dataset_max_pixels: int = Field(40_000_000, ge=64, description="Pixels of one image of a dataset.")
    dataset_max_side: int = Field(
        256, ge=8, description="Images are downscaled at load so that their longer side is at most this (memory)."
    )
    dataset_max_ratio: float = Field(
        200.0,
        ge=1.0,
        description="Unpacked/packed ratio above which a file counts as a compression bomb (once "
        "`CNN_DEMO_DATASET_RATIO_GRACE_MB` of it are unpacked: small files may compress well).",
    )
    dataset_ratio_grace_mb: float = Field(1.0, ge=0.0, description="Megabytes unpacked before the ratio counts.")
    dataset_imbalance_ratio: float = Field(
        3.0, ge=1.0, description="Warn when the largest class has this many times the images of the smallest."
    )
    dataset_max_class_name_length: int = Field(64, ge=1, description="Characters of a class name.")

    @model_validator(mode="after")
    def _classes_in_order(self) -> Self:
        if self.dataset_max_classes < self.dataset_min_classes:
            raise ValueError(
                f"CNN_DEMO_DATASET_MAX_CLASSES ({self.dataset_max_classes}) must be at least "
                f"CNN_DEMO_DATASET_MIN_CLASSES ({self.dataset_min_classes})."
            )
        return self


class Settings(DatasetSettings):
    """Limits and locations of the server (job system, identity, uploads, datasets), from ``CNN_DEMO_*``."""

    state_dir: Annotated[Path, AfterValidator(lambda p: p.expanduser().resolve())] = Field(
        Path(".cnn_demo"),
        validate_default=True,
        description="Folder for job folders and the SQLite queue (and the "
        "server key, datasets, feature cache); must be shared by every worker.",
    )
    weights_dir: Annotated[Path, AfterValidator(absolute)] = Field(
        Path("weights"), validate_default=True, description="Folder searched first for pretrained weights files."
    )
    redis_url: Annotated[str | None, AfterValidator(check_redis_url)] = Field(
        None, description="`redis://host:port/db` to run the job queue on Redis; SQLite when unset."
    )
    max_concurrent_jobs: int = Field(
        default_factory=lambda: machine_capacity()[0],
        ge=1,
        validation_alias="MAX_JOBS",
        description="Jobs one worker runs at the same time.",
        json_schema_extra={"default_text": "from the machine (`settings.machine_capacity`; 2 on 2 cores)"},
    )
    torch_threads: int = Field(
        default_factory=lambda: machine_capacity()[1],
        ge=1,
        validation_alias="JOB_THREADS",
        description="torch threads each job may use.",
        json_schema_extra={"default_text": "from the machine (`settings.machine_capacity`; 1 on 2 cores)"},
    )
    queue_capacity: int = Field(
        100,
        ge=1,
        description="Jobs queued or running across all users before new ones are refused: three classes "
        f"of {CLASS_SIZE} with a job each and room to spare.",
    )
    jobs_per_user: int = Field(2, ge=1, description="Jobs one user may have queued or running at once.")
    jobs_per_address: int = Field(
        default_factory=lambda data: CLASS_SIZE * data["jobs_per_user"],
        ge=1,
        description="Jobs queued or running from one client address (IPv6: one /64), so a student who clears "
        "cookies or opens private windows cannot fill the queue alone.",
        json_schema_extra={"default_text": f"{CLASS_SIZE} × `CNN_DEMO_JOBS_PER_USER` (a class behind one NAT)"},
    )
    disk_per_user_mb: float = Field(500.0, ge=1.0, description="Megabytes of stored job folders one user may keep.")
    disk_per_address_mb: float = Field(
        default_factory=lambda data: CLASS_SIZE * data["disk_per_user_mb"],
        ge=1.0,
        description="Megabytes of stored job folders submitted from one client address.",
        json_schema_extra={"default_text": f"{CLASS_SIZE} × `CNN_DEMO_DISK_PER_USER_MB`"},
    )
    trusted_user_header: str | None = Field(
        None,
        description="Request header an authenticating reverse proxy sets to the signed-in user (e.g. "
        "`X-Forwarded-User`); honoured only on connections from `CNN_DEMO_TRUSTED_PROXIES`.",
    )
    trusted_address_header: str | None = Field(
        None,
        description="Request header a reverse proxy sets to the client's address (e.g. `X-Real-IP`; for "
        "`X-Forwarded-For` the last entry, the one the proxy added, counts); honoured only on connections from "
        "`CNN_DEMO_TRUSTED_PROXIES`.",
    )
    trusted_proxies: Annotated[CommaList, AfterValidator(check_networks)] = Field(
        (),
        description="Addresses or networks of the reverse proxies whose headers are believed, comma-separated "
        "(e.g. `10.0.0.5,10.1.0.0/24`). Connections from anywhere else, the server's own machine included, have "
        "those headers removed. A loopback entry needs `CNN_DEMO_PROXY_SECRET` too.",
    )
    proxy_secret: Annotated[str | None, AfterValidator(check_proxy_secret)] = Field(
        None,
        description="A secret the proxy sends in the `X-Cnn-Demo-Proxy` header: required with a proxy on the "
        "same machine, where any local account could otherwise connect as the proxy.",
    )
    upload_session_mb: float = Field(
        300.0, ge=1.0, description="Megabytes of uploaded files the web server holds in memory for one session."
    )
    upload_address_mb: float = Field(
        600.0, ge=1.0, description="Megabytes of uploaded files the web server holds in memory for one address."
    )
    upload_total_mb: float = Field(
        2000.0, ge=1.0, description="Megabytes of uploaded files the web server holds in memory in all."
    )
    artifact_hours: float = Field(72.0, ge=0.01, description="Hours after which finished job folders are deleted.")
    heartbeat_timeout_s: float = Field(
        60.0,
        ge=1.0,
        validation_alias="HEARTBEAT_TIMEOUT",
        description="Seconds without a heartbeat after which a running job counts as interrupted.",
    )
    auto_resume: int = Field(
        2, ge=0, description="How often a worker re-queues an interrupted job by itself before leaving it to the user."
    )
    worker_nice: Annotated[int, AfterValidator(lambda n: min(n, 19))] = Field(
        10,
        ge=0,
        description="CPU priority given up by worker processes (0-19; more counts as 19): training yields "
        "to the pages.",
    )
    switch_interval_ms: float = Field(
        0.5,
        ge=0.05,
        description="How long the web server lets one thread hold the GIL before another may take it, "
        "in milliseconds (Python's default is 5): short, so the thread answering HTTP and websocket traffic is not "
        "kept waiting behind many sessions' script threads.",
    )
    extra_job_modules: CommaList = Field(
        (),
        validation_alias="JOB_MODULES",
        description="Extra modules registering job kinds, comma-separated (e.g. plug-ins, tests).",
    )
    feature_cache_mb: float = Field(
        2000.0,
        ge=1.0,
        description="Megabytes the shared cache of frozen-backbone features may take in the state "
        "folder; the entries used longest ago go first.",
    )
    teachers: CommaList = Field(
        (),
        description="Who has the teacher role when people sign in, comma-separated: e-mail addresses or OpenID "
        "subjects of `st.login` users, or user names an authenticating proxy sends (compared ignoring case).",
    )
    teacher_password_hash: str | None = Field(
        None,
        description="The teacher password's hash (written by `python -m cnn_demo teacher-password --print`); "
        "without it, the hash that command stores in the state folder counts.",
    )
    warmup: Annotated[bool, BeforeValidator(on_unless_off)] = Field(
        True, description="Warm the caches of the pages' defaults when the server starts (`0` turns it off)."
    )
    metrics: Annotated[bool, BeforeValidator(on_if_one)] = Field(
        False, description="`1` keeps Streamlit's `/_stcore/metrics` statistics (404 otherwise)."
    )

    @model_validator(mode="after")
    def _no_local_proxy_without_secret(self) -> Self:
        if self.proxy_secret is None and any(ipaddress.ip_network(n).is_loopback for n in self.trusted_proxies):
            raise ValueError(
                "CNN_DEMO_TRUSTED_PROXIES lists this machine's own address: any program or account on it could then "
                "claim to be the proxy. Set CNN_DEMO_PROXY_SECRET too, and have the proxy send it in the "
                "X-Cnn-Demo-Proxy header (docs/SCALE_OUT.md)."
            )
        return self

    @property
    def jobs_dir(self) -> Path:
        """Where the job folders live."""
        return self.state_dir / "jobs"


def get_settings() -> Settings:
    """The current settings: read again when a ``CNN_DEMO_*`` variable or the working folder changed (tests change
    them), else the settings read last time (reading takes milliseconds, and one page run asks several times)."""
    variables = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_PREFIX)))
    return _settings_for(variables, os.getcwd())


@functools.lru_cache(maxsize=8)
def _settings_for(variables: tuple[tuple[str, str], ...], cwd: str) -> Settings:
    return Settings.from_env(dict(variables))


def env_name(field: str) -> str:
    """The environment variable that sets ``Settings.<field>``."""
    alias = Settings.model_fields[field].validation_alias
    return ENV_PREFIX + (alias if isinstance(alias, str) else field.upper())


def markdown_table() -> str:
    """Every variable with its default and meaning, as the Markdown table ``docs/DEVELOPING.md`` shows."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if "default_text" in extra:
            default = str(extra["default_text"])
        elif field.default is None or field.default == ():
            default = "unset"
        else:
            value = field.default
            default = f"`{value}`" if not isinstance(value, bool) else ("on" if value else "off")
        rows.append(f"| `{env_name(name)}` | {default} | {field.description} |")
    return "\n".join(rows)
