"""Which device a run uses, and whether it computes bf16 natively."""
from __future__ import annotations

import os
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


# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) at or above which it runs bf16 convolutions and matmuls natively
_BF16_ISAS = ("AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "ALL")


def cpu_bf16_reason() -> tuple[bool, str]:
    """Whether this CPU computes bf16 natively, and why, in a few words (for the start-up line)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return False, "CPU flags unreadable"
    native = [f for f in ("amx_bf16", "avx512_bf16") if f in flags]
    if not native:
        return False, "the CPU has no AMX-BF16 or AVX512-BF16"
    # The ISA caps users (and bench/, to stand in for an AVX2-only CPU) set: emulated bf16 is ~20x slower than fp32
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if isa and not (isa in _BF16_ISAS or isa.startswith("AVX10")):
        return False, f"ONEDNN_MAX_CPU_ISA={isa} caps oneDNN below bf16"
    if torch.backends.cpu.get_cpu_capability() not in ("AVX512", "AMX"):  # ATEN_CPU_CAPABILITY lowers it
        return False, f"ATen kernels capped at {torch.backends.cpu.get_cpu_capability()}"
    return True, f"the CPU has {' and '.join(f.upper().replace('_', '-') for f in native)}"


def precision_note(device: torch.device, is_image: bool) -> tuple[str, str]:
    """precision=auto's choice for `device` and data, with its reason in one phrase."""
    if not is_image:
        return "fp32", "2D data needs fp32's resolution"
    if device.type == "cuda":
        ok = torch.cuda.is_bf16_supported()
        return ("bf16" if ok else "fp32"), ("the GPU supports bf16" if ok else "the GPU has no bf16")
    ok, why = cpu_bf16_reason()
    return ("bf16" if ok else "fp32"), why
