"""Which precision the network runs in: ``model.dtype`` auto | fp32 | bf16 resolved per machine.

bf16 autocast pays off only where the hardware computes in bf16: on CUDA GPUs and on CPUs with
native bf16 instructions (x86 AVX512-BF16 or AMX, Arm BF16). Elsewhere oneDNN emulates it:
measured at 800x1333 on an AMD EPYC with AVX2 only, the bf16 forward takes 16.3x a plain fp32
ResNet-50 against 2.5x in fp32 (docs/benchmarks.md), so ``auto`` keeps fp32 there.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import torch

LOG = logging.getLogger(__name__)
Precision = Literal['fp32', 'bf16']
X86_BF16_FLAGS = frozenset({'avx512_bf16', 'amx_bf16'})
#: bf16 / fp32 forward time on a CPU without native bf16 (16.3x / 2.5x a ResNet-50, AMD EPYC)
EMULATED_BF16_SLOWDOWN = 16.3 / 2.5


def cpu_flags(cpuinfo: Path = Path('/proc/cpuinfo')) -> frozenset[str]:
    """Instruction-set flags of the first CPU (x86 ``flags`` / Arm ``Features``); empty if unknown
    (then no native bf16 is assumed)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(':')
        if key.strip() in ('flags', 'Features'):
            return frozenset(value.split())
    return frozenset()


def native_cpu_bf16(capability: str, flags: frozenset[str]) -> bool:
    """True if the CPU computes bf16 natively: x86 with AVX-512 kernels in use
    (``torch.backends.cpu.get_cpu_capability()``) and AVX512-BF16 or AMX-BF16, or Arm BF16."""
    if capability.startswith('AVX512'):
        return bool(flags & X86_BF16_FLAGS)
    return 'bf16' in flags


def resolve_dtype(
    dtype: Literal['auto', 'fp32', 'bf16'],
    device: str,
    capability: str | None = None,
    flags: frozenset[str] | None = None,
) -> Precision:
    """The precision to run: ``auto`` is bf16 on CUDA and on CPUs with native bf16, else fp32.

    An explicit ``bf16`` on a CPU without native bf16 is honoured with one warning naming the
    expected slowdown. ``capability`` and ``flags`` default to this machine's.
    """
    if device == 'cuda':
        return 'fp32' if dtype == 'fp32' else 'bf16'
    if dtype == 'fp32':
        return 'fp32'
    capability = torch.backends.cpu.get_cpu_capability() if capability is None else capability
    native = native_cpu_bf16(capability, cpu_flags() if flags is None else flags)
    if dtype == 'auto':
        return 'bf16' if native else 'fp32'
    if not native:
        LOG.warning(
            'model.dtype bf16 on a CPU without native bf16 (torch CPU capability %s, no '
            'avx512_bf16/amx_bf16): bf16 is emulated, expect the network about %.1fx slower '
            'than fp32; use model.dtype auto or fp32',
            capability,
            EMULATED_BF16_SLOWDOWN,
        )
    return 'bf16'
