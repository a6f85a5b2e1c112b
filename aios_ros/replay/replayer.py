"""Offline replay (``aios_ros.tools.replay`` and the demo): bag in -> frame processor -> bag out.

Every input frame goes through the live node's own :class:`~aios_ros.app.processor.FrameProcessor`
(decoding, intrinsics, temporal pipeline, message builders, overlay); only the transport differs:
a bag reader and writer instead of subscriptions and publishers, and every good frame is
processed (no dropping for load); bad frames are skipped and counted by reason. The output
layout is described in :mod:`aios_ros.replay.outputs`.
"""

from __future__ import annotations

import gc
import os
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
from rosbags.rosbag2 import Reader, ReaderError, StoragePlugin, Writer
from tqdm import tqdm

from aios_ros.app.processor import FrameProcessor
from aios_ros.app.runtime import Runtime, load_estimator, make_runtime
from aios_ros.app.settings import load_settings
from aios_ros.replay.outputs import TF_TOPIC, CameraOutputs, OverlaySink, output_prefix
from aios_ros.ros import bags
from aios_ros.ros.image_conversion import ImageConversionError
from aios_ros.ros.truncated_mcap import TruncatedMcap
from aios_ros.ros.truncated_sqlite import TruncatedSqlite

#: what rosbags raises on opening a damaged bag
BAG_OPEN_ERRORS = (ReaderError, OSError)
InputBag = Union[Reader, TruncatedMcap, TruncatedSqlite]


class InputBagError(ValueError):
    """The input bag cannot be opened; the message names the bag and the problem."""


class ReplayFailed(RuntimeError):
    """An exception ended the replay (``__cause__``); ``summary``: what was written before it."""

    def __init__(self, summary: 'ReplaySummary') -> None:
        super().__init__(summary.error)
        self.summary = summary


class BadFrameError(ValueError):
    """A bad frame with ``--strict`` (``reason`` as counted in :attr:`ReplaySummary.skipped`)."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(f'{text} [{reason}]')
        self.reason = reason


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
    overlay_sink: Optional[OverlaySink] = None
    strict: bool = False


@dataclass
class ReplaySummary:
    """Counts and timings of one replay, and how it ended.

    skipped: bad frames by reason (the node's ``bad_input.*`` reasons, ``duplicate_stamp``,
    ``corrupt_message``) and unusable CameraInfo messages (``camera_info_<reason>``);
    time_resets: frames older than their predecessor, after which the tracks were reset and the
    frame processed; error: the exception that ended the run (the output bag is finalised all
    the same); input_note: what was wrong with the input bag that replay read around (a cut-off
    MCAP or sqlite3 file).
    """

    frames: int = 0
    people: list[int] = field(default_factory=list)
    track_ids: set = field(default_factory=set)
    process_s: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    interrupted: bool = False
    note: str = ''
    skipped: Counter = field(default_factory=Counter)
    time_resets: int = 0
    error: str = ''
    input_note: str = ''

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
class _Camera:
    """One replayed image topic: its frame processor and its outputs."""

    processor: FrameProcessor
    outputs: CameraOutputs
    info_topic: Optional[str]


def load_runtime(options: ReplayOptions) -> Runtime:
    """The parameter file of ``options`` (default: the package's) with the command line's
    ``model.*`` values on top, and the estimator it configures."""
    overrides = {
        f'model.{name}': value
        for name, value in (
            ('checkpoint', options.checkpoint),
            ('smplx_path', options.smplx),
            ('short_side', options.short_side),
        )
        if value is not None
    }
    settings = load_settings(options.config, overrides)
    return make_runtime(settings, load_estimator(settings.model))


def run_replay(
    options: ReplayOptions,
    should_stop: Callable[[], bool] = lambda: False,
    runtime: Optional[Runtime] = None,
) -> ReplaySummary:
    """Replay ``options.bag`` into ``options.out``.

    Whatever ends the run (the last frame, ``should_stop``, a bad frame with ``strict``, an
    exception) the output bag is finalised: every message written so far is listed in its
    metadata and readable. An exception raised once the output is open ends the run as
    :class:`ReplayFailed` carrying the summary. ``runtime``: reuse an already built runtime
    (else it is loaded from ``options``, after the input and output were checked).
    """
    _check_output(options.out)
    store = bags.make_typestore()
    plugin = StoragePlugin.MCAP if options.storage == 'mcap' else StoragePlugin.SQLITE3
    reader, input_note = _open_input(options.bag)
    try:
        topics = _select_topics(options.topics, reader.connections)
        if runtime is None:
            runtime = load_runtime(options)
        # The model's import and build leave ~10^6 long-lived objects; without freezing them,
        # every full garbage collection walks them all (100s of ms) in the middle of a frame.
        gc.freeze()
        summary = ReplaySummary(note=runtime.note, input_note=input_note)
        total = sum(c.msgcount for c in reader.connections if c.topic in topics)
        if options.max_frames is not None:
            total = min(total, options.max_frames)
        # Not ``with Writer``: on an exception its __exit__ aborts, discarding the whole bag.
        writer = Writer(options.out, version=9, storage_plugin=plugin)
        writer.open()
        try:
            cameras = _cameras(options, runtime, topics, reader, writer, store)
            copies = _input_copies(options, reader.connections, writer, store, cameras)
            # replay writes the markers of every frame and (unless --no-overlay) the overlay
            vertices = FrameProcessor.needs_vertices(runtime.settings.node, True, options.overlay)
            loop = _Loop(options, store, cameras, summary, should_stop, vertices)
            loop.run(reader, writer, copies, total)
        except Exception as exc:
            summary.error = f'{type(exc).__name__}: {exc}'
            raise ReplayFailed(summary) from exc
        finally:
            writer.close()
    finally:
        reader.close()
    return summary


def _check_output(out: Path) -> None:
    """Refuse an output location that cannot be written, before anything slow happens."""
    if out.exists():
        raise FileExistsError(f'output exists: {out} (choose a new --out)')
    parent = out.absolute().parent
    if not parent.is_dir():
        raise NotADirectoryError(f'cannot create {out}: {parent} is not a directory')
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f'cannot create {out}: {parent} is not writable')


def _open_input(bag: Path) -> tuple[InputBag, str]:
    """The opened input bag and, if only part of it could be read, a note that says so; every
    problem is an :class:`InputBagError` naming the file."""
    cut_off = _single_storage_file(bag)
    if not (bag / 'metadata.yaml').is_file() and not bag.is_file():
        if cut_off is None:
            raise FileNotFoundError(f'input bag not found (no metadata.yaml): {bag}')
        return _read_cut_off(cut_off, 'no metadata.yaml: the recording did not finish')
    try:
        reader = Reader(bag)
        reader.open()
    except BAG_OPEN_ERRORS as exc:
        problem = f'{type(exc).__name__}: {exc}'
        if cut_off is None:
            raise InputBagError(f'cannot read input bag {bag}: {problem}') from exc
        return _read_cut_off(cut_off, problem)
    return reader, ''


def _single_storage_file(bag: Path) -> Optional[Path]:
    """The one MCAP or sqlite3 file of the bag folder ``bag``, if that is what it holds."""
    files = sorted([*bag.glob('*.mcap'), *bag.glob('*.db3')]) if bag.is_dir() else []
    return files[0] if len(files) == 1 else None


def _read_cut_off(path: Path, problem: str) -> tuple[InputBag, str]:
    """Every readable message of a storage file that rosbags refuses (``problem``): an MCAP
    file up to its cut, the rows of a sqlite3 file whose pages lie before its cut."""
    try:
        salvaged = TruncatedMcap(path) if path.suffix == '.mcap' else TruncatedSqlite(path)
    except (OSError, ValueError) as exc:
        raise InputBagError(f'cannot read input bag {path}: {problem}; {exc}') from exc
    if not salvaged.message_count:
        salvaged.close()
        raise InputBagError(f'cannot read input bag {path}: {problem}; no complete message')
    note = (
        f'{path} is cut off or unfinished ({problem}): '
        f'read the {salvaged.message_count} complete messages before the cut'
    )
    return salvaged, note


def _cameras(
    options: ReplayOptions,
    runtime: Runtime,
    topics: list[str],
    reader: InputBag,
    writer: Writer,
    store: Any,
) -> dict[str, _Camera]:
    """A frame processor and its outputs for every replayed image topic."""
    cameras = {}
    node = runtime.settings.node
    tf = writer.add_connection(TF_TOPIC, bags.TF_T, typestore=store) if node.tf.enabled else None
    for topic in topics:
        processor = FrameProcessor(runtime)
        prefix = output_prefix(topic, len(topics))
        cfg = node
        if len(topics) > 1:  # track ids are per camera: one TF frame must not get two parents
            cfg = replace(node, tf=replace(node.tf, prefix=prefix.lstrip('/') + '/'))
        outputs = CameraOutputs(
            writer, store, prefix, processor, cfg, options.overlay, options.overlay_sink, tf
        )
        cameras[topic] = _Camera(
            processor, outputs, bags.camera_info_topic(topic, reader.connections)
        )
    return cameras


def _select_topics(requested: Optional[list[str]], connections: Any) -> list[str]:
    available = bags.image_topics(connections)
    if not available:
        raise ValueError('the bag has no sensor_msgs/Image or CompressedImage topic')
    topics = requested or available
    unknown = [t for t in topics if t not in available]
    if unknown:
        raise ValueError(
            f'not an image topic of this bag: {", ".join(unknown)} '
            f'(image topics: {", ".join(available)})'
        )
    return topics


def _input_copies(
    options: ReplayOptions,
    connections: Any,
    writer: Writer,
    store: Any,
    cameras: dict[str, _Camera],
) -> dict[int, Any]:
    """Output connections for copied input topics, keyed by input connection id."""
    if not options.include_inputs:
        return {}
    wanted = set(cameras) | {c.info_topic for c in cameras.values() if c.info_topic}
    return {
        c.id: writer.add_connection(c.topic, c.msgtype, typestore=store)
        for c in connections
        if c.topic in wanted
    }


class _Loop:
    """Reads the selected topics in bag order and feeds every frame to its camera."""

    def __init__(
        self,
        options: ReplayOptions,
        store: Any,
        cameras: dict[str, _Camera],
        summary: ReplaySummary,
        should_stop: Callable[[], bool],
        vertices: bool,
    ) -> None:
        self.options, self.store, self.cameras = options, store, cameras
        self.summary, self.should_stop, self.vertices = summary, should_stop, vertices

    def run(self, reader: InputBag, writer: Writer, copies: dict[int, Any], total: int) -> None:
        topics = set(self.cameras) | {c.info_topic for c in self.cameras.values() if c.info_topic}
        conns = [c for c in reader.connections if c.topic in topics]
        bar = tqdm(total=total, unit='frame', disable=not self.options.progress, smoothing=0.1)
        t_start = time.perf_counter()
        try:
            for conn, t_ns, raw in reader.messages(connections=conns):
                is_info = conn.msgtype == bags.CAMERA_INFO
                if not is_info and self._done():
                    self.summary.interrupted = self.should_stop()
                    break
                if conn.id in copies:
                    writer.write(copies[conn.id], t_ns, raw)
                try:
                    msg = self.store.deserialize_cdr(raw, conn.msgtype)
                except Exception as exc:  # a damaged record: skipped like a bad image
                    self._bad('corrupt_message', f'{conn.topic} at {t_ns} ns: {exc}')
                    continue
                if is_info:
                    self._camera_info(conn.topic, msg)
                    continue
                self._frame(self.cameras[conn.topic], msg, t_ns)
                bar.update(1)
        finally:
            for camera in self.cameras.values():
                for frame in camera.processor.flush(self.vertices):
                    camera.outputs.write(frame, fused=True)
            self.summary.wall_s = time.perf_counter() - t_start
            bar.close()

    def _camera_info(self, topic: str, msg: Any) -> None:
        for camera in self.cameras.values():
            if camera.info_topic == topic:
                reason = camera.processor.update_camera_info(msg)
                if reason is not None:  # counted, not fatal: frames fall back as in the node
                    self.summary.skipped[f'camera_info_{reason}'] += 1

    def _done(self) -> bool:
        limit = self.options.max_frames
        return (limit is not None and self.summary.frames >= limit) or self.should_stop()

    def _bad(self, reason: str, text: str) -> None:
        """Count a skipped frame; with ``strict`` it ends the run."""
        if self.options.strict:
            raise BadFrameError(reason, text)
        self.summary.skipped[reason] += 1

    def _frame(self, camera: _Camera, msg: Any, t_ns: int) -> None:
        summary, outputs, processor = self.summary, camera.outputs, camera.processor
        if processor.is_resent(msg):
            self._bad('duplicate_stamp', f'frame at {t_ns} ns repeats the previous stamp')
            return
        try:
            image = processor.decode(msg, outputs.cfg)
        except ImageConversionError as exc:
            self._bad(exc.reason, f'frame at {t_ns} ns: {exc}')
            return
        summary.time_resets += processor.advance_timeline(msg)
        t0 = time.perf_counter()
        out = processor.process(
            msg, image, self.vertices, keep_image=self.options.overlay, tag=(summary.frames, t_ns)
        )
        summary.process_s.append(time.perf_counter() - t0)
        outputs.write_model_info(msg.header, t_ns)
        outputs.write(out.raw, fused=False)
        if out.fused is not None:
            outputs.write(out.fused, fused=True)
        summary.frames += 1
        summary.people.append(len(out.raw.bodies))
        if out.raw.bodies.track_ids is not None:
            summary.track_ids.update(int(t) for t in out.raw.bodies.track_ids)


def print_summary(summary: ReplaySummary, out: Path) -> None:
    """Human-readable result of a replay: what was written and how the run ended."""
    if summary.error:
        ended = f' (ended by an error: {summary.error}; the bag holds every frame before it)'
    elif summary.interrupted:
        ended = ' (interrupted: partial bag)'
    else:
        ended = ''
    print(f'wrote {out}: {summary.frames} frames{ended}')
    if summary.skipped:
        reasons = ', '.join(f'{r} {n}' for r, n in sorted(summary.skipped.items()))
        print(f'  skipped {sum(summary.skipped.values())} bad frame(s): {reasons}')
    if summary.input_note:
        print(f'  input: {summary.input_note}')
    if summary.time_resets:
        print(f'  time went backwards {summary.time_resets} time(s): tracks were reset')
    print(
        f'  people per frame (raw): mean {summary.mean_people:.2f}, max {summary.max_people}; '
        f'tracks: {summary.num_tracks}'
    )
    print(
        f'  per-frame processing: p50 {summary.latency_p50_ms:.0f} ms, '
        f'p95 {summary.latency_p95_ms:.0f} ms; throughput {summary.fps:.2f} frames/s'
    )
    if summary.note:
        print(f'  NOTE: {summary.note}')
