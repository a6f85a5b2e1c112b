"""Where the synthetic SMPL-X model puts its keypoint vertices and face landmarks.

All targets are hand-placed points in the rest frame (metres, +x = body's left, face towards +z);
each is attached to the nearest vertex / face of the body part it belongs to.
"""

from __future__ import annotations

import numpy as np

from aios_ros.synthetic import skeleton as sk

NUM_STATIC_LANDMARKS = 51
NUM_CONTOUR_BINS, NUM_CONTOUR_LANDMARKS = 79, 17
_EYE_Y = 0.335


def _on_head_front(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N, 3) points of the head ellipsoid's front surface at body-frame x and height y."""
    rx, ry, rz = sk.HEAD_RADII
    c = sk.HEAD_CENTER
    inside = 1.0 - ((x - c[0]) / rx) ** 2 - ((y - c[1]) / ry) ** 2
    return np.stack([x, y, c[2] + rz * np.sqrt(np.maximum(inside, 0.05))], axis=-1)


def _part_index(parts, name: str) -> int:
    return [p.name for p in parts].index(name)


def keypoint_vertices(verts, owner, parts, joints) -> np.ndarray:
    """(21,) distinct vertex ids in the order of ``synthetic.KEYPOINT_VERTEX_NAMES``."""
    front = _on_head_front(np.array([0.0, -0.032, 0.032]), np.array([0.295, _EYE_Y, _EYE_Y]))
    c, r = sk.HEAD_CENTER, sk.HEAD_RADII
    targets = [('head', p) for p in front]
    targets += [('head', c + (-r[0], 0.01, 0.0)), ('head', c + (r[0], 0.01, 0.0))]
    for side, first in (('r', 40), ('l', 25)):
        for f in (4, 0, 1, 3, 2):  # thumb, index, middle, ring, pinky -> SMPL-X finger slots
            targets.append((f'{side}_finger{f}_2', sk.finger_tip(joints, first + 3 * f + 2)))
    for side, foot, ankle, inward in (('l', 10, 7, -1.0), ('r', 11, 8, 1.0)):
        toe = joints[foot] + (0.0, -0.02, 0.075)
        targets += [
            (f'{side}_foot', toe + (0.02 * inward, 0, 0)),
            (f'{side}_foot', toe + (-0.03 * inward, 0, -0.03)),
            (f'{side}_foot', joints[ankle] + (0.0, -0.05, -0.08)),
        ]
    chosen: list[int] = []
    for part, target in targets:
        ids = np.flatnonzero(owner == _part_index(parts, part))
        order = ids[np.argsort(np.linalg.norm(verts[ids] - target, axis=1), kind='stable')]
        chosen.append(int(next(i for i in order if i not in chosen)))
    return np.array(chosen, np.int64)


def _nearest_faces(verts, faces, owner, part: int, points: np.ndarray) -> np.ndarray:
    own = np.flatnonzero((owner[faces] == part).all(axis=1))
    centroids = verts[faces[own]].mean(axis=1)
    d = np.linalg.norm(points.reshape(-1, 1, 3) - centroids[None], axis=-1)
    return own[d.argmin(axis=1)].reshape(points.shape[:-1])


def _static_landmark_points() -> np.ndarray:
    """(51, 3): 10 brow, 9 nose, 12 eye, 20 mouth points in SMPL-X landmark order."""
    brow_x = np.linspace(-0.055, -0.012, 5)
    xs = [brow_x, -brow_x]
    ys = [np.full(5, _EYE_Y + 0.024), np.full(5, _EYE_Y + 0.024)]
    xs += [np.zeros(4), np.linspace(-0.016, 0.016, 5)]
    ys += [np.linspace(_EYE_Y - 0.005, _EYE_Y - 0.045, 4), np.full(5, _EYE_Y - 0.052)]
    ang = np.linspace(np.pi, -np.pi, 6, endpoint=False)
    for cx in (-0.032, 0.032):
        xs.append(cx + 0.013 * np.cos(ang))
        ys.append(_EYE_Y + 0.005 * np.sin(ang))
    for n, (ax, ay) in ((12, (0.026, 0.012)), (8, (0.016, 0.005))):
        a = np.linspace(np.pi, -np.pi, n, endpoint=False)
        xs.append(ax * np.cos(a))
        ys.append(_EYE_Y - 0.085 + ay * np.sin(a))
    return _on_head_front(np.concatenate(xs), np.concatenate(ys))


def static_landmark_faces(verts, faces, owner, parts) -> np.ndarray:
    """(51,) int64 head faces under the 51 static face landmarks."""
    points = _static_landmark_points()
    assert len(points) == NUM_STATIC_LANDMARKS
    return _nearest_faces(verts, faces, owner, _part_index(parts, 'head'), points).astype(np.int64)


def contour_faces(verts, faces, owner, parts) -> np.ndarray:
    """(79, 17) int64 head faces of the jaw contour for each neck-yaw bin.

    smplx's bins: 0..39 = yaw 0..39 degrees, 40..78 = yaw -1..-39 degrees. The 17 points run from
    the right side (-x) over the chin to the left side; turning the head shifts them sideways.
    """
    yaw = np.concatenate([np.arange(40), -np.arange(1, 40)]).astype(np.float64)
    psi = (
        np.radians(np.linspace(-80.0, 80.0, NUM_CONTOUR_LANDMARKS))[None]
        + np.radians(0.5 * yaw)[:, None]
    )
    height = -0.105 + 0.08 * np.abs(np.sin(psi))
    rx, ry, rz = sk.HEAD_RADII
    ring = np.sqrt(np.maximum(1.0 - (height / ry) ** 2, 0.05))
    points = sk.HEAD_CENTER + np.stack(
        [rx * ring * np.sin(psi), height, rz * ring * np.cos(psi)], -1
    )
    idx = _nearest_faces(verts, faces, owner, _part_index(parts, 'head'), points)
    return idx.reshape(NUM_CONTOUR_BINS, NUM_CONTOUR_LANDMARKS).astype(np.int64)
