"""The precision local weights run in: the recipe's ``model.dtype``.

``auto`` picks bfloat16 wherever the hardware multiplies in it natively — a GPU that supports it, or
a CPU with bf16 instructions (x86 AVX512-BF16 or AMX-BF16, Arm's BF16 extension) — and float32
elsewhere: without those instructions bf16 is emulated and runs slower than float32. On a CPU of the
first kind, bf16 halves the bytes read per decoded token and runs matrix products faster (the demo in
777 s → 500 s, one answer at a time 1.2x: bench/results/demo.json, infer.json); answers are not
bit-identical to float32's (greedy decoding can take another token where two were nearly tied).
Training keeps float32 weights and autocasts to bf16.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path
from typing import Any

DTYPES = ("float32", "bfloat16")
_CPU_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 (avx512_bf16, amx_bf16), Arm ("bf16" in Features)


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (Linux's /proc/cpuinfo; Apple silicon M2 and later)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        return bf16_in_cpuinfo(cpuinfo.read_text(errors="replace"))
    return platform.system() == "Darwin" and platform.machine() == "arm64" and "M1" not in platform.processor()


def bf16_in_cpuinfo(text: str) -> bool:
    """Whether /proc/cpuinfo's first ``flags`` (x86) or ``Features`` (Arm) line names a bf16 instruction set."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return bool(_CPU_FLAGS & set(value.split()))
    return False


def resolve(setting: str, cuda: bool) -> str:
    """``float32`` or ``bfloat16``: what ``setting`` (``auto`` or either of them) means on this machine."""
    if setting != "auto":
        return setting
    if cuda:
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    return "bfloat16" if cpu_has_bf16() else "float32"


def torch_dtype(name: str) -> Any:
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[name]


def name_of(dtype: Any) -> str:
    """``float32`` for ``torch.float32`` and so on."""
    return str(dtype).removeprefix("torch.")
