"""Helpers shared by the temporal tests: hand-made people with known boxes, 3D and shape, and a
real SMPL-X body model (synthetic file) with people built from its own forward pass."""

from __future__ import annotations

import numpy as np
import pytest

from aios_ros.body.body_model import SmplxBodyModel
from aios_ros.core.types import Bodies, Camera, IntrinsicsSource
from aios_ros.geometry.so3 import exp_map
from aios_ros.synthetic.token_heads import LinearTokenCodec
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
    return Bodies(
        scores=np.asarray(scores, np.float32).reshape(n),
        boxes=boxes,
        pose=pose,
        betas=np.asarray(betas, np.float32).reshape(n, 10),
        expression=np.zeros((n, 10), np.float32),
        transl=transl,
        keypoints_2d=np.zeros((n, 1, 2), np.float32),
        joints_3d=np.zeros((n, 1, 3), np.float32),
        tokens=tokens,
    )


@pytest.fixture
def bodies_factory():
    return make_bodies


def windows_from_entries(
    entries: list[dict], targets: list[int], dt: float = 1.0 / 30.0
) -> Windows:
    """Fusion windows of identities 0..N-1 read back from a real IdentityBuffers: identity i holds
    ``entries[i]`` ({field: (K_i, ...)}; fields left out are zeros) at stamps 0, dt, 2 dt, ..."""
    buffers = IdentityBuffers(capacity=32, horizon_s=10.0)
    for k in range(max(len(e['score']) for e in entries)):
        ids = [i for i, e in enumerate(entries) if k < len(e['score'])]
        batch = {
            f: np.stack(
                [entries[i][f][k] if f in entries[i] else np.zeros(shape, dtype) for i in ids]
            )
            for f, (shape, dtype) in FIELDS.items()
            if f != 'tokens'
        }
        has_tokens = 'tokens' in entries[ids[0]]
        batch['tokens'] = np.stack([entries[i]['tokens'][k] for i in ids]) if has_tokens else None
        buffers.push(np.array(ids), k * dt, batch)
    windows = buffers.windows(np.arange(len(entries)), -np.inf, np.inf)
    windows.target = np.array(targets)
    return windows


@pytest.fixture
def windows_of():
    return windows_from_entries


K = np.array([[1000.0, 0.0, 320.0], [0.0, 1000.0, 240.0], [0.0, 0.0, 1.0]])


class StandInEstimator:
    """Estimator protocol over precomputed frames; ``regress`` is the linear stand-in codec."""

    def __init__(self, body_model, frames=()):
        self.body_model = body_model
        self.codec = LinearTokenCodec(0)
        self._frames = list(frames)

    def estimate(self, image, camera):
        return self._frames.pop(0)

    def size_problem(self, width, height):
        return None

    def default_K(self, width, height):
        return K

    def regress(self, tokens):
        return self.codec.regress(tokens)


@pytest.fixture(scope='session')
def estimator_for():
    """``estimator_for(body_model, frames=())`` -> a :class:`StandInEstimator`."""
    return StandInEstimator


@pytest.fixture(scope='session')
def body_model(smplx_dir):
    return SmplxBodyModel.from_smplx_folder(smplx_dir)


@pytest.fixture(scope='session')
def camera():
    return Camera(K, 640, 480, IntrinsicsSource.PARAMETER)


@pytest.fixture(scope='session')
def people_at(body_model):
    codec = LinearTokenCodec(0)

    def make(transl, knee_angle=0.0, score=0.9) -> Bodies:
        """People at ``transl`` (N, 3) m facing the camera, left knee bent by ``knee_angle``."""
        transl = np.asarray(transl, np.float32).reshape(-1, 3)
        n = len(transl)
        pose = np.broadcast_to(np.eye(3, dtype=np.float32), (n, 53, 3, 3)).copy()
        pose[:, 0] = np.diag([1.0, -1.0, -1.0])
        pose[:, 4] = exp_map(np.array([knee_angle, 0.0, 0.0]))
        betas = np.zeros((n, 10), np.float32)
        betas[:, 0] = np.arange(n) * 4.0  # distinct shapes
        expr = np.zeros((n, 10), np.float32)
        joints, _ = body_model.joints_and_vertices(pose, betas, expr, transl, False)
        kp = joints[..., :2] / joints[..., 2:] * 1000.0 + np.array([320.0, 240.0])
        boxes = np.concatenate([kp.min(1), kp.max(1)], 1)[:, None].repeat(4, 1)
        return Bodies(
            scores=np.full(n, score, np.float32),
            boxes=boxes.astype(np.float32),
            pose=pose,
            betas=betas,
            expression=expr,
            transl=transl,
            keypoints_2d=kp.astype(np.float32),
            joints_3d=joints.astype(np.float32),
            tokens=codec.encode(pose, betas, expr),
        )

    return make
