"""Dockerfile, docker-compose.yml and the Streamlit config agree with each other and with the CLI."""

import re
import tomllib

import yaml

from cnn_demo.cli import build_parser
from tests.conftest import ROOT


def _dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_dockerfile_basics():
    text = _dockerfile()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert re.search(r"^USER (?!root)\w+", text, re.M), "the container must not run as root"
    assert re.search(r"^EXPOSE 8501", text, re.M)
    assert "HEALTHCHECK" in text and "/_stcore/health" in text
    assert "requirements.txt" in text


def test_streamlit_config_for_a_shared_server():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["server"]["enableXsrfProtection"] is True
    assert 1 <= cfg["server"]["maxUploadSize"] <= 200
    assert cfg["client"]["showErrorDetails"] in ("none", False)
    assert cfg["browser"]["gatherUsageStats"] is False


def test_compose_consistent_with_dockerfile_and_cli():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"app", "worker", "redis"} <= set(services)
    dockerfile_env = dict(re.findall(r"(CNN_DEMO_\w+)=(\S+)", _dockerfile()))
    for name in ("app", "worker"):
        svc = services[name]
        env = svc["environment"]
        assert env["CNN_DEMO_REDIS_URL"].startswith("redis://redis:")
        for key in ("CNN_DEMO_STATE_DIR", "CNN_DEMO_WEIGHTS_DIR"):
            assert env[key] == dockerfile_env[key], f"{name}.{key} differs from the Dockerfile"
        assert any(v.split(":")[1] == env["CNN_DEMO_STATE_DIR"] for v in svc["volumes"]), "state must be shared"
        cmd = svc["command"]
        assert cmd[:3] == ["python", "-m", "cnn_demo"]
        build_parser().parse_args(cmd[3:])  # a real sub-command with valid options
    exposed = re.search(r"^EXPOSE (\d+)", _dockerfile(), re.M).group(1)
    assert services["app"]["ports"][0].split(":")[1] == exposed
    assert "--no-worker" in services["app"]["command"], "workers run as their own service"
