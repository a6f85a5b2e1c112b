"""Tracking and mesh metrics of one output stream against ground truth, frame by frame.

* CLEAR-MOT matching per frame on body-box IoU >= ``min_iou`` (previous correspondences are kept
  while still valid, the rest by Hungarian matching): MOTA = 1 - (FN + FP + IDSW) / GT, IDSW =
  a GT person matched to a different identity than at its previous match.
* IDF1 = 2 IDTP / (GT + predictions), IDTP from the best global one-to-one assignment of GT
  identities to predicted identities (a pair scores in the frames where its boxes overlap with
  IoU >= ``min_iou``).
* MPJPE / PA-MPJPE (mm) on pelvis-centred body joints of CLEAR-matched pairs; acceleration error
  (HMMR/VIBE definition, mm/frame^2) over triples of consecutive frames in which a GT person is
  matched to the same identity (to any prediction when the stream has no identities).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from aios_ros.evaluation.metrics import NUM_BODY_JOINTS, accel_error, pa_error
from aios_ros.geometry.boxes import iou_matrix


@dataclass
class FrameData:
    """People of one frame: ids (N,) (or None: no identities), boxes (N, 4) xyxy,
    joints (N, J, 3)."""

    ids: np.ndarray | None
    boxes: np.ndarray
    joints: np.ndarray


def clear_matches(
    gt: list[FrameData], hyp: list[FrameData], min_iou: float = 0.5
) -> list[list[tuple[int, int]]]:
    """Per frame, (gt index, hyp index) pairs of the CLEAR-MOT matching."""
    last: dict[int, int] = {}
    out = []
    for g, h in zip(gt, hyp):
        iou = (
            iou_matrix(g.boxes, h.boxes)
            if len(g.boxes) and len(h.boxes)
            else np.zeros((len(g.boxes), len(h.boxes)))
        )
        pairs = []
        if h.ids is not None:  # keep last frame's correspondences while they still hold
            where = {int(i): k for k, i in enumerate(h.ids)}
            for gi, gid in enumerate(g.ids):
                hi = where.get(last.get(int(gid), -(10**9)))
                if hi is not None and iou[gi, hi] >= min_iou:
                    pairs.append((gi, hi))
        used_g, used_h = {p[0] for p in pairs}, {p[1] for p in pairs}
        rows = [i for i in range(len(g.boxes)) if i not in used_g]
        cols = [j for j in range(len(h.boxes)) if j not in used_h]
        if rows and cols:
            sub = 1.0 - iou[np.ix_(rows, cols)]
            for r, c in zip(*linear_sum_assignment(sub)):
                if sub[r, c] <= 1.0 - min_iou:
                    pairs.append((rows[r], cols[c]))
        if h.ids is not None:
            for gi, hi in pairs:
                last[int(g.ids[gi])] = int(h.ids[hi])
        out.append(pairs)
    return out


def mot_metrics(
    gt: list[FrameData],
    hyp: list[FrameData],
    matches: list[list[tuple[int, int]]],
    min_iou: float = 0.5,
) -> dict[str, float]:
    """MOTA, ID switches and IDF1 (identities required in ``hyp``)."""
    num_gt = sum(len(g.boxes) for g in gt)
    num_hyp = sum(len(h.boxes) for h in hyp)
    tp = sum(len(m) for m in matches)
    switches, last = 0, {}
    for g, h, pairs in zip(gt, hyp, matches):
        for gi, hi in pairs:
            gid, hid = int(g.ids[gi]), int(h.ids[hi])
            switches += int(gid in last and last[gid] != hid)
            last[gid] = hid
    mota = 1.0 - ((num_gt - tp) + (num_hyp - tp) + switches) / max(num_gt, 1)
    return {'mota': mota, 'id_switches': switches, 'idf1': idf1(gt, hyp, min_iou)}


def idf1(gt: list[FrameData], hyp: list[FrameData], min_iou: float = 0.5) -> float:
    """IDF1 over the whole sequence (see module docstring)."""
    gids = sorted({int(i) for g in gt for i in g.ids})
    hids = sorted({int(i) for h in hyp for i in h.ids})
    total = sum(len(g.boxes) for g in gt) + sum(len(h.boxes) for h in hyp)
    if not gids or not hids:
        return 0.0 if total else 1.0
    gi_of, hi_of = {v: k for k, v in enumerate(gids)}, {v: k for k, v in enumerate(hids)}
    overlap = np.zeros((len(gids), len(hids)))
    for g, h in zip(gt, hyp):
        if len(g.boxes) and len(h.boxes):
            ok = iou_matrix(g.boxes, h.boxes) >= min_iou
            for a, b in zip(*np.nonzero(ok)):
                overlap[gi_of[int(g.ids[a])], hi_of[int(h.ids[b])]] += 1
    rows, cols = linear_sum_assignment(-overlap)
    return 2.0 * overlap[rows, cols].sum() / max(total, 1)


def pose_metrics(
    gt: list[FrameData], hyp: list[FrameData], matches: list[list[tuple[int, int]]]
) -> dict[str, float | None]:
    """MPJPE, PA-MPJPE (mm) and acceleration error (mm/frame^2) over matched pairs."""
    pred, true = [], []
    tracks: dict[int, dict[int, tuple[np.ndarray, np.ndarray, int]]] = {}
    for t, (g, h, pairs) in enumerate(zip(gt, hyp, matches)):
        for gi, hi in pairs:
            p = _centred(h.joints[hi])
            q = _centred(g.joints[gi])
            pred.append(p)
            true.append(q)
            hid = -1 if h.ids is None else int(h.ids[hi])
            tracks.setdefault(int(g.ids[gi]), {})[t] = (p, q, hid)
    if not pred:
        return {'mpjpe_mm': None, 'pa_mpjpe_mm': None, 'accel_mm_per_frame2': None}
    pred_a, true_a = np.array(pred), np.array(true)
    mpjpe = 1000.0 * np.linalg.norm(pred_a - true_a, axis=-1).mean()
    acc = _accel(tracks)
    return {
        'mpjpe_mm': float(mpjpe),
        'pa_mpjpe_mm': float(pa_error(pred_a, true_a).mean()),
        'accel_mm_per_frame2': acc,
    }


def _centred(joints: np.ndarray) -> np.ndarray:
    body = joints[:NUM_BODY_JOINTS].astype(np.float64)
    return body - body[:1]


def _accel(tracks: dict[int, dict[int, tuple]]) -> float | None:
    """Mean acceleration error over runs of consecutive frames with an unchanged identity."""
    errors = []
    for frames in tracks.values():
        times = sorted(frames)
        breaks = [
            k
            for k in range(1, len(times))
            if times[k] != times[k - 1] + 1 or frames[times[k]][2] != frames[times[k - 1]][2]
        ]
        for run in np.split(np.array(times), breaks):
            if len(run) >= 3:
                errors.extend(
                    accel_error(
                        np.array([frames[t][0] for t in run]), np.array([frames[t][1] for t in run])
                    )
                )
    return float(np.mean(errors)) if errors else None
