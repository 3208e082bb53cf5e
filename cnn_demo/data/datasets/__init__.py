"""Image datasets from students: safe zip reading, ImageFolder layouts, validation reports and splits.

A dataset arrives as a ``.zip`` upload, as classes built in the page, from a folder on the server
(command line, benchmarks) or as a built-in offline set. Whatever the source, every file goes
through the same pipeline: archive members are read in memory (nothing is ever extracted, so no
path can escape a folder), links are never followed, decompression is streamed and stopped on
compression bombs, every image is decoded by :func:`cnn_demo.io.images.load_image` and downscaled, and
a :class:`DatasetReport` says what was used, what was skipped and why, and what blocks training.

Paired segmentation data (``images/`` + ``masks/``) for the U-Net goes through the same reader.

Parts: ``types`` (limits, reports, :class:`Dataset`, :class:`Split`), ``readers`` (zip through
:mod:`cnn_demo.io.archive`, folders, decoding), ``checks`` (what blocks training), ``folders`` (ImageFolder layouts,
``read_zip_dataset``, ``build_dataset``), ``store`` (decoded datasets on disk), ``splits``, ``builtin`` (offline sets),
``examples`` (datasets as zips), ``pairs`` (segmentation image/mask pairs). What pages, jobs and the command line use
is re-exported here (the readers' and the store's building blocks stay in their parts); errors come from
:mod:`cnn_demo.errors`, archives from :mod:`cnn_demo.io.archive`.
"""

from cnn_demo.data.datasets.builtin import (
    BUILTIN_DATASETS,
    BuiltinDataset,
    builtin_names,
    lfw_faces,
    load_builtin,
    texture_patches,
)
from cnn_demo.data.datasets.checks import strategy_hint, validate_class_name, validate_label, validate_labels
from cnn_demo.data.datasets.examples import dataset_to_zip, example_zip
from cnn_demo.data.datasets.folders import build_dataset, load_dataset, read_folder_dataset, read_zip_dataset
from cnn_demo.data.datasets.pairs import (
    IGNORE_INDEX,
    IMAGE_DIR_NAMES,
    MASK_DIR_NAMES,
    VOC_CLASSES,
    SegmentationDataset,
    SegmentationReport,
    load_mask,
    load_segmentation,
    load_voc_sample,
    read_segmentation_folder,
    read_segmentation_zip,
)
from cnn_demo.data.datasets.readers import IMAGE_EXTENSIONS, TEST_NAMES, TRAIN_NAMES, VAL_NAMES, decode_image
from cnn_demo.data.datasets.splits import drop_classes, split_dataset, too_small_classes
from cnn_demo.data.datasets.store import DiskImages, cleanup_store, open_stored_dataset, release_freed_memory
from cnn_demo.data.datasets.types import (
    DEFAULT_LIMITS,
    MIN_DATASET_IMAGE_SIDE,
    ClassCount,
    Dataset,
    DatasetLimits,
    DatasetReport,
    DuplicateGroup,
    SkippedFile,
    SkipReason,
    Split,
)

__all__ = [
    "BUILTIN_DATASETS",
    "DEFAULT_LIMITS",
    "IGNORE_INDEX",
    "IMAGE_DIR_NAMES",
    "IMAGE_EXTENSIONS",
    "MASK_DIR_NAMES",
    "MIN_DATASET_IMAGE_SIDE",
    "TEST_NAMES",
    "TRAIN_NAMES",
    "VAL_NAMES",
    "VOC_CLASSES",
    "BuiltinDataset",
    "ClassCount",
    "Dataset",
    "DatasetLimits",
    "DatasetReport",
    "DiskImages",
    "DuplicateGroup",
    "SegmentationDataset",
    "SegmentationReport",
    "SkipReason",
    "SkippedFile",
    "Split",
    "build_dataset",
    "builtin_names",
    "cleanup_store",
    "dataset_to_zip",
    "decode_image",
    "drop_classes",
    "example_zip",
    "lfw_faces",
    "load_builtin",
    "load_dataset",
    "load_mask",
    "load_segmentation",
    "load_voc_sample",
    "open_stored_dataset",
    "read_folder_dataset",
    "read_segmentation_folder",
    "read_segmentation_zip",
    "read_zip_dataset",
    "release_freed_memory",
    "split_dataset",
    "strategy_hint",
    "texture_patches",
    "too_small_classes",
    "validate_class_name",
    "validate_label",
    "validate_labels",
]
