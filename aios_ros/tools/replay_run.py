"""The replay loop behind ``aios_ros.tools.replay`` (and the demo): bag in -> pipeline -> bag out.

Per input frame this uses the same pieces as the live node, in the same order: image decoding
(``ros.image_conversion``), intrinsics selection (``ros.intrinsics``), ``Pipeline.process``, and
the message builders (``ros.messages``, ``ros.markers``) plus the overlay renderer. Only the
transport differs: bag reader/writer instead of subscriptions/publishers, and every frame is
processed (no dropping).
"""
from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import cv2
import numpy as np
from rosbags.interfaces import (Qos, QosDurability, QosHistory, QosLiveliness, QosReliability,
                                QosTime)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from tqdm import tqdm

from aios_ros.tools import rosbag_io as bagio
from aios_ros.tools.rosbag_io import ARRAY_T, INFO_T, MARKERS_T
from aios_ros.tools.runtime import Runtime, RuntimeOverrides, load_runtime

OUT_ROOT = '/aios'
BODIES, BODIES_FUSED, MARKERS = 'bodies', 'bodies_fused', 'markers'
OVERLAY, MODEL_INFO = 'overlay/compressed', 'body_model_info'
OVERLAY_JPEG_QUALITY = 90
_ZERO = QosTime(sec=0, nsec=0)
LATCHED = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
              _ZERO, _ZERO, QosLiveliness.AUTOMATIC, _ZERO, False)


@dataclass
class ReplayOptions:
    """What to replay and how (see ``replay.py`` for the command line)."""

    bag: Path
    out: Path
    topics: Optional[list[str]] = None
    config: Optional[Path] = None
    checkpoint: Optional[str] = None
    smplx: Optional[str] = None
    short_side: Optional[int] = None
    storage: str = 'sqlite3'
    include_inputs: bool = False
    overlay: bool = True
    max_frames: Optional[int] = None
    progress: bool = True
    # Called with (frame index, overlay BGR image) for every rendered overlay (the demo's PNG/MP4).
    overlay_sink: Optional[Callable[[int, np.ndarray], None]] = None


@dataclass
class ReplaySummary:
    """Counts and timings of one replay."""

    frames: int = 0
    people: list[int] = field(default_factory=list)
    track_ids: set = field(default_factory=set)
    process_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False
    note: str = ''

    @property
    def mean_people(self) -> float:
        return float(np.mean(self.people)) if self.people else 0.0

    @property
    def max_people(self) -> int:
        return max(self.people, default=0)

    @property
    def num_tracks(self) -> int:
        return len(self.track_ids)

    @property
    def latency_p50_ms(self) -> float:
        return float(np.percentile(self.process_s, 50) * 1e3) if self.process_s else 0.0

    @property
    def latency_p95_ms(self) -> float:
        return float(np.percentile(self.process_s, 95) * 1e3) if self.process_s else 0.0

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class _FrameKey:
    """What the pipeline carries with each frame: enough to stamp and draw its outputs."""

    index: int
    bag_ns: int
    header: Any
    camera: Any
    image: Optional[np.ndarray]


class _CameraStream:
    """One replayed image topic: its pipeline, intrinsics and output connections."""

    def __init__(self, topic: str, prefix: str, runtime: Runtime, writer: Writer, store,
                 info_topic: Optional[str]) -> None:
        self.topic, self.info_topic, self.runtime = topic, info_topic, runtime
        self.pipeline = runtime.new_pipeline()
        self.intrinsics = runtime.new_intrinsics()
        add = lambda name, t, **kw: writer.add_connection(  # noqa: E731
            f'{prefix}/{name}', t, typestore=store, **kw)
        self.conns = {BODIES: add(BODIES, ARRAY_T), BODIES_FUSED: add(BODIES_FUSED, ARRAY_T),
                      MARKERS: add(MARKERS, MARKERS_T),
                      OVERLAY: add(OVERLAY, bagio.COMPRESSED),
                      MODEL_INFO: add(MODEL_INFO, INFO_T, offered_qos_profiles=[LATCHED])}
        self.writer = writer
        self.info_written = False


def run_replay(options: ReplayOptions, should_stop: Callable[[], bool] = lambda: False,
               runtime: Optional[Runtime] = None) -> ReplaySummary:
    """Replay ``options.bag`` into ``options.out``; the bag is closed even on errors/interrupts.

    ``runtime``: reuse an already built runtime (else it is loaded from ``options``).
    """
    if not (options.bag / 'metadata.yaml').is_file() and not options.bag.is_file():
        raise FileNotFoundError(f'input bag not found (no metadata.yaml): {options.bag}')
    if options.out.exists():
        raise FileExistsError(f'output exists: {options.out} (choose a new --out)')
    store = bagio.make_typestore()
    plugin = StoragePlugin.MCAP if options.storage == 'mcap' else StoragePlugin.SQLITE3
    with Reader(options.bag) as reader:
        topics = _select_topics(options.topics, reader.connections)
        if runtime is None:
            runtime = load_runtime(options.config, RuntimeOverrides(
                checkpoint=options.checkpoint, smplx=options.smplx,
                short_side=options.short_side))
        # The model's import and build leave ~10^6 long-lived objects; without freezing them,
        # every full garbage collection walks them all (100s of ms) in the middle of a frame.
        gc.freeze()
        summary = ReplaySummary(note=runtime.note)
        total = sum(c.msgcount for c in reader.connections if c.topic in topics)
        if options.max_frames is not None:
            total = min(total, options.max_frames)
        with Writer(options.out, version=9, storage_plugin=plugin) as writer:
            streams = _make_streams(topics, reader.connections, runtime, writer, store)
            copies = _input_copies(options, reader.connections, writer, store, streams)
            _loop(options, reader, store, streams, copies, summary, total, should_stop)
    return summary


def _select_topics(requested: Optional[list[str]], connections) -> list[str]:
    available = bagio.image_topics(connections)
    if not available:
        raise ValueError('the bag has no sensor_msgs/Image or CompressedImage topic')
    topics = requested or available
    unknown = [t for t in topics if t not in available]
    if unknown:
        raise ValueError(f'not an image topic of this bag: {", ".join(unknown)} '
                         f'(image topics: {", ".join(available)})')
    return topics


def _make_streams(topics, connections, runtime, writer, store) -> dict[str, _CameraStream]:
    streams = {}
    for topic in topics:
        prefix = OUT_ROOT if len(topics) == 1 else OUT_ROOT + _camera_namespace(topic)
        streams[topic] = _CameraStream(topic, prefix, runtime, writer, store,
                                       bagio.camera_info_topic(topic, connections))
    return streams


def _camera_namespace(topic: str) -> str:
    """'/front/image_raw/compressed' -> '/front' (the topic itself if nothing is stripped)."""
    ns = topic
    for suffix in ('/compressed', '/image_raw', '/image_rect', '/image_color', '/image'):
        ns = ns[:-len(suffix)] if ns.endswith(suffix) and len(ns) > len(suffix) else ns
    return ns if ns.startswith('/') else '/' + ns


def _input_copies(options, connections, writer, store, streams) -> dict[int, Any]:
    """Output connections for copied input topics, keyed by input connection id."""
    if not options.include_inputs:
        return {}
    wanted = set(streams) | {s.info_topic for s in streams.values() if s.info_topic}
    return {c.id: writer.add_connection(c.topic, c.msgtype, typestore=store)
            for c in connections if c.topic in wanted}


def _loop(options, reader, store, streams, copies, summary, total, should_stop) -> None:
    topics = set(streams) | {s.info_topic for s in streams.values() if s.info_topic}
    conns = [c for c in reader.connections if c.topic in topics]
    bar = tqdm(total=total, unit='frame', disable=not options.progress, smoothing=0.1)
    t_start = time.perf_counter()
    try:
        for conn, t_ns, raw in reader.messages(connections=conns):
            is_info = conn.msgtype == bagio.CAMERA_INFO
            if not is_info and ((options.max_frames is not None
                                 and summary.frames >= options.max_frames) or should_stop()):
                summary.interrupted = should_stop()
                break
            if conn.id in copies:
                next(iter(streams.values())).writer.write(copies[conn.id], t_ns, raw)
            msg = store.deserialize_cdr(raw, conn.msgtype)
            if is_info:
                for s in streams.values():
                    if s.info_topic == conn.topic:
                        s.intrinsics.update_camera_info(msg.k, msg.width, msg.height)
                continue
            _process_frame(streams[conn.topic], options, store, msg, t_ns, summary)
            bar.update(1)
    finally:
        for s in streams.values():
            for frame in s.pipeline.flush():
                _write_stream(s, options, store, frame, BODIES_FUSED)
        summary.wall_s = time.perf_counter() - t_start
        bar.close()


def _process_frame(stream: _CameraStream, options: ReplayOptions, store, msg, t_ns: int,
                   summary: ReplaySummary) -> None:
    runtime = stream.runtime
    image = runtime.decode(msg)
    camera = stream.intrinsics.camera_for(image.shape[1], image.shape[0])
    key = _FrameKey(summary.frames, t_ns, msg.header, camera, image if options.overlay else None)
    t0 = time.perf_counter()
    out = stream.pipeline.process(image, camera, bagio.stamp_ns(msg.header) * 1e-9, key)
    summary.process_s.append(time.perf_counter() - t0)
    if not stream.info_written:
        info = runtime.body_model_info(msg.header)
        stream.writer.write(stream.conns[MODEL_INFO], t_ns, bagio.serialize(info, INFO_T, store))
        stream.info_written = True
    _write_stream(stream, options, store, out.raw, BODIES)
    if out.fused is not None:
        _write_stream(stream, options, store, out.fused, BODIES_FUSED)
    summary.frames += 1
    summary.people.append(len(out.raw.bodies))
    if out.raw.bodies.track_ids is not None:
        summary.track_ids.update(int(t) for t in out.raw.bodies.track_ids)


def _write_stream(stream: _CameraStream, options: ReplayOptions, store, frame, which: str) -> None:
    """SmplxBodyArray of one stream frame, plus markers/overlay if they show this stream."""
    runtime, key, bodies = stream.runtime, frame.key, frame.bodies
    fused = which == BODIES_FUSED
    msg = runtime.body_array(bodies, key.header, fused, key.camera.source)
    stream.writer.write(stream.conns[which], key.bag_ns, bagio.serialize(msg, ARRAY_T, store))
    shown = 'fused' if fused else 'raw'
    if runtime.node.markers.stream == shown:
        markers = runtime.marker_array(bodies, key.header)
        stream.writer.write(stream.conns[MARKERS], key.bag_ns,
                            bagio.serialize(markers, MARKERS_T, store))
    if options.overlay and not fused and key.image is not None:   # the node overlays raw
        image = runtime.overlay(key.image, bodies, key.camera)
        ok, jpg = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, OVERLAY_JPEG_QUALITY])
        comp = store.types[bagio.COMPRESSED](
            header=bagio.to_rosbags(key.header, 'std_msgs/msg/Header', store), format='jpeg',
            data=np.frombuffer(jpg.tobytes(), np.uint8))
        stream.writer.write(stream.conns[OVERLAY], key.bag_ns,
                            bytes(store.serialize_cdr(comp, bagio.COMPRESSED)))
        if options.overlay_sink is not None:
            options.overlay_sink(key.index, image)
