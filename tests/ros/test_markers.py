"""RViz marker builders: DELETEALL first, stable ids, 0-1 colours, mesh only when asked for.

(The face decimation itself is aios_ros.body.decimate, tested in tests/body.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from aios_ros.core.types import Camera, IntrinsicsSource, TrackState
from aios_ros.ros.markers import NS_LABEL, NS_MESH, NS_SKELETON, marker_array, marker_id

sys.path.insert(0, str(Path(__file__).resolve().parent))
from estimator_double import CountingEstimator  # noqa: E402

CAMERA = Camera(
    np.array([[100.0, 0, 32], [0, 100.0, 24], [0, 0, 1]]), 64, 48, IntrinsicsSource.PARAMETER
)


def people(n: int, ids=None):
    bodies = CountingEstimator().estimate(np.full((48, 64, 3), 50 * n, np.uint8), CAMERA)
    if ids is not None:
        bodies.track_ids = np.asarray(ids, np.int64)
        bodies.track_states = np.full(n, TrackState.CONFIRMED, np.uint8)
    return bodies


@pytest.fixture(scope='module')
def model():
    return CountingEstimator().body_model


def header(sec: int) -> Header:
    h = Header(frame_id='cam_optical')
    h.stamp.sec = sec
    return h


def draw(bodies, sec: int, model, with_mesh: bool = True, lifetime_s: float = 1.0):
    return marker_array(
        bodies,
        header(sec),
        model.skeleton_parents(),
        model.faces if with_mesh else None,
        lifetime_s,
    )


def by_ns(array_msg) -> dict:
    out: dict = {}
    for m in array_msg.markers[1:]:
        out.setdefault(m.ns, {})[m.id] = m
    return out


def test_delete_all_comes_first_and_every_marker_carries_the_header(model):
    msg = draw(people(2, [7, 9]), 5, model, lifetime_s=0.5)
    first = msg.markers[0]
    assert first.action == Marker.DELETEALL and first.ns == ''
    assert first.header.frame_id == 'cam_optical'
    assert all(m.action == Marker.ADD for m in msg.markers[1:])
    assert all(m.header.stamp.sec == 5 and m.header.frame_id == 'cam_optical' for m in msg.markers)
    assert len({id(m.header) for m in msg.markers}) == len(msg.markers), 'headers must not alias'
    assert all((m.lifetime.sec, m.lifetime.nanosec) == (0, 500_000_000) for m in msg.markers[1:])


def test_empty_frame_is_just_a_delete_all(model):
    msg = draw(people(0), 1, model)
    assert [m.action for m in msg.markers] == [Marker.DELETEALL]


def test_ids_are_the_track_ids_and_stable_across_frames(model):
    a = by_ns(draw(people(2, [7, 9]), 1, model))
    b = by_ns(draw(people(2, [9, 7]), 2, model))
    for ns in (NS_MESH, NS_SKELETON, NS_LABEL):
        assert set(a[ns]) == set(b[ns]) == {7, 9}
        for track in (7, 9):
            assert a[ns][track].color == b[ns][track].color
    assert a[NS_LABEL][7].text == '7'
    assert a[NS_SKELETON][7].color != a[NS_SKELETON][9].color


def test_untracked_people_use_their_index_and_large_ids_fit_int32(model):
    bodies = people(2)
    assert [marker_id(bodies, i) for i in range(2)] == [0, 1]
    bodies = people(1, [2**40 + 3])
    assert 0 <= marker_id(bodies, 0) < 2**31


def test_colours_are_0_to_1_floats(model):
    msg = draw(people(3, [1, 2, 3]), 1, model)
    for m in msg.markers[1:]:
        rgba = (m.color.r, m.color.g, m.color.b, m.color.a)
        assert all(0.0 <= c <= 1.0 for c in rgba) and m.color.a > 0


def test_geometry_of_skeleton_label_and_mesh(model):
    bodies = people(1, [4])
    ns = by_ns(draw(bodies, 1, model))
    skeleton = ns[NS_SKELETON][4]
    assert skeleton.type == Marker.LINE_LIST and len(skeleton.points) == 2 * 54  # 54 bones
    p = skeleton.points
    assert (p[0].x, p[0].y, p[0].z) == pytest.approx(tuple(bodies.joints_3d[0, 1]))
    assert (p[1].x, p[1].y, p[1].z) == pytest.approx(tuple(bodies.joints_3d[0, 0]))
    label = ns[NS_LABEL][4]
    assert label.type == Marker.TEXT_VIEW_FACING
    assert label.pose.position.y < bodies.joints_3d[0, :, 1].min()  # above the head (-y is up)
    mesh = ns[NS_MESH][4]
    assert mesh.type == Marker.TRIANGLE_LIST and len(mesh.points) == 3 * len(model.faces)
    v0 = bodies.vertices[0][model.faces[0, 0]]
    assert (mesh.points[0].x, mesh.points[0].y, mesh.points[0].z) == pytest.approx(tuple(v0))


def test_no_mesh_without_faces_or_vertices(model):
    bodies = people(2, [1, 2])
    assert NS_MESH not in by_ns(draw(bodies, 1, model, with_mesh=False))
    bodies.vertices = None
    assert NS_MESH not in by_ns(draw(bodies, 1, model))
