"""Which camera matrix each frame uses: CameraInfo, else the fallback parameter, else the model's.

CameraInfo ``K`` is the raw (distorted) image's matrix and ``K[0] == 0`` means "uncalibrated"
(sensor_msgs/CameraInfo). A CameraInfo whose size differs from the image's is scaled to it
(binning or resizing); without a usable CameraInfo the node degrades loudly: the caller logs
one warning (:attr:`IntrinsicsSelector.fallback_reason`) and every output message says where
its intrinsics came from.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional, Sequence

import numpy as np

from aios_ros.core.types import Camera, IntrinsicsSource

#: why a CameraInfo is not used -> what that means (the counter is ``camera_info_<reason>``)
CAMERA_INFO_REJECTIONS = {
    'non_finite': 'K holds NaN or Inf',
    'uncalibrated': 'K[0] == 0: the camera is uncalibrated',
    'non_positive_focal': 'a focal length is not positive',
    'malformed': 'K is not a camera matrix (its last row is not 0 0 1, or K[3] != 0)',
    'no_size': 'width or height is 0, so K cannot be scaled to the image',
}


def camera_info_problem(K: np.ndarray, width: int, height: int) -> Optional[str]:
    """Why the CameraInfo matrix ``K`` (3, 3) of a ``width`` x ``height`` image cannot be used,
    or None when it can."""
    if not np.isfinite(K).all():
        return 'non_finite'
    if K[0, 0] == 0:
        return 'uncalibrated'
    if K[0, 0] < 0 or K[1, 1] <= 0:
        return 'non_positive_focal'
    if K[1, 0] != 0 or K[2, 0] != 0 or K[2, 1] != 0 or K[2, 2] != 1:
        return 'malformed'
    if width <= 0 or height <= 0:
        return 'no_size'
    return None


class IntrinsicsSelector:
    """Holds the latest CameraInfo intrinsics and picks the camera for each image.

    fallback_K: 9 row-major numbers (px) or all zeros for "not set".
    default_K: ``(width, height) -> (3, 3)`` the estimator's default matrix for an image of that
    size (``Estimator.default_K``).
    """

    def __init__(
        self, fallback_K: Sequence[float], default_K: Callable[[int, int], np.ndarray]
    ) -> None:
        fallback = np.asarray(fallback_K, np.float64).reshape(3, 3)
        self._fallback = fallback if fallback[0, 0] > 0 else None
        self._default_K = default_K
        self._lock = threading.Lock()
        self._info: Optional[tuple[np.ndarray, int, int]] = None
        #: why the last rejected CameraInfo was rejected (:data:`CAMERA_INFO_REJECTIONS`)
        self.rejected: Optional[str] = None

    def update_camera_info(self, k: Sequence[float], width: int, height: int) -> Optional[str]:
        """Store CameraInfo intrinsics; else (ignored) the reason: a key of
        :data:`CAMERA_INFO_REJECTIONS`."""
        K = np.asarray(k, np.float64).reshape(3, 3)
        reason = camera_info_problem(K, width, height)
        if reason is not None:
            self.rejected = reason
            return reason
        with self._lock:
            self._info = (K, int(width), int(height))
        return None

    def camera_for(self, width: int, height: int) -> Camera:
        """The camera for an image of ``width`` x ``height`` px."""
        with self._lock:
            info = self._info
        if info is not None:
            K, info_w, info_h = info
            scale = np.diag([width / info_w, height / info_h, 1.0])
            return Camera(scale @ K, width, height, IntrinsicsSource.CAMERA_INFO)
        if self._fallback is not None:
            return Camera(self._fallback.copy(), width, height, IntrinsicsSource.PARAMETER)
        return Camera(
            np.asarray(self._default_K(width, height), np.float64),
            width,
            height,
            IntrinsicsSource.MODEL_DEFAULT,
        )

    def fallback_reason(self, camera_info_topic: str) -> str:
        """Text of the one warning logged when a frame is processed without CameraInfo."""
        why = (
            f'the CameraInfo on {camera_info_topic} is unusable '
            f'({CAMERA_INFO_REJECTIONS[self.rejected]})'
            if self.rejected
            else f'no CameraInfo received on {camera_info_topic} yet'
        )
        use = (
            'the node.fallback_K parameter'
            if self._fallback is not None
            else 'the model default intrinsics (set node.fallback_K or calibrate the camera; '
            'metric depth is unreliable)'
        )
        return f'{why}: using {use}'
