"""The output side of a replay: per camera, the rosbag2 connections and what is written on them.

Per replayed image topic (``/aios`` prefix; ``/aios/<camera namespace>`` when several image topics
are replayed): ``bodies`` (SmplxBodyArray, raw stream), ``bodies_fused`` (fused stream),
``markers`` (MarkerArray of the stream ``node.markers.stream``), ``overlay/compressed`` (JPEG of
the raw stream, as the node overlays raw) and ``body_model_info`` (once, latched QoS); TF frames
per tracked person of the markers' stream on ``/tf``, shared by all cameras (``node.tf.*``; with
several cameras each gets the prefix ``aios/<camera namespace>/``). Every message is built by the
camera's :class:`~aios_ros.app.processor.FrameProcessor` (the node's own builders), carries the
input image's header and is stamped in the bag with the input's bag time.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable, Optional

import cv2
import numpy as np
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Writer

from aios_ros.app.processor import FrameKey, FrameProcessor
from aios_ros.app.settings import NodeConfig
from aios_ros.core.types import StreamFrame
from aios_ros.ros import bags

OUT_ROOT = '/aios'
BODIES, BODIES_FUSED, MARKERS = 'bodies', 'bodies_fused', 'markers'
OVERLAY, MODEL_INFO = 'overlay/compressed', 'body_model_info'
TF_TOPIC = '/tf'
OVERLAY_JPEG_QUALITY = 90
_ZERO = QosTime(sec=0, nsec=0)
LATCHED = Qos(
    QosHistory.KEEP_LAST,
    1,
    QosReliability.RELIABLE,
    QosDurability.TRANSIENT_LOCAL,
    _ZERO,
    _ZERO,
    QosLiveliness.AUTOMATIC,
    _ZERO,
    False,
)
#: called with (frame index, overlay BGR image) for every rendered overlay (the demo's PNG/MP4)
OverlaySink = Callable[[int, np.ndarray], None]


def output_prefix(topic: str, num_topics: int) -> str:
    """Output namespace of an image topic: ``/aios``, or ``/aios/<camera namespace>`` when
    several topics are replayed ('/front/image_raw/compressed' -> '/aios/front')."""
    if num_topics == 1:
        return OUT_ROOT
    ns = topic
    for suffix in ('/compressed', '/image_raw', '/image_rect', '/image_color', '/image'):
        ns = ns[: -len(suffix)] if ns.endswith(suffix) and len(ns) > len(suffix) else ns
    return OUT_ROOT + (ns if ns.startswith('/') else '/' + ns)


class CameraOutputs:
    """The output connections of one replayed camera and the writing of its stream frames."""

    def __init__(
        self,
        writer: Writer,
        store: Any,
        prefix: str,
        processor: FrameProcessor,
        cfg: NodeConfig,
        overlay: bool,
        overlay_sink: Optional[OverlaySink],
        tf_connection: Optional[Any],
    ) -> None:
        """``tf_connection``: the bag's ``/tf`` connection (one for every camera), None for no
        TF."""
        self.writer, self.store, self.processor, self.cfg = writer, store, processor, cfg
        self.overlay, self.overlay_sink = overlay, overlay_sink
        self.tf_connection = tf_connection

        def add(name: str, msgtype: str, **kwargs: Any) -> Any:
            return writer.add_connection(f'{prefix}/{name}', msgtype, typestore=store, **kwargs)

        self.conns = {
            BODIES: add(BODIES, bags.ARRAY_T),
            BODIES_FUSED: add(BODIES_FUSED, bags.ARRAY_T),
            MARKERS: add(MARKERS, bags.MARKERS_T),
            OVERLAY: add(OVERLAY, bags.COMPRESSED),
            MODEL_INFO: add(MODEL_INFO, bags.INFO_T, offered_qos_profiles=[LATCHED]),
        }
        self.info_written = False

    def write_model_info(self, header: Any, bag_ns: int) -> None:
        """``body_model_info`` once, with the first frame's header."""
        if not self.info_written:
            info = self.processor.body_model_info(header)
            self._write(MODEL_INFO, bag_ns, bags.serialize(info, bags.INFO_T, self.store))
            self.info_written = True

    def write(self, frame: StreamFrame, fused: bool) -> None:
        """SmplxBodyArray of one stream frame, plus markers/overlay if they show this stream."""
        key: FrameKey = frame.key
        index, bag_ns = key.tag
        msg = self.processor.body_array(frame, fused, self.cfg)
        self._write(
            BODIES_FUSED if fused else BODIES, bag_ns, bags.serialize(msg, bags.ARRAY_T, self.store)
        )
        if self.cfg.markers.stream == ('fused' if fused else 'raw'):
            markers = self.processor.markers(frame, self.cfg)
            self._write(MARKERS, bag_ns, bags.serialize(markers, bags.MARKERS_T, self.store))
            self._write_tf(frame, bag_ns)
        if self.overlay and not fused and key.image is not None:
            image = self.processor.overlay(frame)
            self._write(OVERLAY, bag_ns, self._jpeg(image, key.header))
            if self.overlay_sink is not None:
                self.overlay_sink(index, image)

    def _write_tf(self, frame: StreamFrame, bag_ns: int) -> None:
        if self.tf_connection is None or not frame.key.header.frame_id:  # no parent frame
            return
        transforms = self.processor.transforms(frame, self.cfg)
        if transforms:
            msg = SimpleNamespace(transforms=transforms)
            self.writer.write(
                self.tf_connection, bag_ns, bags.serialize(msg, bags.TF_T, self.store)
            )

    def _jpeg(self, image: np.ndarray, header: Any) -> bytes:
        ok, jpg = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, OVERLAY_JPEG_QUALITY])
        msg = self.store.types[bags.COMPRESSED](
            header=bags.to_rosbags(header, 'std_msgs/msg/Header', self.store),
            format='jpeg',
            data=np.frombuffer(jpg.tobytes(), np.uint8),
        )
        return bytes(self.store.serialize_cdr(msg, bags.COMPRESSED))

    def _write(self, name: str, bag_ns: int, data: bytes) -> None:
        self.writer.write(self.conns[name], bag_ns, data)
