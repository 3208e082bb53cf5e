"""Face detection with MTCNN: a real pretrained detector on every offline install, and its cascade laid open.

MTCNN (Zhang et al., 2016) is the lecture's "propose, then classify" in three small CNNs: P-Net proposes face
windows over an image pyramid, R-Net and O-Net classify crops of them and refine the boxes, NMS removes
duplicates. The networks (:mod:`~cnn_demo.applications.faces.nets`) load facenet-pytorch's published weights,
which set-up installs as a wheel; the cascade (:mod:`~cnn_demo.applications.faces.cascade`) records every stage
for the Object detection page.
"""

from cnn_demo.applications.faces.cascade import (
    STRIDE,
    WINDOW,
    Crops,
    FaceCascade,
    FaceConfig,
    Faces,
    PyramidLevel,
    StageBoxes,
    crop_windows,
    detect_faces,
    nms_min,
    pyramid_scales,
    run_cascade,
    shrink,
)
from cnn_demo.applications.faces.nets import (
    MTCNN,
    WEIGHTS_NAME,
    ONet,
    PNet,
    RNet,
    build_mtcnn,
    weights_available,
)

__all__ = [
    "MTCNN",
    "STRIDE",
    "WEIGHTS_NAME",
    "WINDOW",
    "Crops",
    "FaceCascade",
    "FaceConfig",
    "Faces",
    "ONet",
    "PNet",
    "PyramidLevel",
    "RNet",
    "StageBoxes",
    "build_mtcnn",
    "crop_windows",
    "detect_faces",
    "nms_min",
    "pyramid_scales",
    "run_cascade",
    "shrink",
    "weights_available",
]
