"""A CPU estimator makes glibc keep large freed tensors for reuse (no page faults per frame).

Runs in a fresh interpreter: the setting is process-wide and cannot be undone.
"""

from __future__ import annotations

import json
import platform
import resource
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, resource, threading
    import torch
    from aios_ros.model.config import ModelConfig
    from aios_ros.model.estimator import build_estimator

    torch.set_num_threads(1)  # every page is touched by the measuring thread

    BLOCK = 96 << 20  # above the largest adaptive mmap threshold (32 MiB) and a thread heap

    def faults_per_round(rounds=4):
        faults = []
        for _ in range(rounds):
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            torch.empty(BLOCK, dtype=torch.uint8).fill_(1)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        return faults

    before = faults_per_round()
    build_estimator(ModelConfig(seed=0, device='cpu'))
    after = []  # in a thread started later, as the node's inference thread
    thread = threading.Thread(target=lambda: after.extend(faults_per_round()))
    thread.start()
    thread.join()
    print(json.dumps({'before': before, 'after': after}))
    """
)


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='a glibc setting')
def test_cpu_estimator_keeps_freed_tensors_in_the_heap():
    done = subprocess.run(
        [sys.executable, '-c', SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    faults = json.loads(done.stdout.strip().splitlines()[-1])
    pages = (96 << 20) // resource.getpagesize()
    assert min(faults['before']) > pages * 0.9, faults  # glibc mapped the block afresh each time
    # Once the heap has grown, the block is served from it again without fresh pages.
    assert min(faults['after'][1:]) < pages * 0.01, faults
