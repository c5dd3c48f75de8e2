"""gan-report's curves.png: a grid of readable panels, one per quantity, one colour per run, one legend naming runs.

Each panel holds one unit (a loss, one evaluation value); the final evaluation (eval_final/NAME) is drawn as a star
on its metric's panel at its step, beside the evaluations during training (eval/NAME).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gan_runner.reporting import RunRow

CURVE_KEYS = ("loss/d", "loss/g")
COLUMNS = 3  # panels per row: wide enough to read at 100 dpi on a laptop screen


def panel_keys(rows: list[RunRow]) -> list[str]:
    """The quantities to draw: the losses, then every evaluation value that changes (mode totals are constants)."""
    # each loss family's own panel: loss/d (nats) and loss/d[wgan] (critic units) never share an axis
    keys = sorted({k for r in rows for k, pts in r.curves.items() if pts and k.split("[", 1)[0] in CURVE_KEYS},
                  key=lambda k: (k.split("[", 1)[1:], k))
    evals = sorted({k.split("/", 1)[1] for r in rows for k in r.curves if k.startswith(("eval/", "eval_final/"))})
    for name in evals:
        values = {v for r in rows for tag in (f"eval/{name}", f"eval_final/{name}") for _, v in r.curves.get(tag, [])}
        if len(values) > 1:
            keys.append(f"eval/{name}")
    return keys


def plot_curves(rows: list[RunRow], out: Path) -> None:
    """Write `out`: the panels of `panel_keys` in a grid, a line per run, a legend below them naming each run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = panel_keys(rows) or list(CURVE_KEYS[:1])
    ncols = min(COLUMNS, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    legend_in = 0.17 * math.ceil(min(len(rows), 24) / (1 if len(rows) <= 6 else 2)) + 0.25  # inches below the panels
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.2 * nrows + legend_in), squeeze=False)
    colors = plt.get_cmap("tab10" if len(rows) <= 10 else "tab20")
    handles = {}
    for ax, key in zip(axes.flat, keys):
        final = key.replace("eval/", "eval_final/", 1) if key.startswith("eval/") else None
        for i, r in enumerate(rows):
            color = colors(i % colors.N)
            if r.curves.get(key):
                steps, values = zip(*r.curves[key])
                (line,) = ax.plot(steps, values, color=color, marker="." if len(steps) < 20 else None)
                handles.setdefault(r.label, line)
            if final and r.curves.get(final):
                steps, values = zip(*r.curves[final])
                (mark,) = ax.plot(steps, values, linestyle="none", marker="*", markersize=10, color=color)
                handles.setdefault(r.label, mark)
        ax.set_title(key + (" (* final evaluation)" if final and any(r.curves.get(final) for r in rows) else ""), fontsize=10)
        ax.set_xlabel("G step", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    if handles and len(handles) <= 24:
        fig.legend(list(handles.values()), [label[:80] for label in handles], loc="lower center",
                   ncol=1 if len(handles) <= 6 else 2, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, legend_in / fig.get_figheight(), 1, 1))
    fig.savefig(out, dpi=100)
    plt.close(fig)
