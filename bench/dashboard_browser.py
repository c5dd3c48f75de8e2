"""Browser check of the dashboards: TensorBoard on 127.0.0.1 over a small sweep, read in headless Chromium.

    python bench/dashboard_browser.py                  # trains a 4-job ring8 sweep (~2-3 min on 2 cores), then checks it
    python bench/dashboard_browser.py --sweep DIR      # the same sweep kept in DIR (reused when DIR holds one already)

Needs Playwright (`pip install playwright`) and a Chromium: Debian's (`apt-get install chromium`, the default
/usr/bin/chromium) or any given with --chromium. It asserts on what a user sees: the HParams table's first columns
are the swept keys and the sweep's evaluation metrics, every run's metric cells are filled, parallel coordinates
draw one line per run without ticking anything, the Custom Scalars tab shows the single-unit charts, and every
chart series the browser fetches has one value per step. Screenshots go to docs/images/dashboard_*_DATE.png.
Exits 1 on a failed check. Talks to 127.0.0.1 only.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWEEP = ["experiment=ring8", "loss=ns,wgan_gp", "seed=0,1", "trainer.max_steps=600", "trainer.log_every=20",
         "trainer.eval_every=100", "trainer.sample_every=200", "eval.metrics=[modes]", "eval.num=2000",
         "trainer.quiet=true", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
SWEPT = ["loss", "seed"]
EVAL_COLUMNS = ["eval_final/modes", "eval_final/hq_percent", "eval_final/reverse_kl"]
CHARTS = ["losses of G and D (ns, minimax: nats)", "losses of G and D [wgan] (its own units)",
          "D(x) and D(G(z)) [wgan] (raw outputs)", "Wasserstein estimate", "modes covered (ring8, grid25)",
          "high-quality samples (%)", "KL to the modes' distribution (nats)", "G steps per second",
          "images per second (n_critic D batches + one G batch per step)"]
# Every element matching a CSS selector, through the open shadow roots TensorBoard's Polymer pages are made of.
DEEP = """(sel) => { const out = []; const walk = (root) => root.querySelectorAll('*').forEach(el => {
  if (el.matches(sel)) out.push(el); if (el.shadowRoot) walk(el.shadowRoot); }); walk(document); return out; }"""


def check(ok: bool, what: str, failures: list[str]) -> None:
    """Print one checked fact; remember it when it does not hold."""
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def run_sweep(sweep: Path) -> None:
    """The 4-job ring8 sweep of issue #23: two losses x two seeds, evaluated during and after training."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "gan_runner.cli.train", "-m", *SWEEP, f"hydra.sweep.dir={sweep}"]
    subprocess.run(cmd, check=True, env=env, cwd=sweep.parent, stdout=subprocess.DEVNULL)


def start_tensorboard(logdir: Path) -> tuple[subprocess.Popen, str]:
    """TensorBoard on a free 127.0.0.1 port; returns the process and its URL once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tb = Path(sys.executable).with_name("tensorboard")
    proc = subprocess.Popen([str(tb), "--logdir", str(logdir), "--host", "127.0.0.1", "--port", str(port),
                             "--reload_interval", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(url + "/data/runs", timeout=2).read()
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("TensorBoard did not answer on " + url)


def get_json(url: str) -> object:
    """A GET on TensorBoard's own HTTP API (what the charts fetch)."""
    return json.loads(urllib.request.urlopen(url, timeout=30).read())


def check_steps(url: str, failures: list[str]) -> None:
    """Every scalar series the Scalars and Custom Scalars charts draw: one value per step."""
    tags = get_json(url + "/data/plugin/scalars/tags")
    doubled = []
    for run, run_tags in tags.items():
        for tag in run_tags:
            q = urllib.parse.urlencode({"run": run, "tag": tag})
            steps = [p[1] for p in get_json(f"{url}/data/plugin/scalars/scalars?{q}")]
            if len(steps) != len(set(steps)):
                doubled.append(f"{run} {tag}")
    n = sum(len(t) for t in tags.values())
    check(not doubled, f"one value per step in all {n} (run, tag) series the charts draw {doubled[:3]}", failures)


def shoot(page: object, path: Path) -> None:
    """A screenshot as a 256-colour PNG: a few hundred KB at most, small enough to commit beside the docs."""
    from PIL import Image

    page.screenshot(path=str(path))  # type: ignore[attr-defined]
    Image.open(path).convert("RGB").quantize(256).save(path, optimize=True)


def check_pages(url: str, chromium: str, shots: Path, stamp: str, failures: list[str]) -> None:
    """HParams (table, parallel coordinates) and Custom Scalars as the browser renders them; screenshots."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1500, "height": 760})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(url) else r.abort())  # 127.0.0.1 only
        page.goto(url + "/?darkMode=false#hparams")
        page.wait_for_function(f"({DEEP})('vaadin-grid').some(g => g.items && g.items.length >= 4)", timeout=60_000)
        page.wait_for_timeout(1500)
        cells = page.locator("vaadin-grid-cell-content").all_inner_texts()
        start = cells.index("Trial ID")
        header = [c for c in cells[start + 2:start + 2 + 20]]
        header = header[:header.index("")] if "" in header else header
        print("      HParams columns:", header)
        check(header[:len(SWEPT)] == SWEPT, f"the first HParams columns are the swept keys {SWEPT}", failures)
        check(all(c in header for c in EVAL_COLUMNS), f"the evaluation metrics are columns {EVAL_COLUMNS}", failures)
        check(not any(c.startswith(("trainer.", "eval.num", "dataset.batch")) for c in header),
              "no constant config key among the columns", failures)
        items = page.evaluate(f"({DEEP})('vaadin-grid').map(g => g.items || []).flat()")
        filled = {i["name"]: {m["name"]["tag"] for m in i["metricValues"]} for i in items}
        check(len(filled) == 4 and all(set(EVAL_COLUMNS) <= tags for tags in filled.values()),
              f"the 4 runs have every evaluation metric filled ({sorted(filled)})", failures)
        page.set_viewport_size({"width": 2100, "height": 400})  # every column of the table in one picture
        page.wait_for_timeout(1000)
        shoot(page, shots / f"dashboard_hparams_{stamp}.png")
        page.set_viewport_size({"width": 1500, "height": 760})

        page.get_by_text("PARALLEL COORDINATES VIEW").click()
        page.wait_for_timeout(2500)
        lines = page.evaluate(f"({DEEP})('g.foreground').map(g => g.querySelectorAll('path').length)"
                              ".reduce((a, b) => a + b, 0)")
        axes = page.evaluate(f"({DEEP})('g.axis-parent').length")
        # TensorBoard leaves out a run with a NaN among the shown metrics (reverse KL when no sample is near a mode)
        finite = sum(all(isinstance(m.get("value"), (int, float)) and math.isfinite(m["value"])
                         for m in i["metricValues"] if m["name"]["tag"] in header) for i in items)
        print(f"      parallel coordinates: {axes} axes, {lines} lines, {finite} runs without a NaN metric")
        check(axes >= len(SWEPT) + len(EVAL_COLUMNS) and lines == finite > 0,
              "parallel coordinates draw a line per run (NaN-free) across the swept keys and metrics, nothing ticked",
              failures)
        shoot(page, shots / f"dashboard_parallel_{stamp}.png")

        page.set_viewport_size({"width": 1500, "height": 1100})
        page.goto(url + "/?darkMode=false#custom_scalars")
        page.wait_for_function(f"({DEEP})('tf-custom-scalar-multi-line-chart-card').length > 0", timeout=60_000)
        page.wait_for_timeout(4000)
        titles = page.evaluate(f"({DEEP})('tf-custom-scalar-multi-line-chart-card').map(c => c.title)")
        print("      Custom Scalars charts:", titles)
        check(all(t in titles for t in CHARTS), "Custom Scalars shows the single-unit charts", failures)
        check(not any(t in titles for t in ("FID", "KID", "Inception Score")), "no empty image-metric charts", failures)
        shoot(page, shots / f"dashboard_custom_scalars_{stamp}.png")
        browser.close()


def main() -> None:
    """Run (or reuse) the sweep, serve it, check the pages, save the screenshots."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sweep", type=Path, help="train the sweep here, or reuse the one here (default: a temp dir)")
    ap.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium binary Playwright drives")
    ap.add_argument("--shots", type=Path, default=REPO / "docs" / "images", help="where the screenshots go")
    args = ap.parse_args()
    stamp = datetime.date.today().isoformat()
    failures: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        sweep = args.sweep.resolve() if args.sweep else Path(tmp) / "sweep"
        if not (sweep / "multirun.yaml").is_file():
            t0 = time.monotonic()
            run_sweep(sweep)
            print(f"      sweep: {' '.join(SWEEP)} ({time.monotonic() - t0:.0f} s)")
        proc, url = start_tensorboard(sweep)
        try:
            check_steps(url, failures)
            check_pages(url, args.chromium, args.shots, stamp, failures)
        finally:
            proc.terminate()
            proc.wait()
    print(f"{len(failures)} failed check(s)" if failures else f"all checks passed; screenshots in {args.shots}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
