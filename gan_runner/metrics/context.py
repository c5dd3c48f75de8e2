"""What a metric reads: the run's real data, the generated samples, and what one pass over each kept.

Samples are streamed: `evaluate_run` hands the context a batch source and `plan(names)`, and one pass over
the generated batches feeds every feature space the metrics need (running moments; features and logits into
disk files where a metric needs them, streaming.py). A context built on in-memory `Samples` (tests) works
the same way, its batches being slices of the samples.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from gan_runner.data.base import InMemoryData
from gan_runner.errors import UserError
from gan_runner.generation.sampling import Samples
from gan_runner.metrics.space import EMBED_BATCH, FeatureSpace
from gan_runner.metrics.stats_cache import read_stats, stats_key, stats_path, write_stats
from gan_runner.metrics.streaming import RowFile, StreamedSamples, Want, cat_rows, check_disk, slices, stream
from gan_runner.models.base import Latent
from gan_runner.progress import ProgressFn, no_progress

#: what a metric may read (MetricRecord.reads): moments and features of the feature space, class posteriors
#: of a space that has them (logits), the dataset classifier's logits of the fakes (class_logits), the samples.
READS = ("moments", "features", "logits", "class_logits", "samples")
REAL_READS = ("moments", "features", "logits")  # the others are of the generated samples only


@dataclass
class EvalContext:
    """Inputs shared by all metrics of one evaluation; the feature network is built only if a metric asks."""

    real: InMemoryData  # the run's dataset, on the CPU
    fake: Samples | StreamedSamples | None  # in-memory samples, or None until fake_batches has been streamed
    dataset_cfg: dict[str, Any]
    space_factory: Callable[[], FeatureSpace]
    classifier_factory: Callable[[], FeatureSpace] | None = None  # the dataset's classifier, when features are another net's
    seed: int = 0
    num_real: int | None = None  # real samples to compare with (default: as many as generated, at most all)
    data_root: str | None = None  # where MNIST's official test split may live (Parzen)
    ref_stats: str | None = None  # an npz of (mu, sigma): FID against these instead of the real subset
    progress: ProgressFn = no_progress
    notes: dict[str, str] = field(default_factory=dict)  # metrics explain their choices here (-> eval.json)
    fake_batches: Callable[[], Iterator[tuple[torch.Tensor, Latent]]] | None = None  # generated batches, one pass
    num_fake: int = 0  # how many fake_batches yields
    work_dir: Path | None = None  # where feature files go (default: the system temp dir)
    stats_dir: Path | None = None  # the cross-run cache of real-side statistics (None: off)
    value_tags: dict[str, str] = field(default_factory=dict)  # metric -> the space its values came from, if not space()'s
    reads: set[str] | None = None  # what the metrics of this evaluation read (plan); None: whatever is asked
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def reusable(self) -> dict[str, Any]:
        """What another evaluation of the same data and seed may reuse: the feature networks and the real side.

        `evaluate_run(reuse=...)` keeps it for the next evaluation of the run, so the real features are
        computed once per run instead of once per evaluation. Anything derived from the samples is left out.
        """
        return {k: v for k, v in self._memo.items() if not k.startswith("fake")}

    # ------------------------------------------------------------------ feature spaces
    def space(self) -> FeatureSpace:
        """The feature space (trained or loaded on first use)."""
        if "space" not in self._memo:
            self._memo["space"] = self.space_factory()
        return self._memo["space"]

    def space_if_built(self) -> FeatureSpace | None:
        """The feature space if a metric used one, else None (nothing is trained to answer this)."""
        return self._memo.get("space")

    def classifier(self) -> FeatureSpace:
        """The dataset's own classifier (class accuracy and purity need its classes, not ImageNet's)."""
        if self.classifier_factory is None:
            return self.space()
        if "classifier" not in self._memo:
            self._memo["classifier"] = self.classifier_factory()
        return self._memo["classifier"]

    def posterior_space(self) -> FeatureSpace:
        """The space whose class posteriors IS reads: the feature space's own, else the dataset's classifier."""
        space = self.space()
        if space.has_classifier:
            return space
        if not self.real.spec.num_classes or self.classifier_factory is None:
            raise UserError(f"this metric needs class posteriors; the {space.name} feature space has none and dataset "
                            f"'{self.real.spec.name}' has no labels to train a classifier on (give --features inception)")
        return self.classifier()

    # ------------------------------------------------------------------ planning
    def plan(self, reads: set[str]) -> None:
        """Say up front what the metrics will read, so one pass over each set computes all of it."""
        unknown = reads - set(READS)
        assert not unknown, f"unknown reads {unknown}"
        self.reads = set(reads)

    def _wants(self, which: str, reads: set[str]) -> list[Want]:
        """The feature spaces a pass over `which` must run, and what to keep of each."""
        wants: dict[int, Want] = {}

        def add(space: FeatureSpace, features: bool = False, logits: bool = False) -> None:
            old = wants.get(id(space))
            wants[id(space)] = Want(space, features or bool(old and old.features), logits or bool(old and old.logits))

        if "moments" in reads or "features" in reads:
            add(self.space(), features="features" in reads)
        if "logits" in reads:
            add(self.posterior_space(), logits=True)
        if which == "fake" and "class_logits" in reads:
            add(self.classifier(), logits=True)
        return list(wants.values())

    def disk_bytes(self) -> int:
        """Bytes of feature files the planned passes write (features and logits float32, kept samples)."""
        reads = self.reads or set()
        total = 0
        for which, n in (("real", self.num_real_planned()), ("fake", self._fake_n())):
            for w in self._wants(which, reads & set(REAL_READS if which == "real" else READS)):
                f, lg = w.space.embed_batch(self.real.x[:2])  # two real images tell the widths
                total += n * 4 * ((f[0].numel() if w.features else 0) + (lg[0].numel() if w.logits and lg is not None else 0))
        if "samples" in reads:
            total += self._fake_n() * self.real.x[0].numel() * self.real.x.element_size()
        return total

    def check_disk(self, work_dir: Path) -> None:
        """One line, before any sampling, when the planned feature files do not fit on the disk."""
        check_disk(work_dir, self.disk_bytes(), f"--num {self._fake_n():,}")

    def _dir(self) -> Path:
        import tempfile

        return self.work_dir or Path(tempfile.gettempdir())

    # ------------------------------------------------------------------ the real side
    def num_real_planned(self) -> int:
        """How many real samples the comparisons use: num_real (or as many as generated), at most all."""
        return min(self.num_real or self._fake_n(), len(self.real))

    def real_index(self) -> torch.Tensor:
        """Indices of a seeded random subset of the real data, sorted."""
        if "real_index" not in self._memo:
            n = self.num_real_planned()
            perm = torch.randperm(len(self.real), generator=torch.Generator().manual_seed(self.seed))[:n]
            self._memo["real_index"] = perm.sort().values
        return self._memo["real_index"]

    def num_real_used(self) -> int | None:
        """How many real samples the feature metrics compared with (None: none did)."""
        return len(self._memo["real_index"]) if any(k.startswith("real:") for k in self._memo) else None

    def _stats_key(self, space: FeatureSpace) -> str:
        return stats_key(self.dataset_cfg, space, self.num_real_planned(), self.seed, self.real.x)

    def _run_pass(self, which: str, reads: set[str]) -> None:
        """One pass over the real subset or the generated batches, filling the memo with what `reads` asks."""
        wants = self._wants(which, reads)
        if which == "real":
            todo = []
            for w in wants:  # a cached entry replaces a pass that would only have computed moments
                key = f"real:moments:{id(w.space)}"
                if key in self._memo:
                    if not (w.features or w.logits):
                        continue
                elif not (w.features or w.logits) and self.stats_dir is not None:
                    hit = read_stats(stats_path(self.stats_dir, self.dataset_cfg, k := self._stats_key(w.space)), k)
                    if hit is not None:
                        self._memo[key] = hit
                        self.notes.setdefault("real_stats", f"real-side statistics from the cache {self.stats_dir}")
                        continue
                todo.append(w)
            if not todo:
                self.real_index()
                return
            index = self.real_index()
            side = stream(slices(self.real.x, index, EMBED_BATCH), len(index), todo, self._dir(),
                          progress=self.progress, label="features (real)")
        else:
            side, wants = self._stream_fake(wants, "samples" in reads), wants
            todo = wants
        for w in todo:
            sid = id(w.space)
            mean_cov = side.moments[sid].mean_cov()
            self._memo[f"{which}:moments:{sid}"] = mean_cov
            if which == "real" and self.stats_dir is not None:
                k = self._stats_key(w.space)
                write_stats(stats_path(self.stats_dir, self.dataset_cfg, k), k, *mean_cov, side.n)
            if w.features:
                self._memo[f"{which}:features:{sid}"] = side.features[sid]
            if w.logits:
                self._memo[f"{which}:logits:{sid}"] = side.logits[sid]

    def _fake_n(self) -> int:
        return len(self.fake) if self.fake is not None else self.num_fake

    def _stream_fake(self, wants: list[Want], keep_samples: bool) -> Any:
        """The pass over the generated samples: labels and codes kept, samples too if asked."""
        if self.fake_batches is None or self._memo.get("fake:streamed"):
            assert self.fake is not None, "no generated samples to evaluate"
            if isinstance(self.fake, StreamedSamples):  # a second pass would need the samples again: plan() them
                raise RuntimeError("the generated samples were streamed once; plan() every read before the first")
            x = self.fake.x
            return stream(slices(x, None, EMBED_BATCH), len(x), wants, self._dir(), progress=self.progress,
                          label="features (fake)")
        n = self.num_fake
        kept = RowFile(n, self._dir()) if keep_samples else None
        labels: list[list[torch.Tensor | None]] = [[], [], []]
        is_image = self.real.spec.is_image

        def batches() -> Iterator[torch.Tensor]:
            assert self.fake_batches is not None
            for xb, latent in self.fake_batches():
                for part, t in zip(labels, latent[1:]):
                    part.append(t)
                if kept is not None:
                    kept.append(xb)
                yield xb

        side = stream(batches(), n, wants, self._dir(), progress=self.progress, label="sampling + features")
        self._memo["fake:streamed"] = True
        self.fake = StreamedSamples(n, is_image, *(cat_rows(p) for p in labels), kept.tensor() if kept else None)
        return side

    def _get(self, which: str, read: str, space: FeatureSpace) -> Any:
        """What `read` gave for `space` on side `which`, running the planned pass (or, unplanned, one for it) first."""
        key = f"{which}:{'logits' if read == 'class_logits' else read}:{id(space)}"
        if key not in self._memo:
            planned = self.reads if self.reads is not None and not self._memo.get(f"{which}:passed") else set()
            allowed = set(REAL_READS if which == "real" else READS)
            self._run_pass(which, (planned | {read}) & allowed)
            self._memo[f"{which}:passed"] = True
        if key not in self._memo:  # asked of another space than the planned pass ran: one more pass for it
            self._run_pass(which, {read})
        return self._memo[key]

    def ensure_real(self) -> bool:
        """Run the planned pass over the real subset now (or read its statistics from the cache); False: none planned."""
        reads = (self.reads or set()) & set(REAL_READS)
        if self.ref_stats is not None:
            reads.discard("moments")  # FID reads the reference file instead
        if not reads or self._memo.get("real:passed"):
            return False
        self._run_pass("real", reads)
        self._memo["real:passed"] = True
        return True

    def ensure_fake(self) -> None:
        """Run the planned pass over the generated samples now (sampling happens here)."""
        reads = (self.reads or set()) & set(READS)
        if self.fake is None:
            self._run_pass("fake", reads)
            self._memo["fake:passed"] = True

    # ------------------------------------------------------------------ what metrics read
    def real_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu (D,), sigma (D, D)) float64 of the real subset's features (cached across runs where a stats_dir is set)."""
        return self._get("real", "moments", self.space())

    def fake_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu (D,), sigma (D, D)) float64 of the generated samples' features."""
        return self._get("fake", "moments", self.space())

    def real_features(self) -> torch.Tensor:
        """(N_real, D) features of the real subset (float32 as the net gave them, backed by a disk file)."""
        return self._get("real", "features", self.space()).tensor()

    def fake_features(self) -> torch.Tensor:
        """(N_fake, D) features of the generated samples (float32, backed by a disk file)."""
        return self._get("fake", "features", self.space()).tensor()

    def fake_logits(self) -> torch.Tensor:
        """(N_fake, K) class logits of the generated samples under posterior_space() (float32, on disk)."""
        return self._get("fake", "logits", self.posterior_space()).tensor()

    def real_logits(self) -> torch.Tensor:
        """(N_real, K) class logits of the real subset under posterior_space()."""
        return self._get("real", "logits", self.posterior_space()).tensor()

    def fake_class_logits(self) -> torch.Tensor:
        """(N_fake, K) logits of the generated samples under the dataset's classifier (its classes = data labels)."""
        clf = self.classifier()
        if not clf.has_classifier:
            raise UserError(f"dataset '{self.real.spec.name}' has no classifier to judge classes with")
        return self._get("fake", "class_logits", clf).tensor()

