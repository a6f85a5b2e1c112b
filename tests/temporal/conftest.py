"""Helpers shared by the temporal tests: hand-made people with known boxes, 3D and shape."""
from __future__ import annotations

import numpy as np
import pytest

from aios_ros.pipeline.types import Bodies
from aios_ros.temporal.buffer import FIELDS, IdentityBuffers, Windows

FOCAL, CX, CY = 1000.0, 640.0, 360.0


def make_bodies(transl, betas, scores, tokens=None) -> Bodies:
    """People standing at ``transl`` (N, 3) m; body box = projected 1.7 m x 0.6 m person."""
    transl = np.asarray(transl, np.float32).reshape(-1, 3)
    n = len(transl)
    u = FOCAL * transl[:, 0] / transl[:, 2] + CX
    v = FOCAL * transl[:, 1] / transl[:, 2] + CY
    h, w = FOCAL * 1.7 / transl[:, 2], FOCAL * 0.6 / transl[:, 2]
    boxes = np.zeros((n, 4, 4), np.float32)
    boxes[:, :, :] = np.stack([u - w / 2, v - h / 2, u + w / 2, v + h / 2], 1)[:, None]
    pose = np.broadcast_to(np.eye(3, dtype=np.float32), (n, 53, 3, 3)).copy()
    return Bodies(scores=np.asarray(scores, np.float32).reshape(n), boxes=boxes, pose=pose,
                  betas=np.asarray(betas, np.float32).reshape(n, 10),
                  expression=np.zeros((n, 10), np.float32), transl=transl,
                  keypoints_2d=np.zeros((n, 1, 2), np.float32),
                  joints_3d=np.zeros((n, 1, 3), np.float32), tokens=tokens)


@pytest.fixture
def bodies_factory():
    return make_bodies


def windows_from_entries(entries: list[dict], targets: list[int], dt: float = 1.0 / 30.0) -> Windows:
    """Fusion windows of identities 0..N-1 read back from a real IdentityBuffers: identity i holds
    ``entries[i]`` ({field: (K_i, ...)}; fields left out are zeros) at stamps 0, dt, 2 dt, ..."""
    buffers = IdentityBuffers(capacity=32, horizon_s=10.0)
    for k in range(max(len(e['score']) for e in entries)):
        ids = [i for i, e in enumerate(entries) if k < len(e['score'])]
        batch = {f: np.stack([entries[i][f][k] if f in entries[i] else np.zeros(shape, dtype)
                              for i in ids]) for f, (shape, dtype) in FIELDS.items() if f != 'tokens'}
        has_tokens = 'tokens' in entries[ids[0]]
        batch['tokens'] = np.stack([entries[i]['tokens'][k] for i in ids]) if has_tokens else None
        buffers.push(np.array(ids), k * dt, batch)
    windows = buffers.windows(np.arange(len(entries)), -np.inf, np.inf)
    windows.target = np.array(targets)
    return windows


@pytest.fixture
def windows_of():
    return windows_from_entries
