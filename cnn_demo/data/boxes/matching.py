"""Which photo an annotation means: by path, by file name or by name without extension (case-blind), as labelling
tools write it relative to wherever they were (COCO and VOC), or from a YOLO label file's own path."""

from __future__ import annotations

from pathlib import PurePosixPath

from cnn_demo.io.archive import ArchiveFile


class PhotoIndex:
    """The image files of an upload, found by path, by file name or by name without extension (case-blind)."""

    def __init__(self, files: list[ArchiveFile]) -> None:
        self.by_path = {f.path.lower(): f for f in files}
        self.by_name: dict[str, list[ArchiveFile]] = {}
        self.by_stem: dict[str, list[ArchiveFile]] = {}
        for f in files:
            p = PurePosixPath(f.path.lower())
            self.by_name.setdefault(p.name, []).append(f)
            self.by_stem.setdefault(str(p.with_suffix("")), []).append(f)
            self.by_stem.setdefault("~" + p.stem, []).append(f)

    def find(self, name: str, near: str) -> ArchiveFile | None:
        """The image ``name`` (as an annotation writes it) for an annotation file at ``near``."""
        name = name.replace("\\", "/").lower()
        folder = PurePosixPath(near.lower()).parent
        candidates = [folder / name, folder.parent / name, folder.parent / "images" / name, PurePosixPath(name)]
        candidates += [folder.parent / "jpegimages" / name]
        for c in candidates:
            if str(c) in self.by_path:
                return self.by_path[str(c)]
        base = PurePosixPath(name).name
        for table, key in ((self.by_name, base), (self.by_stem, "~" + PurePosixPath(base).stem)):
            found = table.get(key, [])
            if len(found) == 1:
                return found[0]
            near_ones = [f for f in found if PurePosixPath(f.path.lower()).parent.parent == folder.parent]
            if len(near_ones) == 1:
                return near_ones[0]
        return None

    def for_label_file(self, path: str) -> ArchiveFile | None:
        """The image of a YOLO label file: ``labels/`` swapped for ``images/``, else beside it, else by name."""
        p = PurePosixPath(path.lower()).with_suffix("")
        parts = list(p.parts)
        for i in range(len(parts) - 1, -1, -1):
            if parts[i] == "labels":
                swapped = str(PurePosixPath(*parts[:i], "images", *parts[i + 1 :]))
                if len(self.by_stem.get(swapped, [])) == 1:
                    return self.by_stem[swapped][0]
        if len(self.by_stem.get(str(p), [])) == 1:
            return self.by_stem[str(p)][0]
        found = self.by_stem.get("~" + p.name, [])
        return found[0] if len(found) == 1 else None
