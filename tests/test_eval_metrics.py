"""gan-eval's metrics give the known answers on inputs whose answer is known."""
from __future__ import annotations

import json
import math
import time

import pytest
import torch

from gan_runner.data import build_dataset, mode_centers
from gan_runner.errors import ConfigError, UserError
from gan_runner.generation.sampling import Samples
from gan_runner.metrics import (
    METRICS,
    EvalContext,
    class_accuracy,
    code_purity,
    density_coverage,
    fid_from_features,
    frechet_distance,
    inception_score_from_logits,
    kid_from_features,
    mode_stats,
    parzen_estimate,
    parzen_log_likelihood,
    precision_recall,
)
from gan_runner.metrics.classifier import cache_path, load_or_train
from gan_runner.metrics.evaluate import check_metrics, default_metrics, parse_metric_list, run_metrics
from gan_runner.metrics.features import feature_space_for
from gan_runner.metrics.parzen import SIGMAS, _find_mnist_root


def gauss(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny problems run best on one thread


@pytest.fixture(scope="module")
def digits():
    return build_dataset({"name": "digits", "image_size": 8})


@pytest.fixture(scope="module")
def digits_space(digits, tmp_path_factory):
    return load_or_train(digits, {"name": "digits", "image_size": 8, "batch_size": 64}, tmp_path_factory.mktemp("cache"))


# ---------------------------------------------------------------- FID / KID / IS (torchmetrics)


def test_fid_identical_sets_is_zero_and_matches_our_frechet_distance():
    a, b = gauss(2000, 8, 0), gauss(2000, 8, 1) * 1.5 + 0.3
    assert fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    assert fid_from_features(a, b) == pytest.approx(frechet_distance(a, b), rel=1e-6)


def test_kid_is_zero_for_one_distribution_and_positive_for_two():
    a, b = gauss(1000, 8, 0), gauss(1000, 8, 1)
    mean, std = kid_from_features(a, b, subsets=20, subset_size=500)
    assert mean == pytest.approx(0.0, abs=3 * std + 1e-3)
    assert kid_from_features(a, b + 1.0, subsets=20, subset_size=500)[0] > 0.1
    assert kid_from_features(a, b, subsets=5, subset_size=200, seed=3) == kid_from_features(a, b, subsets=5, subset_size=200, seed=3)


def test_inception_score_extremes():
    collapsed = torch.tensor([[5.0, 1.0, 0.0]]).repeat(600, 1)  # every sample gets the same posterior
    assert inception_score_from_logits(collapsed)[0] == pytest.approx(1.0, abs=1e-9)
    # Confident and evenly spread over 10 classes: IS = 10 (its maximum).
    spread = 50.0 * torch.nn.functional.one_hot(torch.arange(1000) % 10, 10).double()
    assert inception_score_from_logits(spread, splits=1)[0] == pytest.approx(10.0, rel=1e-6)


# ---------------------------------------------------------------- precision/recall, density/coverage


def test_identical_sets_give_full_precision_recall_coverage():
    a = gauss(500, 4, 0)
    assert precision_recall(a, a, k=3) == (1.0, 1.0)
    density, coverage = density_coverage(a, a, k=5)
    assert coverage == 1.0
    # Each fake copy sits in its own real ball and in the balls of the k reals it is a neighbour of.
    assert density == pytest.approx(6 / 5, abs=0.02)


def test_same_distribution_density_near_one_and_disjoint_sets_near_zero():
    a, b = gauss(2000, 4, 0), gauss(2000, 4, 1)
    density, coverage = density_coverage(a, b, k=5)
    assert density == pytest.approx(1.0, abs=0.1)
    assert coverage == pytest.approx(1 - 0.5**5, abs=0.03)  # Naeem et al.: E[coverage] = 1 - 1/2^k
    p, r = precision_recall(a, b, k=3)
    assert p > 0.8 and r > 0.8
    assert precision_recall(a, b + 100.0) == (0.0, 0.0)
    assert density_coverage(a, b + 100.0) == (0.0, 0.0)


def test_collapsed_generator_has_precision_but_no_recall():
    real = gauss(1000, 4, 0)
    fake = real[:1].repeat(1000, 1)  # every sample is the same real point
    p, r = precision_recall(real, fake, k=3)
    assert p == 1.0 and r <= 0.01


# ---------------------------------------------------------------- modes (ring8 / grid25)


def test_points_on_five_of_eight_ring_modes():
    centers = mode_centers("ring8")
    points = centers[:5].repeat_interleave(500, dim=0)  # 2,500 points exactly on 5 modes
    out = mode_stats(points, centers, std=0.01)
    assert out["modes"] == 5 and out["modes_total"] == 8
    assert out["hq_percent"] == 100.0
    assert out["reverse_kl"] == pytest.approx(math.log(8 / 5))


def test_far_points_are_not_high_quality_and_balanced_grid_has_zero_kl():
    centers = mode_centers("grid25")
    far = mode_stats(torch.full((2500, 2), 10.0), centers, std=0.05)
    assert far["hq_percent"] == 0.0 and far["modes"] == 0 and math.isnan(far["reverse_kl"])
    # 3.5 std away is not high quality, 2.5 std is.
    off = centers[:1] + torch.tensor([[0.05 * 3.5, 0.0], [0.05 * 2.5, 0.0]])
    assert mode_stats(off, centers, std=0.05)["hq_percent"] == 50.0
    balanced = mode_stats(centers.repeat(100, 1), centers, std=0.05)
    assert balanced["modes"] == 25 and balanced["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
    collapsed = mode_stats(centers[3:4].repeat(2500, 1), centers, std=0.05)
    assert collapsed["modes"] == 1 and collapsed["reverse_kl"] == pytest.approx(math.log(25))
    assert mode_stats(centers[:2].repeat_interleave(torch.tensor([1, 99]), dim=0), centers, std=0.05,
                      min_count=2)["modes"] == 1


# ---------------------------------------------------------------- Parzen window


def test_parzen_single_kernel_is_the_gaussian_log_density():
    d = 784
    mu, x = torch.rand(1, d, dtype=torch.float64), torch.rand(1, d, dtype=torch.float64)
    for sigma in (0.1, 0.3, 1.0):
        expected = -(x - mu).pow(2).sum() / (2 * sigma**2) - d / 2 * math.log(2 * math.pi * sigma**2)
        got = parzen_log_likelihood(x, mu, torch.tensor([sigma], dtype=torch.float64))[0, 0]
        assert float(got) == pytest.approx(float(expected), rel=1e-9)
        normal = torch.distributions.Normal(mu, sigma).log_prob(x).sum()
        assert float(got) == pytest.approx(float(normal), rel=1e-9)


def test_parzen_mixture_sigma_choice_and_standard_error():
    centers = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    x = torch.tensor([[0.0], [0.25]], dtype=torch.float64)
    ll = parzen_log_likelihood(x, centers, torch.tensor([0.5], dtype=torch.float64))[0]
    normal = torch.distributions.Normal(centers.T, 0.5)  # (1, 2): one kernel per column
    expected = torch.logsumexp(normal.log_prob(x), dim=1) - math.log(2)
    torch.testing.assert_close(ll, expected)
    # One validation point 0.5 from a single center: log-likelihood peaks at sigma = 0.5, the grid's best is 0.464.
    r = parzen_estimate(torch.tensor([[0.1], [0.9]]), torch.tensor([[0.5]]), torch.tensor([[0.0]]))
    assert r.sigma == pytest.approx(float(SIGMAS[6])) and r.sigma == pytest.approx(10 ** (-1 / 3))
    test_ll = parzen_log_likelihood(torch.tensor([[0.1], [0.9]]), torch.tensor([[0.0]]), SIGMAS[6:7])[0]
    assert r.mean == pytest.approx(float(test_ll.mean()))
    assert r.se == pytest.approx(float(test_ll.std(unbiased=False)) / math.sqrt(2))


def test_parzen_finds_mnist_test_split(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    assert _find_mnist_root([str(tmp_path)]) is None
    (raw / "t10k-images-idx3-ubyte.gz").touch()
    (raw / "t10k-labels-idx1-ubyte").touch()
    assert _find_mnist_root(["/nonexistent", str(tmp_path)]) == str(tmp_path)


# ---------------------------------------------------------------- conditional models


def test_class_accuracy_and_code_purity():
    y = torch.arange(100) % 10
    assert class_accuracy(y, y) == 1.0 and class_accuracy((y + 1) % 10, y) == 0.0
    assert code_purity(y, (y * 3 + 1) % 10) == 1.0  # a permutation of classes is perfectly pure
    assert code_purity(torch.zeros(100, dtype=torch.long), y) == pytest.approx(0.1)
    half = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1])
    assert code_purity(half, torch.tensor([4, 4, 5, 6, 6, 6, 7, 8])) == pytest.approx((2 / 3 + 3 / 5) / 2)


# ---------------------------------------------------------------- feature network and evaluation context


def test_feature_net_is_accurate_cached_and_keyed_by_dataset(digits, digits_space, tmp_path):
    assert digits_space.info["heldout_accuracy"] > 0.9
    cache_dir = digits_space.info["cache"].rsplit("/", 1)[0]
    again = load_or_train(digits, {"name": "digits", "image_size": 8, "batch_size": 32}, cache_dir)
    assert not again.info["trained_now"] and again.info["heldout_accuracy"] == digits_space.info["heldout_accuracy"]
    f1, _ = digits_space.embed(digits.x[:50])
    f2, _ = again.embed(digits.x[:50])
    torch.testing.assert_close(f1, f2)
    assert cache_path(tmp_path, {"name": "digits", "image_size": 8}) != cache_path(tmp_path, {"name": "digits", "image_size": 16})
    with pytest.raises(UserError, match="no class labels"):
        load_or_train(build_dataset({"name": "ring8", "num_samples": 100}), {"name": "ring8"}, tmp_path)


def _ctx(data, x, space=None, y=None, c_cat=None) -> EvalContext:
    fake = Samples(x, y, c_cat, None, data.spec.is_image)
    return EvalContext(data, fake, {"name": data.spec.name}, space_factory=lambda: space or feature_space_for(data, {}))


def test_collapsed_generator_through_the_classifier(digits, digits_space):
    ctx = _ctx(digits, digits.x[:1].repeat(500, 1, 1, 1), digits_space)
    results, _ = run_metrics(ctx, ["is", "pr", "fid"])
    assert results["is"] == pytest.approx(1.0, abs=1e-6)
    assert results["is_real"] > 5
    assert results["recall"] < 0.05 and results["fid"] > 10
    same, _ = run_metrics(_ctx(digits, digits.x, digits_space), ["fid", "pr", "dc"])
    assert same["fid"] == pytest.approx(0.0, abs=1e-3)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0


def test_conditional_metrics_and_parzen_fallback(digits, digits_space):
    n = 300
    ctx = _ctx(digits, digits.x[:n], digits_space, y=digits.y[:n], c_cat=digits.y[:n, None])
    results, _ = run_metrics(ctx, ["class_acc", "purity", "parzen"])
    assert results["class_accuracy"] > 0.9 and results["purity"] > 0.9
    assert "two halves" in ctx.notes["parzen"] and math.isfinite(results["parzen_ll"])


def test_modes_metric_on_ring8_uses_2500_samples():
    data = build_dataset({"name": "ring8", "num_samples": 100})
    pts = mode_centers("ring8")[:3].repeat(1000, 1)  # 3,000 points; the protocol reads the first 2,500
    ctx = _ctx(data, pts)
    results, _ = run_metrics(ctx, ["modes", "fid"])
    assert results["modes"] == 3 and results["hq_percent"] == 100.0
    assert "2500 samples" in ctx.notes["modes"]


def test_metric_names_and_applicability(digits):
    assert set(METRICS.names()) >= {"fid", "kid", "is", "pr", "dc", "parzen", "modes", "class_acc", "purity"}
    assert parse_metric_list("fid, KID,fid") == ["fid", "kid"]
    with pytest.raises(ConfigError, match="unknown metric 'fdi'"):
        parse_metric_list("fdi")
    plain = {"conditional": False, "infogan": False, "inception": False}
    assert default_metrics(digits.spec, **plain) == ["fid", "kid", "is", "pr", "dc", "parzen"]
    assert default_metrics(digits.spec, **{**plain, "conditional": True})[-1] == "class_acc"
    ring = build_dataset({"name": "ring8", "num_samples": 10}).spec
    assert default_metrics(ring, **plain) == ["modes", "fid", "kid", "pr", "dc"]
    with pytest.raises(UserError, match="needs a 2D mixture dataset"):
        check_metrics(["modes"], digits.spec, **plain)
    with pytest.raises(UserError, match="class-conditional"):
        check_metrics(["class_acc"], digits.spec, **plain)


# ---------------------------------------------------------------- InceptionV3 from a local file


def test_inception_missing_file_is_a_user_error(tmp_path):
    from gan_runner.metrics.inception import load_inception

    with pytest.raises(UserError, match="no such file.*nothing is downloaded"):
        load_inception(tmp_path / "missing.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="unreadable"):
        load_inception(tmp_path / "junk.pth")


def test_inception_builds_from_a_local_state_dict(tmp_path):
    from torchvision.models import inception_v3

    from gan_runner.metrics.inception import inception_space

    t0 = time.monotonic()
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), tmp_path / "inc.pth")
    space = inception_space(tmp_path / "inc.pth")
    feats, logits = space.embed(torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8))
    assert feats.shape == (2, 2048) and logits is not None and logits.shape == (2, 1000)
    assert time.monotonic() - t0 < 30  # builds from a file, never downloads
    bad = {k: v for k, v in torch.load(tmp_path / "inc.pth", weights_only=True).items() if not k.startswith("Mixed_7c")}
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(UserError, match="not a torchvision inception_v3 state_dict"):
        inception_space(tmp_path / "bad.pth")


# ---------------------------------------------------------------- one record per metric, no import cycles


def test_every_metric_has_one_record_that_names_its_values():
    from gan_runner.metrics.registry import RECORDS, higher_is_better, plus_minus, record

    assert set(RECORDS) == set(METRICS.names())
    for name, r in RECORDS.items():
        assert r.name == name and r.reports and r.main_value in r.reports
        assert r.higher_is_better <= set(r.reports)
    assert plus_minus() == {"kid": "kid_std", "is": "is_std", "parzen_ll": "parzen_se"}
    assert higher_is_better("coverage") and not higher_is_better("fid") and not higher_is_better("loss/d")
    assert higher_is_better("precision[mnist_5k-clf]")  # a feature-space tag does not change the direction
    assert record("dc").main_value == "coverage" and record("modes").datasets == ("ring8", "grid25")
    with pytest.raises(ConfigError, match="unknown metric 'fdi'"):
        record("fdi")


def test_model_needs_reads_the_stated_kind_without_sampling():
    from gan_runner.metrics.evaluate import model_needs

    class Stated:
        requires_labels, has_codes = True, False

        def sample_latent(self, *a, **k):  # asking must not sample (it would move an RNG)
            raise AssertionError("sampled a latent")

    assert model_needs(Stated(), inception=True) == {"conditional": True, "infogan": False, "inception": True}


def _module_imports(path):
    """gan_runner modules imported at module level, and whether any gan_runner import hides inside a function."""
    import ast

    tree = ast.parse(path.read_text())
    top, nested = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gan_runner"):
            (top.add(node.module) if node in tree.body or _in_type_checking(tree, node) else nested.append(node.module))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("gan_runner"):
                    (top.add(a.name) if node in tree.body else nested.append(a.name))
    return top, nested


def _in_type_checking(tree, node):
    import ast

    return any(isinstance(n, ast.If) and node in n.body for n in tree.body)


def test_metrics_package_has_no_import_cycle_and_no_hidden_imports():
    from pathlib import Path

    import gan_runner.metrics as pkg

    root = Path(pkg.__file__).parent
    graph = {}
    for f in root.glob("*.py"):
        top, nested = _module_imports(f)
        assert not nested, f"{f.name} imports {nested} inside a function (a dodged cycle?)"
        assert not any(m.startswith(("gan_runner.training", "gan_runner.cli")) for m in top), f"{f.name} imports sideways"
        graph[f"gan_runner.metrics.{f.stem}"] = {m for m in top if m.startswith("gan_runner.metrics.")}
    state = {}

    def visit(m, path):
        assert state.get(m) != "open", f"import cycle: {' -> '.join(path + [m])}"
        if state.get(m) == "done" or m not in graph:
            return
        state[m] = "open"
        for n in graph[m]:
            visit(n, path + [m])
        state[m] = "done"

    for m in graph:
        visit(m, [])


def test_gan_report_names_the_feature_space_in_its_columns(tmp_path):
    from gan_runner.reporting import read_run

    for name, ev in (("auto", {"fid": 3.0, "class_accuracy": 0.9, "feature_space": "mnist_5k-clf"}),
                     ("inception", {"fid[inception]": 5.0, "feature_space": "inception"})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({"status": "completed", "step": 4, "eval": ev}))
    # plain keys of the auto space get its tag; already tagged keys and values outside a feature space stay
    assert read_run(tmp_path / "auto", tmp_path).final == {"eval_final/fid[mnist_5k-clf]": 3.0, "eval_final/class_accuracy": 0.9}
    assert read_run(tmp_path / "inception", tmp_path).final == {"eval_final/fid[inception]": 5.0}
