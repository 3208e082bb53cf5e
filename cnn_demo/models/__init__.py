"""Models for the app and for notebooks: one table of models with :func:`create` as the single front door.

>>> from cnn_demo import models
>>> net = models.create("cifar_resnet20")                 # pretrained, from ./weights or the torch hub cache
>>> cfg = models.data_config(net); tf = models.transform(cfg)
>>> backbone, n = models.feature_extractor(net)           # images -> (N, 64) vectors
>>> det = models.create("ssdlite320_mobilenet_v3_large", pretrained=False)  # detectors and segmenters too
>>> models.summarize(models.MyConvNet(), (3, 32, 32)).total_params
72042
"""

from cnn_demo.models.cifar import CIFAR10_CLASSES, CifarResNet
from cnn_demo.models.data import Augment, DataConfig, InputTensor, input_tensor, resize_side, transform
from cnn_demo.models.lecture import MyConvNet
from cnn_demo.models.registry import (
    DEFAULT_MODEL,
    ModelView,
    class_names,
    create,
    data_config,
    get_info,
    list_models,
    model_name,
    weightless,
)
from cnn_demo.models.sources import RANDOM_SEED, SourceHandler, calibrate_batchnorm, register_source
from cnn_demo.models.summary import LayerRow, ModelSummary, summarize
from cnn_demo.models.surgery import (
    feature_extractor,
    get_head,
    head_path,
    named_stages,
    num_features,
    replace_head,
    stages,
)
from cnn_demo.weights import ModelInfo

__all__ = [
    "CIFAR10_CLASSES",
    "DEFAULT_MODEL",
    "RANDOM_SEED",
    "Augment",
    "CifarResNet",
    "DataConfig",
    "InputTensor",
    "LayerRow",
    "ModelInfo",
    "ModelSummary",
    "ModelView",
    "MyConvNet",
    "SourceHandler",
    "calibrate_batchnorm",
    "class_names",
    "create",
    "data_config",
    "feature_extractor",
    "get_head",
    "get_info",
    "head_path",
    "input_tensor",
    "list_models",
    "model_name",
    "named_stages",
    "num_features",
    "register_source",
    "replace_head",
    "resize_side",
    "stages",
    "summarize",
    "transform",
    "weightless",
]
