"""Overlay renderer: pixel checks on hand-placed cubes (projection, colour, occlusion, culling)."""

import numpy as np

from aios_ros.core.types import Bodies, Camera, IntrinsicsSource
from aios_ros.geometry.pinhole import project
from aios_ros.render.colors import track_color
from aios_ros.render.overlay import render_overlay

K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
CAM = Camera(K=K, width=640, height=480, source=IntrinsicsSource.PARAMETER)
# Unit cube corners and its 12 triangles, wound counter-clockwise seen from outside.
CORNERS = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
QUADS = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
FACES = np.array([t for a, b, c, d in QUADS for t in ((a, b, c), (a, c, d))])
PARENTS = np.array([-1, 0])


def cubes(centres, size, ids):
    verts = np.stack([CORNERS * size + np.asarray(c) for c in centres]).astype(np.float32)
    n = len(centres)
    joints = np.stack([[c, np.asarray(c) + (0, -size, 0)] for c in centres]).astype(np.float32)
    kp = project(joints.astype(np.float64), K).astype(np.float32)
    boxes = np.zeros((n, 4, 4), np.float32)
    boxes[:, 0] = np.concatenate([kp.min(1) - 20, kp.max(1) + 20], axis=1)
    return Bodies(
        scores=np.ones(n, np.float32),
        boxes=boxes,
        pose=np.tile(np.eye(3, dtype=np.float32), (n, 53, 1, 1)),
        betas=np.zeros((n, 10), np.float32),
        expression=np.zeros((n, 10), np.float32),
        transl=np.asarray(centres, np.float32),
        keypoints_2d=kp,
        joints_3d=joints,
        vertices=verts,
        track_ids=np.asarray(ids, np.int64),
    )


def test_track_colors_stable_and_distinct():
    assert track_color(7) == track_color(7)
    cols = [track_color(i) for i in range(10)]
    assert all(0.0 <= c <= 1.0 for col in cols for c in col)
    dist = min(np.abs(np.subtract(a, b)).sum() for i, a in enumerate(cols) for b in cols[i + 1 :])
    assert dist > 0.05


def test_cube_lands_where_projected_with_track_colour():
    img = np.full((480, 640, 3), 40, np.uint8)
    out = render_overlay(img, cubes([(0.2, 0.0, 3.0)], 0.5, [4]), CAM, FACES, PARENTS, alpha=1.0)
    assert np.array_equal(img, np.full((480, 640, 3), 40, np.uint8))  # input untouched
    # Front face at z = 2.75 spans x in [-0.05, 0.45] -> u in [311, 402], v in [149, 331].
    u0, u1 = 320 + 500 * -0.05 / 2.75, 320 + 500 * 0.45 / 2.75
    expect = np.array(track_color(4)[::-1]) * 255
    px = out[200, int((u0 + u1) / 2)].astype(float)
    # Headlight shading of a face almost facing the camera: between 0.9x and 1x the colour.
    assert np.all(px <= expect + 1) and np.all(px >= 0.9 * expect - 1)
    assert np.array_equal(out[200, int(u0) - 4], img[200, 0])  # just left of the cube
    assert np.array_equal(out[200, int(u1) + 6], img[200, 0])  # just right of it
    assert np.array_equal(out[100, 100], img[100, 100])  # far away


def test_near_person_occludes_far_person_in_any_order():
    img = np.zeros((480, 640, 3), np.uint8)
    near, far = (0.0, 0.0, 2.0), (0.1, 0.0, 4.0)
    a = render_overlay(img, cubes([near, far], 0.5, [1, 2]), CAM, FACES, PARENTS, alpha=1.0)
    b = render_overlay(img, cubes([far, near], 0.5, [2, 1]), CAM, FACES, PARENTS, alpha=1.0)
    hue = a[240, 330].astype(float) / np.array(track_color(1)[::-1]) / 255
    assert np.allclose(hue, hue.mean(), atol=0.02)  # it is track 1's colour
    assert np.array_equal(a[240, 330], b[240, 330])
    # Right of the near cube (u > 320 + 500*0.25/1.75 = 391) the far one is visible.
    far_px = a[240, 400].astype(float) / np.array(track_color(2)[::-1]) / 255
    assert np.allclose(far_px, far_px.mean(), atol=0.02)


def test_winding_does_not_matter_and_alpha_blends():
    img = np.full((480, 640, 3), 100, np.uint8)
    body = cubes([(0.0, 0.0, 3.0)], 0.5, [0])
    ccw = render_overlay(img, body, CAM, FACES, PARENTS, alpha=1.0)
    cw = render_overlay(img, body, CAM, FACES[:, ::-1], PARENTS, alpha=1.0)
    assert np.array_equal(ccw[200:280, 280:360], cw[200:280, 280:360])
    half = render_overlay(img, body, CAM, FACES, PARENTS, alpha=0.5)
    assert np.allclose(
        half[250, 345].astype(float), (ccw[250, 345].astype(float) + 100) / 2, atol=1
    )


def test_without_vertices_draws_skeleton_and_label_only():
    img = np.zeros((480, 640, 3), np.uint8)
    body = cubes([(0.0, 0.0, 3.0)], 0.5, [9])
    body.vertices = None
    out = render_overlay(img, body, CAM, FACES, PARENTS, note='untrained weights')
    assert out[240, 320].any()  # the bone root -> child passes the centre
    assert not out[240, 320 + 60].any()  # no mesh beside it
    # note text (anti-aliased: its brightest pixel is 255 with OpenCV 5, 247 with OpenCV 4)
    assert out[5, 5].sum() == 0 and out[4:20, 4:60].max() > 200


def test_empty_bodies_return_copy():
    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
    out = render_overlay(img, Bodies.empty(2), CAM, FACES, PARENTS)
    assert np.array_equal(out, img) and out is not img
