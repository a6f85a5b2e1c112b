"""Batched 3D rotation conversions (torch; numpy arrays in -> numpy arrays out).

Conventions: rotation matrices act on column vectors (``x' = R @ x``); axis-angle = unit axis x
angle in radians; quaternions are ``(w, x, y, z)``. Leading dimensions are free (``...``).

Two conversions reproduce the AiOS heads bit-for-bit and must not be "improved":

* ``rot6d_to_rotmat``: the HMR/SPIN layout -- the 6 numbers are a row-major (3, 2) matrix, i.e.
  column 1 = elements (0, 2, 4), column 2 = (1, 3, 5); Gram-Schmidt; R = [b1 b2 b1 x b2] as columns.
* ``rotmat_to_axis_angle``: pytorch3d 0.6.1 semantics (``matrix_to_quaternion`` then
  ``quaternion_to_axis_angle``) WITHOUT quaternion sign standardisation: the chosen quaternion may
  have w < 0, so the angle can lie in (pi, 2 pi). Same rotation, different vector -- and SMPL-X adds
  the mean hand pose in axis-angle space, so the vector itself matters. Everything that is not
  AiOS parity uses the principal logarithm of :mod:`aios_ros.geometry.so3` (angle in [0, pi]).
"""

from __future__ import annotations

import functools
from typing import Callable, Protocol, TypeVar, cast

import numpy as np
import torch
import torch.nn.functional as F

ArrayT = TypeVar('ArrayT', torch.Tensor, np.ndarray)


class _TensorOrArrayFunction(Protocol):
    """A conversion taking a tensor or a numpy array and returning the same kind."""

    def __call__(self, x: ArrayT, /) -> ArrayT: ...


def _numpy_friendly(fn: Callable[[torch.Tensor], torch.Tensor]) -> _TensorOrArrayFunction:
    """Let ``fn`` take and return numpy arrays too (dtype preserved, no copy on the way in)."""

    @functools.wraps(fn)
    def wrapper(x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
        if isinstance(x, np.ndarray):
            return fn(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        return fn(x)

    # numpy in -> numpy out, tensor in -> tensor out (what a constrained type variable says, but
    # functools.wraps cannot be typed for a generic function)
    return cast(_TensorOrArrayFunction, wrapper)


@_numpy_friendly
def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) AiOS 6D rotation -> (..., 3, 3) rotation matrix (module docstring)."""
    m = x.reshape(*x.shape[:-1], 3, 2)
    a1, a2 = m[..., 0], m[..., 1]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - torch.einsum('...i,...i->...', b1, a2).unsqueeze(-1) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


@_numpy_friendly
def rotmat_to_quaternion(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) (w, x, y, z), pytorch3d 0.6.1 semantics, sign NOT standardised.

    Of the four algebraically equivalent candidates (one per largest diagonal term) the one with
    the largest ``sqrt(max(0, .))`` term is kept; its denominator is floored at 0.1.
    """
    m = rotmat.reshape(*rotmat.shape[:-2], 9)
    m00, m01, m02, m10, m11, m12, m20, m21, m22 = m.unbind(-1)
    diag = torch.stack(
        [
            1.0 + m00 + m11 + m22,
            1.0 + m00 - m11 - m22,
            1.0 - m00 + m11 - m22,
            1.0 - m00 - m11 + m22,
        ],
        dim=-1,
    )
    q_abs = torch.where(diag > 0, torch.sqrt(diag.clamp(min=0)), torch.zeros_like(diag))
    candidates = torch.stack(
        [
            torch.stack([q_abs[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01], dim=-1),
            torch.stack([m21 - m12, q_abs[..., 1] ** 2, m10 + m01, m02 + m20], dim=-1),
            torch.stack([m02 - m20, m10 + m01, q_abs[..., 2] ** 2, m12 + m21], dim=-1),
            torch.stack([m10 - m01, m20 + m02, m21 + m12, q_abs[..., 3] ** 2], dim=-1),
        ],
        dim=-2,
    )
    best = q_abs.argmax(dim=-1, keepdim=True)
    chosen = torch.take_along_dim(candidates, best[..., None], dim=-2)[..., 0, :]
    denom = 2.0 * torch.take_along_dim(q_abs, best, dim=-1).clamp(min=0.1)
    return chosen / denom


@_numpy_friendly
def quaternion_to_axis_angle(quat: torch.Tensor) -> torch.Tensor:
    """(..., 4) (w, x, y, z), any sign -> (..., 3); angle = 2 atan2(|v|, w) in [0, 2 pi]."""
    v = quat[..., 1:]
    half = torch.atan2(torch.linalg.vector_norm(v, dim=-1, keepdim=True), quat[..., :1])
    angle = 2.0 * half
    small = angle.abs() < 1e-6
    safe = torch.where(small, torch.ones_like(angle), angle)
    # sin(a/2)/a, with its Taylor series near 0 (both branches evaluated; only one is kept)
    ratio = torch.where(small, 0.5 - angle * angle / 48.0, torch.sin(half) / safe)
    return v / ratio


def rotmat_to_axis_angle(rotmat: ArrayT) -> ArrayT:
    """(..., 3, 3) -> (..., 3) exactly as AiOS' ``rotmat_to_aa`` (|aa| may exceed pi)."""
    return quaternion_to_axis_angle(rotmat_to_quaternion(rotmat))
