"""Camera models that turn the predicted (s, tx, ty) into a 3D translation and 2D projections.

Official model: full perspective with a fixed focal length of 5000 px at the network input
(resized, unpadded image) and the principal point at its centre; the body origin sits at
``t = (tx/s, ty/s, 1/s)`` metres (with s + 1e-9). That depth is only metric if the real camera
happens to have a 5000 px focal length at the network input.

Metric variant (opt-in, ``ModelConfig.metric_camera``): keep what the image shows — where the
body origin projects and how large the body appears — but explain it with the real intrinsics K:
``z = f_real / (5000 * scale * s)`` and x, y back-projected from the origin's image position.
"""

from __future__ import annotations

import numpy as np
import torch

from aios_ros.model.preprocess import input_size

FOCAL = 5000.0


def cam_to_translation(cam: torch.Tensor) -> torch.Tensor:
    """(..., 3) (s, tx, ty) -> (..., 3) official translation (tx/s', ty/s', 1/s'), s' = s + 1e-9."""
    s = cam[..., 0] + 1e-9
    return torch.stack((cam[..., 1] / s, cam[..., 2] / s, 1.0 / s), dim=-1)


def project(points: torch.Tensor, transl: torch.Tensor, img_hw: torch.Tensor) -> torch.Tensor:
    """Official projection: points (..., J, 3) body frame, transl (..., 3), img_hw (..., 2) size of
    the network input -> (..., J, 2) pixels of the network input; u = 5000*X/Z + w/2."""
    p = points + transl[..., None, :]
    uv = p[..., :2] / p[..., 2:3]
    centre = img_hw.flip(-1).to(points.dtype)[..., None, :] / 2
    return FOCAL * uv + centre


def metric_translation(
    cam: torch.Tensor, K: torch.Tensor, input_hw: torch.Tensor, scale_xy: torch.Tensor
) -> torch.Tensor:
    """Translation (..., 3) in metres for a camera with intrinsics K (3, 3) of the original image.

    cam (..., 3) = (s, tx, ty); input_hw (2,) network input size; scale_xy (2,) original pixels
    per network-input pixel. The body origin projects to ``u = 5000*tx + w/2`` at the network
    input and one metre spans ``5000*s`` pixels there; both are mapped to original pixels and
    explained with K's focal lengths and principal point.
    """
    s = cam[..., 0] + 1e-9
    centre_in = input_hw.flip(-1).to(cam.dtype) / 2
    origin = (FOCAL * cam[..., 1:3] + centre_in) * scale_xy
    focal = torch.stack((K[0, 0], K[1, 1])).to(cam.dtype)
    z = (focal / (FOCAL * scale_xy)).mean() / s
    xy = (origin - K[:2, 2].to(cam.dtype)) * z[..., None] / focal
    return torch.cat((xy, z[..., None]), dim=-1)


def default_K(width: int, height: int, short_side: int, max_size: int) -> np.ndarray:
    """(3, 3) camera matrix that AiOS implicitly assumes for a ``width`` x ``height`` image.

    The network sees the image resized to ``input_size`` (short side ``short_side``, long side
    at most ``max_size``) with a 5000 px focal length and the principal point at the centre; in
    original pixels that is 5000 divided by the resize factor of each axis, and the image centre.
    """
    in_h, in_w = input_size(height, width, short_side, max_size)
    return np.array(
        [
            [FOCAL * width / in_w, 0.0, width / 2.0],
            [0.0, FOCAL * height / in_h, height / 2.0],
            [0.0, 0.0, 1.0],
        ]
    )
