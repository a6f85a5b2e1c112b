"""AiOS-like noisy per-frame detections of a synthetic :class:`~aios_ros.synthetic.scenes.Scene`.

Noise model (all deterministic in the seed):

* pose: every joint rotation is perturbed by Exp(bias + white): a slow per-person bias (noise
  low-passed below 0.3 Hz: systematic error no smoother can remove) and per-frame white jitter,
  sized so that the per-frame stream has an acceleration error of 25-30 mm/frame^2;
* heavy tails, because per-frame estimators fail in bursts: limb outliers (one limb chain, hip or
  shoulder, turned 10-25 deg about a random axis for 1-3 frames; about 3 % of a person's frames)
  and depth jumps (the whole translation scaled by 1 +- 10-25 %, as a wrong camera scale does,
  for 1-4 frames; about 2.5 % of frames). They are drawn from their own random stream, so the
  Gaussian part is the same with or without them;
* betas: per-person bias + per-frame noise; translation: x, y noise and a depth error (~z^2) that,
  as in a monocular estimate, scales the whole translation along the viewing ray;
* boxes: GT boxes (projected joints) with jitter proportional to the box height;
* scores: per-person level + noise; people mostly hidden behind a nearer person drop out, partly
  hidden ones become low-score candidates (what the tracker's second stage is for);
* random dropouts and false positives (mostly low-score, a few high-score).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aios_ros.core.smplx import NUM_POSE_JOINTS
from aios_ros.core.types import Bodies, BodyModel
from aios_ros.geometry.pinhole import project
from aios_ros.geometry.so3 import exp_map
from aios_ros.synthetic.scenes import WIDTH, K, Scene, smooth_noise
from aios_ros.synthetic.token_heads import LinearTokenCodec

_HAND_JOINTS = {'left': np.arange(25, 40), 'right': np.arange(40, 55)}
_HEAD_JOINTS = np.array([12, 15, 22, 23, 24])
#: roots of the limb chains a limb outlier turns: left/right hip, left/right shoulder
_LIMB_ROOTS = np.array([1, 2, 16, 17])


@dataclass(frozen=True)
class NoiseModel:
    """Magnitudes of the synthetic AiOS-like errors (degrees, metres, fractions, per frame)."""

    rot_white_deg: float = 0.63
    rot_bias_deg: float = 4.0
    orient_white_deg: float = 0.32
    transl_xy_m: float = 0.03
    transl_z_rel: float = 0.01  # depth noise = transl_z_rel * z^2, along the viewing ray
    betas_bias: float = 0.3
    betas_white: float = 0.3
    box_rel: float = 0.02
    p_drop: float = 0.03
    fp_low_per_frame: float = 0.5
    fp_high_per_frame: float = 0.02
    limb_outlier_rate: float = 0.015  # bursts started per person-frame
    limb_outlier_deg: tuple[float, float] = (10.0, 25.0)
    limb_outlier_frames: tuple[int, int] = (1, 3)
    depth_jump_rate: float = 0.01
    depth_jump_rel: tuple[float, float] = (0.10, 0.25)
    depth_jump_frames: tuple[int, int] = (1, 4)


@dataclass
class DetectionFrame:
    """One frame: the detections (input to the pipeline) and the ground truth.

    det_person: (N,) person id of each detection, -1 for false positives.
    gt_ids (G,), gt_boxes (G, 4), gt_joints (G, J, 3): people in view and not hidden (not in an
    occlusion gap and not mostly covered by a nearer person).
    """

    bodies: Bodies
    det_person: np.ndarray
    gt_ids: np.ndarray
    gt_boxes: np.ndarray
    gt_joints: np.ndarray


def body_boxes(kp2d: np.ndarray) -> np.ndarray:
    """(N, J>=55, 2) projected SMPL-X joints -> (N, 4, 4) [body, left hand, right hand, face]."""

    def box(pts: np.ndarray, pad: float) -> np.ndarray:
        lo, hi = pts.min(axis=1), pts.max(axis=1)
        grow = pad * (hi - lo).max(axis=1, keepdims=True) + 4.0
        return np.concatenate([lo - grow, hi + grow], axis=1)

    return np.stack(
        [
            box(kp2d[:, :55], 0.1),
            box(kp2d[:, _HAND_JOINTS['left']], 0.2),
            box(kp2d[:, _HAND_JOINTS['right']], 0.2),
            box(kp2d[:, _HEAD_JOINTS], 0.3),
        ],
        1,
    )


def make_detections(
    scene: Scene,
    body_model: BodyModel,
    seed: int,
    noise: NoiseModel = NoiseModel(),
    codec: LinearTokenCodec | None = None,
) -> list[DetectionFrame]:
    """Noisy detections for every frame of ``scene`` (tokens filled when ``codec`` is given)."""
    rng = np.random.default_rng(seed + 7919)
    people = scene.people
    gt = [
        _forward(body_model, p.pose, np.tile(p.betas, (len(p.pose), 1)), p.expression, p.transl)
        for p in people
    ]
    noisy = [_perturb(rng, p, noise) for p in people]
    tails = np.random.default_rng(seed + 15485863)
    for p in noisy:
        _add_heavy_tails(tails, p, noise)
    frames = []
    for t in range(len(scene.stamps)):
        vis = [i for i, p in enumerate(people) if p.visible[t]]
        gt_kp = np.array([project(gt[i][t], K) for i in vis]).reshape(-1, gt[0].shape[1], 2)
        gt_boxes = body_boxes(gt_kp)[:, 0] if vis else np.zeros((0, 4))
        scores = [_score(rng, t, i, vis, people, gt_boxes) for i in vis]
        rows = [
            (i, s, gt_boxes[j])
            for j, (i, s) in enumerate(zip(vis, scores))
            if s is not None and rng.uniform() > noise.p_drop
        ]
        # People hidden behind nearer ones are not expected in the output either.
        keep = [j for j, s in enumerate(scores) if s is not None]
        frames.append((t, [vis[j] for j in keep], gt_boxes[keep], rows))
    return _assemble(rng, scene, body_model, gt, noisy, frames, noise, codec)


def _forward(
    body_model: BodyModel, pose, betas, expression, transl, chunk: int = 256
) -> np.ndarray:
    """Joints (N, J, 3) in chunks (the body model's batch memory grows with N)."""
    out = [
        body_model.joints_and_vertices(
            pose[i : i + chunk].astype(np.float32),
            betas[i : i + chunk].astype(np.float32),
            expression[i : i + chunk].astype(np.float32),
            transl[i : i + chunk].astype(np.float32),
            False,
        )[0]
        for i in range(0, len(pose), chunk)
    ]
    return np.concatenate(out, axis=0) if out else np.zeros((0, 0, 3))


def _perturb(rng: np.random.Generator, person, noise: NoiseModel) -> dict[str, np.ndarray]:
    """Noisy parameters of one person for every frame."""
    n = len(person.pose)
    bias = smooth_noise(rng, n, NUM_POSE_JOINTS * 3, 0.3).reshape(n, NUM_POSE_JOINTS, 3)
    sd = np.full((NUM_POSE_JOINTS, 1), np.deg2rad(noise.rot_white_deg))
    sd[0] = np.deg2rad(noise.orient_white_deg)
    tangent = np.deg2rad(noise.rot_bias_deg) * bias + sd * rng.normal(size=bias.shape)
    # x, y jitter, then a scale error along the viewing ray (depth from apparent size):
    # transl_z_rel * z^2 metres in depth, x and y scaled with it
    e = rng.normal(size=(n, 3))
    scale = 1.0 + noise.transl_z_rel * person.transl[:, 2:3] * e[:, 2:]
    transl = person.transl + np.concatenate([noise.transl_xy_m * e[:, :2], np.zeros((n, 1))], 1)
    return {
        'pose': person.pose @ exp_map(tangent),
        'betas': person.betas
        + noise.betas_bias * rng.normal(size=10)
        + noise.betas_white * rng.normal(size=(n, 10)),
        'expression': person.expression + 0.1 * rng.normal(size=person.expression.shape),
        'transl': transl * scale,
    }


def _bursts(rng: np.random.Generator, n: int, rate: float, frames: tuple[int, int]) -> list[slice]:
    """Frame ranges of failure bursts: each frame starts one with probability ``rate``."""
    starts = np.flatnonzero(rng.uniform(size=n) < rate)
    return [slice(int(t), int(t) + int(rng.integers(frames[0], frames[1] + 1))) for t in starts]


def _add_heavy_tails(rng: np.random.Generator, noisy: dict, noise: NoiseModel) -> None:
    """Limb outliers and depth jumps (module docstring), in place on one person's noisy
    parameters."""
    n = len(noisy['pose'])
    for burst in _bursts(rng, n, noise.limb_outlier_rate, noise.limb_outlier_frames):
        axis = rng.normal(size=3)
        angle = np.deg2rad(rng.uniform(*noise.limb_outlier_deg))
        joint = int(rng.choice(_LIMB_ROOTS))
        noisy['pose'][burst, joint] = noisy['pose'][burst, joint] @ exp_map(
            angle * axis / np.linalg.norm(axis)
        )
    for burst in _bursts(rng, n, noise.depth_jump_rate, noise.depth_jump_frames):
        scale = 1.0 + rng.choice([-1.0, 1.0]) * rng.uniform(*noise.depth_jump_rel)
        noisy['transl'][burst] *= scale


def _score(rng, t, i, vis, people, gt_boxes) -> float | None:
    """Detection score of visible person ``i`` given nearer people; None if fully hidden."""
    j = vis.index(i)
    nearer = [vis.index(o) for o in vis if people[o].transl[t, 2] < people[i].transl[t, 2]]
    overlap = max((_cover(gt_boxes[j], gt_boxes[o]) for o in nearer), default=0.0)
    if overlap > 0.7:
        return None
    if overlap > 0.35:
        return float(rng.uniform(0.15, 0.45))
    level = 0.75 + 0.15 * np.sin(i * 1.7)  # per-person confidence level
    return float(np.clip(level + 0.05 * rng.normal(), 0.5, 0.99))


def _cover(box: np.ndarray, other: np.ndarray) -> float:
    """Fraction of ``box`` covered by ``other``."""
    lt, rb = np.maximum(box[:2], other[:2]), np.minimum(box[2:], other[2:])
    inter = np.prod(np.clip(rb - lt, 0, None))
    return float(inter / max(np.prod(box[2:] - box[:2]), 1e-9))


def _false_positive(rng: np.random.Generator, high: bool) -> dict[str, np.ndarray]:
    """A spurious person somewhere in view with a random pose."""
    z = rng.uniform(2.5, 9.0)
    x = (rng.uniform(0, WIDTH) - K[0, 2]) * z / K[0, 0]
    pose = exp_map(0.3 * rng.normal(size=(NUM_POSE_JOINTS, 3)))
    pose[0] = exp_map(rng.uniform(-np.pi, np.pi) * np.array([0.0, 1.0, 0.0])) @ np.diag(
        [1.0, -1, -1]
    )
    return {
        'pose': pose,
        'betas': rng.normal(size=10),
        'expression': np.zeros(10),
        'transl': np.array([x, 0.05, z]),
        'score': rng.uniform(0.5, 0.7) if high else rng.uniform(0.1, 0.45),
    }


def _assemble(rng, scene, body_model, gt, noisy, frames, noise, codec) -> list[DetectionFrame]:
    """Run the body model on all detections at once and cut the result into frames."""
    dets, owner, frame_of = [], [], []
    for t, _, _, rows in frames:
        for i, score, box in rows:
            dets.append({k: v[t] for k, v in noisy[i].items()} | {'score': score, 'box': box})
            owner.append(i)
            frame_of.append(t)
        for high in [False] * rng.poisson(noise.fp_low_per_frame) + [True] * rng.poisson(
            noise.fp_high_per_frame
        ):
            dets.append(_false_positive(rng, high))
            owner.append(-1)
            frame_of.append(t)
    stack = {
        k: np.array([d[k] for d in dets])
        for k in ('pose', 'betas', 'expression', 'transl', 'score')
    }
    joints = _forward(
        body_model, stack['pose'], stack['betas'], stack['expression'], stack['transl']
    )
    kp2d = project(joints, K)
    boxes = body_boxes(kp2d)
    # AiOS regresses body boxes directly: their error is independent of the pose error.
    boxes[:, 0] = [d['box'] if 'box' in d else b for d, b in zip(dets, boxes[:, 0])]
    h = (boxes[:, 0, 3] - boxes[:, 0, 1])[:, None, None]
    boxes = boxes + noise.box_rel * h * rng.normal(size=boxes.shape)
    tokens = codec.encode(stack['pose'], stack['betas'], stack['expression']) if codec else None
    owner, frame_of = np.array(owner, np.int64), np.array(frame_of, np.int64)
    out = []
    for t, vis, gt_boxes, _ in frames:
        sel = np.flatnonzero(frame_of == t)
        sel = sel[np.argsort(-stack['score'][sel], kind='stable')]
        bodies = Bodies(
            scores=stack['score'][sel].astype(np.float32),
            boxes=boxes[sel].astype(np.float32),
            pose=stack['pose'][sel].astype(np.float32),
            betas=stack['betas'][sel].astype(np.float32),
            expression=stack['expression'][sel].astype(np.float32),
            transl=stack['transl'][sel].astype(np.float32),
            keypoints_2d=kp2d[sel].astype(np.float32),
            joints_3d=joints[sel].astype(np.float32),
            tokens=None if tokens is None else tokens[sel],
        )
        gt_joints = np.array([gt[i][t] for i in vis]).reshape(len(vis), gt[0].shape[1], 3)
        out.append(DetectionFrame(bodies, owner[sel], np.array(vis, np.int64), gt_boxes, gt_joints))
    return out
