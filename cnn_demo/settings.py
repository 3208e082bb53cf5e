"""Server settings read from the environment once, as a frozen dataclass.

Every limit that protects a shared class server lives here, so an operator changes behaviour with
environment variables (see ``docs/DEVELOPING.md``) instead of code.
"""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from cnn_demo.errors import InputError


def _int(env: dict[str, str], name: str, default: int, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise InputError(f"{name} must be a whole number, not {raw!r}.") from exc
    if value < minimum:
        raise InputError(f"{name} must be at least {minimum}, not {value}.")
    return value


def _float(env: dict[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise InputError(f"{name} must be a number, not {raw!r}.") from exc
    if value < minimum:
        raise InputError(f"{name} must be at least {minimum}, not {value}.")
    return value


def _networks(raw: str) -> tuple[str, ...]:
    out = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            out.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise InputError(f"CNN_DEMO_TRUSTED_PROXIES: {part!r} is not an IP address or network.") from exc
    return tuple(out)


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


def _default_jobs() -> int:
    return machine_capacity()[0]


def _default_threads() -> int:
    return machine_capacity()[1]


@dataclass(frozen=True)
class Settings:
    """Limits and locations of the job system (and anything else configured by environment variables)."""

    #: Folder for job folders and the SQLite queue (``CNN_DEMO_STATE_DIR``); must be shared by every worker.
    state_dir: Path
    #: ``redis://host:port/db`` to run the queue on Redis (``CNN_DEMO_REDIS_URL``); SQLite when ``None``.
    redis_url: str | None = None
    #: Jobs one worker runs at the same time (``CNN_DEMO_MAX_JOBS``; default: :func:`machine_capacity`).
    max_concurrent_jobs: int = field(default_factory=_default_jobs)
    #: torch threads each job may use (``CNN_DEMO_JOB_THREADS``; default: :func:`machine_capacity`).
    torch_threads: int = field(default_factory=_default_threads)
    #: Jobs queued or running across all users before new ones are refused (``CNN_DEMO_QUEUE_CAPACITY``): three
    #: classes of :data:`CLASS_SIZE` with a job each and room to spare.
    queue_capacity: int = 100
    #: Jobs one user may have queued or running at once (``CNN_DEMO_JOBS_PER_USER``).
    jobs_per_user: int = 2
    #: Jobs queued or running from one client address (``CNN_DEMO_JOBS_PER_ADDRESS``; IPv6: one /64), so a
    #: student who clears cookies or opens private windows cannot fill the queue alone. Default: a class of
    #: :data:`CLASS_SIZE` behind one NAT, each with their ``jobs_per_user``.
    jobs_per_address: int = CLASS_SIZE * 2
    #: Megabytes of stored job folders one user may keep (``CNN_DEMO_DISK_PER_USER_MB``).
    disk_per_user_mb: float = 500.0
    #: Megabytes of stored job folders submitted from one client address (``CNN_DEMO_DISK_PER_ADDRESS_MB``;
    #: default: :data:`CLASS_SIZE` times ``disk_per_user_mb``).
    disk_per_address_mb: float = CLASS_SIZE * 500.0
    #: Request header an authenticating reverse proxy sets to the signed-in user (``CNN_DEMO_TRUSTED_USER_HEADER``,
    #: e.g. ``X-Forwarded-User``); honoured only on connections from :attr:`trusted_proxies`.
    trusted_user_header: str | None = None
    #: Request header a reverse proxy sets to the client's address (``CNN_DEMO_TRUSTED_ADDRESS_HEADER``, e.g.
    #: ``X-Real-IP``; for ``X-Forwarded-For`` the last entry, the one the proxy added, counts); honoured only on
    #: connections from :attr:`trusted_proxies`.
    trusted_address_header: str | None = None
    #: Addresses or networks of the reverse proxies whose headers are believed (``CNN_DEMO_TRUSTED_PROXIES``,
    #: comma-separated, e.g. ``10.0.0.5,10.1.0.0/24``). Connections from anywhere else, the server's own
    #: machine included, have those headers removed. A loopback entry needs :attr:`proxy_secret` too.
    trusted_proxies: tuple[str, ...] = ()
    #: A secret the proxy sends in the ``X-Cnn-Demo-Proxy`` header (``CNN_DEMO_PROXY_SECRET``): required with a
    #: proxy on the same machine, where any local account could otherwise connect as the proxy.
    proxy_secret: str | None = None
    #: Megabytes of uploaded files the web server holds in memory for one session (``CNN_DEMO_UPLOAD_SESSION_MB``),
    #: for one client address (``CNN_DEMO_UPLOAD_ADDRESS_MB``) and in all (``CNN_DEMO_UPLOAD_TOTAL_MB``).
    upload_session_mb: float = 300.0
    upload_address_mb: float = 600.0
    upload_total_mb: float = 2000.0
    #: Hours after which finished job folders are deleted (``CNN_DEMO_ARTIFACT_HOURS``).
    artifact_hours: float = 72.0
    #: Seconds without a heartbeat after which a running job counts as interrupted (``CNN_DEMO_HEARTBEAT_TIMEOUT``).
    heartbeat_timeout_s: float = 60.0
    #: How often a worker re-queues an interrupted job by itself before leaving it to the user
    #: (``CNN_DEMO_AUTO_RESUME``).
    auto_resume: int = 2
    #: CPU priority given up by worker processes (``CNN_DEMO_WORKER_NICE``, 0-19): training yields to the pages.
    worker_nice: int = 10
    #: How long the web server lets one thread hold the GIL before another may take it, in milliseconds
    #: (``CNN_DEMO_SWITCH_INTERVAL_MS``; Python's default is 5): short, so the thread answering HTTP and
    #: websocket traffic is not kept waiting behind many sessions' script threads.
    switch_interval_ms: float = 0.5
    #: Extra modules registering job kinds, comma-separated (``CNN_DEMO_JOB_MODULES``; e.g. plug-ins, tests).
    extra_job_modules: tuple[str, ...] = ()
    #: Megabytes the shared cache of frozen-backbone features may take in the state folder
    #: (``CNN_DEMO_FEATURE_CACHE_MB``); the entries used longest ago go first.
    feature_cache_mb: float = 2000.0
    #: Who has the teacher role when people sign in (``CNN_DEMO_TEACHERS``, comma-separated): e-mail addresses or
    #: OpenID subjects of ``st.login`` users, or user names an authenticating proxy sends (compared ignoring case).
    teachers: tuple[str, ...] = ()
    #: The teacher password's hash (``CNN_DEMO_TEACHER_PASSWORD_HASH``, written by ``python -m cnn_demo
    #: teacher-password --print``); without it, the hash that command stores in the state folder counts.
    teacher_password_hash: str | None = None

    @property
    def jobs_dir(self) -> Path:
        """Where the job folders live."""
        return self.state_dir / "jobs"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from ``env`` (default: ``os.environ``); bad values raise :class:`InputError`."""
        env = dict(os.environ if env is None else env)
        state = Path(env.get("CNN_DEMO_STATE_DIR", "").strip() or ".cnn_demo").expanduser().resolve()
        redis_url = env.get("CNN_DEMO_REDIS_URL", "").strip() or None
        proxies = _networks(env.get("CNN_DEMO_TRUSTED_PROXIES", ""))
        proxy_secret = env.get("CNN_DEMO_PROXY_SECRET", "").strip() or None
        if proxy_secret is not None and len(proxy_secret) < 16:
            raise InputError("CNN_DEMO_PROXY_SECRET must be at least 16 characters long (a random string).")
        if proxy_secret is None and any(ipaddress.ip_network(n).is_loopback for n in proxies):
            raise InputError(
                "CNN_DEMO_TRUSTED_PROXIES lists this machine's own address: any program or account on it could then "
                "claim to be the proxy. Set CNN_DEMO_PROXY_SECRET too, and have the proxy send it in the "
                "X-Cnn-Demo-Proxy header (docs/SCALE_OUT.md)."
            )
        if redis_url is not None and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise InputError("CNN_DEMO_REDIS_URL must look like redis://host:6379/0.")
        jobs_at_once, threads = machine_capacity()
        jobs_per_user = _int(env, "CNN_DEMO_JOBS_PER_USER", 2, 1)
        disk_per_user = _float(env, "CNN_DEMO_DISK_PER_USER_MB", 500.0, 1.0)
        return cls(
            state_dir=state,
            redis_url=redis_url,
            max_concurrent_jobs=_int(env, "CNN_DEMO_MAX_JOBS", jobs_at_once, 1),
            torch_threads=_int(env, "CNN_DEMO_JOB_THREADS", threads, 1),
            queue_capacity=_int(env, "CNN_DEMO_QUEUE_CAPACITY", 100, 1),
            jobs_per_user=jobs_per_user,
            jobs_per_address=_int(env, "CNN_DEMO_JOBS_PER_ADDRESS", CLASS_SIZE * jobs_per_user, 1),
            disk_per_user_mb=disk_per_user,
            disk_per_address_mb=_float(env, "CNN_DEMO_DISK_PER_ADDRESS_MB", CLASS_SIZE * disk_per_user, 1.0),
            trusted_user_header=env.get("CNN_DEMO_TRUSTED_USER_HEADER", "").strip() or None,
            trusted_address_header=env.get("CNN_DEMO_TRUSTED_ADDRESS_HEADER", "").strip() or None,
            trusted_proxies=proxies,
            proxy_secret=proxy_secret,
            upload_session_mb=_float(env, "CNN_DEMO_UPLOAD_SESSION_MB", 300.0, 1.0),
            upload_address_mb=_float(env, "CNN_DEMO_UPLOAD_ADDRESS_MB", 600.0, 1.0),
            upload_total_mb=_float(env, "CNN_DEMO_UPLOAD_TOTAL_MB", 2000.0, 1.0),
            artifact_hours=_float(env, "CNN_DEMO_ARTIFACT_HOURS", 72.0, 0.01),
            heartbeat_timeout_s=_float(env, "CNN_DEMO_HEARTBEAT_TIMEOUT", 60.0, 1.0),
            auto_resume=_int(env, "CNN_DEMO_AUTO_RESUME", 2, 0),
            worker_nice=min(_int(env, "CNN_DEMO_WORKER_NICE", 10, 0), 19),
            switch_interval_ms=_float(env, "CNN_DEMO_SWITCH_INTERVAL_MS", 0.5, 0.05),
            extra_job_modules=tuple(m.strip() for m in env.get("CNN_DEMO_JOB_MODULES", "").split(",") if m.strip()),
            feature_cache_mb=_float(env, "CNN_DEMO_FEATURE_CACHE_MB", 2000.0, 1.0),
            teachers=tuple(t.strip() for t in env.get("CNN_DEMO_TEACHERS", "").split(",") if t.strip()),
            teacher_password_hash=env.get("CNN_DEMO_TEACHER_PASSWORD_HASH", "").strip() or None,
        )


def get_settings() -> Settings:
    """The current settings (read from the environment on every call: cheap, and tests can change it)."""
    return Settings.from_env()
