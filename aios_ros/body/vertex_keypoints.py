"""Keypoint vertices of SMPL-X-format files that cannot use smplx's hard-coded vertex ids.

smplx reads 21 keypoints (nose, eyes, ears, finger tips, toes, heels) off fixed vertex ids of the
real 10475-vertex mesh. A file with another topology may carry its own ids under
``KEYPOINT_IDS_KEY`` (in the order of ``KEYPOINT_VERTEX_NAMES``); :func:`smplx_keypoint_ids` makes
smplx use them while it constructs a model from that file.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import numpy as np

#: extra key of an SMPL-X ``.npz`` (ignored by smplx itself) holding the 21 keypoint vertex ids
KEYPOINT_IDS_KEY = 'keypoint_vertex_ids'
# Same order as smplx.vertex_ids.vertex_ids['smplx'].
KEYPOINT_VERTEX_NAMES = (
    'nose',
    'reye',
    'leye',
    'rear',
    'lear',
    'rthumb',
    'rindex',
    'rmiddle',
    'rring',
    'rpinky',
    'lthumb',
    'lindex',
    'lmiddle',
    'lring',
    'lpinky',
    'LBigToe',
    'LSmallToe',
    'LHeel',
    'RBigToe',
    'RSmallToe',
    'RHeel',
)


@contextlib.contextmanager
def smplx_keypoint_ids(path: str | Path) -> Iterator[None]:
    """Let smplx construct a model from a file that carries its own keypoint vertex ids (a small
    SMPL-X-format file, e.g. the synthetic stand-in); a no-op for every other file.

    smplx's ``VertexJointSelector`` reads ``smplx.vertex_ids.vertex_ids['smplx']`` (hard-coded real
    SMPL-X ids up to 9929) in its constructor only. For a file carrying ``keypoint_vertex_ids``
    those entries are replaced by the file's ids while the block runs, and restored afterwards.
    ``path`` is the .npz file or a folder holding ``smplx/SMPLX_NEUTRAL.npz`` or
    ``SMPLX_NEUTRAL.npz``.
    """
    import smplx.vertex_ids as smplx_vertex_ids

    table = smplx_vertex_ids.vertex_ids['smplx']
    ids = _file_keypoint_ids(Path(path))
    saved = dict(table)
    if ids is not None:
        table.update({name: int(i) for name, i in zip(KEYPOINT_VERTEX_NAMES, ids)})
    try:
        yield
    finally:
        table.clear()
        table.update(saved)


def _file_keypoint_ids(path: Path) -> np.ndarray | None:
    for candidate in (path, path / 'smplx' / 'SMPLX_NEUTRAL.npz', path / 'SMPLX_NEUTRAL.npz'):
        if candidate.is_file():
            with np.load(candidate) as data:
                return data[KEYPOINT_IDS_KEY] if KEYPOINT_IDS_KEY in data.files else None
    return None
