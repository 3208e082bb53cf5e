"""A corpus of hostile and broken inputs, built in the tests (nothing is stored in the repo)."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Case:
    """One input: a file name, its bytes, and the message a user must see (None: it must simply work)."""

    name: str
    data: bytes
    message: str | None


def _encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_declaring(width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> bytes:
    """A valid-looking PNG header declaring width×height, with almost no pixel data (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    out = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = b"IDAT" + zlib.compress(b"\x00" * 100)
    out += struct.pack(">I", len(idat) - 4) + idat + struct.pack(">I", zlib.crc32(idat))
    return out + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def broken_images() -> list[Case]:
    """Files every image upload path must refuse with a message."""
    rng = np.random.default_rng(0)
    good = _encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)))
    jpeg = _encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), "JPEG")
    return [
        Case("truncated.png", good[: len(good) // 2], "truncated or corrupt"),
        Case("truncated.jpg", jpeg[: len(jpeg) // 3], "truncated or corrupt"),
        Case("garbage.png", bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "not an image"),
        Case("empty.png", b"", "empty"),
        Case("bomb.png", png_declaring(12_000, 12_000), "limit is"),
        Case("huge-bomb.png", png_declaring(60_000, 60_000), "too many pixels"),
        # 49 megapixels, under the pixel limit, but 16-bit: the memory it takes to open is what counts.
        Case("deep-bomb.png", png_declaring(7_000, 7_000, bit_depth=16, colour_type=0), "of memory"),
        Case("drawing.svg.png", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', "SVG"),
        Case("tiny.png", _encode(Image.new("RGB", (2, 2))), "at least 3 pixels"),
    ]


def odd_images() -> list[Case]:
    """Unusual but valid images every page must handle without an error."""
    grad16 = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (48, 1))
    return [
        Case("sixteen-bit.png", _encode(Image.fromarray(grad16)), None),
        Case("cmyk.jpg", _encode(Image.new("CMYK", (40, 30), (0, 200, 200, 0)), "JPEG"), None),
        Case("wide.png", _encode(Image.new("RGB", (2000, 8), (200, 30, 30))), None),
        Case("tall.png", _encode(Image.new("L", (8, 1500), 128)), None),
        Case("transparent.png", _encode(Image.new("RGBA", (33, 17), (0, 0, 0, 0))), None),
        # The lecture's example image size (H_in = W_in = 7): every page must take it.
        Case("lecture-7x7.png", _encode(Image.fromarray((np.arange(49).reshape(7, 7) * 5).astype(np.uint8))), None),
        Case("big-icc-profile.png", icc_png(), None),
    ]


def icc_png(size: tuple[int, int] = (24, 20), profile_bytes: int = 3_000_000) -> bytes:
    """A valid PNG carrying a colour profile of several megabytes (PIL alone refuses any over 1 MB)."""
    rng = np.random.default_rng(5)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return _encode(Image.fromarray(arr), icc_profile=bytes(rng.integers(0, 256, profile_bytes, dtype=np.uint8)))


def exif_rotated_mask(size: tuple[int, int] = (20, 16)) -> bytes:
    """A class-index mask stored sideways with an EXIF orientation that turns it upright to ``size`` (w, h)."""
    w, h = size
    upright = np.zeros((h, w), np.uint8)
    upright[: h // 2] = 1
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(upright, -1)), "L")  # orientation 6 turns it back
    exif = stored.getexif()
    exif[0x0112] = 8
    return _encode(stored, exif=exif.tobytes())


def exif_rotated_image(size: tuple[int, int] = (20, 16)) -> bytes:
    """A photo stored ``size`` (w, h) with an EXIF orientation (6) that turns it upright to (h, w), as phones save."""
    stored = Image.fromarray(np.random.default_rng(9).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    exif = stored.getexif()
    exif[0x0112] = 6
    return _encode(stored, "JPEG", exif=exif.tobytes())


# ---------------------------------------------------------------------------------------------- zips


def make_zip(entries, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip from (name or ZipInfo, bytes) pairs; a name ending in / is a folder entry."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def symlink_entry(name: str) -> zipfile.ZipInfo:
    """A zip entry that is a Unix symbolic link (its content is the link target)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info


def bad_utf8_names(entries) -> bytes:
    """A zip whose names are flagged as UTF-8 but are not: every 'é' of ``entries``' names becomes 0xFF 0xFE."""
    return make_zip(entries).replace("é".encode(), b"\xff\xfe")


def legacy_names(entries) -> bytes:
    """A zip whose names use a legacy code page without the UTF-8 flag: every 'XX' becomes 0xF6 0xFF."""
    return make_zip(entries).replace(b"XX", b"\xf6\xff")


def bomb_entry(name: str, megabytes: int = 60) -> tuple[str, bytes]:
    """A member of zeros that deflates about 1000:1 (a compression bomb)."""
    return name, b"\0" * (megabytes << 20)


EMPTY_ZIP = make_zip([])


def lie_about_sizes(data: bytes, new_size: int) -> bytes:
    """Make every header of a zip lie about the uncompressed size (local header offset 22, central directory 24)."""
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (i := out.find(sig, start)) >= 0:
            out[i + off : i + off + 4] = struct.pack("<I", new_size)
            start = i + 4
    return bytes(out)


def patch_member(data: bytes, name: bytes, field: str, value: int) -> bytes:
    """Rewrite one header field (``flags``: OR ``value`` in; ``compress_size``: set it) of one member of a zip,
    in its local header and its central directory record."""
    offsets = {"flags": (6, 8, "<H"), "compress_size": (18, 20, "<I")}[field]
    out = bytearray(data)
    for sig, off, len_off, name_off in ((b"PK\x03\x04", offsets[0], 26, 30), (b"PK\x01\x02", offsets[1], 28, 46)):
        start = 0
        while (i := out.find(sig, start)) >= 0:
            (n,) = struct.unpack("<H", out[i + len_off : i + len_off + 2])
            if out[i + name_off : i + name_off + n] == name:
                size = struct.calcsize(offsets[2])
                old = struct.unpack(offsets[2], out[i + off : i + off + size])[0]
                new = old | value if field == "flags" else value
                out[i + off : i + off + size] = struct.pack(offsets[2], new)
            start = i + 4
    return bytes(out)


def png_bytes(seed: int = 0, size: tuple[int, int] = (20, 16), mode: str = "RGB") -> bytes:
    """A small random PNG (width, height) in ``mode``."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return _encode(Image.fromarray(arr).convert(mode))


def mask_bytes(size: tuple[int, int] = (20, 16), classes: int = 2) -> bytes:
    """A grayscale class-index PNG mask (width, height): a box of class 1 (and 2, ...) on background 0."""
    w, h = size
    m = np.zeros((h, w), np.uint8)
    for c in range(1, classes):
        m[h // 4 : h // 2 + 1, (c - 1) * w // classes : c * w // classes] = c
    return _encode(Image.fromarray(m, "L"))


def image_mask_pairs(n: int = 3, size: tuple[int, int] = (20, 16)) -> list[tuple[str, bytes]]:
    """``n`` valid image/mask pairs in images/ and masks/."""
    out = []
    for i in range(n):
        out += [(f"images/p{i}.png", png_bytes(i, size)), (f"masks/p{i}.png", mask_bytes(size))]
    return out


def pair_zips() -> list[Case]:
    """U-Net image/mask zips that hold no usable pair (each must be refused with its reason) and odd valid ones."""
    g16 = np.tile(np.linspace(0, 65535, 20).astype(np.uint16), (16, 1))
    odd = [
        ("images/wide16.png", _encode(Image.fromarray(g16))),
        ("masks/wide16.png", mask_bytes()),
        ("images/cmyk.jpg", _encode(Image.new("CMYK", (20, 16), (0, 200, 200, 0)), "JPEG")),
        ("masks/cmyk.png", mask_bytes()),
    ]
    broken = [png_bytes(1)[:60], b"garbage" * 50, png_declaring(60_000, 60_000)]
    odd += [("images/rotated.png", png_bytes(8)), ("masks/rotated.png", exif_rotated_mask())]
    odd += [("images/icc.png", icc_png((20, 16))), ("masks/icc.png", mask_bytes())]
    return [
        Case("no-masks.zip", make_zip([(f"images/p{i}.png", png_bytes(i)) for i in range(3)]), "image without a mask"),
        Case("sizes.zip", make_zip([("images/a.png", png_bytes(1)), ("masks/a.png", mask_bytes((10, 8)))]),
             "mask size differs"),
        # The mask was drawn on the photo's stored pixels; the photo's EXIF tag turns it upright: say so.
        Case("exif-photo.zip", make_zip([("images/a.jpg", exif_rotated_image()), ("masks/a.png", mask_bytes())]),
             "EXIF orientation"),
        Case("broken.zip", make_zip([x for i, b in enumerate(broken)
                                     for x in ((f"images/b{i}.png", b), (f"masks/b{i}.png", mask_bytes()))]),
             "truncated or corrupt"),
        Case("colour-mask.zip", make_zip([("images/a.png", png_bytes(1)), ("masks/a.png", png_bytes(2))]),
             "colour picture"),
        Case("slip.zip", make_zip([("../images/a.png", png_bytes(1)), ("/masks/a.png", mask_bytes()),
                                   ("images/../../b.png", png_bytes(2))]), "unsafe path"),
        Case("links.zip", make_zip([(symlink_entry("images/a.png"), "/etc/passwd"),
                                    (symlink_entry("masks/a.png"), "/etc/shadow")]), "symbolic link"),
        Case("bomb.zip", make_zip([*image_mask_pairs(2), bomb_entry("images/z.png"), ("masks/z.png", mask_bytes())]),
             "compression bomb"),
        Case("empty.zip", EMPTY_ZIP, "No image/mask pair"),
        Case("not-a-zip.zip", png_bytes(3), "not a valid .zip"),
        Case("zero-bytes.zip", b"", "empty"),
        Case("names.zip", bad_utf8_names([*image_mask_pairs(1), ("images/é.png", png_bytes(4))]), "not valid UTF-8"),
        Case("one-class.zip", make_zip([("images/a.png", png_bytes(1)), ("masks/a.png", mask_bytes(classes=1)),
                                        ("images/b.png", png_bytes(2)), ("masks/b.png", mask_bytes(classes=1))]),
             "fewer than 2 classes"),
        Case("single.zip", make_zip(image_mask_pairs(1)), "At least 2 image/mask pairs"),
        Case("odd.zip", make_zip(odd), None),
        Case("legacy-names.zip", legacy_names([("images/aXX.png", png_bytes(1)), ("masks/aXX.png", mask_bytes()),
                                               *image_mask_pairs(1)]), None),
    ]  # fmt: skip


def class_folders(n: int = 2, prefix: str = "") -> list[tuple[str, bytes]]:
    """Two valid classes a/ and b/ with ``n`` small images each (under ``prefix``)."""
    return [(f"{prefix}{c}/{i}.png", png_bytes(10 * k + i)) for k, c in enumerate("ab") for i in range(n)]


def dataset_zips() -> list[Case]:
    """ImageFolder zips for the fine-tuning data upload that cannot be trained on, with the message shown."""
    slip = ["../evil.png", "/abs/evil.png", "a/../../x.png"]
    return [
        Case("bomb.zip", make_zip([*class_folders(), bomb_entry("b/bomb.png")]), "compression bomb"),
        Case("not-a-zip.zip", b"not a zip at all", "not a valid .zip"),
        Case("zero-bytes.zip", b"", "empty"),
        Case("empty.zip", EMPTY_ZIP, "No usable image"),
        Case("one-class.zip", make_zip([("only/1.png", png_bytes(1)), ("only/2.png", png_bytes(2))]),
             "at least 2 classes"),
        Case("empty-class.zip", make_zip([*class_folders(), ("c/", b"")]), "0 usable"),
        Case("slip.zip", make_zip([(n, png_bytes(5)) for n in slip] + [("a/1.png", png_bytes(6))]), "at least 2"),
        Case("links.zip", make_zip([(symlink_entry(f"{c}/{i}.png"), "/etc/passwd") for c in "ab" for i in range(2)]),
             "No usable image"),
        Case("names.zip", bad_utf8_names([("é/1.png", png_bytes(1)), ("é/2.png", png_bytes(2))]), "not valid UTF-8"),
        Case("broken.zip", make_zip([*class_folders(), *[(f"b/x{i}.png", c.data) for i, c in
                                                          enumerate(broken_images()[:3])]]), None),
        # Folder names follow the rules of class names typed in the page.
        Case("case-classes.zip", make_zip([(f"{c}/{i}.png", png_bytes(3 * k + i)) for k, c in enumerate(("Cat", "cat",
              "CAT")) for i in range(2)]), "differ only in upper/lower case"),
        Case("long-class.zip", make_zip([*class_folders(), *[("x" * 250 + f"/{i}.png", png_bytes(40 + i))
                                                           for i in range(2)]]), "too long"),
        Case("rtl-class.zip", make_zip([*class_folders(), *[("cat\u202egnp.exe" + f"/{i}.png", png_bytes(50 + i))
                                                          for i in range(2)]]), "text-direction"),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------- model zips


def model_zips(good: bytes) -> list[Case]:
    """Hostile variants of a valid fine-tuning export ``good`` (a zip of model.safetensors + config.json)."""
    import json
    import pickle

    import torch
    from safetensors.torch import load, save

    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(parts["config.json"])
    state = load(parts["model.safetensors"])
    key = next(k for k, v in state.items() if v.is_floating_point())

    def with_config(**changes) -> bytes:
        return make_zip([*{**parts, "config.json": json.dumps({**config, **changes}).encode()}.items()])

    def with_training(**changes) -> bytes:
        return with_config(training={**config["training"], **changes})

    def with_weights(new: dict) -> bytes:
        return make_zip([*{**parts, "model.safetensors": save(new)}.items()])

    config_bytes = parts["config.json"]
    pt = io.BytesIO()
    torch.save(state, pt)

    class Evil:
        def __reduce__(self):
            return (print, ("pickle ran",))

    nan = {**state, key: torch.full_like(state[key], float("nan"))}
    int8 = {k: v.to(torch.int8) if v.is_floating_point() else v for k, v in state.items()}
    bigger = {**state, key: torch.zeros(*(s + 1 for s in state[key].shape))}
    missing = {k: v for k, v in state.items() if k != key}
    return [
        Case("pickle.zip", make_zip([("model.pt", pt.getvalue()), ("config.json", parts["config.json"])]),
             "pickled PyTorch weights"),
        Case("evil-pickle.zip", make_zip([("weights.pth", pickle.dumps(Evil())), ("config.json", config_bytes)]),
             "pickled PyTorch weights"),
        Case("no-safetensors.zip", make_zip([("config.json", parts["config.json"])]), "must contain model.safetensors"),
        Case("no-config.zip", make_zip([("model.safetensors", parts["model.safetensors"])]), "must contain"),
        Case("nan.zip", with_weights(nan), "NaN"),
        Case("wrong-shape.zip", with_weights(bigger), "do not match"),
        Case("missing-tensor.zip", with_weights(missing), "do not match"),
        Case("wrong-classes.zip", with_config(class_names=["a", "b", "c", "d", "e", "f", "g"]), "do not match"),
        Case("other-backbone.zip", with_training(backbone="cifar_resnet20"), "do not match"),
        Case("unknown-backbone.zip", with_training(backbone="no_such_net"), "backbone"),
        Case("timm-backbone.zip", with_training(backbone="vit_giant_patch14_224"), "backbone"),
        Case("not-json.zip", make_zip([*{**parts, "config.json": b"{not json"}.items()]), "damaged"),
        Case("not-utf8-json.zip", make_zip([*{**parts, "config.json": b"\xff\xfe{}"}.items()]), "damaged"),
        Case("json-list.zip", make_zip([*{**parts, "config.json": b"[1, 2]"}.items()]), "not a cnn-demo"),
        Case("other-format.zip", with_config(format="other"), "not a cnn-demo"),
        Case("no-training.zip", with_config(training=None), "config.json"),
        Case("training-text.zip", with_config(training="frozen"), "config.json"),
        Case("epochs-text.zip", with_training(epochs="ten"), "config.json"),
        Case("head-text.zip", with_training(head="mlp"), "head settings"),
        Case("head-keys.zip", with_training(head={"kind": "mlp", "evil": 1}), "config.json"),
        Case("unknown-key.zip", with_training(evil=1), "Unknown training settings"),
        Case("classes-number.zip", with_config(class_names=7), "config.json"),
        # Class names follow the rules of names typed in the page (issue 22).
        Case("rtl-classes.zip", with_config(class_names=["cat\u202egnp.exe", "dog"]), "text-direction"),
        Case("nul-classes.zip", with_config(class_names=["ca\x00t", "dog"]), "control characters"),
        Case("same-classes.zip", with_config(class_names=["cat", "Cat"]), "differ only in upper/lower case"),
        Case("object-classes.zip", with_config(class_names=[{"name": "cat"}, ["dog"]]), "must be text"),
        Case("empty-classes.zip", with_config(class_names=["cat", "   "]), "needs a name"),
        Case("one-class.zip", with_config(class_names=["only"]), "class"),
        Case("hidden-float.zip", with_training(head={"kind": "mlp", "hidden": 100.5, "dropout": 0.2}),
             "must be a whole number"),
        Case("image-size-float.zip", with_training(image_size=100.5), "must be a whole number"),
        Case("epochs-bool.zip", with_training(epochs=True), "must be a whole number"),
        Case("deep-json.zip", make_zip([*{**parts, "config.json": b"[" * 100_000}.items()]), "nested far too deeply"),
        Case("int8-weights.zip", with_weights(int8), "stored as int8"),
        Case("garbage-weights.zip", make_zip([*{**parts, "model.safetensors": b"\x08" + b"\0" * 64}.items()]),
             "damaged"),
        Case("bomb.zip", make_zip([("config.json", parts["config.json"]), bomb_entry("model.safetensors", 100)]),
             "compression bomb"),
        Case("slip.zip", make_zip([("../model.safetensors", parts["model.safetensors"]),
                                   ("/config.json", parts["config.json"])]), "must contain"),
        Case("names.zip", bad_utf8_names([*parts.items(), ("é.txt", b"x")]), "not valid UTF-8"),
        Case("not-a-zip.zip", b"PK\x03\x04 this is not really a zip", "not a valid .zip"),
        Case("image.zip", png_bytes(1), "not a valid .zip"),
        Case("zero-bytes.zip", b"", "empty"),
    ]  # fmt: skip


# ---------------------------------------------------------------------------------------------- job folders


def deep_json(depth: int) -> bytes:
    """Valid JSON nested ``depth`` lists deep (Python's parser gives up at about 1,000)."""
    return b"[" * depth + b"]" * depth


def damaged_job_files() -> list[tuple[str, bytes]]:
    """(file in a job folder, content) pairs that a crash, a full disk or a hand edit can leave behind; each must
    make that one job "damaged" and nothing else fail. ``{pid}`` in a status is this machine's, filled in by tests."""
    return [
        ("status.json", b"[1, 2]"),
        ("status.json", b'"queued"'),
        ("status.json", b'{"state": "running", "pid": "not a number", "host": "{host}", "done": 1, "total": 3}'),
        ("status.json", b'{"state": "queued", "done": "three"}'),
        ("status.json", b'{"state": "exploded"}'),
        ("status.json", b"[" * 100_000),
        ("status.json", b"\xff\xfe{}"),
        ("status.json", b""),
        ("params.json", b"[1]"),
        ("params.json", b'{"kind": 5, "params": {}, "owner": "alice"}'),
        ("params.json", deep_json(50_000)),
        ("result.json", deep_json(50_000)),
        ("result.json", b"[1]"),
    ]


def damaged_side_files() -> list[tuple[str, bytes]]:
    """Damaged files beside a readable status and params: the job still shows, minus what cannot be read."""
    return [
        ("owners.json", b'{"not": "a list"}'),
        ("owners.json", deep_json(50_000)),
        ("recovery.json", b"[1]"),
        ("recovery.json", b'{"hash": 5, "failures": "many"}'),
        ("metrics.jsonl", b"[1]\n" + deep_json(50_000) + b'\n{"step": 1, "loss": 0.5}\n"text"\n'),
    ]
