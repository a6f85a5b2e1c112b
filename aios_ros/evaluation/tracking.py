"""Tracking and mesh metrics of one output stream against ground truth, frame by frame.

* CLEAR-MOT matching per frame on body-box IoU >= ``min_iou`` (previous correspondences are kept
  while still valid, the rest by Hungarian matching): MOTA = 1 - (FN + FP + IDSW) / GT, IDSW =
  a GT person matched to a different identity than at its previous match.
* IDF1 = 2 IDTP / (GT + predictions), IDTP from the best global one-to-one assignment of GT
  identities to predicted identities (a pair scores in the frames where its boxes overlap with
  IoU >= ``min_iou``).
* MPJPE / PA-MPJPE (mm) on pelvis-centred body joints of CLEAR-matched pairs, camera-frame
  pelvis error (mm); acceleration errors (HMMR/VIBE definition, mm/frame^2) of the pelvis-centred
  joints and of the pelvis over triples of consecutive frames in which a GT person is matched to
  the same identity (to any prediction when the stream has no identities).
* Like for like (:func:`common_pose_metrics`): two streams are compared on the (frame, GT person)
  pairs and triples matched in both; :func:`coverage` says separately how much each covers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from aios_ros.evaluation.metrics import NUM_BODY_JOINTS, pa_error
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
    """Pose metrics (see :func:`pair_metrics`) over every matched pair of one stream."""
    pairs = matched_pairs(gt, hyp, matches)
    return pair_metrics(pairs, set(pairs), _triples(pairs, set(pairs)))


def common_pose_metrics(
    gt: list[FrameData],
    hyp: list[FrameData],
    hyp_matches: list[list[tuple[int, int]]],
    ref: list[FrameData],
    ref_matches: list[list[tuple[int, int]]],
    person: int | None = None,
) -> tuple[dict[str, float | None], dict[str, float | None]]:
    """Pose metrics of ``hyp`` and of ``ref`` on the same work: the (frame, GT person) pairs
    matched in both streams, acceleration over the triples of consecutive frames matched in both
    (with an unchanged identity in a stream that has identities). ``person``: only that GT id.

    A stream that also covers harder frames (people the other one misses) is therefore compared
    on the frames both cover; how much each covers is :func:`coverage`'s business.
    """
    a, b = matched_pairs(gt, hyp, hyp_matches), matched_pairs(gt, ref, ref_matches)
    keys = {k for k in a.keys() & b.keys() if person is None or k[1] == person}
    triples = _triples(a, keys) & _triples(b, keys)
    return pair_metrics(a, keys, triples), pair_metrics(b, keys, triples)


def coverage(gt: list[FrameData], matches: list[list[tuple[int, int]]]) -> float:
    """Share of the GT person-frames that a stream's matching covers (1.0 with no GT)."""
    total = sum(len(g.boxes) for g in gt)
    return sum(len(m) for m in matches) / total if total else 1.0


def fastest_person(gt: list[FrameData]) -> int | None:
    """GT id with the highest mean speed of its pelvis-centred body joints over consecutive
    frames (the person a smoother would lag behind first); None without any such frames."""
    last: dict[int, tuple[int, np.ndarray]] = {}
    speed: dict[int, list[float]] = {}
    for t, g in enumerate(gt):
        for gid, joints in zip(g.ids, g.joints):
            centred = _centred(joints)
            prev = last.get(int(gid))
            if prev is not None and prev[0] == t - 1:
                speed.setdefault(int(gid), []).append(
                    float(np.linalg.norm(centred - prev[1], axis=1).mean())
                )
            last[int(gid)] = (t, centred)
    return max(speed, key=lambda gid: np.mean(speed[gid])) if speed else None


#: one matched pair per (frame, GT id): (predicted joints, GT joints, predicted id or -1), metres
Pairs = dict[tuple[int, int], tuple[np.ndarray, np.ndarray, int]]


def matched_pairs(
    gt: list[FrameData], hyp: list[FrameData], matches: list[list[tuple[int, int]]]
) -> Pairs:
    """The matched people of a stream keyed by (frame index, GT id); body joints only."""
    out: Pairs = {}
    for t, (g, h, pairs) in enumerate(zip(gt, hyp, matches)):
        for gi, hi in pairs:
            hid = -1 if h.ids is None else int(h.ids[hi])
            out[(t, int(g.ids[gi]))] = (
                h.joints[hi, :NUM_BODY_JOINTS].astype(np.float64),
                g.joints[gi, :NUM_BODY_JOINTS].astype(np.float64),
                hid,
            )
    return out


def pair_metrics(
    pairs: Pairs, keys: set[tuple[int, int]], triples: set[tuple[int, int]]
) -> dict[str, float | None]:
    """Metrics of ``pairs`` restricted to ``keys``; acceleration at the centre frames ``triples``.

    * ``mpjpe_mm``, ``pa_mpjpe_mm``: pelvis-centred body joints (pose only);
    * ``accel_mm_per_frame2``: HMMR/VIBE acceleration error of the pelvis-centred joints;
    * ``pelvis_mm``: camera-frame pelvis position error (where the person is);
    * ``pelvis_accel_mm_per_frame2``: acceleration error of the camera-frame pelvis.
    """
    out: dict[str, float | None] = dict.fromkeys(
        (
            'mpjpe_mm',
            'pa_mpjpe_mm',
            'accel_mm_per_frame2',
            'pelvis_mm',
            'pelvis_accel_mm_per_frame2',
        )
    )
    if not keys:
        return out
    order = sorted(keys)
    pred = np.array([pairs[k][0] for k in order])
    true = np.array([pairs[k][1] for k in order])
    pred_c, true_c = pred - pred[:, :1], true - true[:, :1]
    out['mpjpe_mm'] = float(1000.0 * np.linalg.norm(pred_c - true_c, axis=-1).mean())
    out['pa_mpjpe_mm'] = float(pa_error(pred_c, true_c).mean())
    out['pelvis_mm'] = float(1000.0 * np.linalg.norm(pred[:, 0] - true[:, 0], axis=-1).mean())
    if triples:
        centre = sorted(triples)
        # (3, M, J, 3): the frames before, at and after each centre
        p = np.array([[pairs[(t + dt, gid)][0] for t, gid in centre] for dt in (-1, 0, 1)])
        q = np.array([[pairs[(t + dt, gid)][1] for t, gid in centre] for dt in (-1, 0, 1)])
        acc = (p[0] - 2 * p[1] + p[2]) - (q[0] - 2 * q[1] + q[2])
        pelvis = acc[:, 0]  # camera frame: where the person is
        pose = acc - pelvis[:, None]  # pelvis-centred, as accel_error
        out['accel_mm_per_frame2'] = float(1000.0 * np.linalg.norm(pose, axis=-1).mean())
        out['pelvis_accel_mm_per_frame2'] = float(1000.0 * np.linalg.norm(pelvis, axis=-1).mean())
    return out


def _centred(joints: np.ndarray) -> np.ndarray:
    body = joints[:NUM_BODY_JOINTS].astype(np.float64)
    return body - body[:1]


def _triples(pairs: Pairs, keys: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Centre (frame, GT id) of every three consecutive frames in ``keys`` with one identity."""
    out = set()
    for t, gid in keys:
        before, after = (t - 1, gid), (t + 1, gid)
        if before in keys and after in keys:
            if pairs[before][2] == pairs[(t, gid)][2] == pairs[after][2]:
                out.add((t, gid))
    return out
