"""A small deterministic implementation of our own ``Estimator`` protocol for node tests.

It stands in for the AiOS network (too slow for a many-frame node test on CI's two cores), not
for any ROS, torch or smplx code: the number of people is read from the image itself (mean blue
value / 50, rounded) so a test controls the output by the pixels it publishes, and every person
is a fixed stick figure with a small sphere mesh, placed side by side 3 m in front of the camera.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from aios_ros.core.smplx import NUM_POSE_JOINTS
from aios_ros.core.types import Bodies, Camera

NUM_JOINTS = 55


def _sphere(rings: int = 8, segments: int = 12, radius: float = 0.25):
    """UV sphere: (V, 3) vertices and (F, 3) outward-facing faces."""
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack(np.meshgrid(theta, phi, indexing='ij'), -1).reshape(-1, 2)
    verts = np.concatenate(
        [
            [[0, -radius, 0]],
            np.stack(
                [
                    radius * np.sin(ring[:, 0]) * np.cos(ring[:, 1]),
                    -radius * np.cos(ring[:, 0]),
                    radius * np.sin(ring[:, 0]) * np.sin(ring[:, 1]),
                ],
                1,
            ),
            [[0, radius, 0]],
        ]
    )
    idx = 1 + np.arange(len(ring)).reshape(rings - 1, segments)
    nxt = np.roll(idx, -1, axis=1)
    faces = [
        np.stack([idx[:-1], nxt[:-1], idx[1:]], -1),
        np.stack([nxt[:-1], nxt[1:], idx[1:]], -1),
    ]
    faces = np.concatenate([f.reshape(-1, 3) for f in faces])
    top = np.stack([np.zeros(segments, int), nxt[0], idx[0]], 1)
    bottom = np.stack([np.full(segments, len(verts) - 1), idx[-1], nxt[-1]], 1)
    faces = np.concatenate([top, faces, bottom])[:, ::-1]  # counter-clockwise seen from outside
    return verts.astype(np.float32), np.ascontiguousarray(faces, np.int64)


class StickBodyModel:
    """Joints on a vertical chain (y up = -y optical) and a sphere at the pelvis; pose ignored."""

    def __init__(self) -> None:
        self.joint_names = [f'joint_{i}' for i in range(NUM_JOINTS)]
        self.vertex_requests: list[bool] = []  # with_vertices of every call, newest last
        self.vertices, self.faces = _sphere()
        self.joints = np.stack(
            [np.zeros(NUM_JOINTS), -np.linspace(0, 1.7, NUM_JOINTS), np.zeros(NUM_JOINTS)], 1
        ).astype(np.float32)

    def skeleton_parents(self) -> np.ndarray:
        return np.arange(-1, NUM_JOINTS - 1)

    def joints_and_vertices(self, pose, betas, expression, transl, with_vertices):
        self.vertex_requests.append(bool(with_vertices))
        transl = np.asarray(transl, np.float32)[:, None]
        return self.joints + transl, (self.vertices + transl) if with_vertices else None


class CountingEstimator:
    """People count = round(mean blue value / 50); person i stands at x = i - (n - 1) / 2 m."""

    def __init__(self) -> None:
        self.body_model = StickBodyModel()
        self.calls = 0
        #: the number of images of every estimate_batch call (one per forward)
        self.batches: list[int] = []

    def estimate_batch(self, images, cameras) -> list[Bodies]:
        self.batches.append(len(images))
        return [self.estimate(image, camera) for image, camera in zip(images, cameras)]

    def estimate(self, image: np.ndarray, camera: Camera) -> Bodies:
        self.calls += 1
        n = int(round(float(image[..., 0].mean()) / 50.0))
        transl = np.stack([np.arange(n) - (n - 1) / 2, np.zeros(n), np.full(n, 3.0)], 1)
        model = self.body_model
        joints, vertices = model.joints + transl[:, None], model.vertices + transl[:, None]
        uvw = joints @ camera.K.T
        keypoints = (uvw[..., :2] / uvw[..., 2:]).astype(np.float32)
        lo, hi = keypoints.min(axis=1), keypoints.max(axis=1)
        boxes = np.repeat(np.concatenate([lo, hi], 1)[:, None], 4, axis=1)
        tokens = np.array([np.random.default_rng(i).standard_normal((39, 256)) for i in range(n)])
        return Bodies(
            scores=np.full(n, 0.9, np.float32),
            boxes=boxes.astype(np.float32),
            pose=np.broadcast_to(np.eye(3, dtype=np.float32), (n, NUM_POSE_JOINTS, 3, 3)).copy(),
            betas=np.zeros((n, 10), np.float32),
            expression=np.zeros((n, 10), np.float32),
            transl=transl.astype(np.float32),
            keypoints_2d=keypoints,
            joints_3d=joints.astype(np.float32),
            vertices=vertices.astype(np.float32),
            tokens=tokens.reshape(n, 39, 256).astype(np.float16),
        )

    def size_problem(self, width: int, height: int) -> Optional[str]:
        """The double's minimum: 8 x 8 pixels (the node tests send smaller images too)."""
        return None if min(width, height) >= 8 else f'{width}x{height} is below 8x8'

    def default_K(self, width: int, height: int) -> np.ndarray:
        """The double's uncalibrated camera: focal length = image width, centred."""
        return np.array([[width, 0.0, width / 2], [0.0, width, height / 2], [0.0, 0.0, 1.0]])

    def regress(self, tokens: np.ndarray) -> dict:
        n = len(tokens)
        identity = np.broadcast_to(np.eye(3, dtype=np.float32), (n, NUM_POSE_JOINTS, 3, 3))
        return {
            'pose': identity.copy(),
            'betas': np.zeros((n, 10), np.float32),
            'expression': np.zeros((n, 10), np.float32),
            'cam': np.tile(np.array([1.0, 0.0, 0.0], np.float32), (n, 1)),
        }
