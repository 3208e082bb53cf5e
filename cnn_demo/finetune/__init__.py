"""Fine-tuning: a custom head on a backbone (the lecture's *Model zoos* slide), as a resumable job.

Three strategies, as in PyTorch's transfer-learning tutorial and Teachable Machine:

* ``frozen``: the backbone is a fixed feature extractor. Its features are computed **once** (for
  several augmented views when augmenting) and cached, so each epoch only trains the small head.
* ``partial``: the last ``unfreeze`` stages of the backbone train together with the head.
* ``full``: everything trains, the backbone at ``lr * backbone_lr_factor``.

:func:`train` is the one training routine: the web page (through the ``finetune`` job), the command
line and the benchmark all call it. Export is a zip with ``model.safetensors`` and ``config.json``
(plus optional ONNX and a reload snippet); :func:`load_export` restores such a zip and refuses
anything that is not safetensors.
"""

from cnn_demo.finetune.backbone import (
    IMAGE_SIZES,
    Backbone,
    backbone_choices,
    backbone_num_features,
    describe_backbone,
    head_module,
    image_size_choices,
    load_backbone,
)
from cnn_demo.finetune.confidence import FALSE_ALARM, confidence_threshold, fallback_threshold, looks_unfamiliar
from cnn_demo.finetune.config import (
    DEFAULT_BACKBONE,
    HEADS,
    MAX_KEEP_FACTOR,
    STRATEGIES,
    AugmentSpec,
    HeadSpec,
    TrainConfig,
    build_head,
)
from cnn_demo.finetune.data import (
    THUMB,
    ImageData,
    PackedImages,
    as_image,
    from_dataset,
    keep_side,
    pack_data,
    pack_dataset,
    read_data,
    thumbnails,
    unpack_data,
)
from cnn_demo.finetune.export import (
    EXPORT_FORMAT,
    MAX_EXPORT_BYTES,
    MAX_EXPORT_RATIO,
    ONNX_SCRIPT,
    RELOAD_SNIPPET,
    export_onnx,
    export_zip,
    load_export,
    metrics_summary,
    read_metrics,
)
from cnn_demo.finetune.job import finetune_job
from cnn_demo.finetune.model import FineTuned, evaluate, extract_features, gradcam, predict_files
from cnn_demo.finetune.trainer import (
    EXPORT_METRICS,
    TrainResult,
    accuracy_report,
    export_metrics,
    majority_baseline,
    train,
)
from cnn_demo.finetune.transforms import augment_preview, make_transform

__all__ = [
    "DEFAULT_BACKBONE",
    "EXPORT_FORMAT",
    "EXPORT_METRICS",
    "FALSE_ALARM",
    "HEADS",
    "IMAGE_SIZES",
    "MAX_EXPORT_BYTES",
    "MAX_EXPORT_RATIO",
    "MAX_KEEP_FACTOR",
    "ONNX_SCRIPT",
    "RELOAD_SNIPPET",
    "STRATEGIES",
    "THUMB",
    "AugmentSpec",
    "Backbone",
    "FineTuned",
    "HeadSpec",
    "ImageData",
    "PackedImages",
    "TrainConfig",
    "TrainResult",
    "accuracy_report",
    "as_image",
    "augment_preview",
    "backbone_choices",
    "backbone_num_features",
    "build_head",
    "confidence_threshold",
    "describe_backbone",
    "evaluate",
    "export_metrics",
    "export_onnx",
    "export_zip",
    "extract_features",
    "fallback_threshold",
    "finetune_job",
    "from_dataset",
    "gradcam",
    "head_module",
    "image_size_choices",
    "keep_side",
    "load_backbone",
    "load_export",
    "looks_unfamiliar",
    "majority_baseline",
    "make_transform",
    "metrics_summary",
    "pack_data",
    "pack_dataset",
    "predict_files",
    "read_data",
    "read_metrics",
    "thumbnails",
    "train",
    "unpack_data",
]
