"""Closed triangle meshes of ellipsoid-like body parts, used by the synthetic SMPL-X generator.

Each part is a genus-0 shell: ``k`` latitude rings (ring sizes follow ``sin(theta)``) between two
pole vertices. Neighbouring rings of different sizes are stitched with a "zipper" walk in azimuth
order, so a part with ``B`` vertices always has exactly ``2 * B - 4`` triangles, for any ``B >= 8``.
That makes the total vertex count of a model an exact, free choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_PART_VERTICES = 8


@dataclass(frozen=True)
class Part:
    """One body part: a (super-)ellipsoid around a bone.

    center: (3,) metres. axis: (3,) unit vector along the bone. side: (3,) unit vector orthogonal to
    ``axis`` (first cross-section direction). half_length: semi-axis along ``axis`` (m).
    radii: semi-axes along ``side`` and ``axis x side`` (m). profile: exponent of ``sin(theta)``
    (1 = ellipsoid, < 1 = fuller, capsule-like). joints: SMPL-X joints allowed to skin it, owner
    first. density: relative vertex density (SMPL-X is much denser on the face and hands than
    elsewhere).
    """

    name: str
    center: tuple
    axis: tuple
    side: tuple
    half_length: float
    radii: tuple
    profile: float
    joints: tuple
    density: float = 1.0

    @property
    def area(self) -> float:
        """Rough surface area (m^2), used only to share the vertex budget between parts."""
        a, (b, c) = self.half_length, self.radii
        return (
            4.0
            * np.pi
            * ((a * b) ** 1.6 + (a * c) ** 1.6 + (b * c) ** 1.6) ** (1 / 1.6)
            / 3 ** (1 / 1.6)
        )


def _ring_sizes(n_ring_vertices: int) -> np.ndarray:
    """Vertices per latitude ring (each >= 3) summing exactly to ``n_ring_vertices``."""
    k = max(2, int(round(np.sqrt(n_ring_vertices / 2.0))))
    while k > 1 and 3 * k > n_ring_vertices:
        k -= 1
    theta = np.pi * (np.arange(k) + 1) / (k + 1)
    share = np.sin(theta) / np.sin(theta).sum() * (n_ring_vertices - 3 * k)
    sizes = 3 + np.floor(share).astype(np.int64)
    order = np.argsort(-(share - np.floor(share)), kind='stable')
    sizes[order[: n_ring_vertices - sizes.sum()]] += 1
    return sizes


def _zipper(ring_a: np.ndarray, phi_a: np.ndarray, ring_b: np.ndarray, phi_b: np.ndarray) -> list:
    """Triangles between two closed rings (vertex ids with increasing azimuths in [0, 2 pi))."""
    m, n = len(ring_a), len(ring_b)

    def unwrap(phi, i):
        return phi[i % len(phi)] + 2 * np.pi * (i // len(phi))

    tris, i, j = [], 0, 0
    while i < m or j < n:
        if j == n or (i < m and unwrap(phi_a, i + 1) <= unwrap(phi_b, j + 1)):
            tris.append((ring_a[i % m], ring_a[(i + 1) % m], ring_b[j % n]))
            i += 1
        else:
            tris.append((ring_a[i % m], ring_b[(j + 1) % n], ring_b[j % n]))
            j += 1
    return tris


def mesh_part(part: Part, n_vertices: int, first_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (n_vertices, 3) and outward-oriented faces (2 n_vertices - 4, 3) of one part.

    Face indices are offset by ``first_index`` (the part's position in the whole mesh).
    """
    if n_vertices < MIN_PART_VERTICES:
        raise ValueError(f'part {part.name!r} needs at least {MIN_PART_VERTICES} vertices')
    center, axis, side = (np.asarray(v, np.float64) for v in (part.center, part.axis, part.side))
    third = np.cross(axis, side)
    sizes = _ring_sizes(n_vertices - 2)
    k = len(sizes)
    theta = np.pi * (np.arange(k) + 1) / (k + 1)
    points = [center + axis * part.half_length]
    rings, phis, start = [], [], 1
    for r, (size, th) in enumerate(zip(sizes, theta)):
        phi = (2 * np.pi * (np.arange(size) + 0.5 * (r % 2)) / size) % (2 * np.pi)
        phi = np.sort(phi)
        radial = np.sin(th) ** part.profile
        ring = (
            center
            + axis * part.half_length * np.cos(th)
            + radial
            * (
                np.outer(np.cos(phi), side) * part.radii[0]
                + np.outer(np.sin(phi), third) * part.radii[1]
            )
        )
        points.extend(ring)
        rings.append(np.arange(start, start + size))
        phis.append(phi)
        start += size
    points.append(center - axis * part.half_length)
    south = start
    tris = [(0, rings[0][q], rings[0][(q + 1) % len(rings[0])]) for q in range(len(rings[0]))]
    for r in range(k - 1):
        tris.extend(_zipper(rings[r], phis[r], rings[r + 1], phis[r + 1]))
    last = rings[-1]
    tris.extend((south, last[(q + 1) % len(last)], last[q]) for q in range(len(last)))
    verts = np.asarray(points)
    faces = np.asarray(tris, dtype=np.int64)
    _orient_outward(verts, faces, center)
    return verts, faces + first_index


def _orient_outward(verts: np.ndarray, faces: np.ndarray, center: np.ndarray) -> None:
    """Flip (in place) triangles whose normal points towards the part centre (parts are
    star-shaped)."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    normal = np.cross(b - a, c - a)
    inward = np.einsum('ij,ij->i', normal, (a + b + c) / 3 - center) < 0
    faces[inward] = faces[inward][:, ::-1]


def split_budget(parts: list[Part], total: int) -> np.ndarray:
    """Vertices per part (each >= MIN_PART_VERTICES, ~ area x density) summing to ``total``."""
    spare = total - MIN_PART_VERTICES * len(parts)
    if spare < 0:
        raise ValueError(f'num_vertices must be >= {MIN_PART_VERTICES * len(parts)}, got {total}')
    area = np.array([p.area * p.density for p in parts])
    share = area / area.sum() * spare
    counts = MIN_PART_VERTICES + np.floor(share).astype(np.int64)
    order = np.argsort(-(share - np.floor(share)), kind='stable')
    counts[order[: total - counts.sum()]] += 1
    return counts
