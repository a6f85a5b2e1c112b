"""Rotation-matrix utilities on SO(3), batched over any leading dimensions.

All functions take and return float arrays; rotations are (..., 3, 3), tangent vectors
(axis * angle, radians) are (..., 3). Averaging is done on matrices (chordal L2 mean), never on
axis-angle components (docs/temporal.md §7).
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-8


def exp_map(w: np.ndarray) -> np.ndarray:
    """Rodrigues: tangent vector (..., 3) -> rotation matrix (..., 3, 3)."""
    return np.ascontiguousarray(np.moveaxis(exp_map_cf(np.moveaxis(w, -1, 0)), (0, 1), (-2, -1)))


def log_map(r: np.ndarray) -> np.ndarray:
    """Rotation matrix (..., 3, 3) -> tangent vector (..., 3), angle in [0, pi]."""
    return np.ascontiguousarray(np.moveaxis(log_map_cf(np.moveaxis(r, (-2, -1), (0, 1))), 0, -1))


# Component-first ("cf") forms: tangent vectors (3, ...), matrices (3, 3, ...). numpy is slow on
# broadcasts whose innermost axis has length 3, so batched filters work in this layout.


def exp_map_cf(w: np.ndarray) -> np.ndarray:
    """Rodrigues, component-first: tangent vectors (3, ...) -> rotation matrices (3, 3, ...).

    R = I + a hat(w) + b hat(w)^2 with hat(w)^2 = w w^T - |w|^2 I, i.e.
    R = b w w^T + a hat(w) + (1 - b |w|^2) I, written per component.
    """
    x, y, z = w[0], w[1], w[2]
    theta2 = x * x + y * y + z * z
    small = theta2 < 1e-12
    theta = np.sqrt(np.where(small, 1.0, theta2))
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(theta) / theta)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(theta)) / (theta * theta))
    c = 1.0 - b * theta2
    bx, by, ax, ay, az = b * x, b * y, a * x, a * y, a * z
    bxy, bxz, byz = bx * y, bx * z, by * z
    out = np.empty((3, 3) + w.shape[1:], dtype=np.result_type(w, np.float32))
    out[0, 0], out[0, 1], out[0, 2] = bx * x + c, bxy - az, bxz + ay
    out[1, 0], out[1, 1], out[1, 2] = bxy + az, by * y + c, byz - ax
    out[2, 0], out[2, 1], out[2, 2] = bxz - ay, byz + ax, b * z * z + c
    return out


def log_map_cf(r: np.ndarray) -> np.ndarray:
    """Inverse of :func:`exp_map_cf`: rotation matrices (3, 3, ...) -> tangent vectors (3, ...),
    angle in [0, pi].

    Near pi the axis is taken from the symmetric part (R + I) / 2 = n n^T, which stays accurate
    where the antisymmetric part vanishes.
    """
    trace = r[0, 0] + r[1, 1] + r[2, 2]
    cos = np.clip((trace - 1.0) / 2.0, -1.0, 1.0)
    theta = np.arccos(cos)
    sin = np.sin(theta)
    scale = np.where(theta < 1e-6, 0.5 + theta**2 / 12.0, theta / (2.0 * np.maximum(sin, _EPS)))
    out = np.stack(
        [(r[2, 1] - r[1, 2]) * scale, (r[0, 2] - r[2, 0]) * scale, (r[1, 0] - r[0, 1]) * scale]
    )
    near_pi = theta > np.pi - 1e-3
    if np.any(near_pi):
        out[:, near_pi] = _log_near_pi(
            np.moveaxis(r[:, :, near_pi], (0, 1), (-2, -1)), theta[near_pi]
        ).T
    return out


def compose_cf(a: np.ndarray, b: np.ndarray, transpose_a: bool = False) -> np.ndarray:
    """Matrix products a @ b (or a^T @ b) of component-first matrices (3, 3, ...)."""
    if transpose_a:  # (a^T b)[i, k] = sum_j a[j, i] b[j, k]
        product: np.ndarray = (a[:, :, None] * b[:, None]).sum(axis=0)
    else:
        product = (a[:, :, None] * b[None]).sum(axis=1)
    return product


def _log_near_pi(r: np.ndarray, theta: np.ndarray) -> np.ndarray:
    sym = (r + np.swapaxes(r, -1, -2)) / 2.0 + np.eye(3)
    col = np.argmax(np.linalg.norm(sym, axis=-2), axis=-1)
    axis = np.take_along_axis(sym, col[:, None, None], axis=-1)[..., 0]
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    vee = np.stack([r[:, 2, 1] - r[:, 1, 2], r[:, 0, 2] - r[:, 2, 0], r[:, 1, 0] - r[:, 0, 1]], -1)
    sign = np.where(np.sum(axis * vee, axis=-1) < 0, -1.0, 1.0)
    rotvec: np.ndarray = axis * (sign * theta)[:, None]
    return rotvec


def project_to_so3(m: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Closest rotation (Frobenius) to each (..., 3, 3) matrix: U diag(1, 1, det(U V^T)) V^T.

    Batched SVDs of 3x3 matrices are slow in numpy, so well-conditioned matrices with det > 0
    use Newton's polar iteration X <- (X + X^-T) / 2, stopped after a step smaller than ``tol``
    (remaining error below tol^2 / 2: ~1e-12 by default); the rest, and any row that has not
    converged, use the SVD.
    """
    flat = np.asarray(m, dtype=np.float64).reshape(-1, 9)
    x, ok = _newton_polar(flat.T.copy(), tol=tol)
    out = x.T
    if not np.all(ok):
        out[~ok] = _svd_project(flat[~ok].reshape(-1, 3, 3)).reshape(-1, 9)
    return out.reshape(m.shape)


def _cofactor_index() -> tuple[np.ndarray, ...]:
    """Row-major indices such that cof = x[i1] * x[i2] - x[i3] * x[i4] for x (9, n):
    cof[r, c] = X[r+1, c+1] X[r+2, c+2] - X[r+1, c+2] X[r+2, c+1] (indices mod 3)."""
    r, c = np.divmod(np.arange(9), 3)

    def flat(dr: int, dc: int) -> np.ndarray:
        return 3 * ((r + dr) % 3) + (c + dc) % 3

    return flat(1, 1), flat(2, 2), flat(1, 2), flat(2, 1)


_COF = _cofactor_index()


def _newton_polar(
    x: np.ndarray, iters: int = 12, tol: float = 1e-6
) -> tuple[np.ndarray, np.ndarray]:
    """x: (9, n) row-major components -> (polar factors (9, n), usable (n,) bool).

    Convergence is quadratic (singular values 1 + e -> 1 + e^2 / 2): after a step smaller than
    ``tol`` the remaining error is below tol^2 / 2 (5e-13), so the iteration stops there.
    """
    scale = np.maximum(np.sqrt(np.sum(x * x, axis=0) / 3.0), 1e-300)
    x = x / scale
    i1, i2, i3, i4 = _COF
    ok = None
    for _ in range(iters):
        cof = x[i1] * x[i2] - x[i3] * x[i4]  # X^-T = cof / det
        det = np.sum(x[:3] * cof[:3], axis=0)
        if ok is None:
            ok = det > 1e-3  # det <= 0 needs the det fix of the SVD; tiny det converges slowly
            det = np.where(ok, det, 1.0)
        step = 0.5 * (cof / det - x)
        x = x + step
        change = np.max(np.abs(step), axis=0)
        if np.max(change[ok], initial=0.0) < tol:
            break
    ok &= change < tol
    return x, ok


def _svd_project(m: np.ndarray) -> np.ndarray:
    u, _, vt = np.linalg.svd(m)
    det = np.linalg.det(u @ vt)
    u = u.copy()
    u[..., :, 2] *= det[..., None]
    rotations: np.ndarray = u @ vt
    return rotations


def chordal_mean(rotations: np.ndarray, weights: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """Weighted chordal L2 mean: rotations (..., K, 3, 3), weights broadcastable to (..., K).

    Weights need not be normalised (the projection is scale-invariant) but must not all be 0.
    ``tol``: stopping step of :func:`project_to_so3`.
    """
    return project_to_so3(np.einsum('...k,...kab->...ab', weights, rotations), tol)


def geodesic_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (radians) of a^T b for rotations (..., 3, 3)."""
    return angle_from_trace(np.einsum('...ij,...ij->...', a, b))


def angle_from_trace(trace: np.ndarray) -> np.ndarray:
    """Rotation angle (radians) of rotations (...) given their traces (...)."""
    return np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))


def rotation_about(axis: np.ndarray, angle: float | np.ndarray) -> np.ndarray:
    """Rotation matrix about unit ``axis`` (3,) by ``angle`` radians (scalar or (...,))."""
    axis = np.asarray(axis, dtype=np.float64)
    angle = np.asarray(angle, dtype=np.float64)
    return exp_map(axis / np.linalg.norm(axis) * angle[..., None])
