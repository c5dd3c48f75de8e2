"""A folder of images as a sorted file list with labels (class subfolders or StyleGAN's dataset.json).

The scan is one os.scandir pass that keeps each file's relative path, size and mtime (all the cache
key needs), as plain strings and ints: on a 200,000-file folder pathlib objects and a second stat
per file cost seconds of every start, and a start with a cached dataset should take seconds in all.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from gan_runner.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")


@dataclass(frozen=True)
class FolderSource:
    """What a folder holds: image paths relative to root (sorted), labels or None, and what was skipped."""

    root: Path
    names: list[str]  # relative POSIX paths: the sample order
    labels: list[int] | None
    num_classes: int | None
    loops_skipped: int  # symlinked folders already visited (a loop or a duplicate), not descended into
    stats: list[tuple[int, int]] | None = None  # (size, mtime_ns) per name from the scan; None: stat when keyed

    @cached_property
    def files(self) -> list[Path]:
        """The image files as paths (built once, when the folder is prepared)."""
        return [self.root / n for n in self.names]


def list_images(root: Path) -> tuple[list[tuple[str, int, int]], int]:
    """(relative path, size, mtime_ns) of the image files under root (symlinks followed, each real folder once),
    sorted; hidden entries skipped; and the number of symlinked folders not walked again."""
    seen: set[tuple[int, int]] = set()
    loops = 0
    found: list[tuple[str, int, int]] = []
    stack = [("", str(root))]  # depth first, subfolders in sorted order: which of two links to a folder wins is stable
    while stack:
        rel, path = stack.pop()
        st = os.stat(path)
        if (st.st_dev, st.st_ino) in seen:  # a symlink back to a folder already walked: stop, do not loop
            loops += 1
            continue
        seen.add((st.st_dev, st.st_ino))
        subdirs = []
        try:
            entries = os.scandir(path)
        except OSError:
            continue  # an unreadable folder is skipped, as os.walk does
        with entries:  # iterated, not listed: each DirEntry (and the stat it caches) is freed at once
            for e in entries:
                name = e.name
                if name[0] == ".":
                    continue
                try:
                    if name.lower().endswith(IMAGE_SUFFIXES) and e.is_file():  # is_file/is_dir follow symlinks
                        s = e.stat()
                        found.append((rel + name, s.st_size, s.st_mtime_ns))
                    elif e.is_dir():
                        subdirs.append((f"{rel}{name}/", e.path))
                except OSError:
                    continue  # a broken symlink
        stack.extend(sorted(subdirs, reverse=True))
    found.sort(key=lambda f: f[0])  # by path alone: the tuples never tie on it
    return found, loops


MAX_CLASSES = 100_000  # a one-hot label of this size already costs 400 KB per sample


def _json_labels(name: str, base: Path, names: list[str]) -> tuple[list[int], int]:
    """Labels from base/dataset.json ({"labels": [["rel/path.png", int], ...]}, StyleGAN's format)."""
    path = base / "dataset.json"
    try:
        entries = json.loads(path.read_text()).get("labels")
        table = {str(p).replace("\\", "/"): c for p, c in entries}
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise DataError(f"dataset '{name}': cannot read labels from {path} ({str(e)[:120]}); "
                        'expected {"labels": [["path/in/folder.png", 0], ...]}') from None
    # 1.7 is no class (int() truncated it before), Infinity and 10^12 are no class count (an overflow, a petabyte one-hot)
    bad = [c for c in table.values() if not (isinstance(c, int) and not isinstance(c, bool) and 0 <= c < MAX_CLASSES)]
    if bad:
        raise DataError(f"dataset '{name}': {path} has the label {str(bad[0])[:30]}; labels are integers 0..K-1 with K <= {MAX_CLASSES}")
    labels = []
    for rel in names:
        if rel not in table:
            raise DataError(f"dataset '{name}': {rel} has no label in {path}; add it or remove the file")
        labels.append(table[rel])
    return labels, (max(labels) + 1 if labels else 0)


def scan_folder(name: str, root: str | Path) -> FolderSource:
    """The images and labels under root; loose files are unlabeled, immediate subfolders are classes."""
    if not str(root).strip():  # Path("") is the current directory: never train on it by accident
        raise DataError(f"dataset '{name}': the folder of images is an empty path; give one")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"dataset '{name}': {base} is not a folder; set dataset.root to a folder of images")
    found, loops = list_images(base)
    if not found:
        raise DataError(f"dataset '{name}': no image files ({', '.join(IMAGE_SUFFIXES)}) under {base}; "
                        f"add images there or point dataset.root elsewhere")
    names = [rel for rel, _, _ in found]
    stats = [(size, mtime) for _, size, mtime in found]
    if (base / "dataset.json").is_file():
        labels, k = _json_labels(name, base, names)
        return FolderSource(base, names, labels, k, loops, stats)
    loose = [rel for rel in names if "/" not in rel]
    if loose and len(loose) < len(names):
        raise DataError(
            f"dataset '{name}': {base} holds both loose images (e.g. {loose[0]}) and class subfolders; "
            f"move the loose images into a subfolder, or all images out of the subfolders for unlabeled data"
        )
    if loose:
        return FolderSource(base, names, None, None, loops, stats)
    class_of = [rel.split("/", 1)[0] for rel in names]
    index = {c: i for i, c in enumerate(sorted(set(class_of)))}
    return FolderSource(base, names, [index[c] for c in class_of], len(index), loops, stats)
