"""A sweeper's study from its job dirs: the trials table (best first) and a plot of the objective per trial and per
searched key.

    python bench/study_plot.py outputs/multirun/default_job_study --plot docs/images/default_job_study.png

Reads each job's .hydra/overrides.yaml (the keys the sweeper set) and metrics.json (the objective: `--key`, a dotted
metrics.json key, eval.fid by default). Trials that failed or diverged are listed with their status and left out of
the plot.
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import yaml

FIXED = ("hparams_search",)  # overrides every trial shares: not searched keys


def read_trials(sweep: Path, key: str) -> list[dict[str, Any]]:
    """One dict per job dir in trial order: number, searched overrides, status, steps, objective value."""
    trials = []
    for job in sweep.iterdir():
        overrides_file, metrics_file = job / ".hydra" / "overrides.yaml", job / "metrics.json"
        if not job.is_dir() or not overrides_file.is_file():
            continue
        number = int(job.name.split("_", 1)[0])
        overrides = dict(o.split("=", 1) for o in yaml.safe_load(overrides_file.read_text()) or [] if "=" in o)
        params = {k: v for k, v in overrides.items() if k not in FIXED}
        metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {"status": "running"}
        value: Any = metrics
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        trials.append({"trial": number, "params": params, "status": metrics.get("status"),
                       "stopped_by": metrics.get("stopped_by", ""), "step": metrics.get("step"),
                       "value": float(value) if isinstance(value, (int, float)) else math.nan})
    return sorted(trials, key=lambda t: t["trial"])


def short(key: str) -> str:
    """optimizer.lr_g -> lr_g; optimizer.betas.0 -> beta1."""
    return "beta1" if key.endswith("betas.0") else key.rsplit(".", 1)[-1]


def fmt(v: str) -> str:
    """Floats to 3 significant digits, the rest as given."""
    try:
        return f"{float(v):.3g}" if "." in v or "e" in v else v
    except ValueError:
        return v


def table(trials: list[dict[str, Any]], key: str) -> str:
    """Markdown table, best objective first (NaN last)."""
    keys = list(dict.fromkeys(k for t in trials for k in t["params"]))
    rows = [f"| trial | {key} | steps (stopped by) | " + " | ".join(short(k) for k in keys) + " |",
            "|---" * (len(keys) + 3) + "|"]
    for t in sorted(trials, key=lambda t: (math.isnan(t["value"]), t["value"])):
        value = f"{t['value']:.2f}" if not math.isnan(t["value"]) else str(t["status"])
        rows.append(f"| {t['trial']} | {value} | {t['step']} ({t['stopped_by']}) | "
                    + " | ".join(fmt(str(t["params"].get(k, ""))) for k in keys) + " |")
    return "\n".join(rows)


def plot(trials: list[dict[str, Any]], key: str, path: Path) -> None:
    """Objective per trial with the best so far, then objective against each searched key."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in trials if not math.isnan(t["value"])]
    keys = list(dict.fromkeys(k for t in trials for k in t["params"]))
    ncols = 4
    nrows = math.ceil((len(keys) + 1) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 3 * nrows), squeeze=False)
    ax = axes.flat[0]
    ax.plot([t["trial"] for t in done], [t["value"] for t in done], "o", label="trial")
    best, run = [], math.inf
    for t in done:
        run = min(run, t["value"])
        best.append(run)
    ax.step([t["trial"] for t in done], best, where="post", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(key)
    ax.set_yscale("log")
    ax.legend()
    for ax, k in zip(list(axes.flat)[1:], keys):
        xs = [t["params"].get(k) for t in done]
        try:
            xv = [float(x) for x in xs]
            ax.scatter(xv, [t["value"] for t in done])
            if k.endswith(("lr_g", "lr_d", "r1")):
                ax.set_xscale("log")
        except (TypeError, ValueError):  # categorical values: one column each
            cats = sorted({str(x) for x in xs})
            ax.scatter([cats.index(str(x)) for x in xs], [t["value"] for t in done])
            ax.set_xticks(range(len(cats)), cats)
        ax.set_xlabel(short(k))
        ax.set_yscale("log")
    for ax in list(axes.flat)[len(keys) + 1:]:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", type=Path, help="the sweep dir (hydra.sweep.dir)")
    parser.add_argument("--key", default="eval.fid", help="the objective, a dotted metrics.json key")
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    trials = read_trials(args.sweep, args.key)
    print(table(trials, args.key))
    if args.plot:
        plot(trials, args.key, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
