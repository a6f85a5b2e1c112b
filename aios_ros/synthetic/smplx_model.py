"""A synthetic, human-shaped SMPL-X model file for tests, demos and the evaluation harness.

The real SMPL-X model cannot be redistributed (MPI licence), so tests generate a stand-in with the
real file format (``SMPLX_NEUTRAL.npz`` as read by ``smplx`` 0.1.28), the real 55-joint kinematic
tree and a body of human proportions in the SMPL-X rest frame (metres, +y up, +x = body's left,
face towards +z). Nothing here is derived from the real model's data.

Contents (V vertices, F faces):

* ``v_template`` (V,3) / ``f`` (F,3) uint32: closed ellipsoid shells per body part (torso, hips,
  shoulders, neck, head, thighs, calves, feet, arms, palms, 30 finger segments), F = 2V - 4 x parts.
  A full-size file (V = 10475) is topped up to the real F = 20908 with thin slivers just inside
  the torso shell, so its buffers have exactly the official checkpoint's shapes.
* ``shapedirs`` (V,3,400): 300 shape + 100 expression components (the SMPL-X 2020 layout).
  beta 0 = overall size (~4 % per unit), beta 1 = girth, the rest smooth random fields of
  decreasing amplitude; expression components move only the lower front of the face.
* ``posedirs`` (V,3,486): small correctives, local to the joints that skin each vertex.
* ``J_regressor`` (55,V): affine combinations (rows sum to 1) of the vertices surrounding each
  joint, fitted so that ``J_regressor @ v_template`` reproduces the designed skeleton (< 1 mm).
* ``weights`` (V,55): soft skinning to the bones of each part's joints (rows sum to 1).
* ``hands_componentsl/r`` (45,45) orthonormal, ``hands_meanl/r`` (45,) a relaxed finger curl.
* ``lmk_*`` 51 face landmarks and ``dynamic_lmk_*`` 79 x 17 jaw-contour landmarks on the head.
* ``keypoint_vertex_ids`` (21,) (extra key, ignored by smplx): the vertices that play nose, eyes,
  ears, toes, heels and finger tips, in the order of ``KEYPOINT_VERTEX_NAMES``. In a full-size file
  they ARE smplx's hard-coded SMPL-X ids (nose 9120 ... up to 9929), so stock smplx works
  unchanged. Smaller files cannot hold those ids: smplx models for them are constructed inside
  ``aios_ros.body.vertex_keypoints.smplx_keypoint_ids(path)``, which points smplx at the file's
  own ids during construction.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aios_ros.body.vertex_keypoints import KEYPOINT_IDS_KEY, KEYPOINT_VERTEX_NAMES
from aios_ros.synthetic import skeleton as sk
from aios_ros.synthetic.face import contour_faces, keypoint_vertices, static_landmark_faces
from aios_ros.synthetic.mesh import mesh_part, split_budget

FULL_NUM_VERTICES = 10475
FULL_NUM_FACES = 20908
SMALL_NUM_VERTICES = 1500
NUM_SHAPE_SPACE, NUM_EXPR_SPACE = 300, 100


def write_synthetic_smplx(
    folder: str | Path, num_vertices: int = SMALL_NUM_VERTICES, seed: int = 0
) -> Path:
    """Write ``<folder>/smplx/SMPLX_NEUTRAL.npz`` and return its path.

    ``smplx.create(folder, model_type='smplx')`` and ``smplx.create(<returned path>)`` both find it.
    ``num_vertices`` >= 376 (8 per body part); 10475 gives the real SMPL-X sizes. Deterministic in
    ``seed``. Takes ~0.1 s for 1500 vertices, ~2 s (117 MB file) for 10475.
    """
    path = Path(folder) / 'smplx' / 'SMPLX_NEUTRAL.npz'
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **generate_smplx_arrays(num_vertices, seed))
    return path


def generate_smplx_arrays(num_vertices: int, seed: int) -> dict[str, np.ndarray]:
    """The arrays of a synthetic ``SMPLX_NEUTRAL.npz`` (keys and shapes: module docstring)."""
    rng = np.random.default_rng(seed)
    joints = sk.rest_joints(rng)
    parts = sk.body_parts(joints)
    verts, faces, owner = _mesh(parts, num_vertices)
    keypoints = keypoint_vertices(verts, owner, parts, joints)
    targets = _keypoint_targets(keypoints, num_vertices)
    verts, faces, owner, keypoints = _move_vertices(verts, faces, owner, keypoints, targets)
    if num_vertices == FULL_NUM_VERTICES:
        faces = _top_up_faces(faces, owner, parts, FULL_NUM_FACES)
    weights = _skinning_weights(verts, owner, parts, joints)
    kintree = np.stack([sk.SMPLX_PARENTS, np.arange(sk.NUM_JOINTS)])
    kintree[0, 0] = 2**32 - 1  # the real files store the root's parent as uint32 max
    lmk_faces = static_landmark_faces(verts, faces, owner, parts)
    dyn_faces = contour_faces(verts, faces, owner, parts)
    return {
        'v_template': verts.astype(np.float32),
        'f': faces.astype(np.uint32),
        'shapedirs': _shapedirs(verts, owner, parts, joints, rng),
        'posedirs': _posedirs(weights, rng),
        'J_regressor': _joint_regressor(verts, joints).astype(np.float32),
        'weights': weights.astype(np.float32),
        'kintree_table': kintree.astype(np.int64),
        'hands_componentsl': np.linalg.qr(rng.normal(size=(45, 45)))[0].astype(np.float32),
        'hands_componentsr': np.linalg.qr(rng.normal(size=(45, 45)))[0].astype(np.float32),
        'hands_meanl': _hand_mean(1.0, rng),
        'hands_meanr': _hand_mean(-1.0, rng),
        'lmk_faces_idx': lmk_faces,
        'lmk_bary_coords': _bary(rng, lmk_faces.shape),
        'dynamic_lmk_faces_idx': dyn_faces,
        'dynamic_lmk_bary_coords': _bary(rng, dyn_faces.shape),
        KEYPOINT_IDS_KEY: keypoints,
    }


def _mesh(parts, num_vertices):
    counts = split_budget(parts, num_vertices)
    verts, faces, owner, start = [], [], [], 0
    for p, (part, n) in enumerate(zip(parts, counts)):
        v, f = mesh_part(part, int(n), start)
        verts.append(v)
        faces.append(f)
        owner.append(np.full(len(v), p))
        start += len(v)
    return np.concatenate(verts), np.concatenate(faces), np.concatenate(owner)


def _keypoint_targets(keypoints: np.ndarray, num_vertices: int) -> np.ndarray:
    if num_vertices < FULL_NUM_VERTICES:
        return keypoints
    import smplx.vertex_ids as smplx_vertex_ids

    table = smplx_vertex_ids.vertex_ids['smplx']
    return np.array([table[name] for name in KEYPOINT_VERTEX_NAMES], np.int64)


def _move_vertices(verts, faces, owner, keypoints, targets):
    """Renumber vertices so that vertex ``keypoints[i]`` gets id ``targets[i]``."""
    n = len(verts)
    order = np.full(n, -1, np.int64)
    order[targets] = keypoints
    rest = np.setdiff1d(np.arange(n), keypoints)  # stays in ascending order
    order[order < 0] = rest
    new_id = np.empty(n, np.int64)
    new_id[order] = np.arange(n)
    return verts[order], new_id[faces], owner[order], targets.astype(np.int64)


def _top_up_faces(faces, owner, parts, total):
    """Add slivers just inside the torso shell (chords of its latitude rings) up to ``total``."""
    torso = np.flatnonzero(owner == [p.name for p in parts].index('torso'))
    need = total - len(faces)
    if not 0 <= need <= len(torso) - 2:
        raise ValueError(f'cannot top up {len(faces)} faces to {total}')
    idx = np.arange(need)
    extra = np.stack([torso[idx], torso[idx + 1], torso[idx + 2]], axis=1)
    return np.concatenate([faces, extra])


def _point_segment_distance(points, start, end):
    """(P, S) distance from each point (P,3) to each segment start->end (S,3)."""
    d = end - start
    t = np.einsum('psk,sk->ps', points[:, None] - start[None], d) / np.maximum(
        (d * d).sum(-1), 1e-12
    )
    closest = start[None] + np.clip(t, 0, 1)[..., None] * d[None]
    return np.linalg.norm(points[:, None] - closest, axis=-1)


def _skinning_weights(verts, owner, parts, joints):
    """(V, 55) soft weights over each part's allowed joints by distance to their bones."""
    start, end = sk.bone_segments(joints)
    weights = np.zeros((len(verts), sk.NUM_JOINTS))
    for p, part in enumerate(parts):
        rows = np.flatnonzero(owner == p)
        cand = np.array(part.joints)
        dist = _point_segment_distance(verts[rows], start[cand], end[cand])
        scale = 0.35 * max(part.radii)
        w = np.exp(-(dist - dist.min(1, keepdims=True)) / scale)
        w[:, 0] += 0.25  # the part's owner joint always dominates a little
        weights[rows[:, None], cand[None]] = w / w.sum(1, keepdims=True)
    return weights


def _joint_regressor(verts, joints, per_octant=2, ridge=1e-4):
    """(55, V) rows summing to 1: least-squares affine weights of vertices surrounding each joint.

    The 2 nearest vertices in each of the 8 octants around the joint enclose it, so the fit
    reproduces the designed joint to < 1 mm with small weights (|w| < ~0.15).
    """
    reg = np.zeros((len(joints), len(verts)))
    for j, x in enumerate(joints):
        rel = verts - x
        dist = np.linalg.norm(rel, axis=1)
        octant = (rel > 0) @ np.array([1, 2, 4])
        near = np.concatenate(
            [
                ids[np.argsort(dist[ids], kind='stable')[:per_octant]]
                for ids in (np.flatnonzero(octant == o) for o in range(8))
            ]
        )
        k = len(near)
        A = verts[near].T  # (3, k)
        kkt = np.zeros((k + 1, k + 1))
        kkt[:k, :k] = A.T @ A + ridge * np.eye(k)
        kkt[:k, k] = kkt[k, :k] = 1.0
        rhs = np.concatenate([A.T @ x + ridge / k, [1.0]])
        reg[j, near] = np.linalg.solve(kkt, rhs)[:k]
    return reg


def _shapedirs(verts, owner, parts, joints, rng):
    """(V, 3, 400) float32: 300 shape then 100 expression components."""
    n = len(verts)
    centre = verts - joints[0]
    centers = np.array([p.center for p in parts])[owner]
    axes = np.array([p.axis for p in parts])[owner]
    radial = (verts - centers) - np.einsum('vk,vk->v', verts - centers, axes)[:, None] * axes
    freq = rng.normal(scale=3.0, size=(3, 3 * (NUM_SHAPE_SPACE + NUM_EXPR_SPACE)))
    phase = rng.uniform(0, 2 * np.pi, size=freq.shape[1])
    fields = np.sin(verts @ freq + phase).reshape(n, NUM_SHAPE_SPACE + NUM_EXPR_SPACE, 3)
    fields = fields.transpose(0, 2, 1)
    amp = 0.008 / (1.0 + np.arange(NUM_SHAPE_SPACE) / 4.0)
    dirs = np.zeros((n, 3, NUM_SHAPE_SPACE + NUM_EXPR_SPACE))
    dirs[:, :, :NUM_SHAPE_SPACE] = fields[:, :, :NUM_SHAPE_SPACE] * amp
    dirs[:, :, 0] = 0.04 * centre * (1.0, 1.2, 1.0)
    dirs[:, :, 1] = 0.15 * radial
    rel = verts - sk.HEAD_CENTER
    face = (
        (owner == [p.name for p in parts].index('head')) & (rel[:, 2] > 0.03) & (rel[:, 1] < 0.01)
    )
    expr_amp = 0.004 / (1.0 + np.arange(NUM_EXPR_SPACE) / 10.0)
    dirs[:, :, NUM_SHAPE_SPACE:] = fields[:, :, NUM_SHAPE_SPACE:] * expr_amp * face[:, None, None]
    return dirs.astype(np.float32)


def _posedirs(weights, rng):
    """(V, 3, 486) float32: joint j's 9 pose features move only the vertices it skins."""
    local = weights[:, 1:] * (1.0 - weights[:, 1:])  # largest where two bones blend
    directions = rng.normal(size=(sk.NUM_JOINTS - 1, 9, 3))
    dirs = 0.01 * np.einsum('vj,jmk->vkjm', local, directions)
    return dirs.reshape(len(weights), 3, 9 * (sk.NUM_JOINTS - 1)).astype(np.float32)


def _hand_mean(sign: float, rng) -> np.ndarray:
    """(45,) axis-angle: fingers curled ~0.1-0.3 rad towards the palm (about z), thumb less."""
    curl = np.zeros((15, 3))
    curl[:12, 2] = -sign * np.tile([0.12, 0.22, 0.18], 4)
    curl[12:, 1] = sign * np.array([0.15, 0.1, 0.08])
    return (curl + rng.normal(scale=0.01, size=curl.shape)).reshape(45).astype(np.float32)


def _bary(rng, shape) -> np.ndarray:
    b = rng.uniform(0.1, 1.1, size=tuple(shape) + (3,))
    return (b / b.sum(-1, keepdims=True)).astype(np.float32)
