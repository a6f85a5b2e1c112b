"""Overlay of estimated bodies on the input image: shaded meshes, skeletons, boxes and ids.

Meshes are drawn with the painter's algorithm: every visible triangle of every person is
projected with the camera matrix, sorted far-to-near by centroid depth and filled with OpenCV,
flat-shaded by a headlight (Lambert on the face normal, light at the camera centre). Sorting
all people's triangles together resolves person-to-person occlusion. All geometry is vectorised
numpy; only the fill itself loops (cv2 has no batched fill with per-polygon colours).
"""

from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from aios_ros.core.types import Bodies, Camera
from aios_ros.geometry.pinhole import project
from aios_ros.render.colors import track_color

NEAR_M = 0.05  # triangles with a vertex closer than this (m) are not drawn
_SHIFT = 4  # fixed-point fraction bits for sub-pixel cv2 drawing
_AMBIENT = 0.3


def body_colors_bgr(bodies: Bodies) -> np.ndarray:
    """(N, 3) float BGR in [0, 1], one colour per person from its track id (grey if untracked)."""
    ids = [None] * len(bodies) if bodies.track_ids is None else [int(i) for i in bodies.track_ids]
    return np.array([track_color(i)[::-1] for i in ids], np.float64).reshape(-1, 3)


def render_overlay(
    image_bgr: np.ndarray,
    bodies: Bodies,
    camera: Camera,
    faces: np.ndarray,
    parents: np.ndarray,
    alpha: float = 0.7,
    note: Optional[str] = None,
) -> np.ndarray:
    """Draw ``bodies`` over a copy of ``image_bgr`` and return it.

    Parameters
    ----------
    image_bgr: (H, W, 3) uint8 BGR input image (not modified).
    bodies: people of this frame; meshes need ``bodies.vertices`` (N, V, 3) in the camera
        optical frame (m); without vertices only skeletons, boxes and ids are drawn.
    camera: intrinsics of ``image_bgr`` (``camera.K`` (3, 3), pixels).
    faces: (F, 3) vertex indices of the triangles to draw (a decimated subset is faster).
    parents: (P,) kinematic parent of each of the first P joints, -1 for the root.
    alpha: mesh opacity in [0, 1].
    note: optional text written in the top-left corner (e.g. a warning about the weights).
    """
    out = np.ascontiguousarray(image_bgr).copy()
    colors = body_colors_bgr(bodies)
    if bodies.vertices is not None and len(bodies):
        layer = mesh_layer(out.shape[:2], bodies.vertices, camera.K, faces, colors)
        # Every mesh pixel has all channels >= 1 (mesh_layer), so its grey value is >= 1.
        mask = cv2.cvtColor(layer, cv2.COLOR_BGR2GRAY) > 0
        blend = cv2.addWeighted(layer, alpha, out, 1.0 - alpha, 0.0)
        np.copyto(out, blend, where=mask[..., None])
    draw_skeletons(out, bodies, parents, colors)
    draw_labels(out, bodies, colors)
    if note:
        draw_note(out, note)
    return out


def mesh_layer(
    shape: tuple[int, int],
    vertices: np.ndarray,
    K: np.ndarray,
    faces: np.ndarray,
    colors_bgr: np.ndarray,
) -> np.ndarray:
    """(H, W, 3) uint8 image holding only the shaded meshes; untouched pixels stay 0.

    vertices: (N, V, 3) camera-frame metres; faces: (F, 3); colors_bgr: (N, 3) in [0, 1].
    """
    height, width = shape
    layer = np.zeros((height, width, 3), np.uint8)
    tris = np.asarray(vertices, np.float64)[:, np.asarray(faces)]  # (N, F, 3, 3)
    owner = np.broadcast_to(np.arange(tris.shape[0])[:, None], tris.shape[:2]).reshape(-1)
    normals = _outward_normals(tris).reshape(-1, 3)
    tris = tris.reshape(-1, 3, 3)
    centroid = tris.mean(axis=1)
    # Front-facing triangles point towards the camera at the origin: n . c < 0.
    keep = (tris[:, :, 2] > NEAR_M).all(axis=1) & (np.einsum('ij,ij->i', normals, centroid) < 0)
    uv = project(tris[keep], K)  # (M, 3, 2)
    inside = ((uv.max(axis=1) >= 0) & (uv.min(axis=1) < (width, height))).all(axis=1)
    uv, normals, centroid, owner = (
        uv[inside],
        normals[keep][inside],
        centroid[keep][inside],
        owner[keep][inside],
    )
    cos = np.abs(np.einsum('ij,ij->i', normals, centroid)) / (
        np.linalg.norm(normals, axis=1) * np.linalg.norm(centroid, axis=1) + 1e-12
    )
    shade = _AMBIENT + (1.0 - _AMBIENT) * cos
    # Never exactly 0 so that the layer's non-zero pixels are the mesh mask.
    rgb = np.clip(colors_bgr[owner] * shade[:, None] * 255.0, 1, 255).astype(np.int32)
    order = np.argsort(-centroid[:, 2], kind='stable')  # far to near
    limit = 8 * max(width, height)
    pts = (np.clip(uv[order], -limit, limit) * (1 << _SHIFT)).round().astype(np.int32)
    # Per-row conversion: one big .tolist() keeps thousands of lists alive at once, which can
    # trigger a full garbage collection over a large heap (torch), costing 100s of ms.
    for poly, col in zip(pts, rgb[order]):
        cv2.fillConvexPoly(layer, poly, col.tolist(), cv2.LINE_8, _SHIFT)
    return layer


def _outward_normals(tris: np.ndarray) -> np.ndarray:
    """(N, F, 3) face normals (unnormalised) pointing out of each person's mesh.

    The winding convention is taken from the sign of each mesh's signed volume, so both CCW- and
    CW-wound meshes are culled correctly.
    """
    v0, v1, v2 = tris[:, :, 0], tris[:, :, 1], tris[:, :, 2]
    normals = np.cross(v1 - v0, v2 - v0)
    signed_volume = np.einsum('nfi,nfi->n', v0, np.cross(v1, v2))
    sign = np.where(signed_volume < 0, -1.0, 1.0)
    return normals * sign[:, None, None]


def draw_skeletons(
    image: np.ndarray, bodies: Bodies, parents: np.ndarray, colors_bgr: np.ndarray
) -> None:
    """Bones (joint -> parent) of the first len(parents) keypoints of every person, in place."""
    parents = np.asarray(parents)
    child = np.nonzero(parents >= 0)[0]
    for n in range(len(bodies)):
        in_front = bodies.joints_3d[n, : len(parents), 2] > NEAR_M
        ok = in_front[child] & in_front[parents[child]]
        kp = bodies.keypoints_2d[n]
        segs = np.stack([kp[child[ok]], kp[parents[child[ok]]]], axis=1)
        if not len(segs):
            continue
        segs = (np.clip(segs, -1e5, 1e5) * (1 << _SHIFT)).round().astype(np.int32)
        color = tuple(float(c) * 255 for c in colors_bgr[n] * 0.6)
        cv2.polylines(image, list(segs), False, color, 2, cv2.LINE_AA, _SHIFT)


def draw_labels(image: np.ndarray, bodies: Bodies, colors_bgr: np.ndarray) -> None:
    """Body box and ``id <track id>`` (or ``#<index>`` when untracked) per person, in place."""
    for n in range(len(bodies)):
        x0, y0, x1, y1 = (int(round(v)) for v in np.clip(bodies.boxes[n, 0], -1e5, 1e5))
        color = tuple(float(c) * 255 for c in colors_bgr[n])
        cv2.rectangle(image, (x0, y0), (x1, y1), color, 1, cv2.LINE_AA)
        text = f'#{n}' if bodies.track_ids is None else f'id {int(bodies.track_ids[n])}'
        org = (max(x0, 0), max(y0 - 4, 12))
        cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA)


def draw_note(image: np.ndarray, text: str) -> None:
    """White ``text`` on a black strip at the top-left corner, in place."""
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(image, (0, 0), (w + 8, h + base + 6), (0, 0, 0), -1)
    cv2.putText(
        image, text, (4, h + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA
    )
