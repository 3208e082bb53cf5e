"""The one safe zip reader (cnn_demo.io.archive): hostile zips built here, read in memory with every cap applied."""

from __future__ import annotations

import contextlib
import io
import time
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnn_demo.errors import InputError
from cnn_demo.io.archive import (
    MB,
    ArchiveFile,
    EntrySkip,
    SafeZip,
    SkippedEntry,
    ZipLimits,
    check_member_path,
)
from tests.hostile import (
    bad_utf8_names,
    bomb_entry,
    legacy_names,
    lie_about_sizes,
    make_zip,
    patch_member,
    symlink_entry,
)

GOOD = [("a/1.txt", b"one"), ("a/2.txt", b"two" * 100), ("b/3.txt", b"three")]


def skipped(z: SafeZip) -> dict[str, EntrySkip]:
    return {s.path: s.reason for s in z.skipped}


def random_bytes(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a/b.png", ("a/b.png", None)),
        ("./a//b.png", ("a/b.png", None)),
        ("a\\b.png", ("a/b.png", None)),
        ("../evil.png", ("../evil.png", EntrySkip.UNSAFE_PATH)),
        ("a/../../x.png", ("a/../../x.png", EntrySkip.UNSAFE_PATH)),
        ("/etc/passwd", ("/etc/passwd", EntrySkip.UNSAFE_PATH)),
        ("C:\\win\\evil.png", ("C:/win/evil.png", EntrySkip.UNSAFE_PATH)),
        ("a\x00b.png", ("a?b.png", EntrySkip.UNSAFE_PATH)),
        ("__MACOSX/a/._b.png", ("__MACOSX/a/._b.png", EntrySkip.MACOS)),
        ("a/.DS_Store", ("a/.DS_Store", EntrySkip.HIDDEN)),
        ("a/Thumbs.db", ("a/Thumbs.db", EntrySkip.HIDDEN)),
    ],
)
def test_member_paths_are_normalised_and_judged(name, expected):
    assert check_member_path(name) == expected


def test_zip_slip_and_absolute_paths_are_listed_never_read_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = ["../evil.txt", "../../etc/evil.txt", "/abs/evil.txt", "C:\\win\\evil.txt", "a/../../x.txt"]
    with SafeZip(make_zip(GOOD + [(n, b"evil") for n in evil])) as z:
        assert z.names == ("a/1.txt", "a/2.txt", "b/3.txt")
        assert set(skipped(z).values()) == {EntrySkip.UNSAFE_PATH} and len(z.skipped) == len(evil)
        assert z.dirs == ("a", "b")
        for name in ("../evil.txt", "/abs/evil.txt"):
            with pytest.raises(InputError, match="unsafe path"):
                z.read(name)
        assert [z.read(f) for f in z.files] == [b"one", b"two" * 100, b"three"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_links_devices_hidden_files_nested_archives_and_encrypted_members_are_skipped():
    fifo = zipfile.ZipInfo("a/fifo.txt")
    fifo.create_system = 3
    fifo.external_attr = 0o010644 << 16
    data = make_zip(
        [
            *GOOD,
            (symlink_entry("a/link.txt"), "/etc/passwd"),
            (fifo, b""),
            ("__MACOSX/a/._1.txt", b"junk"),
            ("a/.hidden", b"junk"),
            ("b/more.zip", make_zip(GOOD)),
            ("b/secret.txt", b"secret"),
            ("a/1.txt", b"the same name again"),
        ]
    )
    data = patch_member(data, b"b/secret.txt", "flags", 0x1)
    with SafeZip(data) as z:
        assert skipped(z) == {
            "a/link.txt": EntrySkip.SYMLINK,
            "a/fifo.txt": EntrySkip.BAD_ENTRY,
            "__MACOSX/a/._1.txt": EntrySkip.MACOS,
            "a/.hidden": EntrySkip.HIDDEN,
            "b/more.zip": EntrySkip.NESTED_ARCHIVE,
            "b/secret.txt": EntrySkip.ENCRYPTED,
            "a/1.txt": EntrySkip.BAD_ENTRY,
        }
        assert z.read("a/1.txt") == b"one"  # the first of two members with one name
        assert "b/more.zip" in z.entry_names and "b/more.zip" not in z.names
        with pytest.raises(InputError, match="symbolic link"):
            z.read("a/link.txt")
        with pytest.raises(InputError, match=r"no file called “nope\.txt”"):
            z.read("nope.txt")


def test_a_compression_bomb_is_stopped_by_the_bytes_really_decompressed():
    data = make_zip([*GOOD, bomb_entry("b/bomb.bin", 60)])
    assert len(data) < 1 * MB
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        packed = zf.getinfo("b/bomb.bin").compress_size
    for lying in (data, lie_about_sizes(data, 0x7FFF0000)):  # headers claiming 2 GB change nothing
        t = time.perf_counter()
        z = SafeZip(lying)
        with pytest.raises(InputError, match=r"expands more than 200 times.*compression bomb"):
            z.read("b/bomb.bin")
        # stopped one chunk past 200 times its packed size (about 12 MB of 60 MB), whatever the headers say
        assert z.budget.used <= 200 * packed + 64 * 1024 < 20 * MB
        assert time.perf_counter() - t < 2.0
    # Under a looser ratio the per-file cap stops it, counted the same way.
    z = SafeZip(data, ZipLimits(max_file_bytes=3 * MB, max_ratio=1e9))
    got = z.read_or_skip(z.member("b/bomb.bin"))
    assert isinstance(got, SkippedEntry) and got.reason == EntrySkip.TOO_LARGE and got.detail == "over 3 MB"
    assert z.budget.used < 4 * MB
    with pytest.raises(InputError, match="too large"):
        z.read("b/bomb.bin")


def test_lying_headers_do_not_fool_the_limits():
    honest = lie_about_sizes(make_zip(GOOD), 0x7FFF0000)
    with SafeZip(honest) as z:
        assert [z.read(f) for f in z.files] == [b"one", b"two" * 100, b"three"]
    short = lie_about_sizes(make_zip(GOOD), 2)  # headers claim 2 bytes: the cut read fails its CRC
    with SafeZip(short) as z:
        got = [z.read_or_skip(f) for f in z.files]
        assert {g.reason for g in got if isinstance(g, SkippedEntry)} == {EntrySkip.BAD_ENTRY}
        with pytest.raises(InputError, match="damaged zip entry"):
            z.read("a/2.txt")
    bomb = make_zip([*GOOD, bomb_entry("b/bomb.bin", 60)])
    hidden = patch_member(bomb, b"b/bomb.bin", "compress_size", 0x7FFF0000)  # defeats the ratio check
    t = time.perf_counter()
    with contextlib.suppress(InputError), SafeZip(hidden) as z:  # zipfile may refuse the whole file
        got = z.read_or_skip(z.member("b/bomb.bin"))
        assert isinstance(got, SkippedEntry) and got.reason in (EntrySkip.TOO_LARGE, EntrySkip.BAD_ENTRY)
        assert z.budget.used <= 41 * MB
    assert time.perf_counter() - t < 5.0


def test_the_total_of_all_members_is_capped():
    data = make_zip([(f"m{i}.bin", random_bytes(300_000, i)) for i in range(6)])
    z = SafeZip(data, ZipLimits(max_uncompressed_bytes=1 * MB))
    with pytest.raises(InputError, match="The zip unpacks to more than 1 MB"):
        for f in z.files:
            z.read(f)


def test_bad_files_give_messages_a_student_understands():
    cases = [
        (b"", {}, "The uploaded file is empty."),
        (b"not a zip at all", {}, "This file is not a valid .zip archive. Please upload the model.zip of this app."),
        (b"PK\x03\x04" + bytes(100), {}, "not a valid .zip archive"),
        (b"PK" + bytes(2 * MB), {"max_zip_bytes": 1 * MB}, "The zip file is 2 MB; the limit is 1 MB."),
        (make_zip(GOOD), {"max_entries": 2}, "The zip holds 3 entries; the limit is 2."),
        (bad_utf8_names([("é.txt", b"x")]), {}, "marked as UTF-8 but are not valid UTF-8"),
    ]
    for data, limits, message in cases:
        with pytest.raises(InputError) as info:
            SafeZip(data, ZipLimits(**limits), expected="the model.zip of this app")
        assert message in str(info.value)
        assert "Error" not in str(info.value) and "zipfile" not in str(info.value)  # no exception names


def test_names_written_without_the_utf8_flag_are_recovered():
    data = make_zip([("cafXX/1.txt", b"1"), ("dogsY/2.txt", b"2")])
    data = data.replace(b"cafXX", "café".encode()).replace(b"dogsY", b"d\xf6gs\xff")
    with SafeZip(data) as z:
        assert z.names == ("café/1.txt", b"d\xf6gs\xff".decode("cp437") + "/2.txt")
    with SafeZip(legacy_names([("aXX.txt", b"x")])) as z:
        assert z.read(z.files[0]) == b"x"


def test_one_named_member_of_a_model_zip_under_a_size_cap():
    weights = random_bytes(200_000)
    data = make_zip([("config.json", b'{"format": 1}'), ("model.safetensors", weights)])
    with SafeZip(data, ZipLimits(max_file_bytes=300 * MB)) as z:
        assert z.read("config.json") == b'{"format": 1}' and z.read("model.safetensors") == weights
    with SafeZip(data, ZipLimits(max_file_bytes=100_000)) as z, pytest.raises(InputError, match="too large"):
        z.read("model.safetensors")
    assert isinstance(SafeZip(data).files[0], ArchiveFile)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(st.data())
def test_fuzz_only_input_errors(data):
    base = make_zip(GOOD, compression=data.draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])))
    blob = bytearray(base)
    for _ in range(data.draw(st.integers(1, 8))):
        blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]
    try:
        with SafeZip(bytes(blob)) as z:
            for f in z.files:
                got = z.read_or_skip(f)
                assert isinstance(got, (bytes, SkippedEntry))
    except InputError as exc:
        assert str(exc)
