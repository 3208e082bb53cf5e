"""MTCNN faces: the weights set-up installs, the three networks and the cascade against facenet-pytorch (the
reference implementation, imported here only), NMS against torchvision, and the floors on a few COCO photos."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

from cnn_demo import weights
from cnn_demo.applications import faces
from cnn_demo.data.samples import people_dir
from cnn_demo.errors import InputError
from cnn_demo.io.images import load_image
from tests.conftest import shared_path

GROUP = "000000000308.jpg"  # a bundled people-sample photo: five faces at a wine tasting


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def reference():
    """facenet-pytorch's MTCNN keeping every face (the package is installed by set-up, with --no-deps)."""
    facenet = pytest.importorskip("facenet_pytorch")
    return facenet.MTCNN(keep_all=True, select_largest=False)


def bundled(name: str = GROUP) -> Image.Image:
    return load_image((people_dir() / "images" / name).read_bytes())


def assert_same_as_reference(ref, img: Image.Image, found: faces.Faces) -> None:
    boxes, probs, marks = ref.detect(img, landmarks=True)
    if boxes is None:
        assert len(found) == 0
        return
    boxes = np.asarray(boxes, dtype=np.float64).copy()
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, img.width)  # we report boxes inside the image
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, img.height)
    np.testing.assert_allclose(found.boxes, boxes, atol=1e-2)
    np.testing.assert_allclose(found.scores, np.asarray(probs, dtype=np.float64), atol=1e-5)
    np.testing.assert_allclose(found.landmarks, np.asarray(marks, dtype=np.float64), atol=1e-2)


# ------------------------------------------------------------------------------------------ weights


def test_mtcnn_weights_come_verified_from_the_facenet_wheel(fresh_install):
    package = weights.PACKAGED["mtcnn"]
    assert package.requirement == "facenet-pytorch==2.6.0"
    paths = weights.package_files(package)
    assert paths is not None and [p.name for p in paths] == ["pnet.pt", "rnet.pt", "onet.pt"]
    assert all(f.sha256 and weights.sha256_of(p) == f.sha256 for f, p in zip(package.files, paths, strict=True))
    assert weights.verify_package(package) is True
    assert weights.find("mtcnn") == paths[0]
    (line,) = [s for s in weights.status() if s.model == "mtcnn"]
    assert line.origin == "installed package facenet-pytorch==2.6.0" and line.files == tuple(paths)
    assert line.where.endswith("pnet.pt, rnet.pt, onet.pt")
    state = weights.load_state_dict("mtcnn")
    assert set(state) == set(faces.MTCNN().state_dict())  # every key, under pnet./rnet./onet.
    for f, path in zip(package.files, paths, strict=True):  # unchanged tensors from each file
        for key, value in torch.load(path, weights_only=True).items():
            assert torch.equal(state[f.prefix + key], value)


def test_a_damaged_mtcnn_file_is_refused(fresh_install, monkeypatch):
    package = weights.PACKAGED["mtcnn"]
    bad = weights.PackagedWeights(
        package.distribution, package.version, package.file, sha256="0" * 64, prefix="pnet.", more=package.more
    )
    from dataclasses import replace
    from types import MappingProxyType

    from cnn_demo.weights import catalogue

    row = replace(catalogue.model_info("mtcnn"), package=bad)  # the table's row, with a wrong recorded digest
    monkeypatch.setattr(catalogue, "_BY_NAME", MappingProxyType({**catalogue._BY_NAME, "mtcnn": row}))
    with pytest.raises(weights.WeightsCorrupt, match=r"pnet\.pt is damaged"):
        weights.resolve("mtcnn")
    with pytest.raises(weights.WeightsCorrupt):
        faces.build_mtcnn(pretrained=True)


def test_weights_fetch_converts_mtcnn_once_and_it_loads_from_the_folder(tmp_path, monkeypatch):
    from cnn_demo.cli import main

    monkeypatch.setenv("CNN_DEMO_WEIGHTS_DIR", str(tmp_path))
    assert main(["weights", "fetch", "mtcnn"]) == 0
    converted = tmp_path / "mtcnn.safetensors"
    assert weights.find("mtcnn") == converted and weights.verify_converted(converted)
    assert "facenet-pytorch==2.6.0 pnet.pt, rnet.pt, onet.pt" in weights.origin("mtcnn", converted)
    from_folder = faces.build_mtcnn()
    monkeypatch.delenv("CNN_DEMO_WEIGHTS_DIR")
    monkeypatch.chdir(tmp_path.parent)  # ./weights absent: back to the package's files
    from_package = faces.build_mtcnn()
    for key, value in from_package.state_dict().items():
        assert torch.equal(from_folder.state_dict()[key], value), key


# ------------------------------------------------------------------------------------------ networks


def test_the_three_networks_equal_facenets(reference):
    torch.manual_seed(0)
    ours = faces.build_mtcnn()
    for name, shape in (("pnet", (2, 3, 37, 53)), ("rnet", (5, 3, 24, 24)), ("onet", (5, 3, 48, 48))):
        x = torch.randn(*shape)
        with torch.no_grad():
            mine = getattr(ours, name)(x)
            theirs = getattr(reference, name)(x)
        if name == "pnet":  # facenet gives both classes' probabilities; ours the face class
            theirs = (theirs[0], theirs[1][:, 1])
        elif name == "onet":
            theirs = (theirs[0], theirs[1], theirs[2][:, 1])
        else:
            theirs = (theirs[0], theirs[1][:, 1])
        for a, b in zip(mine, theirs, strict=True):
            torch.testing.assert_close(a, b)


def test_pnet_slid_over_an_image_is_the_12x12_classifier_on_each_window():
    from cnn_demo.applications.faces.explain import pnet_window

    img = bundled()
    for row, col in ((0, 0), (17, 40), (60, 90)):
        check = pnet_window(img, 0.3, row, col)
        assert check.pixels.shape == (12, 12, 3)
        assert check.alone == pytest.approx(check.in_map, abs=1e-5)
    assert faces.WINDOW == 12 and faces.STRIDE == 2


# ------------------------------------------------------------------------------------------ cascade


def test_faces_equal_facenets_on_a_bundled_group_photo(reference):
    img = bundled()
    cascade = faces.run_cascade(img)
    assert len(cascade.faces) >= 4
    assert_same_as_reference(reference, img, cascade.faces)


def test_faces_equal_facenets_on_val_photos(reference):
    folder = shared_path("coco_sample", "val2017", "images")
    for name in ("000000000785.jpg", "000000000872.jpg", "000000000885.jpg", "000000001296.jpg"):
        img = load_image((folder / name).read_bytes())
        assert_same_as_reference(reference, img, faces.detect_faces(img))


def test_the_cascade_counts_of_the_issue_on_the_group_photo():
    """Issue 21 measured on 000000001000 (640 px): 10 scales, 50,990 windows → 940 ≥ 0.6 → 424 proposals → 97
    after R-Net → 11 faces."""
    img = load_image(shared_path("coco_sample", "val2017", "images", "000000001000.jpg").read_bytes())
    cascade = faces.run_cascade(img)
    counts = [n for _, n in cascade.counts()]
    assert counts == sorted(counts, reverse=True)  # a funnel: every step keeps fewer
    assert len(cascade.pyramid) == 10 and cascade.windows == 50_990
    assert abs(len(cascade.candidates) - 940) <= 5 and abs(len(cascade.proposals) - 424) <= 5
    assert abs(len(cascade.refined) - 97) <= 3 and len(cascade.faces) == 11
    assert len(cascade.rnet.scores) == len(cascade.proposals) and cascade.rnet.images.shape[1:] == (24, 24, 3)
    assert int(cascade.rnet.passed.sum()) >= len(cascade.refined)
    assert cascade.onet.images.shape == (len(cascade.refined), 48, 48, 3)
    assert set(cascade.final_keep.tolist()) <= set(range(len(cascade.before_final_nms)))
    np.testing.assert_array_equal(cascade.before_final_nms.scores[cascade.final_keep], cascade.faces.scores)
    assert np.all(np.diff(cascade.faces.scores) <= 0)  # best first


def test_group_photo_at_1024_px_floor():
    """The issue's floor on a smaller budget: ≥ 10 faces of the 12-person photo resized to 1024 px."""
    img = load_image(shared_path("coco_sample", "val2017", "images", "000000001000.jpg").read_bytes())
    big = img.resize((1024, 768), Image.Resampling.BICUBIC)
    model = faces.build_mtcnn()
    faces.detect_faces(big, model=model)  # warm-up
    start = time.perf_counter()
    found = faces.detect_faces(big, model=model)
    assert len(found) >= 10
    assert time.perf_counter() - start < 2.0  # floor 0.5 s on a quiet core (bench/applications_faces.py)


def test_a_few_val_photos_meet_the_floors_in_proportion():
    """Faces inside labelled person boxes, none on person-free photos (16 photos; the bench runs all 128)."""
    import importlib.util

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("bench_faces", ROOT / "bench" / "applications_faces.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    val = shared_path("coco_sample", "val2017")
    with_face = inside = free_faces = free_photos = 0
    for path in sorted((val / "images").glob("*.jpg"))[:16]:
        img = load_image(path.read_bytes())
        found = faces.detect_faces(img)
        people = bench.person_boxes(val / "labels_yolo" / f"{path.stem}.txt", img.width, img.height)
        with_face += len(found) > 0
        inside += bench.centres_inside(found, people)
        if not len(people):
            free_photos += 1
            free_faces += len(found)
    assert free_photos >= 4 and free_faces == 0
    assert with_face >= 5 and inside >= 16


def test_large_images_are_shrunk_to_1024_and_boxes_come_back_in_their_pixels():
    img = bundled()
    small = faces.run_cascade(img)
    doubled = img.resize((img.width * 3, img.height * 3), Image.Resampling.BICUBIC)  # 1536 px wide
    big = faces.run_cascade(doubled)
    assert max(big.work_size) == 1024 and big.faces.image_size == doubled.size
    assert len(big.faces) >= len(small.faces) - 1
    from torchvision.ops import box_iou

    iou = box_iou(torch.from_numpy(small.faces.boxes[:4]), torch.from_numpy(big.faces.boxes) / 3)
    assert (iou.max(dim=1).values >= 0.5).all(), iou  # the best faces again, 3× as big and as far
    assert faces.shrink(img, 1024) == (img, 1.0)


def test_a_picture_without_faces_gives_an_empty_result_not_an_error():
    blank = np.full((200, 300, 3), 128, np.uint8)
    cascade = faces.run_cascade(blank)
    assert len(cascade.faces) == 0 and cascade.counts()[-1][1] == 0
    assert cascade.faces.to_dict() | {"seconds": 0} == {
        "width": 300,
        "height": 200,
        "faces": 0,
        "boxes": [],
        "scores": [],
        "landmarks": [],
        "seconds": 0,
    }
    tiny = faces.run_cascade(np.zeros((10, 10, 3), np.uint8))  # smaller than one window: no pyramid level
    assert tiny.pyramid == () and len(tiny.faces) == 0
    with pytest.raises(InputError):
        faces.FaceConfig(min_face_size=5)
    with pytest.raises(InputError):
        faces.FaceConfig(thresholds=(0.6, 1.5, 0.7))


def test_pyramid_scales_follow_facenets_loop():
    """12 / min_face_size, times 0.709, while the shorter side stays ≥ 12 px."""
    assert len(faces.pyramid_scales(480, 640, 20, 0.709)) == 10
    scales = faces.pyramid_scales(300, 500, 40, 0.5)
    assert scales == pytest.approx([0.3, 0.15, 0.075])
    assert faces.pyramid_scales(11, 500, 12, 0.7) == []


def test_random_weights_run_the_same_pipeline():
    model = faces.build_mtcnn(pretrained=False)
    cascade = faces.run_cascade(bundled(), model=model)
    assert cascade.windows > 0 and all(
        0.0 <= lv.probability.min() <= lv.probability.max() <= 1.0 for lv in cascade.pyramid
    )


# ------------------------------------------------------------------------------------------ NMS


def _greedy_min_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """Brute force: the best remaining box, then drop boxes whose overlap / smaller area (1-based, +1) > thr."""
    order = list(np.argsort(-scores, kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        survivors = []
        for j in order:
            w = max(0.0, min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]) + 1)
            h = max(0.0, min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]) + 1)
            a = min((b[2] - b[0] + 1) * (b[3] - b[1] + 1) for b in (boxes[i], boxes[j]))
            if w * h / a <= thr:
                survivors.append(j)
        order = survivors
    return keep


def test_nms_by_the_smaller_box_against_brute_force_and_facenet():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, size=(60, 2))
    wh = rng.uniform(10, 80, size=(60, 2))
    boxes = np.hstack([xy, xy + wh]).astype(np.float32)
    scores = rng.permutation(60).astype(np.float32) / 60  # distinct scores: one right answer
    keep = faces.nms_min(boxes, scores, 0.7)
    assert keep.tolist() == _greedy_min_nms(boxes, scores, 0.7)
    facenet = pytest.importorskip("facenet_pytorch.models.utils.detect_face")
    ref = facenet.batched_nms_numpy(torch.from_numpy(boxes), torch.from_numpy(scores), torch.zeros(60), 0.7, "Min")
    assert keep.tolist() == ref.tolist()


def test_nms_by_the_smaller_box_drops_a_box_inside_a_bigger_one_where_iou_nms_keeps_it():
    from torchvision.ops import box_iou, nms

    boxes = np.array([[0, 0, 100, 100], [30, 30, 60, 60]], np.float32)  # a face part inside a face
    scores = np.array([0.99, 0.9], np.float32)
    assert float(box_iou(torch.from_numpy(boxes[:1]), torch.from_numpy(boxes[1:]))) < 0.1
    assert nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.7).tolist() == [0, 1]
    assert faces.nms_min(boxes, scores, 0.7).tolist() == [0]
    assert faces.nms_min(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.7).tolist() == []


# ------------------------------------------------------------------------------------------ figures


def test_figures_of_the_cascade():
    from cnn_demo.applications.faces import figures as F

    img = bundled()
    arr = np.asarray(img)
    cascade = faces.run_cascade(img)
    drawn = F.draw_faces(arr, cascade.faces)
    assert drawn.shape == arr.shape and not np.array_equal(drawn, arr)
    assert np.array_equal(F.draw_faces(arr, faces.run_cascade(np.full_like(arr, 128)).faces), arr)
    mosaic = F.crops_mosaic(cascade.rnet, tile=32, columns=8, limit=20)
    assert mosaic.shape[1] == 8 * (32 + 8 + 3) + 3 and mosaic.shape[0] == 3 * (32 + 8 + 3) + 3
    assert F.score_colours([0.0, 1.0]) == [(165, 0, 38), (0, 104, 55)]  # RdYlGn's ends
    picture = F.pyramid_picture(arr, cascade.pyramid, height=100)
    assert picture.shape[0] == 100 and picture.shape[1] > 100
    level = cascade.pyramid[3]
    fig = F.probability_figure(arr, level, 0.6, F.best_window(level))
    names = [t.name for t in fig.data]
    assert "pyramid level" in names and "probability" in names
    funnel = F.funnel_figure(cascade.counts())
    assert list(funnel.data[0].text)[::-1] == [f"{n:,}" for _, n in cascade.counts()]
    kept = F.nms_figure(arr, cascade.before_final_nms, cascade.final_keep)
    assert f"kept ({len(cascade.faces)})" in [t.name for t in kept.data]
    marks = F.faces_figure(arr, cascade.faces)
    assert {t.name for t in marks.data} >= set(F.LANDMARK_NAMES)
