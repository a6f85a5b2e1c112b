"""A deterministic linear stand-in for AiOS tokens and final heads (plumbing tests only).

Token fusion cannot be judged without AiOS's trained tokens. To exercise the token path end to
end (shapes, dtypes, batching, guard) the evaluation and tests encode SMPL-X parameters linearly
into a (39, 256) fp16 block with a fixed random orthonormal basis, and ``regress`` decodes them
back (rotations projected onto SO(3)). Averaging such tokens is averaging parameters, so this
says nothing about how AiOS's real heads respond to averaged tokens.
"""

from __future__ import annotations

import numpy as np

from aios_ros.core.smplx import NUM_POSE_JOINTS
from aios_ros.core.tokens import TOKEN_DIM, TOKENS_PER_PERSON
from aios_ros.geometry.so3 import project_to_so3

_POSE_DIM = NUM_POSE_JOINTS * 9
_CODE_DIM = _POSE_DIM + 20  # pose matrices, betas, expression


class LinearTokenCodec:
    """encode(pose, betas, expression) -> tokens (N, 39, 256) fp16; regress(tokens) -> params."""

    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        size = TOKENS_PER_PERSON * TOKEN_DIM
        per_code = size // _CODE_DIM
        # Each code entry spreads over its own random token entries with random signs:
        # orthonormal columns without a QR of a 9984 x 497 matrix.
        slots = rng.permutation(size)[: per_code * _CODE_DIM].reshape(_CODE_DIM, per_code)
        basis = np.zeros((size, _CODE_DIM), np.float32)
        basis[slots, np.arange(_CODE_DIM)[:, None]] = rng.choice(
            [-1.0, 1.0], slots.shape
        ) / np.sqrt(per_code)
        self._basis = basis
        self._scale = np.float32(np.sqrt(per_code))

    def encode(self, pose: np.ndarray, betas: np.ndarray, expression: np.ndarray) -> np.ndarray:
        """(N, 53, 3, 3), (N, 10), (N, 10) -> (N, 39, 256) float16."""
        code = np.concatenate([pose.reshape(len(pose), _POSE_DIM), betas, expression], axis=1)
        tokens = (code.astype(np.float32) @ self._basis.T) * self._scale
        return tokens.reshape(-1, TOKENS_PER_PERSON, TOKEN_DIM).astype(np.float16)

    def regress(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        """Estimator.regress contract: tokens (N, 39, 256) -> pose, betas, expression,
        cam (N, 3)."""
        flat = tokens.reshape(len(tokens), -1).astype(np.float32)
        code = (flat @ self._basis) / self._scale
        pose = project_to_so3(code[:, :_POSE_DIM].reshape(-1, NUM_POSE_JOINTS, 3, 3))
        return {
            'pose': pose.astype(np.float32),
            'betas': code[:, _POSE_DIM : _POSE_DIM + 10],
            'expression': code[:, _POSE_DIM + 10 :],
            'cam': np.zeros((len(tokens), 3), np.float32),
        }
