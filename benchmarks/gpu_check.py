"""One-shot GPU acceptance check of the CUDA-graph runtime (script, not a test).

    python -m aios_ros.tools.gpu_check --json OUT [--fixture fixture_s0.pt] [--iters 20]

On a CUDA machine, in a few minutes:

1. builds the seeded AiOS (seed 0) and checks the CUDA fp32 eager forward against the public
   seeded parity fixture with the fixture's own ``compare_fixture.py`` (the CPU parity test's
   comparison; TF32 off for this step, since the fixture is fp32);
2. for the network input sizes 800x1333, 512x853 and the node's default (``config/camera.yaml``),
   in fp32 and bf16: captures the bucket (capture time), times the graph forward and the eager
   forward (p50/p90, synchronised), ``AiosEstimator.estimate`` end to end (p50, pre- and
   post-processing included) and the peak GPU memory; asserts that every timed call was a replay
   (no fallback), and in fp32 that the graph equals the eager forward within 1e-4;
3. prints a table and writes everything to ``--json``.

Exit status 1 on any failed check (listed under ``failures``); without a CUDA device it prints one
line, writes ``{"cuda": false}`` and exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch

from aios_ros.core.config import read_parameters
from aios_ros.core.types import Camera, IntrinsicsSource
from aios_ros.evaluation.parity import record
from aios_ros.model.config import ModelConfig
from aios_ros.model.cuda_graphs import GraphRunner, map_tensors
from aios_ros.model.estimator import AiosEstimator, build_model
from aios_ros.model.preprocess import make_batch

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO.parent / 'shared' / 'reference' / 'aios' / 'seeded' / 'fixture_s0.pt'
FIXTURE_SIZE = (256, 427)  # short side, max size of the public fixture
SIZES = ((800, 1333), (512, 853))
GRAPH_VS_EAGER_ATOL = 1e-4  # fp32, same kernels: in practice bit-equal
TARGETS_MS = {(800, 1333): 20.0, (512, 853): 10.0}  # bf16 graph forward p50 (issue 10)


def node_size() -> tuple[int, int]:
    model = read_parameters(REPO / 'config' / 'camera.yaml')['model']
    return int(model['short_side']), int(model['max_size'])


def timed_ms(fn: Callable[[], Any], iters: int) -> list[float]:
    times = []
    for _ in range(iters):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def check_parity(model: torch.nn.Module, fixture: Path) -> dict:
    """CUDA fp32 eager record vs the official fixture, with the fixture's own comparison."""
    seeded = fixture.parent
    sys.path.insert(0, str(seeded))
    import compare_fixture

    image = cv2.imread(str(seeded / 'synth_A.png'), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'{seeded / "synth_A.png"} not found next to the fixture')
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        with torch.inference_mode():
            rec = map_tensors(
                record(model, make_batch([image], *FIXTURE_SIZE, 'cuda')), torch.Tensor.cpu
            )
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    rows, ok = compare_fixture.compare(torch.load(fixture, weights_only=False), rec)
    failed = [r for r in rows if r['status'] not in ('ok', 'skip(None)', 'info')]
    return {'ok': bool(ok), 'rows': len(rows), 'failed': [str(r) for r in failed[:10]]}


def check_size(
    model: torch.nn.Module, size: tuple[int, int], dtype: str, iters: int, failures: list[str]
) -> dict:
    """Capture, graph vs eager timings, estimate() end to end and peak memory for one size."""
    h, w = size
    autocast = torch.bfloat16 if dtype == 'bf16' else None
    name = f'{h}x{w} {dtype}'
    g = torch.Generator().manual_seed(0)
    images = torch.randn(1, 3, h, w, generator=g).cuda()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    runner = GraphRunner(lambda img, mask: model(img, mask)[0], 'cuda', autocast_dtype=autocast)
    t0 = time.perf_counter()
    graph_out = runner(images)
    torch.cuda.synchronize()
    capture_s = time.perf_counter() - t0
    graph_ms = timed_ms(lambda: runner(images), iters)
    if runner.capture_error is not None or runner.replays != iters + 1:
        failures.append(f'{name}: graph not replayed ({runner.capture_error!r})')

    # eager forward on the same bucket-padded input the graph sees
    hb, wb = runner.policy.bucket(h, w)
    padded = torch.zeros(1, 3, hb, wb, device='cuda')
    padded[..., :h, :w] = images
    mask = torch.ones(1, hb, wb, dtype=torch.bool, device='cuda')
    mask[:, :h, :w] = False

    def eager() -> dict:
        with torch.inference_mode(), torch.autocast('cuda', torch.bfloat16, enabled=bool(autocast)):
            return model(padded, mask)[0]

    eager_out = eager()
    eager_ms = timed_ms(eager, iters)
    diff = max(
        float((graph_out[k].float() - eager_out[k].float()).abs().max())
        for k in ('pred_logits', 'pred_boxes', 'rotmat', 'pred_smpl_cam')
    )
    if not np.isfinite(diff) or (dtype == 'fp32' and diff > GRAPH_VS_EAGER_ATOL):
        failures.append(f'{name}: graph vs eager max |diff| {diff:.2e}')
    peak_mib = torch.cuda.max_memory_allocated() / 2**20

    config = ModelConfig(device='cuda', dtype=dtype, short_side=h, max_size=w)
    estimator = AiosEstimator(model, model.body_model, config)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)  # network input == image size
    K = np.array([[1000.0, 0, w / 2], [0, 1000.0, h / 2], [0, 0, 1]])
    camera = Camera(K, w, h, IntrinsicsSource.PARAMETER)
    bodies = estimator.estimate(image, camera)  # capture
    estimate_ms = timed_ms(lambda: estimator.estimate(image, camera), iters)
    assert estimator._graphs is not None
    if estimator._graphs.capture_error is not None or estimator._graphs.replays != iters + 1:
        failures.append(f'{name}: estimate() did not replay ({estimator._graphs.capture_error!r})')
    if not all(np.isfinite(getattr(bodies, f)).all() for f in ('boxes', 'joints_3d', 'transl')):
        failures.append(f'{name}: estimate() returned non-finite values')
    result = {
        'size': [h, w],
        'dtype': dtype,
        'capture_s': capture_s,
        'graph_p50_ms': statistics.median(graph_ms),
        'graph_p90_ms': _p(graph_ms, 0.9),
        'eager_p50_ms': statistics.median(eager_ms),
        'eager_p90_ms': _p(eager_ms, 0.9),
        'estimate_p50_ms': statistics.median(estimate_ms),
        'peak_memory_mib': peak_mib,
        'graph_vs_eager_max_abs': diff,
    }
    result['graph_speedup'] = result['eager_p50_ms'] / result['graph_p50_ms']
    return result


def print_table(report: dict) -> None:
    print(
        f'\ngpu_check: {report["device"]}, torch {report["torch"]}, CUDA {report["cuda_version"]}'
    )
    parity = report['parity']
    print(f'seeded parity (CUDA fp32 eager vs fixture): {"ok" if parity["ok"] else "FAILED"}')
    head = ('size', 'dtype', 'capture s', 'graph p50', 'p90', 'eager p50', 'p90', 'speed-up',
            'estimate p50', 'peak MiB', 'max|g-e|')  # fmt: skip
    print(''.join(f'{c:>13}' for c in head))
    for r in report['results']:
        cells = (f'{r["size"][0]}x{r["size"][1]}', r['dtype'], f'{r["capture_s"]:.2f}',
                 f'{r["graph_p50_ms"]:.2f}', f'{r["graph_p90_ms"]:.2f}',
                 f'{r["eager_p50_ms"]:.2f}', f'{r["eager_p90_ms"]:.2f}',
                 f'{r["graph_speedup"]:.2f}x', f'{r["estimate_p50_ms"]:.2f}',
                 f'{r["peak_memory_mib"]:.0f}', f'{r["graph_vs_eager_max_abs"]:.1e}')  # fmt: skip
        print(''.join(f'{c:>13}' for c in cells))
    print('(times in ms)')
    for line in report['failures']:
        print('FAILED:', line)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--json', required=True, help='output JSON path')
    p.add_argument('--fixture', type=Path, default=FIXTURE, help='seeded parity fixture_s0.pt')
    p.add_argument('--iters', type=int, default=20, help='timed calls per measurement')
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print(f'gpu_check: no CUDA device (torch {torch.__version__}, CUDA build '
              f'{torch.version.cuda}): nothing to check')  # fmt: skip
        Path(args.json).write_text(json.dumps({'cuda': False}))
        return 0
    torch.manual_seed(0)
    report: dict[str, Any] = {
        'cuda': True,
        'device': torch.cuda.get_device_name(),
        'torch': torch.__version__,
        'cuda_version': torch.version.cuda,
        'iters': args.iters,
        'tf32': {
            'matmul': torch.backends.cuda.matmul.allow_tf32,
            'cudnn': torch.backends.cudnn.allow_tf32,
        },
    }
    failures: list[str] = []
    t0 = time.perf_counter()
    model = build_model(ModelConfig(seed=0)).cuda()
    report['parity'] = check_parity(model, args.fixture)
    if not report['parity']['ok']:
        failures.append(f'seeded parity failed: {report["parity"]["failed"][:3]}')
    sizes = list(dict.fromkeys((*SIZES, node_size())))
    report['results'] = [
        check_size(model, size, dtype, args.iters, failures)
        for size in sizes
        for dtype in ('fp32', 'bf16')
    ]
    report['targets'] = {
        f'{h}x{w}': {
            'bf16_graph_p50_ms_max': TARGETS_MS.get((h, w)),
            'met': all(
                r['graph_p50_ms'] <= TARGETS_MS[(h, w)]
                for r in report['results']
                if tuple(r['size']) == (h, w) and r['dtype'] == 'bf16'
            )
            if (h, w) in TARGETS_MS
            else None,
        }
        for h, w in sizes
    }
    report['failures'] = failures
    report['wall_s'] = time.perf_counter() - t0
    print_table(report)
    Path(args.json).write_text(json.dumps(report, indent=1))
    return 1 if failures else 0


if __name__ == '__main__':
    raise SystemExit(main())
