"""End-to-end benchmark over real DDS (loopback): publisher -> aios_node -> subscriber.

    python -m aios_ros.tools.bench_e2e --json OUT [--short-side PX] [--frames 5]
           [--rate auto|HZ] [--overload-rate 30] [--overload-s 10] [--replay-frames 5]

The model input size comes from config/camera.yaml (model.short_side) unless --short-side is
given.

Measures, on the bundled sample (generated if missing):

* replay mode: throughput (frames/s of aios_ros.tools.replay's loop, every frame, no DDS);
* phase "rate": frames published below the model's speed (default rate = 1 / (2 x forward p50)):
  end-to-end latency = subscriber receipt - input header stamp (the publisher restamps with its
  clock; all processes share the host clock), p50/p99, split per frame into the model forward
  (timed inside the node, which runs in this process with the same estimator) and the rest;
  overhead ratio = median over frames of (end-to-end - forward) / end-to-end;
* phase "overload": 30 Hz input while the model is slower; drop rate = 1 - outputs / inputs;
* the node's own callback -> publish latency (/diagnostics) and this process's RSS over time.

Prints a table and writes JSON. A script, not a test: it takes minutes on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from aios_ros.synthetic.sample_bag import DEFAULT_OUT as SAMPLE_DIR
from aios_ros.synthetic.sample_bag import ensure_sample

ROLES = [sys.executable, '-m', 'aios_ros.tools.bench_e2e_roles']


class TimedEstimator:
    """The real estimator, timing every ``estimate_batch`` call (the model forward of each
    frame: the node and replay run one camera here)."""

    def __init__(self, inner) -> None:
        self.inner, self.body_model, self.forward_s = inner, inner.body_model, []

    def estimate_batch(self, images, cameras):
        t0 = time.perf_counter()
        out = self.inner.estimate_batch(images, cameras)
        self.forward_s.append(time.perf_counter() - t0)
        return out

    def regress(self, tokens):
        return self.inner.regress(tokens)

    def size_problem(self, width, height):
        return self.inner.size_problem(width, height)

    def default_K(self, width, height):
        return self.inner.default_K(width, height)


def measure_replay(runtime, frames: int, out_dir: Path) -> dict:
    """Replay-mode throughput (aios_ros.tools.replay's loop, every frame, no DDS), after one
    warm-up forward pass (the first call builds the CPU kernels for the input shape)."""
    import cv2

    from aios_ros.replay.replayer import ReplayOptions, run_replay
    from benchmarks.e2e_roles import load_frames

    jpegs, _ = load_frames(SAMPLE_DIR)
    image = cv2.imdecode(np.frombuffer(jpegs[0], np.uint8), cv2.IMREAD_COLOR)
    from aios_ros.app.processor import FrameProcessor

    camera = FrameProcessor(runtime).intrinsics.camera_for(image.shape[1], image.shape[0])
    runtime.estimator.inner.estimate(image, camera)
    summary = run_replay(
        ReplayOptions(bag=SAMPLE_DIR, out=out_dir / 'replay', progress=False, max_frames=frames),
        runtime=runtime,
    )
    return {
        'replay_fps': summary.fps,
        'replay_frames': summary.frames,
        'replay_process_ms': _stats(np.array(summary.process_s) * 1e3),
    }


def run_dds(
    estimator: TimedEstimator, phases: list[tuple[float, int]], tmp: Path, drain_s: float
) -> dict:
    """aios_node in this process (with the timed estimator) + subscriber and publisher
    processes; returns published stamps, output records, diagnostics and RSS over time."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from aios_ros.app.settings import default_config_file
    from aios_ros.node.node import AiosNode

    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(1, 100)))
    os.environ['ROS_DOMAIN_ID'] = env['ROS_DOMAIN_ID']
    args = [
        'bench',
        '--ros-args',
        '-r',
        'image:=/camera/image_raw',
        '-r',
        'camera_info:=/camera/camera_info',
    ]
    config = default_config_file()
    if config is not None:
        args[2:2] = ['--params-file', str(config)]
    rclpy.init(args=args)
    node = AiosNode(
        estimator=estimator,
        parameter_overrides=[
            Parameter('node.image_transport', value='compressed'),
            Parameter('node.drop_policy', value='latest'),
        ],
    )
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    rss: list[tuple[float, float]] = []
    stop = threading.Event()
    threading.Thread(target=_sample_rss, args=(stop, rss), daemon=True).start()
    sub = subprocess.Popen(
        ROLES + ['subscriber', str(tmp / 'sub.json')], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        _wait_for_line(sub, 'READY', timeout_s=120)
        pub = subprocess.run(
            ROLES + ['publisher', str(SAMPLE_DIR)] + [f'{r}:{c}' for r, c in phases],
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
            check=True,
        )
        time.sleep(drain_s)
    finally:
        sub.send_signal(signal.SIGINT)
        sub.wait(timeout=60)
        stop.set()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    published = [json.loads(line) for line in pub.stdout.splitlines() if line.startswith('{')]
    result = json.loads((tmp / 'sub.json').read_text())
    return {
        'published': published,
        'records': result['records'],
        'diagnostics': result['diagnostics'],
        'rss': rss,
    }


def _wait_for_line(proc: subprocess.Popen, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for line in proc.stdout:
        if line.strip() == text:
            return
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f'subscriber did not report {text} (is aios_node starting? run it alone)')


def _sample_rss(stop: threading.Event, out: list) -> None:
    """RSS of this process (which runs the node) every 0.5 s, (seconds, MiB)."""
    t0 = time.monotonic()
    while not stop.is_set():
        status = Path('/proc/self/status').read_text()
        kb = next(
            (int(line.split()[1]) for line in status.splitlines() if line.startswith('VmRSS')), 0
        )
        out.append((round(time.monotonic() - t0, 1), kb / 1024))
        time.sleep(0.5)


def analyse(dds: dict, forward_s: list[float]) -> dict:
    """Per-phase end-to-end latency, its split into model forward and the rest (transport,
    queueing, decoding, tracking/fusion, message building), drop rate and overhead ratio.

    The node runs frames one at a time and publishes each raw result right after its forward
    pass, so the k-th raw output (in receipt order) belongs to the k-th ``estimate`` call.
    """
    raw = [(s, r) for s, r, stream, _ in dds['records'] if stream == 0]
    per_frame = {s: ((r - s) / 1e6, f * 1e3) for (s, r), f in zip(raw, forward_s)}
    phases = {}
    for name, pub in zip(('rate', 'overload'), dds['published']):
        hits = np.array([per_frame[s] for s in pub['stamps_ns'] if s in per_frame]).reshape(-1, 2)
        e2e, fwd = hits[:, 0], hits[:, 1]
        phases[name] = {
            'input_hz': pub['rate_hz'],
            'inputs': len(pub['stamps_ns']),
            'outputs': int(len(hits)),
            'drop_rate': 1.0 - len(hits) / max(len(pub['stamps_ns']), 1),
            'e2e_ms': _stats(e2e),
            'forward_ms': _stats(fwd),
            'non_model_ms': _stats(e2e - fwd),
            'overhead_ratio': (float(np.median((e2e - fwd) / e2e)) if len(hits) else None),
        }
    diag = dds['diagnostics']
    node_ms = {
        k: float(diag[f'latency_{k}_ms']) for k in ('p50', 'p99') if f'latency_{k}_ms' in diag
    }
    rss = [m for _, m in dds['rss']]
    return {
        'phases': phases,
        'node_callback_to_publish_ms': node_ms,
        'node_diagnostics': diag,
        'rss_mb': {
            'max': max(rss, default=0.0),
            'last': rss[-1] if rss else 0.0,
            'series': dds['rss'][::4],
        },
    }


def _stats(values_ms: np.ndarray) -> dict:
    if not len(values_ms):
        return {'n': 0}
    return {
        'n': int(len(values_ms)),
        'p50': float(np.percentile(values_ms, 50)),
        'p99': float(np.percentile(values_ms, 99)),
        'mean': float(np.mean(values_ms)),
    }


def _fmt(stats: dict) -> str:
    return f'p50 {stats["p50"]:7.0f} p99 {stats["p99"]:7.0f} ms' if stats['n'] else 'n/a'


def print_table(report: dict) -> None:
    r = report['replay']
    print(
        f'replay mode: {r["replay_fps"]:.3f} frames/s over {r["replay_frames"]} frames '
        f'(per frame {_fmt(r["replay_process_ms"])}; forward {_fmt(r["forward_ms"])})'
    )
    for name, p in report['phases'].items():
        print(
            f'{name:<9} {p["input_hz"]:6.2f} Hz in, {p["outputs"]}/{p["inputs"]} out '
            f'(drop rate {p["drop_rate"]:.2f}): e2e {_fmt(p["e2e_ms"])} | forward '
            f'{_fmt(p["forward_ms"])} | rest {_fmt(p["non_model_ms"])} | overhead ratio '
            + ('n/a' if p['overhead_ratio'] is None else f'{p["overhead_ratio"]:.3f}')
        )
    n = report['node_callback_to_publish_ms']
    if n:
        print(
            f'node callback -> publish (diagnostics window): p50 {n["p50"]:.0f} ms, '
            f'p99 {n["p99"]:.0f} ms'
        )
    print(f'RSS of the node process: max {report["rss_mb"]["max"]:.0f} MiB')


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog='bench_e2e', description=__doc__.split('\n\n')[0])
    p.add_argument('--json', type=Path, required=True)
    p.add_argument(
        '--short-side',
        type=int,
        default=None,
        help='network input short side, px (default: model.short_side of the config)',
    )
    p.add_argument('--frames', type=int, default=5, help='frames of the "rate" phase')
    p.add_argument('--rate', default='auto', help="input rate (Hz) of the 'rate' phase")
    p.add_argument('--overload-rate', type=float, default=30.0)
    p.add_argument('--overload-s', type=float, default=10.0)
    p.add_argument('--replay-frames', type=int, default=5)
    a = p.parse_args(argv)
    ensure_sample(SAMPLE_DIR)
    import torch

    from aios_ros.app.runtime import load_estimator, make_runtime
    from aios_ros.app.settings import load_settings

    settings = load_settings(
        None, {} if a.short_side is None else {'model.short_side': a.short_side}
    )
    timed = TimedEstimator(load_estimator(settings.model))
    runtime = make_runtime(settings, timed)
    with tempfile.TemporaryDirectory() as tmp:
        replay = measure_replay(runtime, a.replay_frames, Path(tmp))
        replay['forward_ms'] = _stats(np.array(timed.forward_s) * 1e3)
        fwd_p50_s = replay['forward_ms']['p50'] / 1e3
        rate = 0.5 / fwd_p50_s if a.rate == 'auto' else float(a.rate)
        phases = [(rate, a.frames), (a.overload_rate, int(a.overload_rate * a.overload_s))]
        timed.forward_s.clear()
        dds = run_dds(timed, phases, Path(tmp), drain_s=3 * fwd_p50_s + 5.0)
    report = {
        'short_side': settings.model.short_side,
        'torch_threads': torch.get_num_threads(),
        'replay': replay,
        **analyse(dds, timed.forward_s),
    }
    print_table(report)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
