"""Coarser triangle lists of the SMPL-X mesh for display (RViz markers, overlays).

Vertex clustering on the mesh graph: vertices are grouped into connected patches of at most ``k``
vertices (breadth-first growth from seeds taken in vertex-id order), every vertex is replaced by
its patch's seed, and triangles that do not span three patches are dropped (as are duplicates).
The result keeps the silhouette and indexes ORIGINAL vertex ids (the seeds), so it can be drawn
with the full posed vertex array. It needs only the topology and is fully deterministic; ``k``
is the smallest patch size that meets the face budget.
"""

from __future__ import annotations

from collections import deque

import numpy as np


def decimate_faces(faces: np.ndarray, max_faces: int) -> np.ndarray:
    """(F, 3) int triangles -> (F', 3) int64 triangles with F' <= max_faces, same vertex ids.

    Returns ``faces`` unchanged (as int64) if it is already small enough. Orientation (winding) of
    the kept triangles is preserved.
    """
    faces = np.asarray(faces, dtype=np.int64)
    if max_faces < 1:
        raise ValueError(f'max_faces must be >= 1, got {max_faces}')
    if len(faces) <= max_faces:
        return faces
    neighbours = _adjacency(faces)
    low, high = 1, 2  # face count falls with the patch size k: bracket the budget, then bisect
    best = _collapse(faces, _patches(neighbours, high))
    while len(best) > max_faces:
        low, high = high, 2 * high
        best = _collapse(faces, _patches(neighbours, high))
    while high - low > 1:
        mid = (low + high) // 2
        candidate = _collapse(faces, _patches(neighbours, mid))
        if len(candidate) <= max_faces:
            high, best = mid, candidate
        else:
            low = mid
    return best


def _adjacency(faces: np.ndarray) -> list[np.ndarray]:
    """Sorted neighbour ids of every vertex 0..max(faces)."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.unique(np.concatenate([edges, edges[:, ::-1]]), axis=0)
    n = int(faces.max()) + 1
    split = np.searchsorted(edges[:, 0], np.arange(1, n))
    return np.split(edges[:, 1], split)


def _patches(neighbours: list[np.ndarray], k: int) -> np.ndarray:
    """(V,) seed vertex of each vertex's patch (connected, <= k vertices)."""
    seed = np.full(len(neighbours), -1, np.int64)
    for start in range(len(neighbours)):
        if seed[start] >= 0:
            continue
        seed[start], size, queue = start, 1, deque([start])
        while queue and size < k:
            for v in neighbours[queue.popleft()]:
                if seed[v] < 0 and size < k:
                    seed[v] = start
                    size += 1
                    queue.append(v)
    return seed


def _collapse(faces: np.ndarray, seed: np.ndarray) -> np.ndarray:
    mapped = seed[faces]
    keep = (
        (mapped[:, 0] != mapped[:, 1])
        & (mapped[:, 1] != mapped[:, 2])
        & (mapped[:, 2] != mapped[:, 0])
    )
    mapped = mapped[keep]
    _, first = np.unique(np.sort(mapped, axis=1), axis=0, return_index=True)
    return mapped[np.sort(first)]
