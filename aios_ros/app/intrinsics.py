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
        self.uncalibrated_seen = False

    def update_camera_info(self, k: Sequence[float], width: int, height: int) -> bool:
        """Store CameraInfo intrinsics; False (ignored) if the camera is uncalibrated."""
        K = np.asarray(k, np.float64).reshape(3, 3)
        if K[0, 0] <= 0 or K[1, 1] <= 0 or width <= 0 or height <= 0:
            self.uncalibrated_seen = True
            return False
        with self._lock:
            self._info = (K, int(width), int(height))
        return True

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
            'the camera is uncalibrated (K[0] == 0)'
            if self.uncalibrated_seen
            else f'no CameraInfo received on {camera_info_topic} yet'
        )
        use = (
            'the node.fallback_K parameter'
            if self._fallback is not None
            else 'the model default intrinsics (set node.fallback_K or calibrate the camera; '
            'metric depth is unreliable)'
        )
        return f'{why}: using {use}'
