"""``python -m aios_ros.tools.gpu_check`` without a GPU: one clear line, exit 0 (the CI path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='a CUDA device is present: run gpu_check itself (minutes)'
)
def test_without_a_gpu_it_says_so_in_one_line_and_exits_0(tmp_path):
    out = tmp_path / 'gpu.json'
    proc = subprocess.run(
        [sys.executable, '-m', 'aios_ros.tools.gpu_check', '--json', str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [proc.stdout.strip()]
    assert proc.stdout.startswith('gpu_check: no CUDA device') and 'nothing to check' in proc.stdout
    assert json.loads(out.read_text()) == {'cuda': False}
