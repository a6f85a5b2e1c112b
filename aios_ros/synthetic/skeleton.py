"""Rest-pose skeleton and body-part layout of the synthetic SMPL-X model.

Frame: SMPL-X body frame, metres; +y up, +x towards the body's LEFT side, +z forward (the face
looks along +z). Rest pose = the SMPL-X T-pose (arms horizontal, flat hands). The proportions are
those of a ~1.71 m adult; the numbers are hand-placed, not taken from the real SMPL-X model.
"""

from __future__ import annotations

import numpy as np

from aios_ros.core.smplx import NUM_SKELETON_JOINTS as NUM_JOINTS
from aios_ros.core.smplx import SMPLX_PARENTS
from aios_ros.synthetic.mesh import Part

# Left-side / central joints 0..24 (right side = mirror in x).
_BODY = {
    0: (0.0, -0.35, 0.01),
    1: (0.065, -0.44, 0.0),
    3: (0.0, -0.24, -0.015),
    4: (0.10, -0.83, 0.005),
    6: (0.0, -0.10, -0.005),
    7: (0.085, -1.22, -0.035),
    9: (0.0, -0.045, 0.02),
    10: (0.11, -1.27, 0.09),
    12: (0.0, 0.16, -0.02),
    13: (0.075, 0.08, -0.005),
    15: (0.0, 0.23, 0.01),
    16: (0.17, 0.115, -0.02),
    18: (0.43, 0.095, -0.03),
    20: (0.68, 0.10, -0.03),
    22: (0.0, 0.255, 0.03),
    23: (0.032, 0.335, 0.085),
}
_MIRROR = {2: 1, 5: 4, 8: 7, 11: 10, 14: 13, 17: 16, 19: 18, 21: 20, 24: 23}
# Fingers in SMPL-X order (index, middle, pinky, ring, thumb): base offset from the wrist,
# direction, segment lengths (base->2, 2->3, 3->tip), radius. Left hand; the right hand is mirrored.
_FINGERS = (
    ((0.092, 0.0, 0.026), (1.0, 0.0, 0.05), (0.036, 0.023, 0.021), 0.0095),
    ((0.097, 0.0, 0.004), (1.0, 0.0, 0.0), (0.040, 0.026, 0.022), 0.0100),
    ((0.083, -0.002, -0.036), (1.0, 0.0, -0.12), (0.026, 0.018, 0.018), 0.0080),
    ((0.091, -0.001, -0.016), (1.0, 0.0, -0.06), (0.036, 0.024, 0.021), 0.0092),
    ((0.028, -0.012, 0.030), (0.7, -0.1, 0.7), (0.032, 0.030, 0.025), 0.0110),
)
HEAD_CENTER = np.array([0.0, 0.32, 0.02])
HEAD_RADII = np.array([0.078, 0.115, 0.098])


def _unit(v) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v)


def rest_joints(rng: np.random.Generator) -> np.ndarray:
    """(55, 3) rest-pose joint positions (m), with a small seed-dependent jitter (<= ~2 mm)."""
    joints = np.zeros((NUM_JOINTS, 3))
    for j, p in _BODY.items():
        joints[j] = p
    for j, src in _MIRROR.items():
        joints[j] = joints[src] * (-1.0, 1.0, 1.0)
    for hand, (wrist, first, sign) in enumerate(((20, 25, 1.0), (21, 40, -1.0))):
        for f, (base, direction, lengths, _) in enumerate(_FINGERS):
            d = _unit(direction) * (sign, 1.0, 1.0)
            j = first + 3 * f
            joints[j] = joints[wrist] + np.asarray(base) * (sign, 1.0, 1.0)
            joints[j + 1] = joints[j] + d * lengths[0]
            joints[j + 2] = joints[j + 1] + d * lengths[1]
    return joints + rng.normal(scale=0.0007, size=joints.shape)


def finger_tip(joints: np.ndarray, distal: int) -> np.ndarray:
    """(3,) tip point beyond the distal finger joint ``distal`` (SMPL-X id)."""
    f = ((distal - 25) % 15) // 3
    seg = joints[distal] - joints[distal - 1]
    return joints[distal] + _unit(seg) * _FINGERS[f][2][2]


def _bone(name, a, b, radii, joints_, profile=0.55, extend=0.02, side=None, density=1.0) -> Part:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    axis = _unit(b - a)
    if side is None:
        ref = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
        side = _unit(np.cross(axis, ref))
    half = np.linalg.norm(b - a) / 2 + extend
    return Part(
        name,
        tuple((a + b) / 2),
        tuple(axis),
        tuple(side),
        half,
        tuple(radii),
        profile,
        tuple(joints_),
        density,
    )


def body_parts(joints: np.ndarray) -> list[Part]:
    """Body parts (torso, head, limbs, palms, 30 finger segments) around the rest skeleton."""
    J = joints
    parts = [
        _bone(
            'torso',
            (0, -0.47, 0.0),
            (0, 0.17, -0.01),
            (0.105, 0.155),
            (6, 3, 9, 0, 12, 13, 14),
            profile=0.45,
            extend=0.0,
            side=(0, 0, 1),
        ),
        _bone(
            'hips',
            J[2] + (-0.035, 0, 0),
            J[1] + (0.035, 0, 0),
            (0.085, 0.1),
            (0, 1, 2, 3),
            extend=0.0,
            side=(0, 1, 0),
        ),
        _bone(
            'shoulders',
            J[17],
            J[16],
            (0.06, 0.07),
            (9, 13, 14, 16, 17, 12),
            extend=0.0,
            side=(0, 1, 0),
        ),
        _bone('neck', J[12], J[15], (0.052, 0.05), (12, 15, 9), side=(1, 0, 0)),
        Part(
            'head',
            tuple(HEAD_CENTER),
            (0.0, 1.0, 0.0),
            (1.0, 0.0, 0.0),
            HEAD_RADII[1],
            (HEAD_RADII[0], HEAD_RADII[2]),
            1.0,
            (15, 22, 12),
            density=5.0,
        ),
    ]
    for s, (hip, knee, ankle, foot, sh, elbow, wrist, coll, sign) in enumerate(
        ((1, 4, 7, 10, 16, 18, 20, 13, 1.0), (2, 5, 8, 11, 17, 19, 21, 14, -1.0))
    ):
        side = 'lr'[s]
        heel = J[ankle] + (0.0, -0.03, -0.06)
        toe = J[foot] + (0.0, 0.0, 0.075)
        parts += [
            _bone(f'{side}_thigh', J[hip], J[knee], (0.075, 0.07), (hip, knee, 0)),
            _bone(f'{side}_calf', J[knee], J[ankle], (0.052, 0.05), (knee, ankle, hip)),
            _bone(
                f'{side}_foot',
                heel,
                toe,
                (0.045, 0.035),
                (ankle, foot, knee),
                extend=0.0,
                side=(1, 0, 0),
            ),
            _bone(f'{side}_upper_arm', J[sh], J[elbow], (0.047, 0.045), (sh, elbow, coll)),
            _bone(f'{side}_forearm', J[elbow], J[wrist], (0.037, 0.034), (elbow, wrist, sh)),
        ]
        first = 25 if s == 0 else 40
        palm_end = J[first + 3] * 0.9 + J[wrist] * 0.1
        parts.append(
            _bone(
                f'{side}_palm',
                J[wrist],
                palm_end,
                (0.045, 0.014),
                (wrist, elbow) + tuple(first + 3 * f for f in range(5)),
                extend=0.005,
                side=(0, 0, 1),
                density=3.0,
            )
        )
        for f in range(5):
            j = first + 3 * f
            radius = _FINGERS[f][3]
            for seg in range(3):
                a = J[j + seg]
                b = finger_tip(J, j + 2) if seg == 2 else J[j + seg + 1]
                parent = j + seg - 1 if seg else wrist
                cands = (j + seg, parent) + ((j + seg + 1,) if seg < 2 else ())
                parts.append(
                    _bone(
                        f'{side}_finger{f}_{seg}',
                        a,
                        b,
                        (radius, radius * 0.9),
                        cands,
                        profile=0.6,
                        extend=0.004,
                        density=3.0,
                    )
                )
    return parts


def bone_segments(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(55, 3) start and end points of each joint's bone (the body part it rotates).

    A joint's bone runs to its main child; leaves (feet, head, jaw, eyes, finger tips) get a short
    extension in the direction they face.
    """
    main_child = {0: 3, 9: 12, 15: 15, 20: 28, 21: 43}
    start, end = joints.copy(), joints.copy()
    for j in range(NUM_JOINTS):
        children = np.flatnonzero(SMPLX_PARENTS == j)
        if j in main_child and main_child[j] != j:
            end[j] = joints[main_child[j]]
        elif len(children) == 1:
            end[j] = joints[children[0]]
    end[15] = HEAD_CENTER + (0, 0.05, 0)
    end[22] = joints[22] + (0.0, -0.05, 0.06)
    for foot in (10, 11):
        end[foot] = joints[foot] + (0.0, 0.0, 0.07)
    for first in (25, 40):
        for f in range(5):
            end[first + 3 * f + 2] = finger_tip(joints, first + 3 * f + 2)
    return start, end
