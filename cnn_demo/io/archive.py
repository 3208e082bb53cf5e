"""One safe reader for every uploaded zip (datasets, image/mask pairs, model exports).

Nothing is ever extracted, so no member path can escape a folder: members are read into memory one at a time.
Links, absolute or ``..`` paths, hidden files, ``__MACOSX``, device entries, nested archives and encrypted members
are listed as skipped, never read. Decompression is streamed and the bytes really produced (headers are not
trusted) are counted against a per-file cap, a compression-ratio cap and a total cap, so a compression bomb is
stopped after about a megabyte of a runaway ratio. Every problem of the file itself is an :class:`InputError`.
"""

from __future__ import annotations

import io
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath

from cnn_demo.errors import InputError

MB = 1024 * 1024
#: Members with these suffixes are archives themselves: listed as skipped, never opened.
ARCHIVE_EXTENSIONS: frozenset[str] = frozenset(
    {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".jar"}
)
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class ZipLimits:
    """What one uploaded zip may cost the server (bytes counted as really read, not as the headers say)."""

    max_zip_bytes: int = 100 * MB
    #: All members read from one archive together.
    max_uncompressed_bytes: int = 300 * MB
    max_file_bytes: int = 40 * MB
    max_entries: int = 20_000
    #: Uncompressed/compressed ratio above which a member is treated as a compression bomb ...
    max_ratio: float = 200.0
    #: ... once this many bytes of it have been decompressed (small files may compress well).
    ratio_grace_bytes: int = 1 * MB


DEFAULT_ZIP_LIMITS = ZipLimits()


class EntrySkip(StrEnum):
    """Why an entry of an archive is not offered for reading (the value is shown to the student)."""

    TOO_LARGE = "too large"
    HIDDEN = "hidden file"
    MACOS = "macOS metadata (__MACOSX)"
    SYMLINK = "symbolic link (not followed)"
    UNSAFE_PATH = "unsafe path (absolute or with ..)"
    NESTED_ARCHIVE = "archive inside the archive (not opened)"
    ENCRYPTED = "encrypted"
    BAD_ENTRY = "damaged zip entry"


@dataclass(frozen=True)
class SkippedEntry:
    """An entry that was not read, with the reason and, where useful, a detail."""

    path: str
    reason: EntrySkip
    detail: str = ""


@dataclass(frozen=True)
class ArchiveFile:
    """A regular file of an archive or folder, not read yet."""

    path: str
    size: int
    #: Index into the reader's own list (zip member or file path).
    ref: int = field(repr=False)


def fix_zip_name(info: zipfile.ZipInfo) -> str:
    """The member name as the author meant it: UTF-8 written without the UTF-8 flag is recovered."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            raw = name.encode("cp437")
        except UnicodeEncodeError:
            return name
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return name  # an unknown legacy code page: the cp437 reading is at least printable
    return name


def check_member_path(name: str) -> tuple[str, EntrySkip | None]:
    """A member path normalised (``/`` separators, no ``.`` or empty parts) and why it must be skipped, if it must:
    absolute, drive-letter or ``..`` paths and NUL characters are unsafe; dot files, ``Thumbs.db``, ``desktop.ini``
    and anything under ``__MACOSX`` are hidden."""
    clean = name.replace("\\", "/")
    if "\x00" in clean:
        return clean.replace("\x00", "?"), EntrySkip.UNSAFE_PATH
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        return clean, EntrySkip.UNSAFE_PATH
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return clean, EntrySkip.UNSAFE_PATH
    norm = "/".join(parts)
    if any(p == "__MACOSX" for p in parts):
        return norm, EntrySkip.MACOS
    if any(p.startswith(".") or p in ("Thumbs.db", "desktop.ini") for p in parts):
        return norm, EntrySkip.HIDDEN
    return norm, None


class ByteBudget:
    """Total bytes read so far from one upload, checked against its limit while streaming."""

    def __init__(self, limit: int, what: str = "The zip") -> None:
        self.limit = limit
        self.used = 0
        self.what = what

    def take(self, n: int) -> None:
        """Count ``n`` more bytes; raises :class:`InputError` past the limit."""
        self.used += n
        if self.used > self.limit:
            raise InputError(
                f"{self.what} unpacks to more than {self.limit // MB} MB, the limit on this server. "
                "Please use fewer or smaller files."
            )


def _zip_bytes(data: bytes | bytearray | memoryview, limits: ZipLimits) -> bytes:
    """The upload as bytes; :class:`InputError` when it is empty or over ``max_zip_bytes``."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes) or not data:
        raise InputError("The uploaded file is empty.")
    if len(data) > limits.max_zip_bytes:
        raise InputError(
            f"The zip file is {len(data) / MB:.0f} MB; the limit is {limits.max_zip_bytes // MB} MB. "
            "Please upload fewer or smaller files."
        )
    return data


def _open_zip(data: bytes, limits: ZipLimits, expected: str) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The archive and its entries (their headers only); :class:`InputError` when it is not a zip, its names are
    not what its flags say, or it has more than ``max_entries`` entries."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except UnicodeDecodeError as exc:
        raise InputError(
            "The file names in this zip are marked as UTF-8 but are not valid UTF-8. "
            "Please create the zip again with your system's 'Compress' command."
        ) from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise InputError(f"This file is not a valid .zip archive. Please upload {expected}.") from exc
    if len(infos) > limits.max_entries:
        archive.close()
        raise InputError(
            f"The zip holds {len(infos):,} entries; the limit is {limits.max_entries:,}. Please upload fewer files."
        )
    return archive, infos


def _entry_skip(info: zipfile.ZipInfo, path: str, reason: EntrySkip | None, seen: set[str]) -> EntrySkip | None:
    """Why a file entry (not a folder) at the normalised ``path`` is not read, if it is not: a path already found
    unsafe or hidden, a device, fifo or socket, an encrypted member, an archive, or a name already ``seen``."""
    mode = info.external_attr >> 16
    if reason is None and info.create_system == 3 and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        reason = EntrySkip.BAD_ENTRY  # device, fifo or socket entries
    if reason is None and info.flag_bits & 0x1:
        reason = EntrySkip.ENCRYPTED
    if reason is None and PurePosixPath(path).suffix.lower() in ARCHIVE_EXTENSIONS:
        reason = EntrySkip.NESTED_ARCHIVE
    if reason is None and path in seen:
        reason = EntrySkip.BAD_ENTRY  # the same name twice: keep the first
    return reason


def _sort_entries(
    infos: list[zipfile.ZipInfo],
) -> tuple[list[zipfile.ZipInfo], list[ArchiveFile], list[SkippedEntry], tuple[str, ...]]:
    """The entries split into the members to read (their infos and :class:`ArchiveFile`s, ``ref`` indexing the
    infos), those skipped and why, and the folders named by folder entries or implied by file paths (so an empty
    class folder still counts)."""
    readable: list[zipfile.ZipInfo] = []
    files: list[ArchiveFile] = []
    skipped: list[SkippedEntry] = []
    dirs: list[str] = []
    seen: set[str] = set()
    for info in infos:
        path, reason = check_member_path(fix_zip_name(info))
        if reason is None and info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16):
            reason = EntrySkip.SYMLINK
        if reason is None and info.is_dir():
            if path:
                dirs.append(path)
            continue
        reason = _entry_skip(info, path, reason, seen)
        if reason is not None:
            if reason not in (EntrySkip.HIDDEN, EntrySkip.MACOS) or not info.is_dir():
                skipped.append(SkippedEntry(path or info.filename, reason))
            continue
        seen.add(path)
        files.append(ArchiveFile(path, info.file_size, len(readable)))
        readable.append(info)
    for f in files:
        parents = f.path.split("/")[:-1]
        dirs.extend("/".join(parents[: i + 1]) for i in range(len(parents)))
    return readable, files, skipped, tuple(dict.fromkeys(dirs))


class SafeZip:
    """A zip archive read in memory: nothing is extracted, links are not followed, bombs are stopped.

    ``files`` lists the regular files worth reading; ``skipped`` the entries refused for their path or type;
    ``dirs`` the folders named by entries or implied by file paths. :meth:`read` (by member or name) gives a member's
    bytes or raises :class:`InputError`; :meth:`read_or_skip` gives a :class:`SkippedEntry` for a member that is too
    large or damaged and raises only for what condemns the whole upload (a bomb, the total limit).
    ``expected`` names what the student should upload instead of a file that is not a zip.
    """

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        limits: ZipLimits = DEFAULT_ZIP_LIMITS,
        *,
        expected: str = "a .zip file",
        budget: ByteBudget | None = None,
    ) -> None:
        data = _zip_bytes(data, limits)
        self.limits = limits
        self.budget = budget or ByteBudget(limits.max_uncompressed_bytes)
        self._zip, infos = _open_zip(data, limits, expected)
        self._infos, files, skipped, dirs = _sort_entries(infos)
        self.dirs: tuple[str, ...] = dirs
        self.files: tuple[ArchiveFile, ...] = tuple(files)
        self.skipped: tuple[SkippedEntry, ...] = tuple(skipped)
        self._by_path = {f.path: f for f in files}

    @property
    def names(self) -> tuple[str, ...]:
        """The paths of the readable files."""
        return tuple(f.path for f in self.files)

    @property
    def entry_names(self) -> tuple[str, ...]:
        """The paths of every file entry, skipped ones included (e.g. to refuse a zip that holds pickles)."""
        return self.names + tuple(s.path for s in self.skipped)

    def member(self, name: str) -> ArchiveFile:
        """The readable file called ``name``; raises :class:`InputError` when there is none."""
        found = self._by_path.get(name)
        if found is not None:
            return found
        why = next((s.reason for s in self.skipped if s.path == name), None)
        if why is not None:
            raise InputError(f"“{name}” in this zip cannot be read: {why}.")
        raise InputError(f"This zip holds no file called “{name}”.")

    def read(self, member: ArchiveFile | str) -> bytes:
        """The bytes of one member (an :class:`ArchiveFile` of ``files`` or its path), all checks applied;
        raises :class:`InputError` when it is missing, too large, damaged or a compression bomb."""
        got = self.read_or_skip(self.member(member) if isinstance(member, str) else member)
        if isinstance(got, SkippedEntry):
            detail = f" ({got.detail})" if got.detail else ""
            raise InputError(f"“{got.path}” in this zip cannot be read: {got.reason}{detail}.")
        return got

    def read_or_skip(self, member: ArchiveFile) -> bytes | SkippedEntry:
        """The member's bytes, or a :class:`SkippedEntry` when it is too large or damaged; raises
        :class:`InputError` on a compression bomb or when the archive's total limit is passed."""
        info = self._infos[member.ref]
        limits = self.limits
        chunks: list[bytes] = []
        got = 0
        compressed = max(int(info.compress_size), 1)
        try:
            with self._zip.open(info) as fh:
                while chunk := fh.read(_CHUNK):
                    got += len(chunk)
                    self.budget.take(len(chunk))
                    if got > limits.ratio_grace_bytes and got > limits.max_ratio * compressed:
                        raise InputError(
                            f"“{member.path}” expands more than {limits.max_ratio:.0f} times when unpacked: this "
                            "looks like a compression bomb, so reading the zip was stopped."
                        )
                    if got > limits.max_file_bytes:
                        return SkippedEntry(member.path, EntrySkip.TOO_LARGE, f"over {limits.max_file_bytes // MB} MB")
                    chunks.append(chunk)
        except InputError:
            raise
        except NotImplementedError:
            return SkippedEntry(member.path, EntrySkip.BAD_ENTRY, "compressed with a method this server cannot read")
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, RuntimeError) as exc:
            return SkippedEntry(member.path, EntrySkip.BAD_ENTRY, str(exc)[:120] or type(exc).__name__)
        return b"".join(chunks)

    def close(self) -> None:
        """Release the archive."""
        self._zip.close()

    def __enter__(self) -> SafeZip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
