"""Pretrained weights: where they are found, how they are checked, and how they are loaded safely.

Resolution order for a model's weights file:

1. the folder ``CNN_DEMO_WEIGHTS_DIR`` (default ``./weights``),
2. the torch hub cache (``torch.hub.get_dir()/checkpoints``, where torchvision and timm put ``.pth`` downloads)
   and, for timm models, the Hugging Face cache (looked up offline, never fetched),
3. a download through torchvision's / torch.hub's / huggingface_hub's own mechanisms, which happens **only** when
   asked for explicitly (``resolve(name, download=True)``, i.e. ``python -m cnn_demo weights fetch NAME``).

The app and the tests never download: when a file is missing they raise :class:`WeightsMissing`, whose
message names the exact file and the folder to put it in. Files whose name carries a sha256 prefix
(``resnet18-f37072fd.pth``, like torch.hub) are verified before use, and loading never unpickles arbitrary
objects: ``torch.load(weights_only=True)`` or safetensors.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from cnn_demo.errors import InputError

WEIGHTS_ENV = "CNN_DEMO_WEIGHTS_DIR"
CIFAR_RELEASE = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
CIFAR_FILES: dict[str, str] = {
    "cifar_resnet20": "resnet20-12fca82f.th",
    "cifar_resnet32": "resnet32-d509ac18.th",
    "cifar_resnet44": "resnet44-014dd654.th",
    "cifar_resnet56": "resnet56-4bfd9763.th",
}
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")


class WeightsMissing(InputError):
    """The pretrained weights of a model are not on this machine (and nothing may be downloaded)."""


class WeightsCorrupt(InputError):
    """A weights file exists but fails its hash check or holds something other than plain tensors."""


@dataclass(frozen=True)
class WeightsSpec:
    """Where the pretrained weights of one registered model come from.

    ``filenames`` are the names accepted in the weights folder, preferred first; ``url`` is the public
    release the file is fetched from; ``hf_hub_id`` is set for timm models published on the Hugging Face hub.
    """

    model: str
    source: str
    filenames: tuple[str, ...]
    url: str | None = None
    hf_hub_id: str | None = None

    @property
    def filename(self) -> str:
        """The preferred file name in the weights folder."""
        return self.filenames[0]


def fetch_command(name: str) -> str:
    """The exact command that downloads ``name``'s weights into the weights folder (on a machine that is online)."""
    return f"python -m cnn_demo weights fetch {name}"


def weights_dir() -> Path:
    """The app's weights folder: ``$CNN_DEMO_WEIGHTS_DIR`` or ``./weights``, as an absolute path.

    Symbolic links are kept (``..`` and ``.`` are folded): messages show the folder as the user set it, not
    where a link points to.
    """
    return Path(os.path.abspath(Path(os.environ.get(WEIGHTS_ENV) or "weights").expanduser()))


def hub_dir() -> Path:
    """torch.hub's checkpoint cache (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def vision_task_models() -> list[str]:
    """torchvision's detection and segmentation networks the app offers (not in the classification registry)."""
    from cnn_demo.detection import DETECTORS
    from cnn_demo.segmentation import SEGMENTERS

    return [d.name for d in DETECTORS] + [s.name for s in SEGMENTERS]


def weights_spec(name: str) -> WeightsSpec:
    """The :class:`WeightsSpec` of a registered model (or offered detector/segmenter) with pretrained weights."""
    from cnn_demo.models.registry import get_info

    if name in vision_task_models():
        from torchvision.models import get_model_weights

        url = get_model_weights(name).DEFAULT.url
        return WeightsSpec(name, "torchvision", (url.rsplit("/", 1)[-1],), url=url)
    info = get_info(name)
    if not info.has_pretrained:
        raise InputError(f"The model {name} has no pretrained weights; create it with pretrained=False.")
    if info.source == "cifar":
        fname = CIFAR_FILES[name]
        return WeightsSpec(name, "cifar", (fname,), url=CIFAR_RELEASE + fname)
    if info.source == "torchvision":
        from torchvision.models import get_model_weights

        url = get_model_weights(name).DEFAULT.url
        return WeightsSpec(name, "torchvision", (url.rsplit("/", 1)[-1],), url=url)
    if info.source == "timm":
        import timm

        timm_name = name.removeprefix("timm/")
        cfg = timm.models.get_pretrained_cfg(timm_name)
        url = cfg.url if cfg is not None and cfg.url else None
        names = [f"{timm_name}.safetensors"]
        if url:
            names.append(url.rsplit("/", 1)[-1])
        return WeightsSpec(name, "timm", tuple(names), url=url, hf_hub_id=cfg.hf_hub_id if cfg else None)
    raise InputError(f"The model {name} has no pretrained weights.")


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


def verify(path: str | Path) -> bool:
    """Check a hash-named file against the sha256 prefix in its name.

    Returns True when checked, False when the name declares no hash; raises :class:`WeightsCorrupt` on mismatch.
    """
    prefix = expected_hash_prefix(path)
    if prefix is None:
        return False
    digest = sha256_of(path)
    if not digest.startswith(prefix):
        raise WeightsCorrupt(
            f"The weights file {Path(path).name} is damaged or not the published one: its sha256 starts with "
            f"{digest[: len(prefix)]}, but its name says {prefix}. Delete it and place a fresh copy."
        )
    return True


def _hf_cached(spec: WeightsSpec) -> Path | None:
    if not spec.hf_hub_id:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with timm
        return None
    for fname in ("model.safetensors", "pytorch_model.bin"):
        found = try_to_load_from_cache(spec.hf_hub_id, fname)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def candidates(name: str) -> list[Path]:
    """Every place, in resolution order, where the weights of ``name`` are looked for (existing or not)."""
    spec = weights_spec(name)
    out = [weights_dir() / f for f in spec.filenames]
    out += [hub_dir() / f for f in spec.filenames]
    return out


def find(name: str) -> Path | None:
    """The weights file of ``name`` on this machine, or None. Never downloads."""
    for path in candidates(name):
        if path.is_file():
            return path
    return _hf_cached(weights_spec(name))


def missing_message(name: str) -> str:
    """What a student or admin must do to provide the weights of ``name`` on an offline server."""
    spec = weights_spec(name)
    where = weights_dir()
    text = f"The pretrained weights of {name} are not on this server. Place the file {spec.filename} "
    if spec.hf_hub_id:
        text += f"(model.safetensors from https://huggingface.co/{spec.hf_hub_id}, renamed) "
        if spec.url:
            text += f"or {spec.filenames[1]} (from {spec.url}) "
    elif spec.url:
        text += f"(from {spec.url}) "
    text += (
        f"in the folder {where} (set {WEIGHTS_ENV} to use another folder), "
        f"or run `python -m cnn_demo weights fetch {name}` on a machine that is online."
    )
    return text


def resolve(name: str, *, download: bool = False) -> Path:
    """The verified weights file of ``name``.

    Looks in the weights folder, then the caches; downloads only with ``download=True`` (never from the app or
    tests). Raises :class:`WeightsMissing` with instructions when the file is absent.
    """
    path = find(name)
    if path is None and download:
        try:
            path = fetch(name)
        except (OSError, RuntimeError, ValueError) as exc:  # URLError, HTTPError, hash mismatch, HF hub errors
            raise WeightsMissing(f"Downloading the weights of {name} failed ({exc}). {missing_message(name)}") from exc
    if path is None:
        raise WeightsMissing(missing_message(name))
    verify(path)
    return path


def fetch(name: str) -> Path:
    """Download the weights of ``name`` into the weights folder through torch.hub or huggingface_hub.

    Hash-named files are checked by torch.hub while downloading. Needs a network connection.
    """
    spec = weights_spec(name)
    folder = weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if spec.hf_hub_id:
        from huggingface_hub import hf_hub_download

        cached = Path(hf_hub_download(spec.hf_hub_id, "model.safetensors"))
        dst = folder / spec.filename
        shutil.copyfile(cached, dst)
        return dst
    if spec.url is None:  # pragma: no cover - every registered pretrained model has a URL
        raise WeightsMissing(missing_message(name))
    dst = folder / spec.filename
    torch.hub.download_url_to_file(spec.url, str(dst), hash_prefix=expected_hash_prefix(dst), progress=True)
    return dst


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
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsCorrupt(f"The weights file {path.name} does not hold a state dict of tensors.")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def load_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The pretrained state dict of a registered model, from the verified local file (never downloads)."""
    return load_file(resolve(name))


@dataclass(frozen=True)
class WeightsStatus:
    """One line of ``python -m cnn_demo weights list``."""

    model: str
    filename: str
    path: Path | None


def status() -> list[WeightsStatus]:
    """For every registered model with pretrained weights: its file name and where it was found (or None)."""
    from cnn_demo.models.registry import list_models

    out = []
    for name in [*list_models(pretrained=True), *vision_task_models()]:
        spec = weights_spec(name)
        out.append(WeightsStatus(name, spec.filename, find(name)))
    return out
