"""D-side stabilizers every model takes: PacGAN packing, minibatch standard deviation, spectral normalization.

One mechanism instead of a hand-wiring per model: `@with_d_options` adds the options `pack`, `mbstd` and
`spectral_norm` to a model builder's signature (so the registry checks them like any option), hands the builder
a `DOptions` to build its D with (`d.spec(spec)` for D's input, `d.heads(k)` for per-sample heads, `d.mbstd`
for its body), and applies spectral norm to whatever D comes back. `GANModel.discriminate` packs samples and
labels and unpacks per-sample heads, so losses and auxiliary terms see per-sample outputs as without packing.
"""
from __future__ import annotations

import functools
import inspect
import typing
from dataclasses import dataclass
from typing import Any, Callable

from gan_runner.data.base import DataSpec
from gan_runner.errors import ConfigError
from gan_runner.models.base import GANModel
from gan_runner.models.blocks import packed_spec, spectral_normalize


@dataclass(frozen=True)
class DOptions:
    """What a builder needs to know to build its D with the D-side stabilizers on."""

    pack: int = 1  # PacGAN (Lin et al. 2018): D judges `pack` samples at once
    mbstd: bool = False  # minibatch standard deviation before D's last layer (Karras et al. 2018)
    spectral_norm: bool = False  # every D conv/linear weight divided by its spectral norm (Miyato et al. 2018)

    def spec(self, spec: DataSpec, model: str) -> DataSpec:
        """The spec D's input layer is built for: `pack` times the channels (images) or features (vectors)."""
        return packed_spec(spec, self.pack, model)

    def heads(self, k: int) -> int:
        """Width of a per-sample head (ACGAN's classes, InfoGAN's codes) under packing: k outputs per packed sample."""
        return k * self.pack


_EXTRA = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hint)
          for name, default, hint in (("pack", 1, int), ("mbstd", False, bool), ("spectral_norm", False, bool))]


def with_d_options(builder: Callable[..., GANModel] | None = None, *, always_sn: bool = False) -> Any:
    """Decorator for model builders `fn(spec, d_transforms, d: DOptions, **options)`: see the module docstring.

    `always_sn`: the model is spectrally normalized by definition (SNGAN): `spectral_norm` defaults to true and
    false is refused, since the model without it is another model.
    """

    def decorate(fn: Callable[..., GANModel]) -> Callable[..., GANModel]:
        name = fn.__name__.removeprefix("build_")

        @functools.wraps(fn)
        def build(spec: DataSpec, d_transforms: tuple = (), *, pack: int = 1, mbstd: bool = False,
                  spectral_norm: bool = always_sn, **options: Any) -> GANModel:
            if pack < 1:
                raise ConfigError(f"model '{name}' option 'pack' must be >= 1, got {pack}")
            if always_sn and not spectral_norm:
                raise ConfigError(f"model '{name}' is spectrally normalized by definition; spectral_norm=false "
                                  "would be another model (use model=dcgan for a D without it)")
            d = DOptions(pack, mbstd, spectral_norm)
            model = fn(spec, d_transforms, d, **options)
            model.pack = pack  # GANModel.discriminate packs D's inputs and unpacks its per-sample heads
            if spectral_norm:  # after the builder's init: SN rescales whatever weights it is given
                spectral_normalize(model.D)
            return model

        params = list(inspect.signature(fn).parameters.values())
        positional = [p for p in params[:3] if p.kind is not p.KEYWORD_ONLY][:2]  # (spec, d_transforms); drop d
        keyword = [p for p in params if p.kind is p.KEYWORD_ONLY]
        extra = [p.replace(default=always_sn) if p.name == "spectral_norm" else p for p in _EXTRA]
        build.__signature__ = inspect.Signature([*positional, *keyword, *extra])  # type: ignore[attr-defined]
        # Resolved hints (the builder's module, not this one, resolves its string annotations) for the registry's check.
        build.__annotations__ = {**typing.get_type_hints(fn), **{p.name: p.annotation for p in _EXTRA}}
        del build.__wrapped__  # inspect.signature must read __signature__, not the builder's own
        return build

    return decorate(builder) if builder is not None else decorate
