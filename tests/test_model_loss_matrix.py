"""Every model x loss pair composes and trains 2 steps on tiny sizes, or refuses in one line before training."""
from __future__ import annotations

from pathlib import Path

import pytest

from gan_runner.errors import UserError
from gan_runner.run import run

from conftest import tiny

ROOT = Path(__file__).resolve().parents[1]
MODELS = sorted(p.stem for p in (ROOT / "conf" / "model").glob("*.yaml"))
LOSSES = sorted(p.stem for p in (ROOT / "conf" / "loss").glob("*.yaml"))
#: pairs that make no sense, with the line they must fail with (empty: every pair trains)
REFUSED: dict[tuple[str, str], str] = {}

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_matrix_covers_every_model_and_loss():
    assert len(MODELS) >= 6 and len(LOSSES) >= 6 and "sngan" in MODELS and "wgan_gp" in LOSSES


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("model", MODELS)
def test_pair_trains_two_steps(model, loss, compose_cfg, tmp_path):
    cfg = compose_cfg(*tiny(model), f"loss={loss}", "trainer.max_steps=2", "trainer.n_critic=1", "trainer.ema=0",
                     "trainer.ckpt_every=100", "trainer.sample_every=100")  # 2 steps: no checkpoint or grid to write
    if (model, loss) in REFUSED:
        with pytest.raises(UserError, match=REFUSED[model, loss]) as e:
            run(cfg, tmp_path / "run")
        assert "\n" not in str(e.value)
        return
    metrics = run(cfg, tmp_path / "run")
    assert metrics["status"] == "completed" and metrics["step"] == 2, metrics.get("reason")
