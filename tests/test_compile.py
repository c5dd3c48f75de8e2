"""trainer.compile: the compiled training step computes the eager step's losses, and checkpoints stay plain."""
from __future__ import annotations

import pytest
import torch
from test_speed_paths import _trainer, assert_same_losses

from gan_runner.errors import ConfigError


@pytest.mark.slow  # inductor compiles G and D (fwd, bwd, frozen-D variants): ~40 s on 2 busy cores, ~8 s when cached
def test_compiled_steps_compute_the_eager_losses_and_save_plain_state_dicts(tmp_path, one_thread):
    from torch._dynamo.utils import counters

    counters.clear()
    # without the default job's R1: its double backward keeps D eager (the last test), and here D must compile
    eager, compiled = _trainer(tmp_path / "a", "stabilize.r1=0"), _trainer(tmp_path / "b", "stabilize.r1=0", "trainer.compile=true")
    # fused kernels reorder float sums: equal to float32 rounding, not bitwise
    assert_same_losses(eager, compiled, rel=1e-4, layout=torch.contiguous_format)
    assert counters["stats"]["unique_graphs"] >= 2 and not counters["graph_break"], "G and D ran as whole compiled graphs"
    state = compiled.state_dict()
    assert not [k for net in ("G", "D") for k in state[net] if "_orig_mod" in k]
    eager.model.G.load_state_dict(state["G"])  # strict: a compiled run's checkpoint loads into an eager model
    eager.model.D.load_state_dict(state["D"])


def test_compile_without_a_cxx_compiler_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler++")
    with pytest.raises(ConfigError, match=r"trainer.compile=true on CPU needs a C\+\+ compiler \(no-such-compiler\+\+ not found\)"):
        _trainer(tmp_path, "trainer.compile=true")


def test_compile_must_be_a_bool(tmp_path):
    with pytest.raises(ConfigError, match="trainer.compile must be true or false"):
        _trainer(tmp_path, "trainer.compile=fast")


def test_losses_that_differentiate_d_twice_compile_g_only():
    from gan_runner.registry import LOSSES
    from gan_runner.training.compiled import needs_double_backward

    assert needs_double_backward(LOSSES.build("wgan_gp", options={}).penalties, 0)
    assert not needs_double_backward(LOSSES.build("ns", options={}).penalties, 0)
    assert needs_double_backward(LOSSES.build("ns", options={}).penalties, 2)
