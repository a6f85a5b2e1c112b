"""What the RViz markers and the overlay draw of a body model: its bones and a decimated mesh."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from aios_ros.body.decimate import decimate_faces
from aios_ros.core.types import BodyModel


class DisplayGeometry(NamedTuple):
    """Skeleton and triangles shared by the markers, the overlay and ``BodyModelInfo``.

    parents: (P,) int kinematic parent of each of the first P joints, -1 for the root.
    faces: (F', 3) int64 triangles of the decimated mesh (original vertex ids).
    """

    parents: np.ndarray
    faces: np.ndarray


def display_geometry(body_model: BodyModel, max_faces: int) -> DisplayGeometry:
    """Bones of ``body_model`` and its mesh decimated to at most ``max_faces`` triangles
    (``node.markers.mesh_faces``); built once at start-up, the decimation takes a while."""
    return DisplayGeometry(
        np.asarray(body_model.skeleton_parents()), decimate_faces(body_model.faces, max_faces)
    )
