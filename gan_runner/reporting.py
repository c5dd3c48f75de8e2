"""gan-report's library: read a sweep's (or one run's) dirs into rows, then a table (markdown + CSV) and a curve plot.

Works on a sweep still in progress: a job without metrics.json is reported as running, with the last step
TensorBoard has seen. The final evaluation appears as `eval_final/NAME` (metrics.json `eval`, TensorBoard
eval_final/*), the evaluations during training as `best eval/NAME` (TensorBoard eval/*), as each was written.
"""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from gan_runner.atomic import naming
from gan_runner.errors import UserError
from gan_runner.metrics.registry import higher_is_better, record_of_value  # importing gan_runner.metrics registers every record
from gan_runner.progress import format_value

SUMMARY_KEYS = ("loss/d", "loss/g", "D/real", "D/fake")  # with their loss family's tag when not BCE's: loss/d[wgan]
FINAL = "eval_final/"  # the end-of-training evaluation's prefix, as in TensorBoard
PERIODIC = "eval/"  # trainer.eval_every's
IDENTITY = ("run", "overrides", "status")  # columns that say which run a row is: kept even when constant


def summary_key(key: str) -> bool:
    """Whether `key` is a final training statistic the report shows (family-tagged or not)."""
    return key.split("[", 1)[0] in SUMMARY_KEYS


@dataclass
class RunRow:
    """One run of a sweep, as the report shows it."""

    name: str
    path: Path
    overrides: list[str]
    status: str
    step: int | None
    steps_per_s: float | None
    reason: str = ""
    final: dict[str, float] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """The overrides without the seed: runs that differ only by seed are repeats of one setting."""
        return " ".join(o for o in self.overrides if not o.split("=")[0].lstrip("+") == "seed") or "(defaults)"

    @property
    def label(self) -> str:
        """What tells this run apart in a legend: the overrides that vary, else its dir name."""
        return " ".join(self.overrides) or self.name


def find_runs(root: Path) -> list[Path]:
    """Run dirs under `root` (itself if it is one): directories holding .hydra/ or metrics.json."""
    if not root.is_dir():
        raise UserError(f"{root} is not a directory: give a run dir or a sweep dir (outputs/multirun/DATE/TIME)")
    if (root / ".hydra").is_dir() or (root / "metrics.json").is_file():
        return [root]
    runs = sorted({p.parent.parent for p in root.rglob(".hydra/overrides.yaml")} | {p.parent for p in root.rglob("metrics.json")})
    runs = [r for r in runs if r != root]
    if not runs:
        raise UserError(f"{root} holds no gan-run runs (no .hydra/ or metrics.json below it)")
    return sorted(runs, key=lambda p: _natural(p.relative_to(root).as_posix()))


def _natural(s: str) -> tuple:
    head = s.split("_", 1)[0]
    return (int(head), s) if head.isdigit() else (math.inf, s)


def read_scalars(tb_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """All scalar series of a run's TensorBoard logs: tag -> [(step, value)]."""
    if not tb_dir.is_dir():
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0, "images": 1, "tensors": 1}).Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def feature_space_of(metrics: dict) -> str | None:
    """The tag of the feature space a run's plain eval keys come from (metrics.json eval / periodic_eval)."""
    for section in ("eval", "periodic_eval"):
        tag = (metrics.get(section) or {}).get("feature_space")
        if isinstance(tag, str):
            return tag
    return None


def with_space(key: str, space: str | None) -> str:
    """'eval/fid' -> 'eval/fid[mnist_5k-clf]' for a value computed in a feature space, so runs evaluated in
    different spaces never share a column; keys tagged already ('eval/fid[inception]') and others stay."""
    r = record_of_value(key.split("/", 1)[-1])
    if space is None or "[" in key or r is None or not (r.needs_features or r.needs_classifier):
        return key
    return f"{key}[{space}]"


def best_of(tag: str, points: list[tuple[int, float]]) -> float | None:
    """The best finite value of an eval series (an early NaN, e.g. a KL before any mode is hit, is skipped)."""
    values = [v for _, v in points if math.isfinite(v)]
    if not values:
        return None
    return max(values) if higher_is_better(tag.split("/", 1)[-1]) else min(values)


def read_overrides(path: Path) -> list[str]:
    """A run's .hydra/overrides.yaml: a list of strings ([] when absent); one UserError line when it is not one."""
    if not path.is_file():
        return []
    try:
        value = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:  # safe_load refuses !!python tags: such a file is not Hydra's
        raise UserError(f"{path} is not a Hydra overrides file ({' '.join(str(e).split())[:120]})") from None
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(o, str) for o in value):
        raise UserError(f"{path} is not a Hydra overrides file (expected a list of strings, got {type(value).__name__})")
    _check_encodable(path, value)
    return value


def _check_encodable(path: Path, value: object) -> None:
    """A UserError when a decoded file holds lone surrogates ("\\ud800" escapes): no report could be written with them."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise UserError(f"{path} holds text that is not valid Unicode (a lone surrogate escape)") from None


def read_metrics(path: Path) -> dict | None:
    """A run's metrics.json (None when absent); one UserError line when it is not the object gan-run writes."""
    if not path.is_file():
        return None
    try:
        metrics = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({str(e)[:100]})") from None
    if not isinstance(metrics, dict):
        raise UserError(f"{path} is not a gan-run metrics.json (expected an object, got {type(metrics).__name__})")
    _check_encodable(path, metrics)
    for key in ("final", "eval", "periodic_eval"):
        if metrics.get(key) is not None and not isinstance(metrics[key], dict):
            raise UserError(f"{path}: '{key}' must be an object, got {type(metrics[key]).__name__}")
    for key, kinds in (("status", str), ("reason", str), ("step", int), ("steps_per_s", (int, float))):
        if metrics.get(key) is not None and not isinstance(metrics[key], kinds):
            raise UserError(f"{path}: '{key}' has the wrong type ({type(metrics[key]).__name__})")
    return metrics


def read_run(path: Path, root: Path) -> RunRow:
    """Collect status, final and best figures, and curves of one run dir."""
    overrides = [o for o in read_overrides(path / ".hydra" / "overrides.yaml") if not o.startswith(("hydra.", "hydra/"))]
    metrics = read_metrics(path / "metrics.json")
    curves = read_scalars(path / "tb")
    name = path.relative_to(root).as_posix() if path != root else path.name
    if metrics is None:
        last = max((pts[-1][0] for pts in curves.values() if pts), default=None)
        return RunRow(name, path, overrides, "running", last, None, curves=curves,
                      final={k: pts[-1][1] for k, pts in curves.items() if pts and summary_key(k)})
    final = {k: v for k, v in metrics.get("final", {}).items() if summary_key(k)}
    space = feature_space_of(metrics)
    final.update({with_space(f"{FINAL}{k}", space): v for k, v in metrics.get("eval", {}).items()
                  if isinstance(v, (int, float))})
    best = {with_space(tag, space): b for tag, pts in curves.items()
            if tag.startswith(PERIODIC) and (b := best_of(tag, pts)) is not None}
    return RunRow(name, path, overrides, metrics.get("status", "?"), metrics.get("step"), metrics.get("steps_per_s"),
                  metrics.get("reason", ""), final, best, curves)


def _mean_cell(values: list[float]) -> str:
    """'mean ± std (n=k)' of the finite values; n is always shown, so one seed never passes for an average."""
    vals = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return ""
    spread = f" ± {statistics.stdev(vals):.2g}" if len(vals) > 1 else ""
    return f"{statistics.fmean(vals):.4g}{spread} (n={len(vals)})"


def _varying(header: list[str], body: list[list], keep: tuple[str, ...]) -> tuple[list[str], list[list]]:
    """Drop the columns whose cells are all equal (with two rows or more), except `keep`: a constant says nothing."""
    cols = [i for i, h in enumerate(header) if h in keep or len(body) < 2 or len({str(r[i]) for r in body}) > 1]
    return [header[i] for i in cols], [[r[i] for i in cols] for r in body]


def tables(rows: list[RunRow]) -> tuple[str, str, str]:
    """(markdown per run, markdown mean ± std (n) per setting, CSV per run with every column)."""
    final_keys = sorted({k for r in rows for k in r.final})
    best_keys = sorted({k for r in rows for k in r.best})
    header = ["run", "overrides", "status", "step", "steps/s", *final_keys, *[f"best {k}" for k in best_keys], "reason"]
    body = [[r.name, " ".join(r.overrides), r.status, r.step, r.steps_per_s, *[r.final.get(k) for k in final_keys],
             *[r.best.get(k) for k in best_keys], r.reason] for r in rows]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in body])
    shown_header, shown = _varying(header, body, IDENTITY)
    md = _markdown(shown_header, [[format_value(v) for v in row] for row in shown])

    groups: dict[str, list[RunRow]] = {}
    for r in rows:
        groups.setdefault(r.group, []).append(r)
    keys = [k for k in ["steps/s", *final_keys, *[f"best {k}" for k in best_keys]] if k in shown_header]
    g_body = []
    for name, members in groups.items():
        done = [m for m in members if m.status == "completed"]
        cells = [name, f"{len(done)}/{len(members)}"]
        for k in keys:
            cells.append(_mean_cell([m.steps_per_s if k == "steps/s" else
                                     (m.best.get(k[5:]) if k.startswith("best ") else m.final.get(k)) for m in done]))
        g_body.append(cells)
    return md, _markdown(["setting (without seed)", "completed", *keys], g_body), buf.getvalue()


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def report(root: Path, out_dir: Path | None = None, plot: bool = True) -> str:
    """Write report.md, report.csv (and curves.png) for a sweep or run; returns the markdown."""
    root = root.resolve()
    rows = [read_run(p, root) for p in find_runs(root)]
    if len(rows) > 1:  # show what varies across the sweep, not the flags every job shares
        shared = set.intersection(*(set(r.overrides) for r in rows))
        for r in rows:
            r.overrides = [o for o in r.overrides if o not in shared]
    per_run, per_setting, csv_text = tables(rows)
    out_dir = out_dir or root
    out_dir.mkdir(parents=True, exist_ok=True)
    md = (f"# Report: {root}\n\n## Runs\n\n{per_run}\n(columns equal in every run are left out here; report.csv has them)\n\n"
          f"## Mean ± std (n runs) over seeds\n\n{per_setting}")
    with naming(out_dir / "report.md"):  # a full disk names the file it could not write
        (out_dir / "report.md").write_text(md)
    with naming(out_dir / "report.csv"):
        (out_dir / "report.csv").write_text(csv_text)
    if plot:
        from gan_runner.report_plot import plot_curves

        with naming(out_dir / "curves.png"):
            plot_curves(rows, out_dir / "curves.png")
    return md
