"""Data that flows between the estimator, the temporal stage and the ROS layer.

Conventions used everywhere in the core:

* Images are ``uint8`` BGR, shape (H, W, 3) (OpenCV order, what ``cv2.imdecode`` returns).
* Pixel coordinates are in the original (un-resized) input image, x right, y down.
* 3D quantities are metres in the camera optical frame (REP 103 ``*_optical``: x right, y down,
  z forward), the same axes as SMPL-X camera space.
* Rotations are 3x3 matrices in the core; axis-angle (radians) only at the message boundary.
* SMPL-X pose joints are kept in AiOS order (:mod:`aios_ros.core.smplx`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import IntEnum
from typing import Any, Optional, Protocol, Sequence

import numpy as np

from aios_ros.core.smplx import NUM_BETAS, NUM_EXPRESSION, NUM_POSE_JOINTS


class TrackState(IntEnum):
    """Track life-cycle state; values are the ``SmplxBody.TRACK_*`` message constants."""

    UNTRACKED = 0
    TENTATIVE = 1
    CONFIRMED = 2
    COASTING = 3


class IntrinsicsSource(IntEnum):
    """Where the camera matrix came from; values are the ``SmplxBodyArray.INTRINSICS_*``
    constants."""

    CAMERA_INFO = 0
    PARAMETER = 1
    MODEL_DEFAULT = 2


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics of the input image.

    ``K`` is (3, 3) float64 in pixels of the original image; ``width``/``height`` in pixels.
    """

    K: np.ndarray
    width: int
    height: int
    source: IntrinsicsSource


@dataclass
class Bodies:
    """All people of one frame; every array has leading dimension N (N may be 0).

    scores:       (N,) float32 in [0, 1], detection confidence.
    boxes:        (N, 4, 4) float32, [body, left hand, right hand, face] boxes, pixel xyxy.
    pose:         (N, 53, 3, 3) float32 rotation matrices in AiOS joint order (module docstring).
    betas:        (N, 10) float32 SMPL-X shape coefficients.
    expression:   (N, 10) float32 SMPL-X expression coefficients.
    transl:       (N, 3) float32, body-model origin in the camera optical frame, metres.
    keypoints_2d: (N, J, 2) float32 projected SMPL-X joints, pixels.
    joints_3d:    (N, J, 3) float32 SMPL-X joints in the camera optical frame, metres.
    vertices:     (N, V, 3) float32 mesh in the camera optical frame, metres, or None.
    tokens:       (N, 39, 256) float16 final-decoder-layer token block per person, or None.
    track_ids:    (N,) int64 identity per person, or None before tracking.
    track_states: (N,) uint8 ``TrackState`` values, or None before tracking.
    """

    scores: np.ndarray
    boxes: np.ndarray
    pose: np.ndarray
    betas: np.ndarray
    expression: np.ndarray
    transl: np.ndarray
    keypoints_2d: np.ndarray
    joints_3d: np.ndarray
    vertices: Optional[np.ndarray] = None
    tokens: Optional[np.ndarray] = None
    track_ids: Optional[np.ndarray] = None
    track_states: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    @classmethod
    def empty(cls, num_joints: int) -> 'Bodies':
        """No people; array shapes stay well defined (N = 0)."""
        f = np.float32
        return cls(
            scores=np.zeros((0,), f),
            boxes=np.zeros((0, 4, 4), f),
            pose=np.zeros((0, NUM_POSE_JOINTS, 3, 3), f),
            betas=np.zeros((0, NUM_BETAS), f),
            expression=np.zeros((0, NUM_EXPRESSION), f),
            transl=np.zeros((0, 3), f),
            keypoints_2d=np.zeros((0, num_joints, 2), f),
            joints_3d=np.zeros((0, num_joints, 3), f),
        )

    @staticmethod
    def concatenate(parts: list['Bodies']) -> 'Bodies':
        """The people of ``parts`` (at least one) in order; an optional field (vertices, tokens,
        track ids, track states) is kept only if every part has it."""
        values = {f.name: [getattr(p, f.name) for p in parts] for f in fields(Bodies)}
        merged: dict[str, Any] = {  # field name -> array or None (the optional fields)
            k: None if any(x is None for x in v) else np.concatenate(v) for k, v in values.items()
        }
        return Bodies(**merged)

    def select(self, index: np.ndarray) -> 'Bodies':
        """The people at ``index`` (integer array or boolean mask), in that order."""
        selected: dict[str, Any] = {  # field name -> array or None (the optional fields)
            f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[index]
            for f in fields(self)
        }
        return replace(self, **selected)


class BodyModel(Protocol):
    """SMPL-X forward kinematics used after temporal fusion changes the parameters."""

    faces: np.ndarray  # (F, 3) int64 triangle vertex indices
    joint_names: list[str]  # J names, in output order

    def joints_and_vertices(
        self,
        pose: np.ndarray,
        betas: np.ndarray,
        expression: np.ndarray,
        transl: np.ndarray,
        with_vertices: bool,
    ) -> tuple[np.ndarray, Optional[np.ndarray]]:
        """(N,53,3,3), (N,10), (N,10), (N,3) -> joints (N,J,3), vertices (N,V,3) or None."""

    def skeleton_parents(self) -> np.ndarray:
        """(55,) int parent of each skeleton joint (the first 55 joints), -1 for the root."""


class Estimator(Protocol):
    """A per-frame multi-person SMPL-X estimator (the AiOS model implements it)."""

    @property
    def body_model(self) -> BodyModel:
        """Forward kinematics of the estimator's SMPL-X model (read-only: an implementation may
        hold a more specific ``BodyModel``)."""

    def default_K(self, width: int, height: int) -> np.ndarray:
        """(3, 3) camera matrix (px) the estimator assumes for a ``width`` x ``height`` image when
        the camera is not calibrated."""

    def size_problem(self, width: int, height: int) -> Optional[str]:
        """Why a ``width`` x ``height`` image cannot go through the estimator (one line), or None;
        asked before :meth:`default_K` and :meth:`estimate`, which may assume a usable size."""

    def estimate(self, image: np.ndarray, camera: Camera) -> Bodies:
        """One BGR uint8 image (H, W, 3) -> the people in it, sorted by descending score.

        Returns every candidate above the estimator's low candidate threshold (the tracker's
        second association stage uses low-score candidates); ``tokens`` is filled.
        """

    def estimate_batch(
        self, images: Sequence[np.ndarray], cameras: Sequence[Camera]
    ) -> list[Bodies]:
        """:meth:`estimate` of each image (with its camera) in one pass: the frames of several
        cameras go through the network together."""

    def regress(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        """Re-run the final SMPL-X heads on token blocks (N, 39, 256).

        Returns ``pose`` (N, 53, 3, 3), ``betas`` (N, 10), ``expression`` (N, 10) and
        ``cam`` (N, 3) (s, tx, ty) as the model's final layer would for those tokens.
        """


@dataclass
class StreamFrame:
    """Bodies of one output stream for one input frame; ``key`` is what the caller passed in
    with that frame (the ROS layer passes the image header) so outputs can be stamped exactly."""

    key: object
    bodies: Bodies


@dataclass
class PipelineOutput:
    """What one processed input frame yields: the raw stream for this frame, and the fused
    stream for the frame ``lag_frames`` back (None while the fusion window is still filling)."""

    raw: StreamFrame
    fused: Optional[StreamFrame]
    lag_frames: int
