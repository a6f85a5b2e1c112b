"""numpy-facing SMPL-X body model (the ``BodyModel`` protocol of ``aios_ros.core.types``).

Used after temporal fusion changed the parameters, by the ROS node (meshes, skeleton markers) and
by the overlay renderer. Poses are rotation matrices in AiOS joint order ``[global_orient,
body 21, left hand 15, right hand 15, jaw]``; outputs are in the camera optical frame (metres):
SMPL-X body-frame points plus the per-person translation ``transl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np
import torch
from smplx.joint_names import JOINT_NAMES

from aios_ros.body.smplx_layer import NUM_OUTPUT_JOINTS, SmplxLayer
from aios_ros.core.smplx import NUM_POSE_JOINTS, POSE_SLICES

# 55 skeleton joints, 21 vertex keypoints, 51 face landmarks and the 17 face-contour landmarks,
# in the order of the model's joint output.
SMPLX_JOINT_NAMES: tuple[str, ...] = tuple(JOINT_NAMES[:NUM_OUTPUT_JOINTS])


class SmplxBodyModel:
    """SMPL-X forward kinematics on numpy arrays, wrapping a ``SmplxLayer``.

    Attributes: ``faces`` (F, 3) int64, ``joint_names`` (144 names, output order), ``layer``.
    """

    def __init__(self, layer: SmplxLayer) -> None:
        self.layer = layer.eval()
        self.faces: np.ndarray = layer.faces_tensor.cpu().numpy().astype(np.int64)
        self.joint_names: list[str] = list(SMPLX_JOINT_NAMES)

    @classmethod
    def from_smplx_folder(cls, path: str | Path) -> 'SmplxBodyModel':
        """From a user-supplied SMPL-X folder or ``SMPLX_NEUTRAL.npz`` (see ``SmplxLayer``)."""
        return cls(SmplxLayer.from_smplx_folder(path))

    @property
    def num_vertices(self) -> int:
        return self.layer.num_vertices

    def skeleton_parents(self) -> np.ndarray:
        """(55,) int64 parent of each skeleton joint (-1 for the pelvis), SMPL-X kinematic tree."""
        return self.layer.parents.cpu().numpy().astype(np.int64)

    def joints_and_vertices(
        self,
        pose: np.ndarray,
        betas: np.ndarray,
        expression: np.ndarray,
        transl: np.ndarray,
        with_vertices: bool,
    ) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """Posed joints and (optionally) vertices of N people in the camera frame.

        pose (N, 53, 3, 3) rotation matrices (AiOS order, mean hand pose NOT included);
        betas (N, 10); expression (N, 10); transl (N, 3) metres.
        Returns joints (N, 144, 3) float32 and vertices (N, V, 3) float32 or None.
        """
        n = _check_inputs(pose, betas, expression, transl)
        if n == 0:
            empty_vertices = np.zeros((0, self.num_vertices, 3), np.float32)
            return (
                np.zeros((0, NUM_OUTPUT_JOINTS, 3), np.float32),
                empty_vertices if with_vertices else None,
            )
        ref = self.layer.v_template
        # one host -> device copy of every input and one copy back of every output
        arrays = (pose, betas, expression, transl)
        inputs = [np.asarray(a, np.float32).reshape(n, -1) for a in arrays]
        sizes = [a.shape[1] for a in inputs]
        packed = torch.from_numpy(np.concatenate(inputs, axis=1)).to(ref.device, ref.dtype)
        rot, betas_t, expression_t, transl_t = torch.split(packed, sizes, dim=1)
        rot = rot.reshape(n, -1, 3, 3)
        parts = {name: rot[:, s] for name, s in POSE_SLICES.items()}
        with torch.inference_mode():
            out = self.layer(
                parts['global_orient'],
                parts['body_pose'],
                parts['left_hand_pose'],
                parts['right_hand_pose'],
                parts['jaw_pose'],
                betas_t,
                expression_t,
                with_vertices=with_vertices,
            )
            posed = [out.joints] if out.vertices is None else [out.joints, out.vertices]
            host = (torch.cat(posed, dim=1) + transl_t[:, None]).cpu().numpy()
        host = host.astype(np.float32, copy=False)
        joints = host[:, : out.joints.shape[1]]
        return joints, (host[:, out.joints.shape[1] :] if with_vertices else None)


def _check_inputs(
    pose: np.ndarray, betas: np.ndarray, expression: np.ndarray, transl: np.ndarray
) -> int:
    pose, betas = np.asarray(pose), np.asarray(betas)
    n = pose.shape[0] if pose.ndim else -1
    expected = {
        'pose': (pose, (n, NUM_POSE_JOINTS, 3, 3)),
        'betas': (betas, (n, 10)),
        'expression': (np.asarray(expression), (n, 10)),
        'transl': (np.asarray(transl), (n, 3)),
    }
    for name, (array, shape) in expected.items():
        if array.shape != shape:
            raise ValueError(f'{name} must have shape {shape} (N = {n}), got {array.shape}')
    return n
