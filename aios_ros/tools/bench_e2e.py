"""End-to-end benchmark over real DDS (loopback): publisher process -> aios_node -> subscriber.

    python -m aios_ros.tools.bench_e2e --json OUT [--short-side 256] [--frames 5]
           [--rate auto|HZ] [--overload-rate 30] [--overload-s 10] [--replay-frames 5]

Measures, on the bundled sample (generated if missing):

* model forward (in-process ``estimator.estimate``) p50/p99 and replay-mode throughput (frames/s
  of aios_ros.tools.replay's loop, every frame, no DDS);
* phase "rate": frames published below the model's speed (default rate = 1 / (2 x forward p50));
  end-to-end latency = subscriber receipt - input header stamp (the publisher restamps with its
  clock; all processes share the host clock), p50/p99; node-internal latency (callback ->
  published, from the node's /diagnostics); transport = end-to-end - node-internal;
  overhead ratio = (end-to-end - forward) / end-to-end (medians);
* phase "overload": 30 Hz input while the model is slower; drop rate = 1 - outputs / inputs;
* RSS of the node process over time (from /proc, every 0.5 s).

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

from aios_ros.tools.make_sample import DEFAULT_OUT as SAMPLE_DIR, ensure_sample

ROLES = [sys.executable, '-m', 'aios_ros.tools.bench_e2e_roles']


def measure_in_process(short_side: int, frames: int, out_dir: Path) -> dict:
    """Model forward times on sample frames and replay-mode throughput (same runtime)."""
    import cv2
    from aios_ros.pipeline.types import Camera, IntrinsicsSource
    from aios_ros.tools.bench_e2e_roles import load_frames
    from aios_ros.tools.replay_run import ReplayOptions, run_replay
    from aios_ros.tools.runtime import RuntimeOverrides, load_runtime
    runtime = load_runtime(None, RuntimeOverrides(short_side=short_side))
    jpegs, info = load_frames(SAMPLE_DIR)
    camera = Camera(np.asarray(info.k).reshape(3, 3), info.width, info.height,
                    IntrinsicsSource.CAMERA_INFO)
    forward = []
    for jpg in jpegs[:frames]:
        image = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)
        t0 = time.perf_counter()
        runtime.estimator.estimate(image, camera)
        forward.append(time.perf_counter() - t0)
    summary = run_replay(ReplayOptions(bag=SAMPLE_DIR, out=out_dir / 'replay', progress=False,
                                       max_frames=frames), runtime=runtime)
    return {'forward_ms': _stats(np.array(forward) * 1e3), 'replay_fps': summary.fps,
            'replay_frames': summary.frames}


def run_dds(short_side: int, phases: list[tuple[float, int]], tmp: Path, drain_s: float) -> dict:
    """Node + subscriber + publisher processes; returns published stamps, records, RSS.
    ``drain_s``: wait after the last input so the node can finish its last frame."""
    env = dict(os.environ, ROS_DOMAIN_ID=str(random.randint(1, 100)))
    node = subprocess.Popen(
        ['aios_node', '--ros-args', '-p', 'node.image_transport:=compressed',
         '-p', 'node.drop_policy:=latest', '-p', f'model.short_side:={short_side}',
         '-r', 'image:=/camera/image_raw', '-r', 'camera_info:=/camera/camera_info'],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rss: list[tuple[float, float]] = []
    sampler = threading.Thread(target=_sample_rss, args=(node, rss), daemon=True)
    sampler.start()
    sub = subprocess.Popen(ROLES + ['subscriber', str(tmp / 'sub.json')], env=env,
                           stdout=subprocess.PIPE, text=True)
    try:
        _wait_for_line(sub, 'READY', timeout_s=600)
        pub = subprocess.run(ROLES + ['publisher', str(SAMPLE_DIR)]
                             + [f'{r}:{c}' for r, c in phases],
                             env=env, capture_output=True, text=True, timeout=3600, check=True)
        time.sleep(drain_s)
    finally:
        for proc in (sub, node):
            proc.send_signal(signal.SIGINT)
        sub.wait(timeout=60)
        node.wait(timeout=60)
    published = [json.loads(line) for line in pub.stdout.splitlines() if line.startswith('{')]
    result = json.loads((tmp / 'sub.json').read_text())
    return {'published': published, 'records': result['records'],
            'diagnostics': result['diagnostics'], 'rss': rss}


def _wait_for_line(proc: subprocess.Popen, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    for line in proc.stdout:
        if line.strip() == text:
            return
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f'subscriber did not report {text} (is aios_node starting? run it alone)')


def _sample_rss(proc: subprocess.Popen, out: list) -> None:
    t0 = time.monotonic()
    while proc.poll() is None:
        try:
            status = Path(f'/proc/{proc.pid}/status').read_text()
        except OSError:
            break
        kb = next((int(l.split()[1]) for l in status.splitlines() if l.startswith('VmRSS')), 0)
        out.append((round(time.monotonic() - t0, 1), kb / 1024))
        time.sleep(0.5)


def analyse(dds: dict, forward_ms: dict) -> dict:
    """Latency, drop rate and overhead per phase from the raw records."""
    raw = {s: (r - s) / 1e6 for s, r, stream, _ in dds['records'] if stream == 0}
    phases = {}
    for name, pub in zip(('rate', 'overload'), dds['published']):
        lat = np.array([raw[s] for s in pub['stamps_ns'] if s in raw])
        phases[name] = {'input_hz': pub['rate_hz'], 'inputs': len(pub['stamps_ns']),
                        'outputs': int(len(lat)),
                        'drop_rate': 1.0 - len(lat) / max(len(pub['stamps_ns']), 1),
                        'e2e_ms': _stats(lat)}
    rate = phases.get('rate', {}).get('e2e_ms', {})
    if rate.get('p50'):
        phases['rate']['overhead_ratio'] = (rate['p50'] - forward_ms['p50']) / rate['p50']
    diag = dds['diagnostics']
    node_ms = {k: float(diag[f'latency_{k}_ms']) for k in ('p50', 'p99') if f'latency_{k}_ms' in diag}
    rss = [m for _, m in dds['rss']]
    return {'phases': phases, 'node_internal_ms': node_ms, 'node_diagnostics': diag,
            'rss_mb': {'max': max(rss, default=0.0), 'last': rss[-1] if rss else 0.0,
                       'series': dds['rss'][::4]}}


def _stats(values_ms: np.ndarray) -> dict:
    if not len(values_ms):
        return {'n': 0}
    return {'n': int(len(values_ms)), 'p50': float(np.percentile(values_ms, 50)),
            'p99': float(np.percentile(values_ms, 99)), 'mean': float(np.mean(values_ms))}


def print_table(report: dict) -> None:
    f = report['in_process']['forward_ms']
    print(f'model forward      p50 {f["p50"]:8.0f} ms   p99 {f["p99"]:8.0f} ms  (n={f["n"]})')
    print(f'replay throughput  {report["in_process"]["replay_fps"]:.3f} frames/s')
    for name, p in report['phases'].items():
        e = p['e2e_ms']
        lat = f'p50 {e["p50"]:8.0f} ms   p99 {e["p99"]:8.0f} ms' if e['n'] else 'no outputs'
        print(f'{name:<9} {p["input_hz"]:6.2f} Hz in: e2e {lat}; {p["outputs"]}/{p["inputs"]} '
              f'frames out, drop rate {p["drop_rate"]:.2f}'
              + (f', overhead ratio {p["overhead_ratio"]:.3f}' if 'overhead_ratio' in p else ''))
    n = report['node_internal_ms']
    if n:
        print(f'node internal (callback -> publish, last window) p50 {n["p50"]:.0f} ms, '
              f'p99 {n["p99"]:.0f} ms')
    print(f'node RSS max {report["rss_mb"]["max"]:.0f} MB')


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog='bench_e2e', description=__doc__.split('\n\n')[0])
    p.add_argument('--json', type=Path, required=True)
    p.add_argument('--short-side', type=int, default=256)
    p.add_argument('--frames', type=int, default=5, help='frames of the "rate" phase')
    p.add_argument('--rate', default='auto', help="input rate (Hz) of the 'rate' phase")
    p.add_argument('--overload-rate', type=float, default=30.0)
    p.add_argument('--overload-s', type=float, default=10.0)
    p.add_argument('--replay-frames', type=int, default=5)
    a = p.parse_args(argv)
    ensure_sample(SAMPLE_DIR)
    with tempfile.TemporaryDirectory() as tmp:
        in_process = measure_in_process(a.short_side, a.replay_frames, Path(tmp))
        rate = (0.5e3 / in_process['forward_ms']['p50']) if a.rate == 'auto' else float(a.rate)
        phases = [(rate, a.frames),
                  (a.overload_rate, int(a.overload_rate * a.overload_s))]
        dds = run_dds(a.short_side, phases, Path(tmp),
                      drain_s=3e-3 * in_process['forward_ms']['p99'] + 5.0)
    report = {'short_side': a.short_side, 'in_process': in_process,
              **analyse(dds, in_process['forward_ms'])}
    print_table(report)
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
