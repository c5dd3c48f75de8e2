"""What a metric reads: the run's real data, the generated samples, and features of both computed once."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from gan_runner.data.base import InMemoryData
from gan_runner.errors import UserError
from gan_runner.generation.sampling import Samples
from gan_runner.metrics.space import FeatureSpace
from gan_runner.progress import ProgressFn, no_progress


@dataclass
class EvalContext:
    """Inputs shared by all metrics of one evaluation; the feature network is built only if a metric asks."""

    real: InMemoryData  # the run's dataset, on the CPU
    fake: Samples  # generated samples, on the CPU
    dataset_cfg: dict[str, Any]
    space_factory: Callable[[], FeatureSpace]
    classifier_factory: Callable[[], FeatureSpace] | None = None  # the dataset's classifier, when features are Inception's
    seed: int = 0
    num_real: int | None = None  # real samples to compare with (default: as many as generated, at most all)
    data_root: str | None = None  # where MNIST's official test split may live (Parzen)
    ref_stats: str | None = None  # an npz of (mu, sigma): FID against these instead of the real subset
    progress: ProgressFn = no_progress
    notes: dict[str, str] = field(default_factory=dict)  # metrics explain their choices here (-> eval.json)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def reusable(self) -> dict[str, Any]:
        """What another evaluation of the same data and seed may reuse: the feature networks and the real side.

        `evaluate_run(reuse=...)` keeps it for the next evaluation of the run, so the real features are
        computed once per run instead of once per evaluation. Anything derived from the samples is left out.
        """
        return {k: v for k, v in self._memo.items() if not k.startswith("fake")}

    def space(self) -> FeatureSpace:
        """The feature space (trained or loaded on first use)."""
        if "space" not in self._memo:
            self._memo["space"] = self.space_factory()
        return self._memo["space"]

    def space_if_built(self) -> FeatureSpace | None:
        """The feature space if a metric used one, else None (nothing is trained to answer this)."""
        return self._memo.get("space")

    def num_real_used(self) -> int | None:
        """How many real samples the feature metrics compared with (None: none did)."""
        return len(self._memo["real_x"]) if "real_x" in self._memo else None

    def classifier(self) -> FeatureSpace:
        """The dataset's own classifier (class accuracy and purity need its classes, not ImageNet's)."""
        if self.classifier_factory is None:
            return self.space()
        if "classifier" not in self._memo:
            self._memo["classifier"] = self.classifier_factory()
        return self._memo["classifier"]

    def real_x(self) -> torch.Tensor:
        """A seeded random subset of the real data, as many as generated unless num_real says otherwise."""
        if "real_x" not in self._memo:
            n = min(self.num_real or len(self.fake), len(self.real))
            perm = torch.randperm(len(self.real), generator=torch.Generator().manual_seed(self.seed))[:n]
            self._memo["real_x"] = self.real.x[perm.sort().values]
        return self._memo["real_x"]

    def _embed(self, which: str, space: FeatureSpace | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        space = space or self.space()
        key = f"{which}:{id(space)}"
        if key not in self._memo:
            x = self.real_x() if which == "real" else self.fake.x
            self._memo[key] = space.embed(x, self.progress, f"features ({which})")
        return self._memo[key]

    def real_features(self) -> torch.Tensor:
        """(N_real, D) float64 features of the real subset."""
        return self._embed("real")[0]

    def fake_features(self) -> torch.Tensor:
        """(N_fake, D) float64 features of the generated samples."""
        return self._embed("fake")[0]

    def _logits(self, which: str) -> torch.Tensor:
        if not self.space().has_classifier:
            raise UserError(f"this metric needs a classifier; the {self.space().name} feature space has none "
                            f"(dataset '{self.real.spec.name}')")
        logits = self._embed(which)[1]
        assert logits is not None
        return logits

    def fake_logits(self) -> torch.Tensor:
        """(N_fake, K) class logits of the generated samples under the feature space's classifier."""
        return self._logits("fake")

    def real_logits(self) -> torch.Tensor:
        """(N_real, K) class logits of the real subset."""
        return self._logits("real")

    def fake_class_logits(self) -> torch.Tensor:
        """(N_fake, K) logits of the generated samples under the dataset's classifier (its classes = data labels)."""
        logits = self._embed("fake", self.classifier())[1]
        if logits is None:
            raise UserError(f"dataset '{self.real.spec.name}' has no classifier to judge classes with")
        return logits
