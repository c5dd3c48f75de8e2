"""Run the mode-collapse tables' rows (VEEGAN / PacGAN Table 1) over seeds and print them beside the published ones.

    python bench/repro_modes.py run --rows pacgan4_grid,unrolled_ring --seeds 0-4 --pacgan-steps 1500 --veegan-steps 2500
    python bench/repro_modes.py table [--rows ...]

`run` trains each (row, seed) with gan-run into outputs/repro_modes/ROW/seedS (two jobs at a time, one thread
each, nice 5; a job whose metrics.json says completed is skipped, so rerunning continues a plan). `table`
prints mean ± standard error over the finished seeds, the per-seed mode counts, and the mean mode count at
each periodic evaluation (the curve that shows whether a row has converged).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "outputs" / "repro_modes"
GAN_RUN = str(Path(sys.executable).with_name("gan-run"))


@dataclass(frozen=True)
class Row:
    """One table row: a preset plus overrides, its published figures and the papers' budget in G steps."""

    preset: str
    overrides: tuple[str, ...]
    published: str
    paper_steps: int


def _pacgan(dataset: str, m: int, published: str) -> Row:
    """PacGANm (m = 1: the GAN row): D judges 100 packs of m samples per step, as in PacGAN's code."""
    return Row(f"pacgan_{dataset}", (f"model.pack={m}", f"dataset.batch_size={100 * m}"), published, 400_000)


def _veegan(dataset: str, unroll: bool, published: str) -> Row:
    """VEEGAN Table 1's GAN / Unrolled GAN rows on the unrolled GAN reference setup (minimax loss)."""
    return Row(f"veegan_{dataset}", ("loss=minimax",) + (("ablation=unroll",) if unroll else ()), published, 25_000)


# Published figures: PacGAN Table 1 (mean ± standard error over 10 trials) and VEEGAN Table 1 (as its
# repository's tab.png shows it: modes / % high quality, no spread given).
ROWS: dict[str, Row] = {
    "pacgan1_ring": _pacgan("ring", 1, "GAN 6.3±0.5 / 98.2±0.2 / 0.45±0.09"),
    "pacgan2_ring": _pacgan("ring", 2, "PacGAN2 7.9±0.1 / 95.6±2.0 / 0.07±0.03"),
    "pacgan3_ring": _pacgan("ring", 3, "PacGAN3 7.8±0.1 / 97.7±0.3 / 0.10±0.02"),
    "pacgan4_ring": _pacgan("ring", 4, "PacGAN4 7.8±0.1 / 95.9±1.4 / 0.07±0.02"),
    "pacgan1_grid": _pacgan("grid", 1, "GAN 17.3±0.8 / 94.8±0.7 / 0.70±0.07"),
    "pacgan2_grid": _pacgan("grid", 2, "PacGAN2 23.8±0.7 / 91.3±0.8 / 0.13±0.04"),
    "pacgan3_grid": _pacgan("grid", 3, "PacGAN3 24.6±0.4 / 94.2±0.4 / 0.06±0.02"),
    "pacgan4_grid": _pacgan("grid", 4, "PacGAN4 24.8±0.2 / 93.6±0.6 / 0.04±0.01"),
    "gan_ring": _veegan("ring", False, "GAN 1 / 99.3"),
    "unrolled_ring": _veegan("ring", True, "Unrolled GAN 7.6 / 35.6"),
    "gan_grid": _veegan("grid", False, "GAN 3.3 / 0.5"),
    "unrolled_grid": _veegan("grid", True, "Unrolled GAN 23.6 / 16"),
}


def seeds_arg(text: str) -> list[int]:
    """'0-4' or '0,2,5' -> a list of seeds."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def job_command(name: str, seed: int, steps: int, evals: int) -> list[str]:
    """gan-run's command line for one (row, seed) at `steps` G steps with `evals` periodic evaluations."""
    row = ROWS[name]
    return [GAN_RUN, f"experiment={row.preset}", *row.overrides, f"seed={seed}", f"trainer.max_steps={steps}",
            f"trainer.eval_every={max(1, steps // evals)}", f"trainer.log_every={max(1, steps // evals)}",
            "trainer.quiet=true", f"hydra.run.dir={OUT / name / f'seed{seed}'}"]


def finished(run_dir: Path) -> bool:
    """Whether the run dir holds a completed run."""
    m = run_dir / "metrics.json"
    return m.exists() and json.loads(m.read_text()).get("status") == "completed"


def run_jobs(names: list[str], seeds: list[int], steps: dict[str, int], evals: int, jobs: int) -> None:
    """Train every (row, seed) not yet completed, `jobs` at a time, logging each to its run dir."""
    todo = [(n, s) for n in names for s in seeds if not finished(OUT / n / f"seed{s}")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def one(job: tuple[str, int]) -> None:
        name, seed = job
        run_dir = OUT / name / f"seed{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        cmd = ["nice", "-n", "5", *job_command(name, seed, steps[name], evals)]
        t0 = time.time()
        with open(run_dir / "bench.log", "w") as log:
            log.write(" ".join(cmd) + "\n")
            log.flush()
            rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        print(f"{name} seed {seed}: rc {rc}, {time.time() - t0:.0f} s", flush=True)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, todo))


def mean_se(xs: list[float]) -> str:
    """'mean ± standard error' of the finite values (the papers' spread), or 'n/a'."""
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return "n/a"
    se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.3g} ± {se:.2g}"


def load(name: str) -> list[dict]:
    """The completed runs of a row: final eval, periodic history, steps, wall time, seed."""
    runs = []
    for run_dir in sorted((OUT / name).glob("seed*"), key=lambda p: int(p.name[4:])):
        if finished(run_dir):
            m = json.loads((run_dir / "metrics.json").read_text())
            history = list((m.get("periodic_eval") or {}).get("history", []))
            if not history or history[-1]["step"] != m["step"]:  # the final evaluation ends the curve
                history.append({"step": m["step"], **m["eval"]})
            runs.append({**m["eval"], "seed": int(run_dir.name[4:]), "step": m["step"], "wall_s": m["wall_time_s"],
                         "history": history})
    return runs


def table(names: list[str]) -> str:
    """Markdown: one row per table row (ours beside published), then each row's mean mode-count curve."""
    lines = ["| row | preset + overrides | G steps (paper) | seeds | modes | HQ % | rev. KL | modes per seed | wall s per run "
             "| published (modes / HQ % / rev. KL) |", "|---" * 10 + "|"]
    curves = []
    for name in names:
        row, runs = ROWS[name], load(name)
        if not runs:
            continue
        steps = sorted({r["step"] for r in runs})
        per_seed = ", ".join(f"{r['modes']:g}" for r in runs)
        pct = ", ".join(f"{s:,} ({100 * s / row.paper_steps:.2g} %)" for s in steps)
        lines.append(f"| {name} | {row.preset} {' '.join(row.overrides)} | {pct} of {row.paper_steps:,} | {len(runs)} | "
                     f"{mean_se([r['modes'] for r in runs])} | {mean_se([r['hq_percent'] for r in runs])} | "
                     f"{mean_se([r['reverse_kl'] for r in runs])} | {per_seed} | "
                     f"{statistics.mean(r['wall_s'] for r in runs):.0f} | {row.published} |")
        by_step: dict[int, list[float]] = {}
        for r in runs:
            for e in r["history"]:
                by_step.setdefault(e["step"], []).append(e["modes"])
        curves.append(f"| {name} | " + " | ".join(f"{s:,}: {statistics.mean(v):.3g}" for s, v in sorted(by_step.items())) + " |")
    return "\n".join(lines + ["", "Mean modes covered at each periodic evaluation (step: mean over seeds):", "",
                              "| row | curve |", "|---|---|", *curves])


def plot(names: list[str], path: Path) -> None:
    """Mean modes covered (fraction of the total) against G steps, one line per row, ring and grid side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    for name in names:
        runs = load(name)
        by_step: dict[int, list[float]] = {}
        for r in runs:
            for e in r["history"]:
                by_step.setdefault(e["step"], []).append(e["modes"])
        if not by_step:
            continue
        ax = axes[0 if name.endswith("ring") else 1]
        steps = sorted(by_step)
        means = [statistics.mean(by_step[s]) for s in steps]
        ses = [statistics.stdev(by_step[s]) / math.sqrt(len(by_step[s])) if len(by_step[s]) > 1 else 0.0 for s in steps]
        ax.errorbar(steps, means, yerr=ses, marker="o", capsize=2, label=f"{name} ({len(runs)} seeds)")
    for ax, (title, total) in zip(axes, [("ring (8 modes)", 8), ("grid (25 modes)", 25)]):
        ax.axhline(total, color="grey", lw=0.8, ls="--")
        ax.set(title=title, xlabel="G step", ylabel="modes covered (mean ± s.e. over seeds)", ylim=(0, total + 1))
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    """`run` trains the planned rows; `table` prints what has finished."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["run", "table"])
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    p.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,1,2")
    p.add_argument("--pacgan-steps", type=int, default=1500, help="G steps of the pacgan rows (the paper: 400,000)")
    p.add_argument("--veegan-steps", type=int, default=2500, help="G steps of the gan/unrolled rows (reference: 25,000)")
    p.add_argument("--evals", type=int, default=6, help="periodic evaluations per run (the mode-count curve)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time (one thread each)")
    p.add_argument("--plot", type=Path, help="save the mode-count curves (mean ± s.e. per evaluation) as a PNG")
    args = p.parse_args()
    names = args.rows.split(",")
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        p.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    if args.action == "run":
        steps = {n: args.pacgan_steps if n.startswith("pacgan") else args.veegan_steps for n in names}
        run_jobs(names, seeds_arg(args.seeds), steps, args.evals, args.jobs)
    print(table(names))
    if args.plot:
        plot(names, args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
