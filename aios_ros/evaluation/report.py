"""Sequence-level evaluation: match every frame, then aggregate the metrics of metrics.py."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from aios_ros.evaluation import metrics as m
from aios_ros.evaluation.layout import PersonTable, load_table


def match_sequence(
    gt: PersonTable, pred: PersonTable, min_iou: float = 0.1
) -> tuple[np.ndarray, dict[str, int]]:
    """Match frames by stamp, then people per frame.

    Only frames present in both tables are evaluated (a prediction table lists every processed
    frame, also empty ones, so a missing stamp means "not processed", e.g. a partial replay).
    Returns (K, 3) int64 rows ``(gt_row, pred_row, gt_frame)`` and the counts
    frames/tp/fp/fn plus ``gt_frames_skipped``.
    """
    pred_frame_of = {int(s): i for i, s in enumerate(pred.stamps_ns)}
    pairs, fp, fn, frames = [], 0, 0, 0
    for f, stamp in enumerate(gt.stamps_ns):
        pf = pred_frame_of.get(int(stamp))
        if pf is None:
            continue
        frames += 1
        g, p = gt.rows_of(f), pred.rows_of(pf)
        gi, pi = m.match_people(
            gt.keypoints_2d[g], gt.boxes[g], pred.keypoints_2d[p], pred.boxes[p], min_iou
        )
        pairs += [(g[a], p[b], f) for a, b in zip(gi, pi)]
        fp += len(p) - len(pi)
        fn += len(g) - len(gi)
    counts = {
        'frames': frames,
        'gt_frames_skipped': len(gt.stamps_ns) - frames,
        'tp': len(pairs),
        'fp': fp,
        'fn': fn,
    }
    return np.array(pairs, np.int64).reshape(-1, 3), counts


def evaluate(
    gt: PersonTable,
    pred: PersonTable,
    min_iou: float = 0.1,
    vertex_segments: Optional[dict[str, np.ndarray]] = None,
) -> dict:
    """All metrics of one prediction stream against ground truth (errors in mm, None if n/a)."""
    if len(gt.frame) and len(pred.frame) and gt.joints_3d.shape[1] != pred.joints_3d.shape[1]:
        raise ValueError(
            f'ground truth has {gt.joints_3d.shape[1]} joints per person, '
            f'predictions {pred.joints_3d.shape[1]}: use the same body model'
        )
    pairs, counts = match_sequence(gt, pred, min_iou)
    precision, recall, f1 = m.prf1(counts['tp'], counts['fp'], counts['fn'])
    out = {
        **counts,
        'gt_people': counts['tp'] + counts['fn'],
        'pred_people': counts['tp'] + counts['fp'],
        'precision': precision,
        'recall': recall,
        'f1': f1,
    }
    gr, pr = pairs[:, 0], pairs[:, 1]
    gj = gt.joints_3d[gr]
    pj = pred.joints_3d[pr] if len(pairs) else gj
    joint_parts = m.joint_parts(gj.shape[1])
    out['mpjpe'] = _part_errors(pj, gj, pj, gj, joint_parts)
    body = joint_parts.get('body', joint_parts['all']).indices
    out['pa_mpjpe'] = _mean(m.pa_error(pj[:, body], gj[:, body])) if len(pairs) else None
    has_verts = gt.vertices is not None and pred.vertices is not None and len(pairs)
    if has_verts:
        gv, pv = gt.vertices[gr], pred.vertices[pr]
        parts = m.vertex_parts(gv.shape[1], vertex_segments)
        out['mve'] = _part_errors(pv, gv, pj, gj, parts)
        out['pa_mpvpe'] = _mean(m.pa_error(pv, gv))
        out['pve_camera'] = _mean(1000.0 * np.linalg.norm(pv - gv, axis=2).mean(axis=1))
    else:
        out.update(mve={}, pa_mpvpe=None, pve_camera=None)
    out['nmje'] = {k: _normalise(v, f1) for k, v in out['mpjpe'].items()}
    out['nmve'] = {k: _normalise(v, f1) for k, v in out['mve'].items()}
    out['accel'] = _mean(_accel_errors(gt, pred, pairs, body))
    return out


def _part_errors(pred_pts, gt_pts, pred_joints, gt_joints, parts) -> dict[str, Optional[float]]:
    """Root-aligned mean error per part (points are joints or vertices; roots are joints)."""
    if not len(pred_pts):
        return {name: None for name in parts}
    return {
        name: _mean(
            m.root_aligned_error(
                pred_pts[:, p.indices],
                gt_pts[:, p.indices],
                pred_joints[:, p.root],
                gt_joints[:, p.root],
            )
        )
        for name, p in parts.items()
    }


def _accel_errors(
    gt: PersonTable, pred: PersonTable, pairs: np.ndarray, joints: np.ndarray
) -> np.ndarray:
    """Accel errors over runs of consecutive frames in which one ground-truth person stays matched
    to one predicted track (never across a gap or an identity switch)."""
    errors = []
    for tid in np.unique(gt.track_id[pairs[:, 0]]) if len(pairs) else []:
        run = pairs[gt.track_id[pairs[:, 0]] == tid]
        run = run[np.argsort(run[:, 2], kind='stable')]
        pred_ids = pred.track_id[run[:, 1]]
        breaks = np.nonzero((np.diff(run[:, 2]) != 1) | (np.diff(pred_ids) != 0))[0] + 1
        for seg in np.split(run, breaks):
            if len(seg) < 3:
                continue

            def centred(x):
                return x[:, joints] - x[:, m.PELVIS : m.PELVIS + 1]

            errors.append(
                m.accel_error(centred(pred.joints_3d[seg[:, 1]]), centred(gt.joints_3d[seg[:, 0]]))
            )
    return np.concatenate(errors) if errors else np.zeros(0)


def _mean(values: np.ndarray) -> Optional[float]:
    return float(np.mean(values)) if len(values) else None


def _normalise(value: Optional[float], f1: float) -> Optional[float]:
    return None if value is None or f1 == 0 else value / f1


ROWS = (
    'f1',
    'precision',
    'recall',
    'mpjpe',
    'nmje',
    'mve',
    'nmve',
    'pa_mpjpe',
    'pa_mpvpe',
    'pve_camera',
    'accel',
)


def load_predictions(path: Path, streams: Sequence[str], topic: Optional[str]) -> dict:
    """{stream: PersonTable} from a replay bag folder (read once for all ``streams``), or
    {'predictions': PersonTable} from a layout .npz."""
    if path.is_dir():
        from aios_ros.evaluation.bag_table import tables_from_bag  # rosbags only when needed

        tables = tables_from_bag(path, topic)
        return {s: tables[s] for s in streams}
    return {'predictions': load_table(path)}


def format_report(name: str, r: dict) -> str:
    """Small text table of one evaluated stream."""
    lines = [
        f'== {name}: {r["frames"]} frames, {r["gt_people"]} GT people, '
        f'{r["pred_people"]} predictions (TP {r["tp"]}, FP {r["fp"]}, FN {r["fn"]})'
        + (
            f'; {r["gt_frames_skipped"]} GT frames without predictions skipped'
            if r['gt_frames_skipped']
            else ''
        )
    ]
    for key in ROWS:
        value = r[key]
        if isinstance(value, dict):
            text = ', '.join(f'{k} {_fmt(v)}' for k, v in value.items()) or 'n/a'
        else:
            text = _fmt(value)
        lines.append(f'  {key:<10} {text}')
    return '\n'.join(lines)


def _fmt(v) -> str:
    return 'n/a' if v is None else f'{v:.3f}' if abs(v) < 10 else f'{v:.1f}'
