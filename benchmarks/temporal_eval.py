"""Evaluate tracking, fusion and output filters on multi-person SMPL-X sequences with known truth.

    python -m aios_ros.tools.eval_temporal --seeds 0,1,2,3,4 --json temporal_eval.json
    python -m aios_ros.tools.eval_temporal --seeds 0,1,2,3,4 --json both.json --scenes both

Per seed: a scene (``--scenes synthetic``, the default: scripted crossing walks,
``aios_ros.synthetic.scenes``; ``real``: people moving as real motion capture,
``aios_ros.synthetic.mocap_scenes`` with the clips of ``--motion``; ``both``: one table each),
AiOS-like noisy detections (``aios_ros.synthetic.detections``), then the SAME
``Pipeline.process_bodies`` the ROS node runs. Joints come from the real SMPL-X layer on a
synthetic SMPL-X-format body file. Streams: ``input`` (every candidate the estimator returned,
any score, no identities), ``raw`` (lag 0) and ``fused`` (lag fusion.lag_frames).

Like for like: every pose metric of ``raw`` and ``fused`` (MPJPE, PA-MPJPE, accel, pelvis error
and pelvis accel) is measured on the (GT person, frame) pairs matched in both that stream and the
input, accel over triples of consecutive frames matched in both; the ``*_x`` columns are the
stream's value divided by the input's on exactly those pairs, and the ``input|raw``,
``input|fused`` rows are the input on them. ``coverage`` (share of the visible GT person-frames a
stream covers) is reported apart, so holding on to hidden people is not a pose-error change. The
``input`` row is the input over all its own matched pairs. ``fastest_mpjpe_x``: the same MPJPE
ratio for the GT person whose joints move fastest (lag shows there first). The JSON holds the
medians over seeds (ratios: median of the per-seed ratios) and every seed's numbers.

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
from aios_ros.evaluation.tracking import (
    FrameData,
    clear_matches,
    common_pose_metrics,
    coverage,
    fastest_person,
    mot_metrics,
    pose_metrics,
)
from aios_ros.synthetic.detections import DetectionFrame, make_detections
from aios_ros.synthetic.estimator import SyntheticEstimator
from aios_ros.synthetic.mocap_scenes import Clip, load_clips, make_mocap_scene
from aios_ros.synthetic.scenes import HEIGHT, WIDTH, K, Scene, make_scene
from aios_ros.synthetic.smplx_model import write_synthetic_smplx
from aios_ros.synthetic.token_heads import LinearTokenCodec
from aios_ros.temporal.config import TemporalConfig
from aios_ros.temporal.pipeline import Pipeline

#: pose metrics measured like for like; each has a ratio column (stream / input), see _ratio_key
POSE = (
    'mpjpe_mm',
    'pa_mpjpe_mm',
    'accel_mm_per_frame2',
    'pelvis_mm',
    'pelvis_accel_mm_per_frame2',
)
METRICS = (
    'mpjpe_mm',
    'pa_mpjpe_mm',
    'accel_mm_per_frame2',
    'id_switches',
    'idf1',
    'mota',
    'ms_per_frame',
    'pelvis_mm',
    'pelvis_accel_mm_per_frame2',
    'coverage',
    'mpjpe_x',
    'pa_mpjpe_x',
    'accel_x',
    'pelvis_x',
    'pelvis_accel_x',
    'fastest_mpjpe_x',
)
SCENES = ('synthetic', 'real')
DEFAULT_MOTION = Path(__file__).resolve().parents[1].parent / 'shared' / 'reference' / 'motion'
TOKEN_NOTE = (
    'token fusion ran with a linear stand-in token model (plumbing check only); '
    'it says nothing about AiOS trained heads on averaged tokens'
)


def run_sequence(
    frames: list[DetectionFrame], estimator, config: TemporalConfig, stamps: np.ndarray
) -> tuple[dict[str, dict], dict[str, dict], int]:
    """Metrics of the input, raw and fused streams of one sequence, the input's metrics on the
    common pairs of each tracked stream, and the number of suspected identity switches the
    pipeline cut its fusion windows at."""
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
    # the per-frame input is everything the estimator returned: low-score candidates included
    inputs = [FrameData(None, f.bodies.boxes[:, 0], f.bodies.joints_3d) for f in frames]
    in_matches = clear_matches(gt, inputs)
    result = {
        'input': pose_metrics(gt, inputs, in_matches)
        | {'id_switches': None, 'idf1': None, 'mota': None, 'ms_per_frame': None}
        | {'coverage': coverage(gt, in_matches)}
        | dict.fromkeys(k for k in METRICS if k.endswith('_x'))
    }
    on_common = {}
    fastest = fastest_person(gt)
    for name, stream in (('raw', raw), ('fused', fused)):
        hyp = [
            FrameData(s.bodies.track_ids, s.bodies.boxes[:, 0], s.bodies.joints_3d) for s in stream
        ]
        matches = clear_matches(gt, hyp)
        mine, theirs = common_pose_metrics(gt, hyp, matches, inputs, in_matches)
        fast = common_pose_metrics(gt, hyp, matches, inputs, in_matches, person=fastest)
        result[name] = (
            mine
            | mot_metrics(gt, hyp, matches)
            | {'ms_per_frame': ms, 'coverage': coverage(gt, matches)}
            | {_ratio_key(k): _ratio(mine[k], theirs[k]) for k in POSE}
            | {'fastest_mpjpe_x': _ratio(fast[0]['mpjpe_mm'], fast[1]['mpjpe_mm'])}
        )
        on_common[name] = theirs
    return result, on_common, pipe.switch_cuts


def _ratio_key(metric: str) -> str:
    """'pelvis_accel_mm_per_frame2' -> 'pelvis_accel_x'."""
    return metric.replace('_mm_per_frame2', '').replace('_mm', '') + '_x'


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


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
    clips: list[Clip] | None = None,
) -> dict:
    """Run every seed; return the JSON document (medians per stream and per-seed numbers).

    ``clips``: build the scenes from these motion-capture clips instead of scripted walks.
    """
    codec = LinearTokenCodec(0) if tokens else None
    estimator = SyntheticEstimator(body_model, codec)
    per_seed = []
    for seed in seeds:
        scene: Scene = (
            make_scene(seed, num_people=people, duration_s=duration_s)
            if clips is None
            else make_mocap_scene(seed, clips, num_people=people, duration_s=duration_s)
        )
        frames = make_detections(scene, body_model, seed, codec=codec)
        # The headline streams never see the stand-in tokens (they would act as an appearance cue).
        plain = [
            dataclasses.replace(f, bodies=dataclasses.replace(f.bodies, tokens=None))
            for f in frames
        ]
        streams, on_common, cuts = run_sequence(plain, estimator, config, scene.stamps)
        row = {'seed': seed, 'streams': streams, 'input_on_common': on_common, 'switch_cuts': cuts}
        if tokens:
            cfg = dataclasses.replace(
                config, fusion=dataclasses.replace(config.fusion, mode='tokens')
            )
            row['token_fusion_plumbing'] = run_sequence(frames, estimator, cfg, scene.stamps)[0][
                'fused'
            ]
        per_seed.append(row)
    doc = {
        'scenes': 'synthetic' if clips is None else 'real',
        'streams': {
            s: {k: _median([r['streams'][s] for r in per_seed], k) for k in METRICS}
            for s in ('input', 'raw', 'fused')
        },
        'input_on_common': {
            s: {k: _median([r['input_on_common'][s] for r in per_seed], k) for k in POSE}
            for s in ('raw', 'fused')
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
    rows |= {f'input|{s}': m for s, m in doc['input_on_common'].items()}
    if 'token_fusion_plumbing' in doc:
        rows['tokens*'] = doc['token_fusion_plumbing']

    def fmt(v):
        return '-' if v is None else f'{v:.3f}' if isinstance(v, float) else str(v)

    width = {k: max(len(k), 7) for k in METRICS}
    lines = ['stream      ' + ' '.join(f'{k:>{width[k]}}' for k in METRICS)]
    lines += [
        f'{name:<11} ' + ' '.join(f'{fmt(row.get(k)):>{width[k]}}' for k in METRICS)
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
    parser.add_argument(
        '--scenes',
        choices=('synthetic', 'real', 'both'),
        default='synthetic',
        help='scripted walks (default), real motion capture, or both (one table each; the JSON '
        'then holds one document per kind under "synthetic" and "real")',
    )
    parser.add_argument(
        '--motion',
        type=Path,
        default=DEFAULT_MOTION,
        help=f'folder of AMASS-layout *.npz clips for real scenes (default: {DEFAULT_MOTION})',
    )
    args = parser.parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(',') if s.strip()]
        overrides = {} if args.lag is None else {'fusion.lag_frames': args.lag}
        config = load_settings(args.config, overrides).temporal
        kinds = SCENES if args.scenes == 'both' else (args.scenes,)
        clips = load_clips(args.motion) if 'real' in kinds else None
    except (ValueError, ConfigError, OSError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    body_model = _body_model(args.smplx)
    docs = {}
    for kind in kinds:
        docs[kind] = evaluate(
            seeds,
            config,
            body_model,
            args.people,
            args.duration,
            args.tokens,
            clips if kind == 'real' else None,
        )
        if len(kinds) > 1:
            print(f'{kind} scenes')
        print(format_table(docs[kind]))
    args.json.write_text(json.dumps(docs if len(kinds) > 1 else docs[kinds[0]], indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
