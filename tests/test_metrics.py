"""The small measures the learning tests rely on give known answers on known inputs."""
from __future__ import annotations

import pytest
import torch

from gan_runner.metrics import frechet_distance, nn_two_sample_accuracy


def test_frechet_distance_known_values():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 3, generator=g)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Same covariance, mean shifted by 2 in one coordinate: distance = 4.
    assert frechet_distance(a, a + torch.tensor([2.0, 0, 0])) == pytest.approx(4.0, abs=1e-6)
    # N(0, I) vs N(0, 4I) in 3 dims: 3 * (1 + 4 - 2*2) = 3.
    b = torch.randn(4000, 3, generator=g) * 2
    assert frechet_distance(a, b) == pytest.approx(3.0, rel=0.1)


def test_nn_two_sample_accuracy_extremes():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 4, generator=g), torch.randn(500, 4, generator=g)
    assert nn_two_sample_accuracy(a, b) == pytest.approx(0.5, abs=0.06)  # same distribution
    assert nn_two_sample_accuracy(a, b + 10) == 1.0  # disjoint


# ------------------------------------------------------------- streamed evaluation: the same numbers in bounded memory
def test_running_moments_equal_the_batch_mean_and_covariance_with_a_large_offset():
    from gan_runner.metrics.streaming import Moments

    x = torch.randn(1003, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 1e4  # large mean
    m = Moments()
    for i in range(0, len(x), 97):  # uneven batches, a runt at the end
        m.update(x[i : i + 97])
    mu, sigma = m.mean_cov()
    torch.testing.assert_close(mu, x.mean(0))
    torch.testing.assert_close(sigma, torch.cov(x.T), rtol=1e-9, atol=1e-9)


def test_row_file_is_disk_backed_and_leaves_no_file(tmp_path):
    from gan_runner.metrics.streaming import RowFile

    rows = RowFile(10, tmp_path)
    rows.append(torch.arange(12.0).view(6, 2))
    rows.append(torch.arange(8.0).view(4, 2))
    assert rows.tensor().shape == (10, 2) and rows.tensor()[7].tolist() == [2.0, 3.0]
    assert list(tmp_path.iterdir()) == []  # unlinked once mapped: nothing to clean up, even after a crash
    with pytest.raises(ValueError, match="holds 10 rows"):
        rows.append(torch.zeros(1, 2))


def test_kid_and_is_from_rows_equal_torchmetrics_in_memory():
    from gan_runner.metrics.fid_kid_is import inception_score_from_logits, inception_score_from_rows, kid_from_features, kid_from_rows

    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(300, 6, generator=g), torch.randn(250, 6, generator=g) + 0.3
    want = kid_from_features(real.double(), fake.double(), subsets=7, subset_size=100, seed=3)
    assert kid_from_rows(real, fake, subsets=7, subset_size=100, seed=3) == pytest.approx(want, rel=1e-9)
    logits = torch.randn(205, 10, generator=g) * 3
    assert inception_score_from_rows(logits, splits=4, seed=2) == pytest.approx(
        inception_score_from_logits(logits.double(), splits=4, seed=2), rel=1e-9)


def test_knn_metrics_in_small_blocks_equal_one_block(monkeypatch):
    import importlib

    pr = importlib.import_module("gan_runner.metrics.precision_recall")  # the package's name is the function

    g = torch.Generator().manual_seed(2)
    real, fake = torch.randn(230, 4, generator=g), torch.randn(170, 4, generator=g) * 1.3
    whole = pr.precision_recall(real, fake), pr.density_coverage(real, fake)
    # brute force: the k-th nearest other point from the full distance matrix
    d = torch.cdist(real.double(), real.double())
    torch.testing.assert_close(pr.knn_radii(real, 3), d.topk(4, dim=1, largest=False).values[:, 3])
    monkeypatch.setattr(pr, "CHUNK", 17)
    monkeypatch.setattr(pr, "COLS", 23)
    assert (pr.precision_recall(real, fake), pr.density_coverage(real, fake)) == whole


def test_stats_cache_reads_its_own_entry_and_ignores_corrupt_or_foreign_ones(tmp_path):
    from gan_runner.metrics.stats_cache import read_stats, write_stats

    mu, sigma = torch.randn(3, dtype=torch.float64), torch.eye(3, dtype=torch.float64)
    path = tmp_path / "s.npz"
    write_stats(path, "key-a", mu, sigma, 10)
    got = read_stats(path, "key-a")
    assert got is not None and torch.equal(got[0], mu)
    assert read_stats(path, "key-b") is None  # another dataset/net/count: not this entry
    path.write_bytes(path.read_bytes()[:40])  # truncated
    assert read_stats(path, "key-a") is None


def test_a_disk_too_small_for_the_feature_files_is_one_line(tmp_path):
    from gan_runner.errors import UserError
    from gan_runner.metrics.streaming import check_disk

    check_disk(tmp_path / "not" / "yet", 1024, "--num 10")
    with pytest.raises(UserError, match=r"--num 50,000 needs about .* GiB of feature files") as e:
        check_disk(tmp_path, 2**62, "--num 50,000")
    assert "\n" not in str(e.value)


def test_stats_key_changes_with_the_images_the_net_and_the_subset():
    from gan_runner.metrics.space import FeatureSpace
    from gan_runner.metrics.stats_cache import stats_key

    x = torch.randint(0, 256, (600, 1, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    space = FeatureSpace("net", torch.nn.Linear(2, 2), torch.device("cpu"), {"tag": "t"})
    key = stats_key({"name": "image_folder", "root": "/data"}, space, 100, 0, x)
    replaced = x.clone()
    replaced[300] = 255 - replaced[300]  # one file replaced under the same config (a probed image)
    other = FeatureSpace("net", torch.nn.Linear(2, 2), torch.device("cpu"), {"tag": "t"})  # other weights
    assert len({key, stats_key({"name": "image_folder", "root": "/data"}, space, 100, 0, replaced),
                stats_key({"name": "image_folder", "root": "/data"}, other, 100, 0, x),
                stats_key({"name": "image_folder", "root": "/data"}, space, 100, 1, x)}) == 4
    # all images: the subset seed does not matter
    assert stats_key({"name": "d"}, space, 600, 0, x) == stats_key({"name": "d"}, space, 600, 7, x)
