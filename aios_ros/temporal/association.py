"""Association costs between tracks and detections, and gated Hungarian matching.

Every cost term lies in [0, 1]; the combined cost is the weighted mean of the terms that are
available for a pair (a term is unavailable when its cue is missing, e.g. no tokens), so stage
thresholds are comparable whichever cues exist. Gated pairs get ``INFEASIBLE``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

INFEASIBLE = 1e5


def mahalanobis(mean: np.ndarray, cov: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of points (N, 3) from each of M Gaussians mean (M, 3),
    cov (M, 3, 3)."""
    diff = points[None, :, :] - mean[:, None, :]
    sol = diff @ np.linalg.inv(cov)  # cov is symmetric: (cov^-1 diff)^T = diff^T cov^-1
    distance: np.ndarray = np.sqrt(np.maximum(np.sum(diff * sol, axis=-1), 0.0))
    return distance


def combine(terms: list[tuple[float, np.ndarray | None]]) -> np.ndarray:
    """Weighted mean of (weight, cost (M, N) with NaN = unavailable) terms; None terms are
    skipped."""
    num: float | np.ndarray = 0.0
    den: float | np.ndarray = 0.0
    for weight, cost in terms:
        if cost is None or weight <= 0.0:
            continue
        if np.isnan(cost).any():
            ok = ~np.isnan(cost)
            num = num + weight * np.where(ok, cost, 0.0)
            den = den + weight * ok
        else:  # the common case: the cue exists for every pair
            num = num + weight * cost
            den = den + weight
    if isinstance(den, float) and den == 0.0:
        raise ValueError('no association cue has a positive weight')
    return np.where(den > 0, num / np.maximum(den, 1e-12), INFEASIBLE)


def match(cost: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one pairs (row, col) of ``cost`` (M, N) with cost < threshold."""
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < threshold]
