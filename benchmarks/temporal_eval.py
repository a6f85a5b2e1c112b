"""Evaluate tracking, fusion and output filters on synthetic multi-person SMPL-X sequences.

    python -m aios_ros.tools.eval_temporal --seeds 0,1,2,3,4 --json temporal_eval.json

Per seed: a scene with crossing walks, occlusion gaps up to 2 s, entries and exits
(``aios_ros.synthetic.scenes``), AiOS-like noisy detections (``aios_ros.synthetic.detections``),
then the SAME ``Pipeline.process_bodies`` the ROS node runs. Joints come from the real SMPL-X
layer on a synthetic SMPL-X-format body file. Streams: ``input`` (per-frame detections with
score >= tracker.high_score, no identities), ``raw`` (lag 0) and ``fused`` (lag
fusion.lag_frames). The JSON holds medians over seeds per stream plus every seed's numbers.

``--tokens`` additionally runs ``fusion.mode: tokens`` with a linear stand-in token model
(``aios_ros.synthetic.token_heads``): this checks the token path's plumbing only; it cannot say
how AiOS's trained heads respond to averaged tokens.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from aios_ros.app.settings import load_settings
from aios_ros.body.body_model import SmplxBodyModel
from aios_ros.core.config import ConfigError
from aios_ros.core.types import Camera, IntrinsicsSource
from aios_ros.evaluation.tracking import FrameData, clear_matches, mot_metrics, pose_metrics
from aios_ros.synthetic.detections import DetectionFrame, make_detections
from aios_ros.synthetic.estimator import SyntheticEstimator
from aios_ros.synthetic.scenes import HEIGHT, WIDTH, K, make_scene
from aios_ros.synthetic.smplx_model import write_synthetic_smplx
from aios_ros.synthetic.token_heads import LinearTokenCodec
from aios_ros.temporal.config import TemporalConfig
from aios_ros.temporal.pipeline import Pipeline

METRICS = (
    'mpjpe_mm',
    'pa_mpjpe_mm',
    'accel_mm_per_frame2',
    'id_switches',
    'idf1',
    'mota',
    'ms_per_frame',
)
TOKEN_NOTE = (
    'token fusion ran with a linear stand-in token model (plumbing check only); '
    'it says nothing about AiOS trained heads on averaged tokens'
)


def run_sequence(
    frames: list[DetectionFrame], estimator, config: TemporalConfig, stamps: np.ndarray
) -> tuple[dict[str, dict], int]:
    """Metrics of the input, raw and fused streams of one sequence, and the number of suspected
    identity switches the pipeline cut its fusion windows at."""
    camera = Camera(K, WIDTH, HEIGHT, IntrinsicsSource.PARAMETER)
    pipe = Pipeline(estimator, config)
    raw, fused = [], []
    start = time.perf_counter()
    for i, (f, stamp) in enumerate(zip(frames, stamps)):
        out = pipe.process_bodies(f.bodies, camera, float(stamp), key=i)
        raw.append(out.raw)
        fused += [out.fused] if out.fused is not None else []
    fused += pipe.flush()
    ms = 1000.0 * (time.perf_counter() - start) / len(frames)
    if [s.key for s in fused] != list(range(len(frames))):
        raise AssertionError('fused stream does not hold exactly one frame per input frame')
    gt = [FrameData(f.gt_ids, f.gt_boxes, f.gt_joints) for f in frames]
    high = config.tracker.high_score
    inputs = [
        FrameData(
            None,
            f.bodies.boxes[f.bodies.scores >= high, 0],
            f.bodies.joints_3d[f.bodies.scores >= high],
        )
        for f in frames
    ]
    result = {'input': _stream_metrics(gt, inputs, None)}
    for name, stream in (('raw', raw), ('fused', fused)):
        hyp = [
            FrameData(s.bodies.track_ids, s.bodies.boxes[:, 0], s.bodies.joints_3d) for s in stream
        ]
        result[name] = _stream_metrics(gt, hyp, ms)
    return result, pipe.switch_cuts


def _stream_metrics(gt: list[FrameData], hyp: list[FrameData], ms: float | None) -> dict:
    matches = clear_matches(gt, hyp)
    out = pose_metrics(gt, hyp, matches)
    if hyp[0].ids is None:
        out |= {'id_switches': None, 'idf1': None, 'mota': None}
    else:
        out |= mot_metrics(gt, hyp, matches)
    return out | {'ms_per_frame': ms}


def _median(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r[key] is not None]
    return float(np.median(vals)) if vals else None


def evaluate(
    seeds: list[int],
    config: TemporalConfig,
    body_model,
    people: int,
    duration_s: float,
    tokens: bool,
) -> dict:
    """Run every seed; return the JSON document (medians per stream and per-seed numbers)."""
    codec = LinearTokenCodec(0) if tokens else None
    estimator = SyntheticEstimator(body_model, codec)
    per_seed = []
    for seed in seeds:
        scene = make_scene(seed, num_people=people, duration_s=duration_s)
        frames = make_detections(scene, body_model, seed, codec=codec)
        # The headline streams never see the stand-in tokens (they would act as an appearance cue).
        plain = [
            dataclasses.replace(f, bodies=dataclasses.replace(f.bodies, tokens=None))
            for f in frames
        ]
        streams, cuts = run_sequence(plain, estimator, config, scene.stamps)
        row = {'seed': seed, 'streams': streams, 'switch_cuts': cuts}
        if tokens:
            cfg = dataclasses.replace(
                config, fusion=dataclasses.replace(config.fusion, mode='tokens')
            )
            row['token_fusion_plumbing'] = run_sequence(frames, estimator, cfg, scene.stamps)[0][
                'fused'
            ]
        per_seed.append(row)
    doc = {
        'streams': {
            s: {k: _median([r['streams'][s] for r in per_seed], k) for k in METRICS}
            for s in ('input', 'raw', 'fused')
        },
        'lag_frames': config.fusion.lag_frames,
        'switch_cuts': sum(r['switch_cuts'] for r in per_seed),
        'seeds': per_seed,
    }
    if tokens:
        doc['token_fusion_plumbing'] = {
            k: _median([r['token_fusion_plumbing'] for r in per_seed], k) for k in METRICS
        } | {'note': TOKEN_NOTE}
    return doc


def format_table(doc: dict) -> str:
    """Plain-text table of the median metrics per stream."""
    rows = dict(doc['streams'])
    if 'token_fusion_plumbing' in doc:
        rows['tokens*'] = doc['token_fusion_plumbing']

    def fmt(v):
        return '-' if v is None else f'{v:.3f}' if isinstance(v, float) else str(v)

    lines = ['stream   ' + ' '.join(f'{k:>20}' for k in METRICS)]
    lines += [
        f'{name:<8} ' + ' '.join(f'{fmt(row[k]):>20}' for k in METRICS)
        for name, row in rows.items()
    ]
    lines.append(
        f'suspected identity switches (fusion windows cut), all seeds: {doc["switch_cuts"]}'
    )
    if 'token_fusion_plumbing' in doc:
        lines.append('* ' + TOKEN_NOTE)
    return '\n'.join(lines)


def _body_model(folder: str | None):
    if folder is None:
        folder = tempfile.mkdtemp(prefix='aios_eval_smplx_')
        write_synthetic_smplx(folder, seed=0)
    return SmplxBodyModel.from_smplx_folder(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seeds', required=True, help='comma-separated integers, e.g. 0,1,2,3,4')
    parser.add_argument('--json', required=True, type=Path, help='output JSON path')
    parser.add_argument(
        '--config', type=Path, help='parameter file (default: config/camera.yaml of the package)'
    )
    parser.add_argument('--lag', type=int, help='override fusion.lag_frames (0..4)')
    parser.add_argument('--people', type=int, default=5)
    parser.add_argument('--duration', type=float, default=12.0, help='seconds per sequence')
    parser.add_argument('--smplx', help='folder with smplx/SMPLX_NEUTRAL.npz (default: synthetic)')
    parser.add_argument('--tokens', action='store_true', help='also run the token path (plumbing)')
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(',') if s.strip()]
        overrides = {} if args.lag is None else {'fusion.lag_frames': args.lag}
        config = load_settings(args.config, overrides).temporal
    except (ValueError, ConfigError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    doc = evaluate(seeds, config, _body_model(args.smplx), args.people, args.duration, args.tokens)
    print(format_table(doc))
    args.json.write_text(json.dumps(doc, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
