"""Summarize ablation sweeps (experiment=ablation_*): mean ± std over seeds per switch, as markdown and a bar plot.

    python bench/ablation_summary.py outputs/ablation/ring8 outputs/ablation/grid25 --plot docs/images/ablation_2d.png

Reads each job's .hydra/overrides.yaml and metrics.json (its end-of-training `eval` results).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

import yaml

KEYS = {"modes": "modes", "hq_percent": "HQ %", "reverse_kl": "rev. KL", "stacked_modes": "modes (of 1000)",
        "stacked_kl": "KL", "fid": "FID", "kid": "KID", "precision": "precision", "recall": "recall"}


def load(sweep: Path) -> dict[str, list[dict]]:
    """{ablation name: [per-seed eval dicts with wall time]} for one sweep dir."""
    out: dict[str, list[dict]] = defaultdict(list)
    for job in sorted(sweep.iterdir(), key=lambda p: (len(p.name), p.name)):
        mfile, ofile = job / "metrics.json", job / ".hydra" / "overrides.yaml"
        if not (mfile.exists() and ofile.exists()):
            continue
        overrides = dict(o.split("=", 1) for o in yaml.safe_load(ofile.read_text()) if "=" in o)
        m = json.loads(mfile.read_text())
        row = {**m.get("eval", {}), "seed": overrides.get("seed", "0"), "wall_s": m.get("wall_time_s"),
               "status": m["status"], "history": (m.get("periodic_eval") or {}).get("history", [])}
        out[overrides.get("ablation", "none")].append(row)
    return out


def mean_std(values: list[float]) -> str:
    """'m ± s' of the finite values ('n/a' when none)."""
    xs = [v for v in values if v is not None and math.isfinite(v)]
    if not xs:
        return "n/a"
    s = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.3g} ± {s:.2g}"


def table(name: str, runs: dict[str, list[dict]]) -> str:
    """Markdown table: one row per switch, mean ± std over seeds, with the per-seed values of the first key."""
    keys = [k for k in KEYS if any(k in r for rows in runs.values() for r in rows)]
    lines = [f"### {name}", "", "| switch | seeds | " + " | ".join(KEYS[k] for k in keys) + f" | {KEYS[keys[0]]} per seed | wall s per run |",
             "|---" * (len(keys) + 4) + "|"]
    for switch, rows in runs.items():
        done = [r for r in rows if r["status"] == "completed"]
        cells = [mean_std([r.get(k) for r in done]) for k in keys]
        per_seed = ", ".join(f"{r.get(keys[0], float('nan')):g}" for r in done)
        wall = mean_std([r["wall_s"] for r in done])
        lines.append(f"| {switch} | {len(done)}/{len(rows)} | " + " | ".join(cells) + f" | {per_seed} | {wall} |")
    hist = {sw: [r["history"] for r in rows if r["history"]] for sw, rows in runs.items()}
    if any(hist.values()):
        lines += ["", "| switch | " + " | ".join(f"{key} at step {e['step']}" for e in next(h for h in hist.values() if h)[0]
                                                 for key in [k for k in KEYS if k in e]) + " |"]
        first = next(h for h in hist.values() if h)[0]
        lines.append("|---" * (len(first) + 1) + "|")
        for sw, hs in hist.items():
            for h in hs:
                vals = [f"{e[k]:.3g} ({e['time_s']:.0f} s)" if "time_s" in e else f"{e[k]:.3g}"
                        for e in h for k in KEYS if k in e]
                lines.append(f"| {sw} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def plot(sweeps: dict[str, dict[str, list[dict]]], path: Path) -> None:
    """One panel per sweep: bars of the first two metrics' means with std error bars per switch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(sweeps), 2, figsize=(11, 3.2 * len(sweeps)), squeeze=False)
    for row, (name, runs) in enumerate(sweeps.items()):
        keys = [k for k in KEYS if any(k in r for rows in runs.values() for r in rows)][:2]
        for col, key in enumerate(keys):
            ax = axes[row][col]
            names = list(runs)
            vals = [[r[key] for r in runs[n] if key in r and math.isfinite(r[key])] for n in names]
            means = [statistics.mean(v) if v else 0.0 for v in vals]
            stds = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in vals]
            ax.bar(names, means, yerr=stds, capsize=3, color=["#888888"] + ["#4477aa"] * (len(names) - 1))
            ax.set_title(f"{name}: {KEYS[key]} (mean ± std over seeds)")
            ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def curves(sweeps: dict[str, dict[str, list[dict]]], path: Path, key: str = "fid", x: str = "time_s") -> None:
    """The periodic-evaluation history (trainer.eval_every): `key` against training seconds (or step), per switch.

    Each switch's line is the mean over its seeds at each evaluation step, at the seeds' mean training time.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for runs in sweeps.values():
        for switch, rows in runs.items():
            by_step: dict[int, list[dict]] = defaultdict(list)
            for r in rows:
                for e in r["history"]:
                    if key in e and x in e:
                        by_step[e["step"]].append(e)
            if not by_step:
                continue
            steps = sorted(by_step)
            xs = [statistics.mean(e[x] for e in by_step[s]) for s in steps]
            ys = [statistics.mean(e[key] for e in by_step[s]) for s in steps]
            n = max(len(v) for v in by_step.values())
            ax.plot(xs, ys, marker="o", label=f"{switch} ({n} seed{'s' if n > 1 else ''})")
    ax.set_yscale("log")
    ax.set_xlabel("training time (s)" if x == "time_s" else "G step")
    ax.set_ylabel(f"{key} (offline classifier features, log scale)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main() -> None:
    """Print one table per sweep dir; optionally save the bar plot."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("sweeps", nargs="+", type=Path)
    p.add_argument("--plot", type=Path)
    p.add_argument("--curves", type=Path, help="plot periodic FID (trainer.eval_every runs) per switch, mean over seeds")
    p.add_argument("--curves-x", choices=["time_s", "step"], default="time_s", help="the curves' x axis")
    p.add_argument("--merge", metavar="NAME", help="one table of all the sweep dirs (e.g. the same sweep run for more seeds)")
    args = p.parse_args()
    sweeps = {s.name: load(s) for s in args.sweeps}
    if args.merge:
        merged: dict[str, list[dict]] = defaultdict(list)
        for runs in sweeps.values():
            for switch, rows in runs.items():
                merged[switch] += rows
        sweeps = {args.merge: dict(merged)}
    for name, runs in sweeps.items():
        print(table(name, runs), end="\n\n")
    if args.plot:
        plot(sweeps, args.plot)
        print(f"plot: {args.plot}")
    if args.curves:
        curves(sweeps, args.curves, x=args.curves_x)
        print(f"curves: {args.curves}")


if __name__ == "__main__":
    main()
