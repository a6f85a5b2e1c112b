"""Predictions from a replay output bag (SmplxBodyArray messages) as a :class:`PersonTable`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Reader

from aios_ros.evaluation.layout import PersonTable, make_table
from aios_ros.ros.bags import ARRAY_T, make_typestore
from aios_ros.ros.stamps import stamp_ns

STREAMS = {'raw': 0, 'fused': 1}


def tables_from_bag(path: str | Path, topic: str | None = None) -> dict[str, PersonTable]:
    """The 'raw' and 'fused' streams of all SmplxBodyArray messages in the bag (optionally only
    on ``topic``), read in one pass; one frame per message, ordered by header stamp."""
    store = make_typestore()
    frames = {stream: [] for stream in STREAMS}
    stream_of = {code: stream for stream, code in STREAMS.items()}
    with Reader(path) as reader:
        conns = [
            c
            for c in reader.connections
            if c.msgtype == ARRAY_T and (topic is None or c.topic == topic)
        ]
        if not conns:
            raise ValueError(f'{path}: no {ARRAY_T} topic' + (f' named {topic}' if topic else ''))
        for conn, _, raw in reader.messages(connections=conns):
            msg = store.deserialize_cdr(raw, ARRAY_T)
            if msg.stream in stream_of:
                frames[stream_of[msg.stream]].append(msg)
    return {
        stream: _to_table(sorted(msgs, key=lambda m: stamp_ns(m.header)))
        for stream, msgs in frames.items()
    }


def _to_table(frames: list) -> PersonTable:
    stamps = [stamp_ns(m.header) for m in frames]
    bodies = [(f, b) for f, m in enumerate(frames) for b in m.bodies]
    if not bodies:
        return make_table(
            stamps,
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros((0, 0, 2)),
            np.zeros((0, 0, 3)),
            np.zeros((0, 4)),
        )
    with_vertices = all(len(b.vertices) for _, b in bodies)
    return make_table(
        stamps,
        [f for f, _ in bodies],
        [b.track_id for _, b in bodies],
        np.stack([np.reshape(b.keypoints_2d, (-1, 2)) for _, b in bodies]),
        np.stack([np.reshape(b.joints_3d, (-1, 3)) for _, b in bodies]),
        np.stack([b.body_box for _, b in bodies]),
        np.stack([np.reshape(b.vertices, (-1, 3)) for _, b in bodies]) if with_vertices else None,
    )
