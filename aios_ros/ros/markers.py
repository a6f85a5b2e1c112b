"""Pure builders of the RViz ``MarkerArray`` for the people of one frame.

Layout of every array (frame = the input image's optical frame, stamp = its stamp):

* first a ``DELETEALL`` marker, so markers of people who left disappear in the same message as
  the new ones are added (separate delete and add messages flicker);
* per person, namespace ``aios/mesh`` (``TRIANGLE_LIST``, decimated mesh, only if requested and
  vertices are available), ``aios/skeleton`` (``LINE_LIST``, one segment per kinematic bone)
  and ``aios/label`` (``TEXT_VIEW_FACING`` with the track id above the head).

Marker ids are the track id (mod 2^31), so one person keeps the same ids in every namespace
and frame; untracked people use their index. Colours come from :func:`track_color` (0-1 RGB).
Full SMPL-X meshes are too big for RViz at frame rate (~62k points per person), so the mesh
uses a decimated face set (:func:`aios_ros.body.decimate.decimate_faces`); RViz does not
render in-message mesh files (ros2/rviz#1494), hence the triangle list.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from aios_ros.core.types import Bodies, TrackState
from aios_ros.render.colors import track_color
from aios_ros.ros.messages import copy_header

NS_MESH, NS_SKELETON, NS_LABEL = 'aios/mesh', 'aios/skeleton', 'aios/label'
LINE_WIDTH_M = 0.02
TEXT_HEIGHT_M = 0.12
LABEL_ABOVE_HEAD_M = 0.25
MESH_ALPHA = 0.8


def marker_id(bodies: Bodies, i: int) -> int:
    """Stable int32 marker id of person ``i``: its track id, or ``i`` when untracked."""
    return i if bodies.track_ids is None else int(bodies.track_ids[i]) & 0x7FFFFFFF


def marker_array(
    bodies: Bodies,
    header: Header,
    parents: np.ndarray,
    mesh_faces: Optional[np.ndarray],
    lifetime_s: float,
) -> MarkerArray:
    """DELETEALL followed by mesh, skeleton and label markers of every person.

    Parameters
    ----------
    bodies: people of one frame; ``joints_3d`` (N, J, 3) m, optical frame; the mesh needs
        ``vertices`` (N, V, 3).
    header: input image header (copied into every marker).
    parents: (P,) kinematic parent of each of the first P joints (-1 = root); bones join them.
    mesh_faces: (F', 3) faces of the decimated mesh, or None for no mesh markers.
    lifetime_s: marker lifetime; 0 keeps them until the next DELETEALL.
    """
    out = MarkerArray()
    out.markers.append(Marker(header=copy_header(header), action=Marker.DELETEALL))
    lifetime = Duration(sec=int(lifetime_s), nanosec=int(round((lifetime_s % 1.0) * 1e9)) % 10**9)
    for i in range(len(bodies)):
        out.markers += _person_markers(bodies, i, header, np.asarray(parents), mesh_faces, lifetime)
    return out


def _person_markers(
    bodies: Bodies,
    i: int,
    header: Header,
    parents: np.ndarray,
    mesh_faces: Optional[np.ndarray],
    lifetime: Duration,
) -> list:
    track = None if bodies.track_ids is None else int(bodies.track_ids[i])
    rgb = track_color(track)

    def new(ns: str, kind: int, alpha: float = 1.0) -> Marker:
        m = Marker(
            header=copy_header(header),
            ns=ns,
            id=marker_id(bodies, i),
            type=kind,
            action=Marker.ADD,
            lifetime=lifetime,
            frame_locked=False,
            color=ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=alpha),
        )
        m.pose.orientation.w = 1.0
        return m

    markers = []
    if mesh_faces is not None and bodies.vertices is not None:
        mesh = new(NS_MESH, Marker.TRIANGLE_LIST, MESH_ALPHA)
        mesh.scale.x = mesh.scale.y = mesh.scale.z = 1.0
        mesh.points = _points(bodies.vertices[i][np.asarray(mesh_faces)].reshape(-1, 3))
        markers.append(mesh)
    joints = np.asarray(bodies.joints_3d[i][: len(parents)], np.float64)
    bones = np.flatnonzero(parents >= 0)
    skeleton = new(NS_SKELETON, Marker.LINE_LIST)
    skeleton.scale.x = LINE_WIDTH_M
    skeleton.points = _points(np.stack([joints[bones], joints[parents[bones]]], 1).reshape(-1, 3))
    label = new(NS_LABEL, Marker.TEXT_VIEW_FACING)
    label.scale.z = TEXT_HEIGHT_M
    top = joints[np.argmin(joints[:, 1])]  # optical frame: up is -y
    label.pose.position = Point(
        x=float(top[0]), y=float(top[1]) - LABEL_ABOVE_HEAD_M, z=float(top[2])
    )
    label.text = _label_text(bodies, i)
    return markers + [skeleton, label]


def _label_text(bodies: Bodies, i: int) -> str:
    if bodies.track_ids is None:
        return f'? {bodies.scores[i]:.2f}'
    state = TrackState(int(bodies.track_states[i]))
    suffix = '' if state == TrackState.CONFIRMED else f' ({state.name.lower()})'
    return f'{int(bodies.track_ids[i])}{suffix}'


def _points(xyz: np.ndarray) -> list:
    return [Point(x=x, y=y, z=z) for x, y, z in np.asarray(xyz, np.float64).tolist()]
