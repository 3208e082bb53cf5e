"""docker-compose.yml parses and agrees with the Dockerfile and the command line."""

from __future__ import annotations

import re

import yaml

from cnn_demo.cli import build_parser
from cnn_demo.settings import Settings
from tests.conftest import ROOT


def _dockerfile_env() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return env


def test_compose_services_match_the_image_and_cli():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"redis", "app", "worker"}
    app, worker = services["app"], services["worker"]
    assert app["build"] == "." and worker["image"] == app["image"]  # one image, built from the Dockerfile
    docker_env = _dockerfile_env()
    dockerfile = (ROOT / "Dockerfile").read_text()
    for svc in (app, worker):
        cmd = svc["command"]
        assert cmd[:3] == ["python", "-m", "cnn_demo"]
        build_parser().parse_args(cmd[3:])  # a real sub-command with valid options
        env = {k: str(v) for k, v in svc["environment"].items()}
        settings = Settings.from_env(env)
        assert settings.redis_url and settings.redis_url.startswith("redis://redis:")  # the redis service
        assert env["CNN_DEMO_STATE_DIR"] == docker_env["CNN_DEMO_STATE_DIR"]
        assert env["CNN_DEMO_WEIGHTS_DIR"] == docker_env["CNN_DEMO_WEIGHTS_DIR"]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
        assert mounts[env["CNN_DEMO_STATE_DIR"]] == "state"  # the same shared job folders in app and worker
        assert "redis" in svc["depends_on"]
    assert "--no-worker" in app["command"]  # workers run as their own service
    port = re.search(r"EXPOSE (\d+)", dockerfile).group(1)
    assert app["ports"] == [f"{port}:{port}"] and app["command"][app["command"].index("--port") + 1] == port
    assert "HEALTHCHECK" in dockerfile and worker["healthcheck"] == {"disable": True}
    assert set(compose["volumes"]) >= {"state"}


def test_training_containers_yield_the_cpu_to_the_app():
    """Niceness does not cross containers (each is a cgroup): the worker's CPU weight must be below the app's."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    docker_default = 1024
    assert services["worker"]["cpu_shares"] < services["app"].get("cpu_shares", docker_default)
