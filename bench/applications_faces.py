"""MTCNN faces against the floors of issue 21, on the 128 COCO val2017 photos (1 torch thread).

    .venv/bin/python bench/applications.py faces [-- --limit N] [-- --no-reference]

Floors: ≥ 45 photos with a face, ≥ 140 face centres inside a labelled person box (YOLO labels, class 0), ≤ 2 faces
on the photos without a person, median ≤ 0.15 s per photo; 000000001000.jpg resized to 1024 px: ≥ 10 faces in
≤ 0.5 s. With facenet-pytorch importable it also counts the photos where our boxes equal the reference
implementation's (this benchmark may import it; the package never does).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable as a script, alone or through bench/applications.py

from cnn_demo.applications import faces  # noqa: E402
from cnn_demo.io.images import load_image  # noqa: E402

VAL = ROOT.parent / "shared" / "data" / "coco_sample" / "val2017"
GROUP = "000000001000.jpg"


def person_boxes(label_file: Path, width: int, height: int) -> np.ndarray:
    """The person boxes (x0, y0, x1, y1, pixels) of a YOLO label file (class 0 = person)."""
    rows = []
    if label_file.is_file():
        for line in label_file.read_text().splitlines():
            parts = line.split()
            if len(parts) == 5 and parts[0] == "0":
                cx, cy, w, h = (float(v) for v in parts[1:])
                rows.append([(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def centres_inside(found: faces.Faces, people: np.ndarray) -> int:
    """How many face centres fall inside at least one person box."""
    if not len(found) or not len(people):
        return 0
    cx = (found.boxes[:, 0] + found.boxes[:, 2]) / 2
    cy = (found.boxes[:, 1] + found.boxes[:, 3]) / 2
    inside = (
        (cx[:, None] >= people[None, :, 0])
        & (cx[:, None] <= people[None, :, 2])
        & (cy[:, None] >= people[None, :, 1])
        & (cy[:, None] <= people[None, :, 3])
    )
    return int(inside.any(axis=1).sum())


def reference_detector():
    """facenet-pytorch's MTCNN (keep every face), or None when it does not import."""
    try:
        from facenet_pytorch import MTCNN
    except Exception:  # an optional comparison: any import failure just skips it
        return None
    return MTCNN(keep_all=True, select_largest=False)


def same_as_reference(ref, img: Image.Image, found: faces.Faces) -> bool:
    """Whether the reference finds the same faces (boxes, clipped like ours, and landmarks within 0.01 px)."""
    boxes, _, marks = ref.detect(img, landmarks=True)
    if boxes is None:
        return len(found) == 0
    boxes = boxes.copy()
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, img.width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, img.height)
    return (
        len(boxes) == len(found)
        and np.allclose(boxes, found.boxes, atol=0.01)
        and np.allclose(marks, found.landmarks, atol=0.01)
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench/applications_faces.py")
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos (0 = all 128)")
    parser.add_argument("--no-reference", action="store_true", help="skip the comparison with facenet-pytorch")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    images = sorted((VAL / "images").glob("*.jpg"))
    if args.limit:
        images = images[: args.limit]
    if not images:
        raise SystemExit(f"no photos in {VAL / 'images'} (the shared data folder beside the repo)")
    model = faces.build_mtcnn()
    faces.detect_faces(load_image(images[0].read_bytes()), model=model)  # warm-up
    ref = None if args.no_reference else reference_detector()
    seconds, with_face, inside, free_faces, free_photos, total, same = [], 0, 0, 0, 0, 0, 0
    for path in images:
        img = load_image(path.read_bytes())
        start = time.perf_counter()
        found = faces.detect_faces(img, model=model)
        seconds.append(time.perf_counter() - start)
        people = person_boxes(VAL / "labels_yolo" / f"{path.stem}.txt", img.width, img.height)
        total += len(found)
        with_face += len(found) > 0
        inside += centres_inside(found, people)
        if not len(people):
            free_photos += 1
            free_faces += len(found)
        if ref is not None:
            same += same_as_reference(ref, img, found)
    median = statistics.median(seconds)
    print(f"photos: {len(images)}, faces: {total}, photos with a face: {with_face} (floor ≥ 45)")
    print(f"face centres inside a labelled person box: {inside} of {total} (floor ≥ 140)")
    print(f"faces on the {free_photos} photos without a person: {free_faces} (floor ≤ 2)")
    print(
        f"seconds per photo: median {median:.3f} (floor ≤ 0.15), mean {statistics.mean(seconds):.3f}, "
        f"max {max(seconds):.3f}"
    )
    if ref is not None:
        print(f"boxes and landmarks equal facenet-pytorch 2.6.0's: {same} of {len(images)} photos")

    group = VAL / "images" / GROUP
    if group.is_file():
        img = load_image(group.read_bytes())
        big = img.resize((1024, round(img.height * 1024 / img.width)), Image.Resampling.BICUBIC)
        runs = []
        for _ in range(5):
            cascade = faces.run_cascade(big, model=model)
            runs.append(cascade.faces.seconds)
        counts = ", ".join(f"{name}: {n:,}" for name, n in cascade.counts())
        print(
            f"{GROUP} at {big.width}×{big.height}: {len(cascade.faces)} faces (floor ≥ 10) in median "
            f"{statistics.median(runs):.3f} s of 5 runs (floor ≤ 0.5; min {min(runs):.3f})"
        )
        print(f"  cascade: {counts}")
        stages = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in cascade.seconds.items())
        print(f"  last run's stages: {stages}")
        if ref is not None:
            ref_runs = []
            for _ in range(5):
                start = time.perf_counter()
                ref.detect(big)
                ref_runs.append(time.perf_counter() - start)
            print(f"  facenet-pytorch's MTCNN on the same image: median {statistics.median(ref_runs):.3f} s of 5 runs")


if __name__ == "__main__":
    main(sys.argv[1:])
