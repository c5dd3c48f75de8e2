"""Which device a run uses, and whether it computes bf16 natively."""
from __future__ import annotations

from pathlib import Path

import torch

from gan_runner.errors import ConfigError


def resolve_device(name: str, option: str = "trainer.device") -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without one is a config error naming `option`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{option}=cuda but no CUDA GPU is visible; use {option}=cpu or auto")
    if name != "cpu" and not name.startswith("cuda"):
        raise ConfigError(f"{option} must be auto, cpu or cuda[:N], got {name!r}")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether `device` runs bf16 matmuls natively (emulated bf16 is slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags
