"""Server settings read from the environment once, as a frozen dataclass.

Every limit that protects a shared class server lives here, so an operator changes behaviour with
environment variables (see ``docs/DEVELOPING.md``) instead of code.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Settings:
    """Limits and locations of the job system (and anything else configured by environment variables)."""

    #: Folder for job folders and the SQLite queue (``CNN_DEMO_STATE_DIR``); must be shared by every worker.
    state_dir: Path
    #: ``redis://host:port/db`` to run the queue on Redis (``CNN_DEMO_REDIS_URL``); SQLite when ``None``.
    redis_url: str | None = None
    #: Jobs one worker runs at the same time (``CNN_DEMO_MAX_JOBS``).
    max_concurrent_jobs: int = 1
    #: torch threads each job may use (``CNN_DEMO_JOB_THREADS``), so training cannot starve the pages.
    torch_threads: int = 1
    #: Jobs queued or running across all users before new ones are refused (``CNN_DEMO_QUEUE_CAPACITY``).
    queue_capacity: int = 20
    #: Jobs one user may have queued or running at once (``CNN_DEMO_JOBS_PER_USER``).
    jobs_per_user: int = 2
    #: Jobs queued or running from one client address (``CNN_DEMO_JOBS_PER_ADDRESS``; IPv6: one /64), so a
    #: student who clears cookies or opens private windows cannot fill the queue alone.
    jobs_per_address: int = 6
    #: Megabytes of stored job folders one user may keep (``CNN_DEMO_DISK_PER_USER_MB``).
    disk_per_user_mb: float = 500.0
    #: Megabytes of stored job folders submitted from one client address (``CNN_DEMO_DISK_PER_ADDRESS_MB``).
    disk_per_address_mb: float = 2000.0
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
        return cls(
            state_dir=state,
            redis_url=redis_url,
            max_concurrent_jobs=_int(env, "CNN_DEMO_MAX_JOBS", 1, 1),
            torch_threads=_int(env, "CNN_DEMO_JOB_THREADS", 1, 1),
            queue_capacity=_int(env, "CNN_DEMO_QUEUE_CAPACITY", 20, 1),
            jobs_per_user=_int(env, "CNN_DEMO_JOBS_PER_USER", 2, 1),
            jobs_per_address=_int(env, "CNN_DEMO_JOBS_PER_ADDRESS", 6, 1),
            disk_per_user_mb=_float(env, "CNN_DEMO_DISK_PER_USER_MB", 500.0, 1.0),
            disk_per_address_mb=_float(env, "CNN_DEMO_DISK_PER_ADDRESS_MB", 2000.0, 1.0),
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
        )


def get_settings() -> Settings:
    """The current settings (read from the environment on every call: cheap, and tests can change it)."""
    return Settings.from_env()
