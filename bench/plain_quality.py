"""Time to quality of the plain PyTorch DCGAN loop, for comparison with gan-run's default job.

Trains bench/plain_dcgan.py (the classic width-64 DCGAN, as a user would run the PyTorch example)
for a wall-time budget, saving its generator every `--every` seconds as a gan-runner checkpoint
(same layer stack, so gan-eval can score it with the same offline FID). Then:

    python bench/plain_quality.py --seconds 240 --every 60 --out /tmp/plain_q
    for f in /tmp/plain_q/checkpoints/*.pt; do gan-eval $f --metrics fid --num 5000; done
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plain_dcgan import PlainDCGAN  # noqa: E402

from gan_runner.atomic import save_atomic  # noqa: E402
from gan_runner.run import build_trainer  # noqa: E402

CONFIG = ["model=dcgan", "model.width=64", "model.z_dim=100", "dataset.image_size=32", "dataset.batch_size=64",
          "trainer.ema=0", "trainer.precision=fp32", "trainer.channels_last=false", "trainer.device=cpu", "stabilize.r1=0"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=240)
    parser.add_argument("--every", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with initialize_config_module("gan_runner.conf", version_base=None):
        cfg = compose("config", overrides=CONFIG)
    trainer = build_trainer(cfg, args.out)  # the same model as gan-run's, to carry the plain loop's weights
    plain = PlainDCGAN(workers=args.workers)
    t0, step, next_save = time.perf_counter(), 0, args.every
    while True:
        plain.train(1)
        step += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= next_save or elapsed >= args.seconds:
            G = {f"net.{int(k.split('.')[0]) + 1}.{k.split('.', 1)[1]}": v for k, v in plain.netG.main.state_dict().items()}
            trainer.model.G.load_state_dict(G)
            trainer.step = step
            state = trainer.state_dict()
            state["config"] = OmegaConf.to_container(cfg, resolve=True)
            save_atomic(state, args.out / "checkpoints" / f"t{int(round(elapsed)):04d}s_step{step}.pt")
            print(f"{elapsed:.0f}s: step {step}", flush=True)
            next_save += args.every
        if elapsed >= args.seconds:
            break


if __name__ == "__main__":
    main()
