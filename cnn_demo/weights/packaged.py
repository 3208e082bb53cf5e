"""Loading a network's state dict, converting packaged files, and the status table of ``weights list``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from cnn_demo.errors import InputError
from cnn_demo.weights.catalogue import catalogue_entry, catalogue_names
from cnn_demo.weights.files import (
    DATA_HASH_KEY,
    WeightsCorrupt,
    WeightsMissing,
    data_sha256,
    load_file,
    package_file,
    package_files,
    verify,
    verify_package,
    weights_dir,
)
from cnn_demo.weights.info import ModelInfo, PackagedWeights
from cnn_demo.weights.lookup import fetch_spec, find, missing_message, origin, resolve, weights_spec


def fetch(name: str) -> Path:
    """Download the weights of ``name`` into the weights folder through torch.hub or huggingface_hub.

    Hash-named files are checked by torch.hub while downloading. Needs a network connection, except for the
    networks in :data:`~cnn_demo.weights.catalogue.PACKAGED`, whose installed file is converted
    (:func:`convert_packaged`).
    """
    spec = weights_spec(name)
    if spec.package is not None:
        return convert_packaged(name)
    return fetch_spec(spec)


def load_state_dict(name: str) -> dict[str, torch.Tensor]:
    """The pretrained state dict of a catalogue network, from the verified local file (never downloads).

    A packaged file with another implementation's key names is renamed to the model's (:func:`rename_in_order`).
    """
    path = resolve(name)
    spec = weights_spec(name)
    if spec.package is not None and path == package_file(spec.package):
        return package_state(spec.package, name)
    state = load_file(path)
    if spec.package is not None and spec.package.rename == "in_order" and path.name == spec.package.filename:
        state = rename_in_order(state, name)  # a copy of the package's file placed in a folder
    return state


def package_state(package: PackagedWeights, name: str) -> dict[str, torch.Tensor]:
    """The state dict of network ``name`` from its installed package: every file's tensors under its key prefix
    (MTCNN: ``pnet.``, ``rnet.``, ``onet.``), renamed to the model's keys where the package says so."""
    paths = package_files(package)
    if paths is None:
        raise WeightsMissing(missing_message(name))
    state: dict[str, torch.Tensor] = {}
    for f, path in zip(package.files, paths, strict=True):
        state.update({f.prefix + key: value for key, value in load_file(path).items()})
    return rename_in_order(state, name) if package.rename == "in_order" else state


def _library_state(entry: ModelInfo) -> dict[str, torch.Tensor]:
    """The state dict (on the meta device: names and shapes only) of the library architecture a file fits."""
    with torch.device("meta"):
        if entry.source == "timm":
            import timm

            model = timm.create_model(entry.timm_name, pretrained=False)
        elif entry.source == "torchvision":
            from torchvision.models import get_model

            model = get_model(entry.name, weights=None)
        else:
            raise InputError(f"The weights of {entry.name} are not renamed from another implementation.")
    return model.state_dict()


def rename_in_order(state: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """``state``'s tensors under the network's own keys, matched in order and checked shape for shape.

    The packaged EfficientNet-Lite0 file uses EfficientNet-PyTorch's names (``_conv_stem``, ``_blocks.0…``) for
    exactly the tensors of timm's ``tf_efficientnet_lite0``, in the same order.
    """
    target = _library_state(catalogue_entry(name))
    if len(target) != len(state) or any(
        a.shape != b.shape for a, b in zip(state.values(), target.values(), strict=True)
    ):
        raise WeightsCorrupt(f"The weights file for {name} does not fit the model (tensors differ in count or shape).")
    return {key: value for key, value in zip(target, state.values(), strict=True)}


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
    verify_package(spec.package)
    state = package_state(spec.package, name)
    folder = weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / f"{name}.safetensors"
    tmp = dst.with_suffix(f".{os.getpid()}.tmp")
    meta = {"cnn_demo_source": f"{spec.package.requirement} {', '.join(f.filename for f in spec.package.files)}"}
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata=meta)
    digest = data_sha256(tmp)
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata={**meta, DATA_HASH_KEY: digest})
    tmp.replace(dst)
    return dst


@dataclass(frozen=True)
class WeightsStatus:
    """One line of ``python -m cnn_demo weights list``."""

    model: str
    filename: str
    path: Path | None
    origin: str = ""
    files: tuple[Path, ...] = ()  # every file, when the weights are several files of an installed package

    @property
    def where(self) -> str:
        """Where the weights are, in words: the file, or a package's files (``…/pnet.pt, rnet.pt, onet.pt``)."""
        if self.path is None:
            return ""
        if len(self.files) > 1:
            return ", ".join([str(self.files[0]), *(p.name for p in self.files[1:])])
        return str(self.path)


def status() -> list[WeightsStatus]:
    """For every catalogue network: its file name, where it was found (or None) and whence."""
    out = []
    for name in catalogue_names():
        spec = weights_spec(name)
        path = find(name)
        files: tuple[Path, ...] = ()
        if path is not None and spec.package is not None and path == package_file(spec.package):
            files = tuple(package_files(spec.package) or ())
        out.append(WeightsStatus(name, spec.filename, path, origin(name, path) if path is not None else "", files))
    return out
