"""rosbag2 plumbing for the offline tools: typestore with the aios_ros messages, deterministic
serialization of rclpy messages, and reading image topics.

Why messages are converted instead of serialized with rclpy: ``rclpy.serialization`` (Fast DDS)
leaves CDR alignment padding uninitialised, so the same message can give different bytes. The
replay tool builds every output with the node's own rclpy builders (one code path), converts it
field by field into the equivalent ``rosbags`` object (driven by the typestore's field
definitions, registered from the package's ``msg/*.msg`` text) and lets rosbags serialize it,
which zero-fills padding: same input, same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

PACKAGE = 'aios_ros'
MSG_NAMES = ('SmplxBody', 'SmplxBodyArray', 'BodyModelInfo')
IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
ARRAY_T = 'aios_ros/msg/SmplxBodyArray'
INFO_T = 'aios_ros/msg/BodyModelInfo'
MARKERS_T = 'visualization_msgs/msg/MarkerArray'
TF_T = 'tf2_msgs/msg/TFMessage'
_DTYPES = {
    'bool': np.bool_,
    'byte': np.uint8,
    'char': np.uint8,
    'octet': np.uint8,
    'int8': np.int8,
    'uint8': np.uint8,
    'int16': np.int16,
    'uint16': np.uint16,
    'int32': np.int32,
    'uint32': np.uint32,
    'int64': np.int64,
    'uint64': np.uint64,
    'float32': np.float32,
    'float64': np.float64,
}


def msg_dir() -> Path:
    """Folder with the package's ``.msg`` files (source tree, else the ament install share)."""
    candidates = [Path(__file__).resolve().parents[2] / 'msg']
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / 'share' / PACKAGE / 'msg')
    for folder in candidates:
        if all((folder / f'{name}.msg').is_file() for name in MSG_NAMES):
            return folder
    raise FileNotFoundError(
        f'{PACKAGE} message definitions not found in: ' + ', '.join(map(str, candidates))
    )


def make_typestore():
    """ROS 2 Kilted typestore with ``aios_ros/msg/*`` registered (definitions go into bags)."""
    store = get_typestore(Stores.ROS2_KILTED)
    folder = msg_dir()
    types = {}
    for name in MSG_NAMES:
        types.update(
            get_types_from_msg((folder / f'{name}.msg').read_text(), f'{PACKAGE}/msg/{name}')
        )
    store.register(types)
    return store


def to_rosbags(msg: Any, msgtype: str, store) -> Any:
    """The rosbags object of type ``msgtype`` with the field values of ``msg`` (rclpy or any
    object with the same attribute names), walked recursively via the typestore definitions."""
    return _converter(store, msgtype)(msg)


def _converter(store, msgtype: str) -> Callable[[Any], Any]:
    """Cached per (typestore, type) field-by-field converter (markers hold thousands of Points)."""
    cache = _CONVERTERS.setdefault(id(store), {})
    if msgtype not in cache:
        cls = store.types[msgtype]
        fields = [
            (name, _field_converter(kind, detail, store))
            for name, (kind, detail) in store.fielddefs[msgtype][1]
        ]
        cache[msgtype] = lambda msg: cls(**{n: conv(getattr(msg, n)) for n, conv in fields})
    return cache[msgtype]


_CONVERTERS: dict[int, dict[str, Callable[[Any], Any]]] = {}


def _field_converter(kind: Nodetype, detail: Any, store) -> Callable[[Any], Any]:
    if kind == Nodetype.NAME:
        return lambda value: _converter(store, detail)(value)
    if kind == Nodetype.BASE:
        typename = detail[0]
        if typename == 'string':
            return str
        if typename == 'bool':
            return bool
        scalar = _DTYPES[typename]
        return lambda value: scalar(value).item()
    (sub_kind, sub_detail), _ = detail
    if sub_kind == Nodetype.BASE and sub_detail[0] in _DTYPES:
        dtype = _DTYPES[sub_detail[0]]

        def array(value: Any) -> np.ndarray:
            if isinstance(value, (bytes, bytearray, memoryview)):
                return np.frombuffer(value, dtype).copy()
            return np.asarray(value, dtype).reshape(-1)

        return array
    item = _field_converter(sub_kind, sub_detail, store)
    return lambda value: [item(v) for v in value]


def serialize(msg: Any, msgtype: str, store) -> bytes:
    """Deterministic CDR bytes of an rclpy message (module docstring)."""
    return bytes(store.serialize_cdr(to_rosbags(msg, msgtype, store), msgtype))


def image_topics(connections) -> list[str]:
    """Topics of Image / CompressedImage type, sorted."""
    return sorted({c.topic for c in connections if c.msgtype in (IMAGE, COMPRESSED)})


def camera_info_topic(image_topic: str, connections) -> Optional[str]:
    """The CameraInfo topic that belongs to ``image_topic`` (``<ns>/camera_info``), if recorded."""
    infos = {c.topic for c in connections if c.msgtype == CAMERA_INFO}
    base = image_topic.rsplit('/', 1)[0]
    for candidate in (f'{base}/camera_info', f'{base.rsplit("/", 1)[0]}/camera_info'):
        if candidate in infos:
            return candidate
    return next(iter(sorted(infos)), None) if len(infos) == 1 else None
