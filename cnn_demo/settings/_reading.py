"""How settings are read: ``CNN_DEMO_*`` variables with blanks unset, checked, and bad values as plain messages.

Private to :mod:`cnn_demo.settings`, which defines the fields.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import AliasGenerator, BeforeValidator, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from cnn_demo.errors import InputError

#: The prefix of every variable; a field ``queue_capacity`` is set by ``CNN_DEMO_QUEUE_CAPACITY``.
ENV_PREFIX = "CNN_DEMO_"


def comma_list(value: Any) -> Any:
    """``"a, b,,c"`` -> ``("a", "b", "c")``: lists are written comma-separated in the environment."""
    return tuple(p.strip() for p in value.split(",") if p.strip()) if isinstance(value, str) else value


def check_networks(value: tuple[str, ...]) -> tuple[str, ...]:
    """Each entry as a network in its normal form (``10.0.0.5`` -> ``10.0.0.5/32``)."""
    out = []
    for part in value:
        try:
            out.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError as exc:
            raise ValueError(f"CNN_DEMO_TRUSTED_PROXIES: {part!r} is not an IP address or network.") from exc
    return tuple(out)


def check_proxy_secret(value: str | None) -> str | None:
    """A proxy secret long enough not to be guessed."""
    if value is not None and len(value) < 16:
        raise ValueError("CNN_DEMO_PROXY_SECRET must be at least 16 characters long (a random string).")
    return value


def check_redis_url(value: str | None) -> str | None:
    """A Redis address (a mistyped one would otherwise fail only when the first job is queued)."""
    if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("CNN_DEMO_REDIS_URL must look like redis://host:6379/0.")
    return value


def on_unless_off(value: Any) -> Any:
    """A switch that is on unless set to ``0``, ``false``, ``no`` or ``off``."""
    return str(value).strip().lower() not in ("0", "false", "no", "off") if isinstance(value, str) else value


def on_if_one(value: Any) -> Any:
    """A switch that is on only when set to ``1``."""
    return value.strip() == "1" if isinstance(value, str) else value


CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(comma_list)]


class Environment(EnvSettingsSource):
    """The variables of ``env`` (default: ``os.environ``) with surrounding blanks removed; a blank one is unset."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str] | None = None) -> None:
        super().__init__(settings_cls)
        env = os.environ if env is None else env
        self.env_vars = {k: v.strip() for k, v in env.items() if k.startswith(ENV_PREFIX) and v and v.strip()}


#: The variables :meth:`FromEnvironment.from_env` reads instead of ``os.environ`` while it builds settings.
READING: ContextVar[Mapping[str, str] | None] = ContextVar("cnn_demo_settings_env", default=None)


def message(error: Mapping[str, Any]) -> str:
    """One validation error as a line an operator reads on the command line."""
    name = ENV_PREFIX + str(error["loc"][0]).upper() if error["loc"] else "The settings"
    raw, kind, ctx = error.get("input"), error["type"], error.get("ctx") or {}
    if kind == "int_parsing" or kind == "int_from_float":
        return f"{name} must be a whole number, not {raw!r}."
    if kind == "float_parsing":
        return f"{name} must be a number, not {raw!r}."
    if kind == "greater_than_equal":
        value = type(ctx["ge"])(raw) if isinstance(raw, str) else raw
        return f"{name} must be at least {ctx['ge']}, not {value}."
    if kind == "value_error":
        return str(ctx["error"])
    return f"{name}: {error['msg']} (not {raw!r})."


class FromEnvironment(BaseSettings):
    """Settings read from ``CNN_DEMO_*`` variables: exact names, blanks unset, values checked, frozen."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_prefix_target="all",
        case_sensitive=True,
        alias_generator=AliasGenerator(validation_alias=str.upper),
        validate_by_name=True,
        frozen=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Built directly: keyword arguments, then the environment (no ``.env`` or secrets files)."""
        return init_settings, Environment(settings_cls, READING.get())

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """Settings from ``env`` (default: ``os.environ``); bad values raise :class:`InputError`."""
        token = READING.set(env)
        try:
            return cls()
        except ValidationError as exc:
            raise InputError(message(exc.errors()[0])) from None
        finally:
            READING.reset(token)


def absolute(path: Path) -> Path:
    """``~`` expanded, relative to the working folder, ``..`` folded; symbolic links kept (messages show the
    folder as the operator set it)."""
    return Path(os.path.abspath(path.expanduser()))
