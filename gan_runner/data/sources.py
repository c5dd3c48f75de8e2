"""A folder of images as a sorted file list with labels (class subfolders or StyleGAN's dataset.json)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from gan_runner.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")


@dataclass(frozen=True)
class FolderSource:
    """What a folder holds: files (sorted by relative path), labels or None, and what was skipped."""

    root: Path
    files: list[Path]
    labels: list[int] | None
    num_classes: int | None
    loops_skipped: int  # symlinked folders already visited (a loop or a duplicate), not descended into


def list_images(root: Path) -> tuple[list[Path], int]:
    """Image files under root (symlinks followed, each real folder once), sorted; hidden entries skipped."""
    seen: set[tuple[int, int]] = set()
    loops = 0
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:  # a symlink back to a folder already walked: stop, do not loop
            loops += 1
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            path = Path(dirpath) / name
            if not name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix()), loops


def _json_labels(name: str, base: Path, files: list[Path]) -> tuple[list[int], int]:
    """Labels from base/dataset.json ({"labels": [["rel/path.png", int], ...]}, StyleGAN's format)."""
    path = base / "dataset.json"
    try:
        entries = json.loads(path.read_text()).get("labels")
        table = {str(p).replace("\\", "/"): int(c) for p, c in entries}
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"dataset '{name}': cannot read labels from {path} ({e}); "
                        'expected {"labels": [["path/in/folder.png", 0], ...]}') from None
    labels = []
    for f in files:
        rel = f.relative_to(base).as_posix()
        if rel not in table:
            raise DataError(f"dataset '{name}': {rel} has no label in {path}; add it or remove the file")
        labels.append(table[rel])
    if labels and min(labels) < 0:
        raise DataError(f"dataset '{name}': {path} has negative labels; use 0..K-1")
    return labels, (max(labels) + 1 if labels else 0)


def scan_folder(name: str, root: str | Path) -> FolderSource:
    """The images and labels under root; loose files are unlabeled, immediate subfolders are classes."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"dataset '{name}': {base} is not a folder; set dataset.root to a folder of images")
    files, loops = list_images(base)
    if not files:
        raise DataError(f"dataset '{name}': no image files ({', '.join(IMAGE_SUFFIXES)}) under {base}; "
                        f"add images there or point dataset.root elsewhere")
    if (base / "dataset.json").is_file():
        labels, k = _json_labels(name, base, files)
        return FolderSource(base, files, labels, k, loops)
    loose = [f for f in files if f.parent == base]
    if loose and len(loose) < len(files):
        raise DataError(
            f"dataset '{name}': {base} holds both loose images (e.g. {loose[0].name}) and class subfolders; "
            f"move the loose images into a subfolder, or all images out of the subfolders for unlabeled data"
        )
    if loose:
        return FolderSource(base, files, None, None, loops)
    class_of = [f.relative_to(base).parts[0] for f in files]
    index = {c: i for i, c in enumerate(sorted(set(class_of)))}
    return FolderSource(base, files, [index[c] for c in class_of], len(index), loops)
