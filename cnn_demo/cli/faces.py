"""``python -m cnn_demo detect-faces IMAGE... [--json]``: MTCNN's faces in image files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_detect_faces(args: argparse.Namespace) -> int:
    """Detect faces in each image; one JSON object per image and line with ``--json``, else a short summary.

    Boxes are (x0, y0, x1, y1) in the file's pixels (after its EXIF rotation). A file that is not a readable
    image is reported on stderr and the others are still processed; the exit status is then 2.
    """
    import json

    from cnn_demo.applications import faces
    from cnn_demo.errors import InputError
    from cnn_demo.io.images import load_image

    config = faces.FaceConfig(min_face_size=args.min_face_size, max_side=args.max_side)
    model = faces.build_mtcnn()  # a missing or damaged weights file stops here, before any image
    failed = 0
    for name in args.images:
        path = Path(name)
        try:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise InputError(f"Cannot read {name}: {exc.strerror or exc}.") from exc
            found = faces.detect_faces(load_image(data), config, model=model)
        except InputError as exc:
            failed += 1
            print(f"error: {name}: {exc}", file=sys.stderr, flush=True)
            continue
        if args.json:
            print(json.dumps({"image": name, **found.to_dict()}), flush=True)
            continue
        width, height = found.image_size
        print(f"{name}: {len(found)} face{'s' * (len(found) != 1)} ({width}×{height}, {found.seconds:.2f} s)")
        for i, (box, score) in enumerate(zip(found.boxes, found.scores, strict=True), 1):
            x0, y0, x1, y1 = (float(v) for v in box)
            size = f"{x1 - x0:.0f}×{y1 - y0:.0f}"
            print(f"  {i:3d}. score {score:.3f}  box ({x0:.0f}, {y0:.0f})–({x1:.0f}, {y1:.0f}), {size}")
    return 2 if failed else 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``detect-faces``."""
    p = sub.add_parser(
        "detect-faces",
        help="find faces in images with MTCNN (pretrained weights from set-up's facenet-pytorch wheel)",
        description="Find faces with MTCNN. Boxes are x0,y0,x1,y1 in each image's pixels; landmarks are the eyes, "
        "the nose and the mouth corners as (x, y).",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (PNG, JPEG, WebP, BMP, GIF, TIFF)")
    p.add_argument("--json", action="store_true", help="one JSON object per image and line")
    p.add_argument("--min-face-size", type=int, default=20, help="smallest face to look for, in pixels (default 20)")
    p.add_argument(
        "--max-side", type=int, default=1024, help="shrink larger images to this longer side first (default 1024)"
    )
    p.set_defaults(func=_cmd_detect_faces)
