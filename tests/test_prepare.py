"""Preparing image folders: cache keys, atomic writes, parallel decoding, labels, bad input, gan-prepare."""
from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_runner.cli.prepare import main as prepare_main
from gan_runner.data import prepare
from gan_runner.data.cache import default_cache_dir, open_prepared, read_meta
from gan_runner.errors import DataError
from gan_runner.registry import DATASETS


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "datasets"


def make_folder(root: Path, n: int = 24, size: int = 16, classes: int = 0) -> Path:
    """n small JPEG/PNG images of coloured blocks (class subfolders when classes > 0)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        arr = np.zeros((size, size + 4, 3), np.uint8)
        arr[:, : size // 2] = rng.integers(0, 256, 3)
        arr[size // 3 :, size // 2 :] = rng.integers(0, 256, 3)
        sub = root / f"c{i % classes}" if classes else root
        sub.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(sub / f"img{i:03d}.{'jpg' if i % 2 else 'png'}")
    return root


def build(root: Path, **opts: object) -> torch.Tensor:
    return DATASETS.build("image_folder", options={"root": str(root), "image_size": 8, **opts})


def test_prepare_once_then_memory_map(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_folder(tmp_path / "imgs", classes=3)
    data = build(src, workers=1)
    assert data.mapped and data.x.shape == (24, 3, 8, 8) and data.spec.num_classes == 3
    assert data.y is not None and data.y.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    (entry,) = [d for d in cache.iterdir()]
    assert read_meta(entry)["source"] == str(src)

    def no_decoding(*a: object, **k: object) -> None:
        raise AssertionError("a matching cache must not be prepared again")

    monkeypatch.setattr(prepare, "write_prepared", no_decoding)
    again = build(src, workers=1)
    assert torch.equal(again.x, data.x) and torch.equal(again.y, data.y)


def test_parallel_workers_write_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepare, "CHUNK", 5)  # several chunks, so order across workers matters
    src = make_folder(tmp_path / "imgs", n=23)
    one = prepare.prepare_folder(src, image_size=8, workers=1, out=tmp_path / "one", quiet=True)
    two = prepare.prepare_folder(src, image_size=8, workers=2, out=tmp_path / "two", quiet=True)
    assert (one / "images.u8").read_bytes() == (two / "images.u8").read_bytes()


def test_parallel_preparation_leaves_torchvision_out_of_the_parent(tmp_path: Path) -> None:
    # The workers import the decoders; the parent (usually gan-run itself) would keep torchvision's ~170 MB.
    import subprocess
    import sys

    src = make_folder(tmp_path / "imgs", n=12)
    code = ("import sys; from pathlib import Path; from gan_runner.data import prepare; "
            "prepare.CHUNK = 4; "  # three chunks, so both workers decode (one chunk is decoded in process)
            "out = prepare.prepare_folder(Path(sys.argv[1]), image_size=8, workers=2, out=Path(sys.argv[2]), quiet=True); "
            "print((out / 'images.u8').stat().st_size, 'torchvision' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(src), str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(12 * 3 * 8 * 8), "False"]


def test_changed_folder_gets_a_new_key(tmp_path: Path) -> None:
    src = make_folder(tmp_path / "imgs", n=6)
    keys = set()

    def key() -> str:
        return prepare.source_key(prepare.scan_folder("t", src), 8, 3, "center")

    keys.add(key())
    make_folder(tmp_path / "imgs", n=7)  # adds img006
    keys.add(key())
    os.utime(src / "img000.png", ns=(1, 1))  # modified (mtime)
    keys.add(key())
    (src / "img001.jpg").unlink()  # removed
    keys.add(key())
    assert len(keys) == 4
    assert prepare.source_key(prepare.scan_folder("t", src), 16, 3, "center") != key()  # settings count too


# A preparing process that logs each chunk it decodes and waits while the "hold" file exists, so the test can
# start a second preparation while this one is surely inside the lock.
RACER = """
import os, sys, time
from gan_runner.data import prepare
real, log, hold = prepare._decode_chunk, sys.argv[2], sys.argv[3]

def logged(task):
    with open(log, "a") as f:
        f.write("decoding\\n")
    while os.path.exists(hold):
        time.sleep(0.02)
    return real(task)

prepare._decode_chunk = logged
print(prepare.prepare_folder(sys.argv[1], image_size=8, workers=1))
"""


def test_concurrent_processes_prepare_once(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch,
                                           capfd: pytest.CaptureFixture) -> None:
    import subprocess
    import sys
    import threading
    import time

    src = make_folder(tmp_path / "imgs", n=6)
    log, hold = tmp_path / "log", tmp_path / "hold"
    hold.touch()
    env = {**os.environ, "GAN_RUNNER_CACHE": str(cache.parent), "OMP_NUM_THREADS": "1"}
    other = subprocess.Popen([sys.executable, "-c", RACER, str(src), str(log), str(hold)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert log.read_text() == "decoding\n"  # the other process is decoding, inside the lock
    monkeypatch.setattr(prepare, "_decode_chunk", lambda task: pytest.fail("this process must not decode"))
    mine: list[Path] = []
    waiter = threading.Thread(target=lambda: mine.append(prepare.prepare_folder(src, image_size=8, workers=1)))
    waiter.start()
    while "waiting for another process preparing" not in capfd.readouterr().err and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not mine and waiter.is_alive()
    hold.unlink()
    out, err = other.communicate(timeout=60)
    waiter.join(30)
    assert other.returncode == 0 and "preparing 6 images" in err, err
    assert mine and str(mine[0]) == out.strip() and log.read_text() == "decoding\n"  # prepared once, then mapped
    assert [p.name for p in cache.iterdir()] == [mine[0].name]  # no lock file, no temp folder left


def test_lock_of_a_killed_process_does_not_block(tmp_path: Path, cache: Path) -> None:
    import signal
    import subprocess
    import sys
    import threading

    src = make_folder(tmp_path / "imgs", n=4)
    key = prepare.source_key(prepare.scan_folder("t", src), 8, 3, "center")
    lock = cache / f".{key}.lock"
    cache.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(120)", str(lock)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    done: list[torch.Tensor] = []
    worker = threading.Thread(target=lambda: done.append(build(src, workers=1).x), daemon=True)
    worker.start()
    worker.join(0.5)
    assert not done  # held by a live process: this one waits
    os.kill(holder.pid, signal.SIGKILL)  # killed mid-preparation: the kernel drops its flock, the file stays
    holder.wait()
    worker.join(30)
    assert done and done[0].shape == (4, 3, 8, 8) and not lock.exists()
    lock.touch()  # another killed holder's leftover: --clear frees it with the entries
    with pytest.raises(SystemExit):
        prepare_main(["--clear"])
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("when", ["decoding", "commit"])
def test_interrupted_preparation_leaves_no_trusted_cache(tmp_path: Path, cache: Path,
                                                         monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    src = make_folder(tmp_path / "imgs", n=12)
    monkeypatch.setattr(prepare, "CHUNK", 4)
    real = prepare._decode_chunk
    calls = []

    def flaky(args: tuple) -> tuple:
        calls.append(1)
        if when == "decoding" and len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C half-way through
        return real(args)

    monkeypatch.setattr(prepare, "_decode_chunk", flaky)
    if when == "commit":  # killed just before the rename: meta.json never reaches the final name
        monkeypatch.setattr(prepare.PreparedWriter, "commit", lambda self, meta, n: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        build(src, workers=1)
    assert not cache.exists() or list(cache.iterdir()) == []  # temp folder removed, nothing final
    monkeypatch.undo()
    monkeypatch.setenv("GAN_RUNNER_CACHE", str(cache.parent))
    assert build(src, workers=1).x.shape == (12, 3, 8, 8)


def test_kill_9_leftover_is_ignored_and_listed(tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture) -> None:
    src = make_folder(tmp_path / "imgs", n=6)
    key = prepare.source_key(prepare.scan_folder("t", src), 8, 3, "center")
    writer = prepare.PreparedWriter(cache / key, (6, 3, 8, 8))  # a preparation killed mid-write: never committed
    writer.write(np.zeros((2, 3, 8, 8), np.uint8))
    assert read_meta(cache / key) is None
    data = build(src, workers=1)
    assert data.x.shape == (6, 3, 8, 8) and int(data.x.max()) > 0
    with pytest.raises(SystemExit) as info:
        prepare_main(["--list"])
    assert info.value.code == 0 and "incomplete" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        prepare_main(["--clear"])
    assert "removed 2 entries" in capsys.readouterr().out and list(cache.iterdir()) == []
    (cache / key).mkdir()  # a final-name folder from an older format: replaced, not trusted and not refused
    (cache / key / "meta.json").write_text(json.dumps({"format": 0, "shape": [1]}))
    (cache / key / "images.u8").write_bytes(b"x")
    assert build(src, workers=1).x.shape == (6, 3, 8, 8)


def test_dataset_json_labels_and_letterbox(tmp_path: Path) -> None:
    src = make_folder(tmp_path / "imgs", n=4)
    labels = [["img000.png", 2], ["img001.jpg", 0], ["img002.png", 1], ["img003.jpg", 2]]
    (src / "dataset.json").write_text(json.dumps({"labels": labels}))
    data = build(src)
    assert data.y.tolist() == [2, 0, 1, 2] and data.spec.num_classes == 3
    boxed = build(src, crop="none", image_size=20)  # 16x20 letterboxed to 20x20: black bars top and bottom
    assert int(boxed.x[:, :, :2].max()) == 0 and int(boxed.x[:, :, -2:].max()) == 0 and int(boxed.x.max()) > 0
    (src / "dataset.json").write_text(json.dumps({"labels": labels[:3]}))
    with pytest.raises(DataError, match="img003.jpg has no label"):
        build(src)


def test_bad_files_are_one_line_errors_and_no_cache(tmp_path: Path, cache: Path) -> None:
    src = make_folder(tmp_path / "imgs", n=6)
    (src / "zero.png").write_bytes(b"")
    good = (src / "img001.jpg").read_bytes()
    (src / "truncated.jpg").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError) as info:
        build(src)
    msg = str(info.value)
    assert "\n" not in msg and "2 of 8 files unreadable" in msg and "truncated.jpg" in msg
    assert not cache.exists() or list(cache.iterdir()) == []


def test_decompression_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gan_runner.data import decode

    src = make_folder(tmp_path / "imgs", n=2)
    monkeypatch.setattr(decode, "MAX_PIXELS", 100)  # 16x20 = 320 pixels is "too big" now
    with pytest.raises(DataError, match="decompression bomb"):
        build(src)


def test_mixed_modes_symlink_loop_and_one_image(tmp_path: Path) -> None:
    src = tmp_path / "mixed"
    src.mkdir()
    Image.new("L", (16, 16), 200).save(src / "gray.png")
    Image.new("RGBA", (16, 16), (10, 20, 30, 0)).save(src / "rgba.png")
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(src / "cmyk.jpg")
    Image.new("P", (16, 16), 3).save(src / "palette.png")
    Image.new("RGB", (16, 16), (1, 2, 3)).save(src / "plain.bmp")
    (src / "loop").symlink_to(src, target_is_directory=True)  # a folder that contains itself
    (src / "gone.png").symlink_to(tmp_path / "nowhere.png")  # a broken link: not an image file, skipped
    data = build(src)
    assert data.x.shape == (5, 3, 8, 8)
    assert (data.x[1] == 200).all()  # gray.png: gray in all three channels (sorted: cmyk, gray, palette, plain, rgba)
    one = tmp_path / "one"
    one.mkdir()
    Image.new("RGB", (16, 16), (5, 5, 5)).save(one / "a.png")
    assert len(build(one)) == 1  # prepares; training with batch_size > 1 then stops with BatchStream's one line


@pytest.mark.parametrize(("err", "says"), [(errno.ENOSPC, "no space left"), (errno.EACCES, "not writable")])
def test_full_disk_or_read_only_cache(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch,
                                      err: int, says: str) -> None:
    src = make_folder(tmp_path / "imgs", n=4)

    def fail(fd: int, offset: int, length: int) -> None:
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "posix_fallocate", fail)
    with pytest.raises(DataError, match=says) as info:
        build(src)
    assert "\n" not in str(info.value) and "GAN_RUNNER_CACHE" in str(info.value)
    assert list(cache.iterdir()) == []


def test_gan_prepare_out_and_prepared_dataset(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = make_folder(tmp_path / "imgs", n=5, classes=2)
    out = tmp_path / "ready"
    with pytest.raises(SystemExit) as info:
        prepare_main([str(src), "--image-size", "8", "--out", str(out), "--quiet"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == str(out)
    data = DATASETS.build("prepared", options={"root": str(out)})
    assert data.x.shape == (5, 3, 8, 8) and data.spec.num_classes == 2
    assert torch.equal(data.x, open_prepared(out, "x").x)
    with pytest.raises(SystemExit) as info:  # same settings: already up to date
        prepare_main([str(src), "--image-size", "8", "--out", str(out), "--quiet"])
    assert info.value.code == 0
    with pytest.raises(SystemExit) as info:  # other settings into the same folder: refused
        prepare_main([str(src), "--image-size", "4", "--out", str(out), "--quiet"])
    assert info.value.code == 2 and "already holds something else" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        prepare_main([str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")])
    assert info.value.code == 2 and "is not a folder" in capsys.readouterr().err
    with pytest.raises(DataError, match="not a complete prepared dataset"):
        DATASETS.build("prepared", options={"root": str(src)})
    assert default_cache_dir().name == "datasets"


def test_celeba_fake_copy_and_offline_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        DATASETS.build("celeba", options={"root": str(tmp_path)})
    assert "img_align_celeba" in str(info.value) and "list_eval_partition.txt" in str(info.value)
    images = tmp_path / "celeba" / "img_align_celeba"
    images.mkdir(parents=True)
    lines = []
    for i in range(6):  # a tiny copy of torchvision's layout: 18x22 faces (178x218 scaled down)
        arr = np.full((22, 18, 3), 40 * i, np.uint8)
        arr[:4] = 255  # a bright top band that the center crop of 14 cuts away
        Image.fromarray(arr).save(images / f"{i:06d}.jpg", quality=95)
        lines.append(f"{i:06d}.jpg {i % 3}")
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    data = DATASETS.build("celeba", options={"root": str(tmp_path), "image_size": 8, "crop_size": 14})
    assert data.x.shape == (2, 3, 8, 8) and data.y is None  # train split: 000000, 000003
    assert abs(int(data.x[1].float().mean()) - 120) <= 3  # the band is cropped away
    assert len(DATASETS.build("celeba", options={"root": str(tmp_path), "split": "all", "image_size": 8})) == 6


def test_stl10_fake_copy_and_offline_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"expected train_X.bin, train_y.bin under .*stl10_binary"):
        DATASETS.build("stl10", options={"root": str(tmp_path), "split": "train"})
    base = tmp_path / "stl10_binary"
    base.mkdir()
    x = np.random.default_rng(0).integers(0, 256, (3, 3, 96, 96), dtype=np.uint8)  # (N, C, H, W)
    x.transpose(0, 1, 3, 2).tofile(base / "train_X.bin")  # the file is column-major per channel
    np.array([1, 10, 5], np.uint8).tofile(base / "train_y.bin")
    data = DATASETS.build("stl10", options={"root": str(tmp_path), "split": "train", "image_size": 96})
    assert torch.equal(data.x, torch.from_numpy(x)) and data.y.tolist() == [0, 9, 4] and data.spec.num_classes == 10
    assert DATASETS.build("stl10", options={"root": str(tmp_path), "split": "train"}).x.shape == (3, 3, 48, 48)


def test_lsun_fake_copy_and_offline_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    with pytest.raises(DataError, match=r"bedroom_train_lmdb/data.mdb"):
        DATASETS.build("lsun", options={"root": str(tmp_path)})
    lmdb = pytest.importorskip("lmdb")  # an optional extra: pip install lmdb
    db = tmp_path / "tower_train_lmdb"
    env = lmdb.open(str(db), map_size=2**24)
    with env.begin(write=True) as txn:
        for i in range(5):  # LSUN's lmdb: image id -> WebP (or JPEG) bytes
            buf = io.BytesIO()
            Image.new("RGB", (20, 16), (50 * i, 10, 10)).save(buf, format="WEBP" if i % 2 else "JPEG", quality=95)
            txn.put(f"id{i}".encode(), buf.getvalue())
    env.close()
    data = DATASETS.build("lsun", options={"root": str(tmp_path), "category": "tower", "image_size": 8})
    assert data.x.shape == (5, 3, 8, 8) and abs(int(data.x[2, 0].float().mean()) - 100) <= 3
    assert len(DATASETS.build("lsun", options={"root": str(tmp_path), "category": "tower", "image_size": 8,
                                               "max_images": 3})) == 3
    # chunks of 2 over 2 worker processes (the lmdb values' bytes go to the pool): the same pixels in the same order
    monkeypatch.setattr(prepare, "CHUNK", 2)
    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path / "cache2"))
    parallel = DATASETS.build("lsun", options={"root": str(tmp_path), "category": "tower", "image_size": 8,
                                               "workers": 2})
    assert torch.equal(parallel.x, data.x)
    env = lmdb.open(str(db), map_size=2**24)
    with env.begin(write=True) as txn:
        txn.put(b"id3", b"\xff\xd8 not really a jpeg")
    env.close()
    with pytest.raises(DataError, match=r"cannot read image id3 in .*tower_train_lmdb.*unzip it again") as info:
        DATASETS.build("lsun", options={"root": str(tmp_path), "category": "tower", "image_size": 8, "workers": 2})
    assert "\n" not in str(info.value) and len(list((tmp_path / "cache2" / "datasets").iterdir())) == 1  # no new entry
    monkeypatch.setitem(sys.modules, "lmdb", None)  # lmdb not installed: one line says how to get it
    with pytest.raises(DataError, match="pip install lmdb"):
        DATASETS.build("lsun", options={"root": str(tmp_path), "category": "tower", "image_size": 16})
