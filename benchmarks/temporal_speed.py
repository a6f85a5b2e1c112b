"""Benchmark of the temporal stage (tracker + ring buffers + fusion + output filters) on CPU.

    python -m aios_ros.tools.bench_temporal [--people 10] [--frames 300]
                                            [--mode params|tokens] [--rounds 5]

Feeds synthetic AiOS-like detections of ``--people`` people (all in view) through
``Pipeline.process_bodies`` and prints the median and p90 milliseconds per frame. The parts
(without output filters, without filters and fusion) are timed in interleaved rounds with the
full stage, so a load change on a shared machine affects all of them alike; each number is the
round with the lowest median (the least disturbed one, as ``timeit`` takes the best). Body-model
forward kinematics (joints/vertices after fusion) is excluded from the headline number by a
kinematics stand-in that returns zeros; it is timed separately with the real SMPL-X layer.
Target: <= 2 ms per frame for 10 people (median). Not a test: numbers depend on the machine.
``tokens`` uses the stand-in token heads of ``eval_temporal`` (cost only).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time

import numpy as np
import torch

from aios_ros.body.body_model import SmplxBodyModel
from aios_ros.core.config import build
from aios_ros.core.types import Camera, IntrinsicsSource
from aios_ros.synthetic.detections import make_detections
from aios_ros.synthetic.estimator import SyntheticEstimator
from aios_ros.synthetic.scenes import HEIGHT, WIDTH, K, make_scene
from aios_ros.synthetic.smplx_model import write_synthetic_smplx
from aios_ros.synthetic.token_heads import LinearTokenCodec
from aios_ros.temporal.config import TemporalConfig
from aios_ros.temporal.pipeline import Pipeline


class ZeroKinematics:
    """BodyModel stand-in with no cost: joints at the origin (isolates the temporal stage)."""

    def __init__(self, num_joints: int):
        self.faces = np.zeros((0, 3), np.int64)
        self.joint_names = [f'joint_{i}' for i in range(num_joints)]

    def joints_and_vertices(self, pose, betas, expression, transl, with_vertices):
        return np.zeros((len(pose), len(self.joint_names), 3), np.float32), None


def _frames(body_model, people: int, num_frames: int, codec):
    scene = make_scene(seed=123, num_people=people, duration_s=num_frames / 30.0, max_gap_s=0.2)
    for i, person in enumerate(scene.people):  # everyone in view, side by side, not overlapping
        person.visible[:] = True
        person.transl[:, 2] = 8.0 + 0.5 * (i % 2)
        person.transl[:, 0] = (i - (people - 1) / 2) * 9.0 / people + 0.1 * np.sin(scene.stamps + i)
    return scene, make_detections(scene, body_model, seed=123, codec=codec)


def time_pipeline(estimator, config: TemporalConfig, scene, frames, warmup: int = 30) -> np.ndarray:
    """CPU milliseconds per frame of ``process_bodies`` (after ``warmup`` frames).

    Process CPU time rather than wall time, so other processes on a shared machine inflate the
    numbers less (single-threaded numpy/torch, so CPU time ~ wall time on an idle machine).
    """
    camera = Camera(K, WIDTH, HEIGHT, IntrinsicsSource.PARAMETER)
    pipe = Pipeline(estimator, config)
    times = []
    for i, (f, stamp) in enumerate(zip(frames, scene.stamps)):
        start = time.process_time()
        pipe.process_bodies(f.bodies, camera, float(stamp), i)
        times.append(1000.0 * (time.process_time() - start))
    return np.array(times[warmup:])


def numpy_call_us(calls: int = 20000) -> float:
    """CPU microseconds of one tiny numpy call: the per-call overhead this stage is made of.

    Printed with the results so numbers from a busy machine can be compared with others.
    """
    a = np.zeros((10, 10))
    start = time.process_time()
    for _ in range(calls):
        a = a + 1.0
    return 1e6 * (time.process_time() - start) / calls


def time_variants(
    estimator, variants: dict[str, TemporalConfig], scene, frames, rounds: int
) -> dict[str, np.ndarray]:
    """Per-frame milliseconds of each configuration: its best of ``rounds`` interleaved rounds
    (the round with the lowest median)."""
    times: dict[str, list[np.ndarray]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, cfg in variants.items():
            times[name].append(time_pipeline(estimator, cfg, scene, frames))
    return {name: min(t, key=np.median) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--people', type=int, default=10)
    parser.add_argument('--frames', type=int, default=300)
    parser.add_argument('--mode', choices=('params', 'tokens'), default='params')
    parser.add_argument('--rounds', type=int, default=5, help='interleaved timing rounds')
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    folder = tempfile.mkdtemp(prefix='aios_bench_smplx_')
    write_synthetic_smplx(folder, seed=0)
    smplx_model = SmplxBodyModel.from_smplx_folder(folder)
    codec = LinearTokenCodec(0) if args.mode != 'params' else None
    scene, frames = _frames(smplx_model, args.people, args.frames, codec)
    config = build(TemporalConfig, {'fusion': {'mode': args.mode}})
    no_filters = dataclasses.replace(
        config, filters=dataclasses.replace(config.filters, enabled=False)
    )
    no_fusion = dataclasses.replace(
        no_filters, fusion=dataclasses.replace(config.fusion, mode='off')
    )
    zero = ZeroKinematics(len(smplx_model.joint_names))
    ms = time_variants(
        SyntheticEstimator(zero, codec),
        {'full': config, 'no_filters': no_filters, 'no_fusion': no_fusion},
        scene,
        frames,
        args.rounds,
    )
    full = time_pipeline(SyntheticEstimator(smplx_model, codec), config, scene, frames[:90])
    med = {name: float(np.median(t)) for name, t in ms.items()}
    n = np.mean([len(f.bodies) for f in frames])
    print(
        f'people per frame (mean, incl. false positives): {n:.1f}; fusion mode: {args.mode}; '
        f'lag {config.fusion.lag_frames}; torch threads 1; '
        f'one tiny numpy call: {numpy_call_us():.2f} us CPU'
    )
    print(
        f'temporal stage (tracker+buffer+fusion+filters): median {med["full"]:.2f} ms/frame, '
        f'p90 {np.percentile(ms["full"], 90):.2f} ms  (target <= 2 ms)'
    )
    print(
        f'with SMPL-X forward kinematics for both streams ({smplx_model.num_vertices}-vertex '
        f'synthetic model, joints only): median {np.median(full):.2f} ms/frame'
    )
    print(
        f'  without output filters: median {med["no_filters"]:.2f} ms/frame '
        f'(filters ~{med["full"] - med["no_filters"]:.2f} ms)'
    )
    print(
        f'  without filters and fusion: median {med["no_fusion"]:.2f} ms/frame '
        f'(fusion ~{med["no_filters"] - med["no_fusion"]:.2f} ms)'
    )
    return 0


if __name__ == '__main__':
    sys.exit(main())
