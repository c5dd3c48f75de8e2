"""Data preparation benchmark: a synthetic JPEG folder, prepared with 1 worker and all, then the second start.

Prints: decode speed of torchvision vs PIL; preparation time, images/s and peak RSS (1 worker, all
workers) against the prepared bytes; launch-to-first-batch of a second start (a fresh process, cache
hit); batch rate of the stream placement against the in-memory one. No internet needed.

    .venv/bin/python bench/data_prepare.py --n 20000 --size 128 --image-size 64 --dir /tmp/bench_data
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
out = prepare_folder(sys.argv[1], image_size=int(sys.argv[2]), workers=int(sys.argv[3]), out=Path(sys.argv[4]), quiet=True)
dt = time.perf_counter() - t
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"s": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "worker_rss_mb": kids / 1024}))
"""

CHILD_BASELINE = """
import json, resource
import torch, torchvision.io
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_START = """
import json, sys, time
t0 = float(sys.argv[3])
from gan_runner.data import build_dataset, build_stream
import torch
data = build_dataset({"name": "image_folder", "root": sys.argv[1], "image_size": int(sys.argv[2])})
stream = build_stream(data, {"placement": "auto"}, 64, 0, None, torch.device("cpu"))
stream.next()
print(json.dumps({"first_batch_s": time.time() - t0}))
"""


def run_child(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


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


def main() -> None:
    """Run the benchmark and print one JSON line of figures."""
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--size", type=int, default=128, help="side of the synthetic JPEGs")
    p.add_argument("--image-size", type=int, default=64, help="prepared side")
    p.add_argument("--dir", default="/tmp/bench_data")
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
                              "make_folder_s": round(time.perf_counter() - t, 1), "cores": os.cpu_count()}
    fig.update(decoder_speed(src))
    fig["import_rss_mb"] = round(run_child(CHILD_BASELINE)["rss_mb"])  # torch + torchvision alone, for comparison
    nbytes = args.n * 3 * args.image_size**2
    fig["prepared_mb"] = round(nbytes / 2**20, 1)
    for workers in (1, os.cpu_count() or 1):
        out = base / f"prepared_w{workers}"
        shutil.rmtree(out, ignore_errors=True)
        r = run_child(CHILD_PREPARE, str(src), str(args.image_size), str(workers), str(out))
        fig[f"prepare_w{workers}"] = {"s": round(r["s"], 1), "img_s": round(args.n / r["s"]),
                                      "rss_mb": round(r["rss_mb"]), "worker_rss_mb": round(r["worker_rss_mb"])}
    # second start through the cache: prepare once into a private cache dir, then time a fresh process
    os.environ["GAN_RUNNER_CACHE"] = str(base / "cache")
    run_child(CHILD_START, str(src), str(args.image_size), str(time.time()))
    fig["second_start"] = {k: round(v, 2) for k, v in run_child(CHILD_START, str(src), str(args.image_size),
                                                               str(time.time())).items()}
    prepared = base / f"prepared_w{os.cpu_count() or 1}"
    fig["batches_per_s"] = {pl: round(batch_rate(prepared, pl)) for pl in ("device", "host", "stream")}
    fig["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(fig))


if __name__ == "__main__":
    main()
