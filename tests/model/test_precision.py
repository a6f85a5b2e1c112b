"""model.dtype auto | fp32 | bf16 resolved per machine (capabilities faked)."""

from __future__ import annotations

import logging

import pytest

from aios_ros.model.config import ModelConfig
from aios_ros.model.precision import cpu_flags, resolve_dtype

AVX2_EPYC = ('AVX2', frozenset({'avx2', 'fma', 'avx512f'}))  # no bf16 instructions
AMX_XEON = ('AVX512', frozenset({'avx512f', 'avx512_bf16', 'amx_bf16', 'amx_tile'}))
AVX512_NO_BF16 = ('AVX512', frozenset({'avx512f', 'avx512bw'}))
BF16_FLAGS_UNUSED = ('AVX2', frozenset({'avx512_bf16'}))  # AVX-512 kernels disabled in torch
ARM_BF16 = ('DEFAULT', frozenset({'fp', 'asimd', 'bf16'}))


@pytest.mark.parametrize(
    'machine, expected',
    [
        (AVX2_EPYC, 'fp32'),
        (AMX_XEON, 'bf16'),
        (AVX512_NO_BF16, 'fp32'),
        (BF16_FLAGS_UNUSED, 'fp32'),
        (ARM_BF16, 'bf16'),
    ],
)
def test_auto_is_bf16_only_with_native_bf16(machine, expected):
    assert resolve_dtype('auto', 'cpu', *machine) == expected
    assert resolve_dtype('fp32', 'cpu', *machine) == 'fp32'


def test_auto_is_bf16_on_cuda_and_fp32_stays_fp32():
    assert resolve_dtype('auto', 'cuda') == 'bf16'
    assert resolve_dtype('fp32', 'cuda') == 'fp32'
    assert resolve_dtype('bf16', 'cuda') == 'bf16'


def test_explicit_bf16_without_native_support_warns_once_with_the_slowdown(caplog):
    with caplog.at_level(logging.WARNING, logger='aios_ros.model.precision'):
        assert resolve_dtype('bf16', 'cpu', *AVX2_EPYC) == 'bf16'
        assert resolve_dtype('bf16', 'cpu', *AMX_XEON) == 'bf16'
    (record,) = caplog.records
    assert 'AVX2' in record.getMessage() and '6.5x slower' in record.getMessage()


def test_cpu_flags_reads_x86_and_arm_cpuinfo(tmp_path):
    x86 = tmp_path / 'x86'
    x86.write_text('processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\nflags\t: fpu\n')
    arm = tmp_path / 'arm'
    arm.write_text('processor\t: 0\nFeatures\t: fp asimd bf16\n')
    assert cpu_flags(x86) == {'fpu', 'avx2', 'amx_bf16'}
    assert cpu_flags(arm) == {'fp', 'asimd', 'bf16'}
    assert cpu_flags(tmp_path / 'missing') == frozenset()


def test_auto_is_the_default():
    assert ModelConfig().dtype == 'auto'
