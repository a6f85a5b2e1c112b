"""A real SMPL-X body model (synthetic file) and people built from its own forward pass."""
from __future__ import annotations

import numpy as np
import pytest

from aios_ros.body.body_model import SmplxBodyModel
from aios_ros.pipeline.types import Bodies, Camera, IntrinsicsSource
from aios_ros.geometry.so3 import exp_map
from aios_ros.temporal.token_codec import LinearTokenCodec

K = np.array([[1000.0, 0.0, 320.0], [0.0, 1000.0, 240.0], [0.0, 0.0, 1.0]])


class StandInEstimator:
    """Estimator protocol over precomputed frames; ``regress`` is the linear stand-in codec."""

    def __init__(self, body_model, frames=()):
        self.body_model = body_model
        self.codec = LinearTokenCodec(0)
        self._frames = list(frames)

    def estimate(self, image, camera):
        return self._frames.pop(0)

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
        betas[:, 0] = np.arange(n) * 4.0                      # distinct shapes
        expr = np.zeros((n, 10), np.float32)
        joints, _ = body_model.joints_and_vertices(pose, betas, expr, transl, False)
        kp = joints[..., :2] / joints[..., 2:] * 1000.0 + np.array([320.0, 240.0])
        boxes = np.concatenate([kp.min(1), kp.max(1)], 1)[:, None].repeat(4, 1)
        return Bodies(scores=np.full(n, score, np.float32), boxes=boxes.astype(np.float32), pose=pose,
                      betas=betas, expression=expr, transl=transl, keypoints_2d=kp.astype(np.float32),
                      joints_3d=joints.astype(np.float32), tokens=codec.encode(pose, betas, expr))
    return make
