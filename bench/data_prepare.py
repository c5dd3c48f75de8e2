"""Data preparation benchmark: a synthetic JPEG folder, prepared with 1 worker and all, then training from it.

Prints one JSON line: decode speed of torchvision vs PIL; preparation time, images/s and peak RSS
(1 worker into --out, all workers into the cache) against the prepared bytes; the second start
(a fresh `gan-run` process on the cached folder, launch to exit of a 1-step run, an upper bound on
launch-to-first-step; and an in-process breakdown); training steps/s and peak RSS with each
placement (device = today's in-memory path on CPU, host, stream); batch rates of the placements
alone. No internet needed. Run timing jobs one at a time on a shared machine:

    flock /tmp/gan_bench.lock .venv/bin/python bench/data_prepare.py --n 200000 --size 128 --image-size 64 \
        --dir /work/bench_data
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def make_folder(root: Path, n: int, size: int) -> None:
    """n JPEGs of a few shapes and colours (deterministic), written once."""
    from PIL import Image, ImageDraw

    root.mkdir(parents=True, exist_ok=True)
    if len(list(root.glob("*.jpg"))) == n:
        return
    rng = np.random.default_rng(0)
    for i in range(n):
        img = Image.new("RGB", (size, size), tuple(int(c) for c in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(img)
        for _ in range(3):
            x0, y0 = (int(v) for v in rng.integers(0, size // 2, 2))
            x1, y1 = (int(v) for v in np.array([x0, y0]) + rng.integers(8, size // 2, 2))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((int(x0), int(y0), int(x1), int(y1)), fill=colour)
        img.save(root / f"{i:07d}.jpg", quality=90)


def decoder_speed(folder: Path, k: int = 500) -> dict[str, float]:
    """Images/s decoding k files to RGB uint8 with torchvision.io (libjpeg-turbo) and with PIL."""
    import io
    import warnings

    import torch
    from PIL import Image
    from torchvision.io import ImageReadMode, decode_image

    blobs = [p.read_bytes() for p in sorted(folder.glob("*.jpg"))[:k]]
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in blobs:
            decode_image(torch.frombuffer(bytearray(b), dtype=torch.uint8), mode=ImageReadMode.RGB)
    tv = len(blobs) / (time.perf_counter() - t)
    t = time.perf_counter()
    for b in blobs:
        with Image.open(io.BytesIO(b)) as img:
            np.asarray(img.convert("RGB"))
    pil = len(blobs) / (time.perf_counter() - t)
    return {"torchvision_img_s": round(tv), "pil_img_s": round(pil)}


CHILD_PREPARE = """
import json, resource, sys, time
from pathlib import Path
from gan_runner.data.prepare import prepare_folder
t = time.perf_counter()
out = prepare_folder(sys.argv[1], image_size=int(sys.argv[2]), workers=int(sys.argv[3]),
                     out=None if sys.argv[4] == "-" else Path(sys.argv[4]), quiet=True)
dt = time.perf_counter() - t
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"s": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "worker_rss_mb": kids / 1024}))
"""

CHILD_BASELINE = """
import json, resource
import torch, torchvision.io
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# The training path gan-run takes (compose conf/, build_trainer, train), with the time of every step recorded.
CHILD_TRAIN = """
import json, sys, time
from pathlib import Path
t0 = float(sys.argv[5])
from hydra import compose, initialize_config_module
from gan_runner.run import build_trainer
t_import = time.time()
src, size, placement, steps, _, run_dir, width = sys.argv[1:8]
with initialize_config_module("gan_runner.conf", version_base=None):
    cfg = compose("config", overrides=["dataset=image_folder", f"dataset.root={src}", f"dataset.image_size={size}",
                  f"dataset.placement={placement}", f"model.width={width}", f"trainer.max_steps={steps}",
                  "trainer.device=cpu", "trainer.quiet=true", "trainer.sample_every=1000000",
                  "trainer.ckpt_every=1000000", "trainer.log_every=1000000"])
trainer = build_trainer(cfg, Path(run_dir))
t_built = time.time()
stamps = []
step = trainer.iteration
def timed(*a, **k):
    out = step(*a, **k)
    stamps.append(time.time())
    return out
trainer.iteration = timed
trainer.train()
warm = min(5, len(stamps) - 2)
print(json.dumps({"import_s": t_import - t0, "built_s": t_built - t0, "first_step_s": stamps[0] - t0,
                  "steps_per_s": (len(stamps) - 1 - warm) / (stamps[-1] - stamps[warm])}))
"""


def run_child(code: str, *args: str) -> dict[str, float]:
    """Run a child script; its last stdout line (JSON) plus its own peak RSS in MB (from wait4)."""
    return run_command([sys.executable, "-c", code, *args])


def run_command(cmd: list[str]) -> dict[str, float]:
    """Run cmd to its end: the JSON of its last stdout line (if any), its wall time and peak RSS in MB (wait4)."""
    import threading

    t = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    streams: dict[str, str] = {}
    readers = [threading.Thread(target=lambda k=k, f=f: streams.__setitem__(k, f.read()))
               for k, f in (("out", proc.stdout), ("err", proc.stderr))]
    for r in readers:
        r.start()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (Popen.wait would discard it)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.time() - t
    for r in readers:
        r.join()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed:\n{streams['err'][-3000:]}")
    lines = streams["out"].strip().splitlines()
    fig = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    fig.update(wall_s=wall, peak_rss_mb=usage.ru_maxrss / 1024)
    return fig


def batch_rate(prepared: Path, placement: str, steps: int = 300) -> float:
    """Batches/s of 64 at 64x64 with a placement, including normalization (what the trainer consumes)."""
    import torch

    from gan_runner.data import build_stream
    from gan_runner.data.cache import open_prepared

    stream = build_stream(open_prepared(prepared, "bench"), {"placement": placement}, 64, 0, None, torch.device("cpu"))
    for _ in range(20):
        stream.next()
    t = time.perf_counter()
    for _ in range(steps):
        stream.next()
    return steps / (time.perf_counter() - t)


def train_placements(args: argparse.Namespace, src: Path, base: Path) -> dict[str, object]:
    """Per placement: launch to first step (in-process timestamps), steps/s and peak RSS of each round.

    The placements take turns for --rounds rounds, so load from other processes falls on all alike.
    """
    runs: dict[str, list[dict[str, float]]] = {"device": [], "host": [], "stream": []}
    for _ in range(args.rounds):
        for pl, done in runs.items():
            done.append(run_child(CHILD_TRAIN, str(src), str(args.image_size), pl, str(args.steps), str(time.time()),
                                  str(base / "runs" / pl), str(args.width)))
    return {f"train_{pl}": {k: [round(r[k], 3 if k == "steps_per_s" else 2) for r in done] for k in done[0]}
            for pl, done in runs.items()}


def machine() -> dict[str, object]:
    """What the figures were measured on: CPU model, cores, RAM, load average, date (UTC)."""
    import datetime
    import platform

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
            "cores": os.cpu_count(), "ram_gib": round(ram, 1), "load_avg": [round(v, 1) for v in os.getloadavg()]}


def main() -> None:
    """Run the benchmark and print one JSON line of figures."""
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--size", type=int, default=128, help="side of the synthetic JPEGs")
    p.add_argument("--image-size", type=int, default=64, help="prepared side")
    p.add_argument("--dir", default="/tmp/bench_data")
    p.add_argument("--steps", type=int, default=40, help="training steps per placement (the first 5 are warm-up)")
    p.add_argument("--width", type=int, default=32, help="DCGAN width of the training runs")
    p.add_argument("--rounds", type=int, default=2, help="training runs per placement, taking turns")
    p.add_argument("--train-only", action="store_true", help="only the training runs, on the cache a full run left in --dir")
    p.add_argument("--rates-only", metavar="PREPARED", help="only the batch rates of a prepared folder, 2 and 1 threads")
    args = p.parse_args()
    if args.rates_only:
        import torch

        for threads in (2, 1):
            torch.set_num_threads(threads)
            rates = {pl: round(batch_rate(Path(args.rates_only), pl)) for pl in ("device", "host", "stream")}
            print(json.dumps({"threads": threads, "batches_per_s": rates}))
        return
    base = Path(args.dir)
    src = base / f"jpeg_{args.n}_{args.size}"
    t = time.perf_counter()
    make_folder(src, args.n, args.size)
    fig: dict[str, object] = {"n": args.n, "size": args.size, "image_size": args.image_size,
                              "make_folder_s": round(time.perf_counter() - t, 1), **machine()}
    cache = base / "cache"
    os.environ["GAN_RUNNER_CACHE"] = str(cache)
    if args.train_only:
        fig.update(train_placements(args, src, base))
        print(json.dumps(fig))
        return
    fig.update(decoder_speed(src))
    fig["import_rss_mb"] = round(run_child(CHILD_BASELINE)["rss_mb"])  # torch + torchvision alone, for comparison
    nbytes = args.n * 3 * args.image_size**2
    fig["prepared_mb"] = round(nbytes / 2**20, 1)
    shutil.rmtree(cache, ignore_errors=True)
    workers_all = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for workers in (1, workers_all):
        # 1 worker into a folder of its own (then deleted); all workers into the cache, as a first gan-run does
        out = base / "prepared_w1" if workers == 1 else None
        r = run_child(CHILD_PREPARE, str(src), str(args.image_size), str(workers), str(out or "-"))
        fig[f"prepare_w{workers}"] = {"s": round(r["s"], 1), "img_s": round(args.n / r["s"]),
                                      "rss_mb": round(r["rss_mb"]), "worker_rss_mb": round(r["worker_rss_mb"])}
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
    (prepared,) = [d for d in (cache / "datasets").iterdir() if not d.name.startswith(".")]
    # second start: the real CLI on the cached folder, a 1-step run from launch to exit (>= launch to first step)
    gan_run = str(Path(sys.executable).parent / "gan-run")
    r = run_command([gan_run, "dataset=image_folder", f"dataset.root={src}", f"dataset.image_size={args.image_size}",
                     f"model.width={args.width}", "trainer.max_steps=1", "trainer.device=cpu", "trainer.quiet=true",
                     f"hydra.run.dir={base / 'runs' / 'second_start'}"])
    fig["second_start_gan_run"] = {"wall_s": round(r["wall_s"], 2), "peak_rss_mb": round(r["peak_rss_mb"])}
    fig.update(train_placements(args, src, base))
    fig["batches_per_s"] = {pl: round(batch_rate(prepared, pl)) for pl in ("device", "host", "stream")}
    fig["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    fig["load_avg_end"] = [round(v, 1) for v in os.getloadavg()]
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
