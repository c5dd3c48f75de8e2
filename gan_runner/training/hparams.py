"""What a run shows in TensorBoard's HParams tab: the keys its sweep varies (or its overrides) and every metric.

TensorBoard reads one run's experiment summary for the whole logdir (the first it finds) and ticks its first five
hyperparameters (those marked `differs` first, the rest by name) and first five metrics. So a sweep's job logs the
keys the sweep varies, marked `differs`, plus a short fixed set (model, loss, dataset, seed); a single run logs
the fixed set and its overrides. Every run registers every metric any run can write, its own first: any mix of
runs then shows the same columns, the swept keys and this sweep's evaluation metrics first.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from gan_runner.sweep_keys import job_sweeper_params, swept_keys_in

FIXED_KEYS = ("model", "loss", "dataset", "seed")  # always shown: what a run is, even without overrides
LOSS_TAGS = ("loss/d", "loss/g", "D/real", "D/fake")  # the final training statistics, in metrics.json's final
# Reported values that describe the evaluation rather than the generator (the dataset's mode count, IS of the real
# data, the Parzen bandwidth) or are a spread: registered, but after the metrics a researcher compares runs by.
CONTEXT_VALUES = ("modes_total", "is_real", "parzen_sigma")
# How a run ended (metrics.json status) -> TensorBoard's session status; an interrupted run may be resumed.
STATUS = {"completed": "STATUS_SUCCESS", "diverged": "STATUS_FAILURE", "failed": "STATUS_FAILURE",
          "interrupted": "STATUS_UNKNOWN"}

# Overrides that say how to run, not what: Hydra's own settings, where to resume from.
NOT_HPARAMS = ("hydra.", "hydra/", "+hydra", "trainer.resume=")

Scalar = int | float | str | bool


def run_overrides(run_dir: Path) -> list[str]:
    """The run's command-line overrides (Hydra's .hydra/overrides.yaml), without Hydra's own settings."""
    path = run_dir / ".hydra" / "overrides.yaml"
    found = yaml.safe_load(path.read_text()) if path.is_file() else None
    return [str(o) for o in found or [] if not str(o).startswith(NOT_HPARAMS)]


def swept_keys(run_dir: Path) -> set[str]:
    """Keys the sweep this run belongs to varies (none for a single run): the job dir is SWEEP_DIR/SUBDIR."""
    params = job_sweeper_params(run_dir)
    found = (swept_keys_in(p, params) for p in list(run_dir.parents)[:2])
    return next((keys for keys in found if keys is not None), set())


def _select(config: Mapping[str, Any], key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _scalar(value: Any) -> Scalar:
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(str(v) for v in value) + "]"
    return value if isinstance(value, (int, float, str, bool)) else str(value)


def run_hparams(config: Mapping[str, Any], overrides: Iterable[str], swept: set[str]) -> dict[str, tuple[Scalar, bool]]:
    """name -> (value, varies in the sweep): in a sweep, the swept keys, then model, loss, dataset and seed; for a
    single run (nothing swept), the fixed set, then its overrides.

    A config key shows its resolved value (numbers stay numbers: a numeric axis in parallel coordinates); a group
    choice (`loss=wgan_gp`, `experiment=ring8`) shows the option's name.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    given: dict[str, tuple[Scalar, bool]] = {}
    for o in OverridesParser.create().parse_overrides(list(overrides)):
        if o.is_delete():
            continue
        key = o.key_or_group.lstrip("+")
        value = _select(config, key)
        if value is None or isinstance(value, Mapping):  # a group choice, or a key the config lacks
            value = _select(config, f"{key}.name") or o.value()
        given[key] = (_scalar(value), key in swept)
    fixed = {key: (_scalar(value), key in swept) for key in FIXED_KEYS
             if (value := _select(config, key if key == "seed" else f"{key}.name")) is not None}
    swept_first = {k: v for k, v in given.items() if v[1]}
    if swept:  # a sweep: what its jobs share is no column (the Text tab has every override and the whole config)
        return {**swept_first, **fixed}
    return {**fixed, **given}


def all_loss_tags() -> list[str]:
    """The final loss statistics of every registered loss family (loss/d, ..., loss/d[wgan], ...)."""
    from gan_runner.losses.base import FAMILY_KEYS, family_tag
    from gan_runner.registry import LOSSES

    families = dict.fromkeys(["", *(getattr(LOSSES.get(n), "family", "") for n in LOSSES.names())])
    return [family_tag(k, f) for f in families for k in FAMILY_KEYS]


def metric_tags(final_metrics: Iterable[str], periodic_metrics: Iterable[str], only_own: bool = False, *,
                loss_tags: Iterable[str] = LOSS_TAGS, space_tags: tuple[str, str] | None = None) -> list[str]:
    """Every scalar tag a run can write that the HParams tab should show: this run's evaluations first (final, then
    periodic), its final losses, then every other metric's values and every loss family's losses, so all runs register
    the same columns. `only_own`: this run's evaluation tags alone. `loss_tags`: the run's loss family's statistics
    (AdversarialLoss.tag). `space_tags`: (feature space, class posteriors) tags of a non-auto eval.features, which
    the space's values carry (fid[inception])."""
    import gan_runner.metrics  # noqa: F401  (registers every metric record; a run has imported it already)
    from gan_runner.metrics.registry import RECORDS, plus_minus

    minor = set(CONTEXT_VALUES) | set(plus_minus().values())

    def values(names: Iterable[str]) -> list[str]:
        return [v for n in names if n in RECORDS for v in RECORDS[n].reports]

    def own_values(names: Iterable[str]) -> list[str]:  # named by the evaluation's own tagging
        from gan_runner.metrics.evaluate import tag_results

        known = [n for n in names if n in RECORDS]
        reported = dict.fromkeys(values(known), 0.0)
        if space_tags is None:
            return list(reported)
        space, posterior = space_tags  # IS reads class posteriors, which may come from another space (fid_kid_is)
        return list(tag_results(reported, known, space, {n: posterior for n in known if RECORDS[n].needs_classifier}))

    own = [f"eval_final/{v}" for v in own_values(final_metrics)] + [f"eval/{v}" for v in own_values(periodic_metrics)]
    if only_own:
        return own
    every = [f"{prefix}/{v}" for prefix in ("eval_final", "eval") for v in values(RECORDS)]
    base = lambda t: t.split("/", 1)[1].split("[")[0]  # noqa: E731  (the value's name without its space)
    ordered = [t for t in own if base(t) not in minor] + list(loss_tags)
    ordered += [t for t in every if base(t) not in minor] + all_loss_tags()
    ordered += [t for t in own + every]  # spreads and context values last
    return list(dict.fromkeys(ordered))


def _summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    return Summary(value=[Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data))])


def start_summaries(hparams: Mapping[str, tuple[Scalar, bool]], metrics: Iterable[str], group: str = "") -> list[Summary]:
    """The experiment (columns) and session-start (this run's values) summaries; `group`: TensorBoard's session group."""
    infos, start = [], plugin_data_pb2.SessionStartInfo(group_name=group)
    for name, (value, differs) in hparams.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value, kind = value, "DATA_TYPE_BOOL"
        elif isinstance(value, (int, float)):
            start.hparams[name].number_value, kind = float(value), "DATA_TYPE_FLOAT64"
        else:
            # no discrete domain for strings: TensorBoard filters sessions by it, and one run knows only its own value
            start.hparams[name].string_value, kind = str(value), "DATA_TYPE_STRING"
        infos.append(api_pb2.HParamInfo(name=name, type=api_pb2.DataType.Value(kind), differs=differs))
    experiment = api_pb2.Experiment(hparam_infos=infos, metric_infos=[
        api_pb2.MetricInfo(name=api_pb2.MetricName(tag=t)) for t in metrics])
    version = metadata.PLUGIN_DATA_VERSION
    return [_summary(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment, version=version)),
            _summary(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start,
                                                                                           version=version))]


def end_summary(status: str) -> Summary:
    """The session-end summary for metrics.json's `status` (completed, interrupted, diverged, failed)."""
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value(STATUS.get(status, "STATUS_UNKNOWN")))
    return _summary(metadata.SESSION_END_INFO_TAG,
                    plugin_data_pb2.HParamsPluginData(session_end_info=end, version=metadata.PLUGIN_DATA_VERSION))
