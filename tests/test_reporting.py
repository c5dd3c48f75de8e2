"""gan-report's tables and plot on hand-made run dirs: NaN-free bests, n beside every mean, no constant columns."""
from __future__ import annotations

import json
import math

import pytest
from PIL import Image
from torch.utils.tensorboard import SummaryWriter

from gan_runner.reporting import read_run, report


def fake_run(path, overrides, kl, final_fid, loss_d):
    """A finished run dir: overrides, metrics.json and TensorBoard series as gan-run writes them."""
    (path / ".hydra").mkdir(parents=True)
    (path / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    (path / "metrics.json").write_text(json.dumps({"status": "completed", "step": 300, "steps_per_s": 10.0,
                                                   "final": {"loss/d": loss_d}, "eval": {"fid": final_fid}}))
    w = SummaryWriter(str(path / "tb"))
    for step, v in zip((100, 200, 300), kl):
        w.add_scalar("eval/reverse_kl", v, step)
        w.add_scalar("eval/modes_total", 8, step)
        w.add_scalar("loss/d", loss_d, step)
    w.add_scalar("eval_final/fid", final_fid, 300)
    w.close()


def test_report_skips_nan_shows_n_and_drops_constant_columns(tmp_path):
    fake_run(tmp_path / "0_loss=ns,seed=0", ["loss=ns", "seed=0"], [math.nan, 0.9, 0.4], 3.0, 1.2)
    fake_run(tmp_path / "1_loss=ns,seed=1", ["loss=ns", "seed=1"], [2.0, 0.5, 0.7], 5.0, 1.3)
    fake_run(tmp_path / "2_loss=wgan,seed=0", ["loss=wgan", "seed=0"], [1.0, 1.0, 1.0], 9.0, -0.5)
    row = read_run(tmp_path / "0_loss=ns,seed=0", tmp_path)
    assert row.best["eval/reverse_kl"] == pytest.approx(0.4)  # an early NaN does not wipe the best
    assert row.final["eval_final/fid"] == 3.0 and "eval/fid" not in row.final  # the final evaluation, named apart
    md = report(tmp_path)
    runs, means = md.split("## Mean")
    assert "best eval/modes_total" not in runs and "| step |" not in runs and "steps/s" not in md  # equal everywhere
    assert "| 0_loss=ns,seed=0 | loss=ns seed=0 | completed |" in runs
    assert "| loss=ns | 2/2 | 4 ± 1.4 (n=2) | 1.25 ± 0.071 (n=2) | 0.45 ± 0.071 (n=2) |" in means
    assert "| loss=wgan | 1/1 | 9 (n=1) | -0.5 (n=1) | 1 (n=1) |" in means
    assert "best eval/modes_total" in (tmp_path / "report.csv").read_text()  # the CSV keeps every column
    width, height = Image.open(tmp_path / "curves.png").size
    assert width < 1500 and height > 300  # a grid of panels, not a 3000-pixel strip
