"""The dataset layer: hostile zips built here, ImageFolder layouts, reports, splits, built-ins, segmentation pairs."""

from __future__ import annotations

import contextlib
import io
import os
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnn_demo.data import datasets as D
from cnn_demo.errors import InputError
from cnn_demo.io.archive import MB
from tests.conftest import shared_path
from tests.hostile import lie_about_sizes, patch_member

SMALL = D.DatasetLimits(max_side=32)


def png(seed: int = 0, size: tuple[int, int] = (16, 12), mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buf, format="PNG")
    return buf.getvalue()


def jpeg(seed: int = 0, size: tuple[int, int] = (40, 30)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def make_zip(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip from (name or ZipInfo, bytes) pairs; a name ending in / is a folder entry."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def two_classes(prefix: str = "", n: int = 2) -> list[tuple[str, bytes]]:
    return [
        (f"{prefix}{cls}/{cls}{i}.png", png(10 * k + i)) for k, cls in enumerate(("cats", "dogs")) for i in range(n)
    ]


def reasons(ds) -> dict[str, D.SkipReason]:
    return {s.path: s.reason for s in ds.report.skipped}


# ------------------------------------------------------------------------------------------ layouts


def test_class_folders_decoded_like_pil():
    ds = D.read_zip_dataset(make_zip(two_classes()), "pets.zip", SMALL)
    assert ds.class_names == ("cats", "dogs")
    assert [c.total for c in ds.report.classes] == [2, 2]
    assert ds.report.ok and ds.report.layout == "one folder per class"
    assert ds.given_split is None
    for path, arr, label in zip(ds.paths, ds.images, ds.labels, strict=True):
        cls, name = path.split("/")
        i = int(name[4])
        ref = np.asarray(Image.open(io.BytesIO(png(10 * ("cats", "dogs").index(cls) + i))).convert("RGB"))
        np.testing.assert_array_equal(arr, ref)
        assert ds.class_names[label] == cls
        assert arr.dtype == np.uint8 and not arr.flags.writeable


def test_wrapping_folders_and_downscale():
    entries = [(f"my data/set/{cls}/{i}.jpg", jpeg(i, (100, 50))) for cls in ("a", "b") for i in range(2)]
    ds = D.read_zip_dataset(make_zip(entries), limits=SMALL)
    assert ds.class_names == ("a", "b")
    assert "my data/set/" in ds.report.layout
    assert all(a.shape == (16, 32, 3) for a in ds.images)


def test_train_val_split_layout_and_test_folder_unused():
    entries = [
        (f"{s}/{c}/{i}.png", png(100 * ("train", "val").index(s) + 10 * "xy".index(c) + i))
        for s in ("train", "val")
        for c in "xy"
        for i in range(2)
    ]
    entries.append(("test/x/9.png", png(999)))
    ds = D.read_zip_dataset(make_zip(entries), limits=SMALL)
    assert ds.report.has_given_split and ds.report.layout.startswith("train/ and val/")
    assert [(c.train, c.val) for c in ds.report.classes] == [(2, 2), (2, 2)]
    assert reasons(ds) == {"test/x/9.png": D.SkipReason.UNUSED_SPLIT}
    split = D.split_dataset(ds)
    assert split.given and len(split.train) == 4 and len(split.val) == 4
    assert all(ds.given_split[i] == "val" for i in split.val)


def test_hymenoptera_zipped_reads_with_its_split(tmp_path):
    root = shared_path("hymenoptera_data")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(root.rglob("*")):
            zf.write(path, "hymenoptera_data/" + path.relative_to(root).as_posix())
    ds = D.read_zip_dataset(buf.getvalue(), "hymenoptera.zip")
    assert ds.class_names == ("ants", "bees")
    assert [(c.train, c.val) for c in ds.report.classes] == [(124, 70), (121, 83)]
    split = D.split_dataset(ds)
    assert (len(split.train), len(split.val)) == (245, 153)
    assert ds.report.ok and not ds.report.skipped and not ds.report.duplicates
    assert max(max(a.shape[:2]) for a in ds.images) == 256
    # The folder reader gives the same dataset.
    same = D.load_dataset(root, D.DatasetLimits(max_side=32))
    assert same.paths == tuple(p.removeprefix("hymenoptera_data/") for p in ds.paths)


# ------------------------------------------------------------------------------------------ hostile zips


def test_zip_slip_and_absolute_paths_are_skipped_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = ["../evil.png", "../../etc/evil.png", "/abs/evil.png", "C:\\win\\evil.png", "cats/../../x.png"]
    ds = D.read_zip_dataset(make_zip(two_classes() + [(n, png(5)) for n in evil]), limits=SMALL)
    got = reasons(ds)
    assert len(got) == len(evil)
    assert set(got.values()) == {D.SkipReason.UNSAFE_PATH}
    assert ds.report.ok and len(ds) == 4
    assert list(tmp_path.iterdir()) == []


def test_symlink_entries_are_not_followed():
    link = zipfile.ZipInfo("cats/link.png")
    link.create_system = 3
    link.external_attr = 0o120777 << 16
    ds = D.read_zip_dataset(make_zip([*two_classes(), (link, "/etc/passwd")]), limits=SMALL)
    assert reasons(ds) == {"cats/link.png": D.SkipReason.SYMLINK}
    assert "symbolic link" in D.SkipReason.SYMLINK


def test_every_reason_the_zip_reader_gives_is_a_dataset_skip_reason():
    from cnn_demo.io.archive import EntrySkip

    assert {str(r) for r in EntrySkip} <= {str(r) for r in D.SkipReason}  # read_zip_dataset converts by value


def test_compression_bomb_is_stopped_early():
    bomb = make_zip([*two_classes(), ("cats/bomb.png", b"\0" * (200 * MB))])
    assert len(bomb) < 1 * MB
    t = time.perf_counter()
    with pytest.raises(InputError, match="compression bomb"):
        D.read_zip_dataset(bomb)
    assert time.perf_counter() - t < 2.0


def test_total_uncompressed_size_is_capped():
    rng = np.random.default_rng(0)
    entries = [(f"c{i % 2}/{i}.bmp", rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes()) for i in range(6)]
    limits = D.DatasetLimits(max_uncompressed_bytes=1 * MB)
    with pytest.raises(InputError, match="unpacks to more than 1 MB"):
        D.read_zip_dataset(make_zip(entries), limits=limits)


def test_lying_size_headers_do_not_fool_the_limits():
    """Limits count the bytes really decompressed, whatever the headers declare."""
    data = make_zip([*two_classes(), ("b/2.png", b"\0" * (5 * MB))])
    with pytest.raises(InputError, match="compression bomb"):
        D.read_zip_dataset(lie_about_sizes(data, 0x7FFF0000))  # headers claim 2 GB: real bytes still counted
    ds = D.read_zip_dataset(lie_about_sizes(make_zip(two_classes()), 0x7FFF0000), limits=SMALL)
    assert len(ds) == 4 and ds.report.ok  # honest content under a lying header reads fine
    ds = D.read_zip_dataset(lie_about_sizes(data, 10), limits=SMALL)  # headers claim 10 bytes: cut reads fail CRC
    assert len(ds) == 0 and set(reasons(ds).values()) == {D.SkipReason.BAD_ENTRY}
    assert any("No usable image" in e for e in ds.report.errors)


def test_nested_archives_are_not_opened():
    inner = make_zip(two_classes())
    ds = D.read_zip_dataset(make_zip([*two_classes(), ("cats/more.zip", inner), ("dogs/x.png", inner)]), limits=SMALL)
    assert reasons(ds) == {"cats/more.zip": D.SkipReason.NESTED_ARCHIVE, "dogs/x.png": D.SkipReason.NESTED_ARCHIVE}


def test_macos_and_hidden_files_are_skipped():
    extra = [
        ("__MACOSX/cats/._a.png", b"\0\5\26\7junk"),
        ("cats/.DS_Store", b"junk"),
        ("cats/._a.png", b"junk"),
        (".hidden/x.png", png(3)),
        ("dogs/Thumbs.db", b"junk"),
    ]
    ds = D.read_zip_dataset(make_zip(two_classes() + extra), limits=SMALL)
    got = reasons(ds)
    assert got["__MACOSX/cats/._a.png"] == D.SkipReason.MACOS
    assert {got[p] for p in ("cats/.DS_Store", "cats/._a.png", ".hidden/x.png", "dogs/Thumbs.db")} == {
        D.SkipReason.HIDDEN
    }
    assert ds.class_names == ("cats", "dogs") and ds.report.ok


def test_non_images_truncated_and_corrupt_files_each_give_their_reason():
    good = png(7, (64, 64))
    bad_jpeg = bytearray(jpeg(1, (64, 64)))
    bad_jpeg[200:600] = bytes(400)
    extra = [
        ("cats/notes.txt", b"hello"),
        ("cats/fake.png", b"this is text, not a png"),
        ("cats/doc.jpg", b"%PDF-1.4 not an image"),
        ("dogs/truncated.png", good[: len(good) // 2]),
        ("dogs/tiny.png", png(1, (4, 4))),
        ("dogs/empty.png", b""),
    ]
    ds = D.read_zip_dataset(make_zip(two_classes() + extra), limits=SMALL)
    got = reasons(ds)
    assert got["cats/notes.txt"] == D.SkipReason.NOT_IMAGE
    assert got["cats/fake.png"] == D.SkipReason.NOT_IMAGE
    assert got["cats/doc.jpg"] == D.SkipReason.NOT_IMAGE
    assert got["dogs/truncated.png"] == D.SkipReason.CORRUPT
    assert got["dogs/tiny.png"] == D.SkipReason.TOO_SMALL
    assert got["dogs/empty.png"] == D.SkipReason.NOT_IMAGE
    details = {s.path: s.detail for s in ds.report.skipped}
    assert "PDF" in details["cats/doc.jpg"] and "truncated or corrupt" in details["dogs/truncated.png"]
    assert any("6 file(s) were skipped" in w for w in ds.report.warnings)


def test_images_over_the_pixel_or_byte_limit_are_skipped():
    limits = D.DatasetLimits(max_pixels=500, max_side=32)
    ds = D.read_zip_dataset(make_zip([*two_classes(), ("cats/big.png", png(1, (40, 40)))]), limits=limits)
    assert reasons(ds) == {"cats/big.png": D.SkipReason.TOO_LARGE}
    assert "1,600" in ds.report.skipped[0].detail
    limits = D.DatasetLimits(max_file_bytes=2000, max_side=32)
    raw = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    ds = D.read_zip_dataset(make_zip([*two_classes(), ("cats/big.bmp", raw)]), limits=limits)
    assert reasons(ds)["cats/big.bmp"] == D.SkipReason.TOO_LARGE


def test_bomb_hiding_behind_a_false_compressed_size_is_still_bounded():
    data = make_zip([*two_classes(), ("cats/bomb.png", b"\0" * (60 * MB))])
    lying = patch_member(data, b"cats/bomb.png", "compress_size", 0x7FFF0000)
    t = time.perf_counter()
    ds = D.read_zip_dataset(lying, limits=SMALL)
    # Either zipfile refuses the inconsistent entry, or the per-file limit stops it after 40 MB.
    assert reasons(ds)["cats/bomb.png"] in (D.SkipReason.TOO_LARGE, D.SkipReason.BAD_ENTRY)
    assert len(ds) == 4 and ds.report.ok
    assert time.perf_counter() - t < 5.0


def _bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A PNG whose header declares width×height pixels but holds no pixel data (a decompression-bomb header)."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_unusual_images_bomb_headers_16_bit_cmyk_and_aspect_ratio():
    buf16 = io.BytesIO()
    Image.fromarray((np.arange(20 * 16).reshape(16, 20) * 200).astype(np.uint16)).save(buf16, format="PNG")
    cmyk = io.BytesIO()
    Image.new("CMYK", (20, 16), (0, 255, 255, 0)).save(cmyk, format="JPEG")
    extra = [
        ("cats/bomb.png", _bomb_png()),
        ("cats/deep.png", buf16.getvalue()),
        ("dogs/cmyk.jpg", cmyk.getvalue()),
        ("dogs/strip.png", png(1, (4000, 10))),
    ]
    ds = D.read_zip_dataset(make_zip(two_classes() + extra), limits=SMALL)
    got = reasons(ds)
    assert got == {"cats/bomb.png": D.SkipReason.TOO_LARGE, "dogs/strip.png": D.SkipReason.TOO_SMALL}
    assert "aspect ratio" in {s.path: s.detail for s in ds.report.skipped}["dogs/strip.png"]
    deep = ds.images[ds.paths.index("cats/deep.png")]
    assert deep.shape == (16, 20, 3) and deep.max() > 200
    red = ds.images[ds.paths.index("dogs/cmyk.jpg")]
    assert red[..., 0].mean() > 200 and red[..., 1].mean() < 60


def test_encrypted_entries_are_skipped():
    data = patch_member(make_zip([*two_classes(), ("cats/secret.png", png(9))]), b"cats/secret.png", "flags", 0x1)
    ds = D.read_zip_dataset(data, limits=SMALL)
    assert reasons(ds) == {"cats/secret.png": D.SkipReason.ENCRYPTED}


def test_empty_class_folder_one_class_and_single_image_block_training():
    ds = D.read_zip_dataset(make_zip([*two_classes(), ("birds/", b"")]), limits=SMALL)
    assert ds.class_names == ("birds", "cats", "dogs")
    assert not ds.report.ok
    assert any("“birds” has 0 usable image(s)" in e for e in ds.report.errors)
    with pytest.raises(InputError, match="cannot be used for training"):
        ds.require_trainable()

    one = D.read_zip_dataset(make_zip([(f"cats/{i}.png", png(i)) for i in range(3)]), limits=SMALL)
    assert any("at least 2 classes" in e and "(“cats”)" in e for e in one.report.errors)

    single = D.read_zip_dataset(make_zip([*two_classes(), ("fish/1.png", png(50))]), limits=SMALL)
    assert any("“fish” has 1 usable image(s)" in e for e in single.report.errors)


def test_non_utf8_names():
    # UTF-8 written without the UTF-8 flag (Linux zip) is recovered; a legacy code page stays printable.
    data = make_zip(
        [("cafXX/1.png", png(1)), ("cafXX/2.png", png(2)), ("dogsY/a.png", png(3)), ("dogsY/b.png", png(4))]
    )
    data = data.replace(b"cafXX", "café".encode()).replace(b"dogsY", b"d\xf6gs\xff")
    ds = D.read_zip_dataset(data, limits=SMALL)
    assert ds.class_names[0] == "café"
    assert ds.class_names[1] == b"d\xf6gs\xff".decode("cp437")
    assert ds.report.ok
    # Marked as UTF-8 but invalid: a clear message instead of a crash.
    flagged = make_zip([("é/1.png", png(1))]).replace("é".encode(), b"\xff\xfe")
    with pytest.raises(InputError, match="not valid UTF-8"):
        D.read_zip_dataset(flagged)


def test_too_many_files_and_too_large_zip():
    with pytest.raises(InputError, match="6 images; the limit on this server is 5"):
        D.read_zip_dataset(make_zip(two_classes(n=3)), limits=D.DatasetLimits(max_images=5))
    with pytest.raises(InputError, match="entries; the limit is 3"):
        D.read_zip_dataset(make_zip(two_classes()), limits=D.DatasetLimits(max_entries=3))
    with pytest.raises(InputError, match="limit is 1 MB"):
        D.read_zip_dataset(b"PK" + bytes(2 * MB), limits=D.DatasetLimits(max_zip_bytes=1 * MB))
    with pytest.raises(InputError, match="class folders; the limit is 2"):
        D.read_zip_dataset(make_zip([(f"c{i}/1.png", png(i)) for i in range(3)]), limits=D.DatasetLimits(max_classes=2))


def test_not_a_zip_and_empty():
    with pytest.raises(InputError, match=r"not a valid \.zip"):
        D.read_zip_dataset(png(1))
    with pytest.raises(InputError, match="empty"):
        D.read_zip_dataset(b"")


def test_duplicates_are_dropped_and_cross_class_copies_flagged():
    same = png(42)
    entries = [*two_classes(n=3), ("cats/copy.png", same), ("cats/copy2.png", same), ("dogs/copy.png", same)]
    ds = D.read_zip_dataset(make_zip(entries), limits=SMALL)
    (group,) = ds.report.duplicates
    assert group.kept == "cats/copy.png" and group.dropped == ("cats/copy2.png", "dogs/copy.png")
    assert group.classes == ("cats", "dogs")
    assert len(ds) == 7
    assert any("label is ambiguous" in w for w in ds.report.warnings)


def test_imbalance_and_few_images_warnings():
    entries = [(f"big/{i}.png", png(i)) for i in range(12)] + [(f"small/{i}.png", png(100 + i)) for i in range(3)]
    ds = D.read_zip_dataset(make_zip(entries), limits=SMALL)
    assert ds.report.ok
    text = " ".join(ds.report.warnings)
    assert "unbalanced" in text and "4.0×" in text and "Very few images in “small”" in text


def test_strategy_hint_follows_dataset_size():
    def report(*sizes):
        return D.DatasetReport("t", "t", tuple(D.ClassCount(f"c{i}", n) for i, n in enumerate(sizes)))

    assert "frozen" in D.strategy_hint(report(20, 40))
    assert "unfreezing the last stage" in D.strategy_hint(report(300, 500))
    assert "whole model" in D.strategy_hint(report(2000, 3000, 1000))
    assert D.strategy_hint(report(0, 0)) == ""


# ------------------------------------------------------------------------------------------ fuzz


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.data())
def test_fuzz_zip_reader_only_raises_input_error(data):
    base = make_zip(two_classes(), compression=data.draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])))
    blob = bytearray(base)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    try:
        ds = D.read_zip_dataset(bytes(blob), limits=SMALL)
    except InputError as exc:
        assert str(exc)
        return
    assert len(ds) <= 4 and len(ds.labels) == len(ds.images) == len(ds.paths)
    assert all(a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3 for a in ds.images)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(blob):
    with contextlib.suppress(InputError):
        D.read_zip_dataset(b"PK\x03\x04" + blob, limits=SMALL)


# ------------------------------------------------------------------------------------------ splits


def _labels_dataset(sizes: list[int]) -> D.Dataset:
    labels = np.repeat(np.arange(len(sizes)), sizes)
    img = np.zeros((8, 8, 3), np.uint8)
    counts = tuple(D.ClassCount(f"c{i}", n) for i, n in enumerate(sizes))
    report = D.DatasetReport("test", "test", counts)
    names = tuple(c.name for c in counts)
    return D.Dataset("t", names, (img,) * len(labels), labels, tuple(map(str, range(len(labels)))), report)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.lists(st.integers(2, 60), min_size=2, max_size=6),
    st.floats(0.05, 0.6),
    st.integers(0, 2**31),
)
def test_stratified_split_properties(sizes, fraction, seed):
    ds = _labels_dataset(sizes)
    split = D.split_dataset(ds, fraction, seed)
    assert not split.given
    assert len(np.intersect1d(split.train, split.val)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([split.train, split.val])), np.arange(len(ds)))
    for label, n in enumerate(sizes):
        n_val = int(np.sum(ds.labels[split.val] == label))
        assert 1 <= n_val <= n - 1
        assert abs(n_val - n * fraction) <= 1.0
    again = D.split_dataset(ds, fraction, seed)
    np.testing.assert_array_equal(again.val, split.val)


def test_split_seed_changes_and_bad_fraction():
    ds = _labels_dataset([50, 50])
    a, b = D.split_dataset(ds, 0.2, 0), D.split_dataset(ds, 0.2, 1)
    assert not np.array_equal(a.val, b.val)
    with pytest.raises(InputError, match="between 0 and 1"):
        D.split_dataset(ds, 1.5)


# ------------------------------------------------------------------------------------------ built in the page


def test_build_dataset_from_uploads():
    classes = [("  red  apples ", [("a.png", png(1)), ("b.jpg", jpeg(2)), (".DS_Store", b"x")]), ("pears", [])]
    ds = D.build_dataset([*classes, ("Plums", [("p.png", png(3)), ("q.png", png(4))])], limits=SMALL)
    assert ds.class_names == ("red apples", "pears", "Plums")
    assert [c.total for c in ds.report.classes] == [2, 0, 2]
    assert reasons(ds) == {"red apples/.DS_Store": D.SkipReason.HIDDEN}
    assert any("“pears” has 0" in e for e in ds.report.errors)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["cats", ""], "needs a name"),
        (["cats", "Cats"], "Two classes are called"),
        (["a/b", "c"], "cannot contain /"),
        (["x" * 80, "c"], "too long"),
        (["bad\x00name", "c"], "control characters"),
        ([".hidden", "c"], "cannot start with a dot"),
    ],
)
def test_class_name_validation(names, message):
    with pytest.raises(InputError, match=message):
        D.build_dataset([(n, [("a.png", png(1))]) for n in names])


def test_dataset_to_zip_round_trip():
    ds = D.read_zip_dataset(make_zip(two_classes(n=5)), limits=SMALL)
    split = D.split_dataset(ds, 0.4, seed=1)
    again = D.read_zip_dataset(D.dataset_to_zip(ds, split), limits=SMALL)
    assert again.class_names == ds.class_names and again.report.has_given_split
    assert [(c.train, c.val) for c in again.report.classes] == [(3, 2), (3, 2)]
    order = [int(p.split("/")[-1][:5]) for p in again.paths]
    for j, i in enumerate(order):
        np.testing.assert_array_equal(again.images[j], ds.images[i])
        assert again.labels[j] == ds.labels[i]
        assert again.given_split[j] == ("val" if i in split.val else "train")
    faces = D.read_zip_dataset(D.dataset_to_zip(D.load_builtin("faces")))
    assert [c.total for c in faces.report.classes] == [100, 100]


# ------------------------------------------------------------------------------------------ folders and built-ins


def test_folder_reader_skips_symlinks(tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            (tmp_path / cls / f"{i}.png").write_bytes(png(i))
    outside = tmp_path.parent / "outside.png"
    outside.write_bytes(png(9))
    os.symlink(outside, tmp_path / "a" / "link.png")
    os.symlink(tmp_path / "b", tmp_path / "linked_class")
    (tmp_path / ".git" / "objects").mkdir(parents=True)
    (tmp_path / ".git" / "objects" / "x.png").write_bytes(png(8))
    ds = D.load_dataset(tmp_path, SMALL)
    assert ds.class_names == ("a", "b")
    assert reasons(ds) == {
        "a/link.png": D.SkipReason.SYMLINK,
        "linked_class": D.SkipReason.SYMLINK,
        ".git/": D.SkipReason.HIDDEN,
    }


def test_builtin_textures_are_patches_of_the_skimage_photos():
    from cnn_demo.io.samples import data_dir

    ds = D.load_builtin("textures")
    assert ds.class_names == ("brick", "grass", "gravel")
    assert len(ds) == 192 and ds.report.ok
    ref = np.asarray(Image.open(data_dir() / "grass.png").convert("L"))
    i = ds.paths.index("grass/grass_64_128.png")
    np.testing.assert_array_equal(ds.images[i][..., 0], ref[64:128, 128:192])
    assert ds.images[i].shape == (64, 64, 3)


def test_builtin_faces_match_lfw_subset():
    from cnn_demo.io.samples import data_dir

    ds = D.load_builtin("faces")
    raw = np.load(data_dir() / "lfw_subset.npy")
    assert [c.total for c in ds.report.classes] == [100, 100]
    assert np.abs(ds.images[150][..., 1].astype(float) - raw[150] * 255).max() <= 0.5
    assert ds.class_names[ds.labels[150]] == "not a face"
    with pytest.raises(InputError, match="no built-in dataset"):
        D.load_builtin("imagenet")


# ------------------------------------------------------------------------------------------ segmentation


def mask_png(arr: np.ndarray, palette: bool = True) -> bytes:
    img = Image.fromarray(arr.astype(np.uint8), "L")
    if palette:
        img = img.convert("P")
        img.putpalette([v for i in range(256) for v in (i, (i * 7) % 256, (i * 13) % 256)])
        img = Image.frombytes("P", img.size, arr.astype(np.uint8).tobytes())
        img.putpalette([v for i in range(256) for v in (i, (i * 7) % 256, (i * 13) % 256)])
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_segmentation_zip_pairs_and_skips():
    m = np.zeros((12, 16), np.uint8)
    m[2:6, 3:9] = 1
    m[0, :] = 255
    color = np.zeros((12, 16, 3), np.uint8)
    color[..., 0] = 200
    buf = io.BytesIO()
    Image.fromarray(color).save(buf, format="PNG")
    entries = [
        ("set/images/a.jpg", jpeg(1, (16, 12))),
        ("set/masks/a.png", mask_png(m)),
        ("set/images/b.png", png(2, (16, 12))),
        ("set/masks/b.png", mask_png(m * (m < 255) * 2, palette=False)),
        ("set/images/lonely.png", png(3)),
        ("set/masks/orphan.png", mask_png(m)),
        ("set/images/c.png", png(4, (16, 12))),
        ("set/masks/c.png", buf.getvalue()),
        ("set/images/d.png", png(5, (20, 12))),
        ("set/masks/d.png", mask_png(m)),
        ("set/../../evil.png", png(6)),
        ("set/preview/a.png", png(7)),
    ]
    ds = D.read_segmentation_zip(make_zip(entries), limits=SMALL)
    assert ds.stems == ("a", "b")
    np.testing.assert_array_equal(ds.masks[0], m)
    assert set(np.unique(ds.masks[1])) == {0, 2}
    assert ds.class_names == ("class 0", "class 1", "class 2")
    got = reasons(ds)
    assert got["set/images/lonely.png"] == D.SkipReason.NO_MASK
    assert got["set/masks/orphan.png"] == D.SkipReason.NO_IMAGE
    assert got["set/masks/c.png"] == D.SkipReason.BAD_MASK
    assert got["set/masks/d.png"] == D.SkipReason.SIZE_MISMATCH
    assert got["set/../../evil.png"] == D.SkipReason.UNSAFE_PATH
    assert got["set/preview/a.png"] == D.SkipReason.OUTSIDE_PAIRS
    assert ds.report.ok and ds.report.n_pairs == 2
    assert dict(ds.report.class_pixels)[1] == 24


def test_segmentation_errors_and_class_names():
    m = np.zeros((12, 16), np.uint8)
    m[:, 8:] = 3
    data = make_zip([("images/a.png", png(1, (16, 12))), ("masks/a.png", mask_png(m))])
    ds = D.read_segmentation_zip(data, class_names=["bg", "fg"], limits=SMALL)
    assert any("up to 3" in e for e in ds.report.errors)
    empty = D.read_segmentation_zip(make_zip([("images/a.png", png(1))]), limits=SMALL)
    assert not empty.report.ok and "No image/mask pair" in empty.report.errors[0]
    with pytest.raises(InputError, match="colour picture"):
        D.load_mask(png(1))
    with pytest.raises(InputError, match="not an image"):
        D.load_mask(b"garbage")


def test_voc_sample_ships_with_the_app_and_its_masks_equal_the_png_indices():
    from cnn_demo.data.samples import voc_pairs_dir

    root = voc_pairs_dir()
    ds = D.load_voc_sample(D.DatasetLimits(max_side=600))
    assert len(ds) == 14 and ds.num_classes == 21 and ds.report.ok
    i = ds.stems.index("0")
    ref = np.asarray(Image.open(root / "masks" / "0.png"))
    np.testing.assert_array_equal(ds.masks[i], ref)
    assert ds.images[i].shape == (513, 513, 3)
    small = D.load_voc_sample()
    assert small.images[0].shape[:2] == small.masks[0].shape == (256, 256)
    assert set(np.unique(small.masks[i])) <= set(np.unique(ref))


def test_folder_paths_are_relative(tmp_path: Path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    (tmp_path / "images" / "x.png").write_bytes(png(1, (16, 12)))
    m = np.zeros((12, 16), np.uint8)
    m[3:, :] = 1
    (tmp_path / "masks" / "x.png").write_bytes(mask_png(m))
    ds = D.read_segmentation_folder(tmp_path, class_names=["bg", "thing"], limits=SMALL)
    assert ds.stems == ("x",) and ds.report.ok


# ------------------------------------------------------------------------------------------ command line


def test_check_dataset_command(tmp_path, capsys):
    import json

    from cnn_demo.cli import main

    path = tmp_path / "pets.zip"
    path.write_bytes(make_zip([*two_classes(), ("cats/notes.txt", b"x")]))
    assert main(["check-dataset", str(path), "--compact"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["class_names"] == ["cats", "dogs"]
    assert report["skipped"] == [
        {"path": "cats/notes.txt", "reason": "not an image", "detail": "file type is not an image"}
    ]
    path.write_bytes(make_zip([("cats/1.png", png(1)), ("cats/2.png", png(2))]))
    assert main(["check-dataset", str(path)]) == 1
    assert "at least 2 classes" in json.loads(capsys.readouterr().out)["errors"][0]
    assert main(["check-dataset", "--segmentation", str(tmp_path / "missing.zip")]) == 2
    assert "does not exist" in capsys.readouterr().err


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.data())
def test_fuzz_segmentation_reader_only_raises_input_error(data):
    m = np.zeros((12, 16), np.uint8)
    m[2:8, 4:12] = 1
    blob = bytearray(make_zip([("images/a.png", png(1, (16, 12))), ("masks/a.png", mask_png(m))]))
    for _ in range(data.draw(st.integers(1, 6))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    try:
        ds = D.read_segmentation_zip(bytes(blob), limits=SMALL)
    except InputError:
        return
    assert len(ds.images) == len(ds.masks) <= 1
    for img, mask in zip(ds.images, ds.masks, strict=True):
        assert img.shape[:2] == mask.shape and mask.dtype == np.uint8
