"""``aios_node``: camera images in; SMPL-X bodies, RViz markers, overlay and diagnostics out.

Topics of each camera (relative names; ``node.cameras: [front, rear]`` puts each camera's under
its name: ``front/image``, ``front/bodies``, ...; remap them, or run one node per namespace):

=====================  ===================================  =====================================
``image``              sensor_msgs/Image (sub)              when ``node.image_transport: raw``
``image/compressed``   sensor_msgs/CompressedImage (sub)    when ``compressed``; the suffix is
                                                            added after remapping ``image``
``camera_info``        sensor_msgs/CameraInfo (sub)         intrinsics K (raw image)
``bodies``             aios_ros/SmplxBodyArray (pub)        raw stream, one per processed frame
``bodies_fused``       aios_ros/SmplxBodyArray (pub)        fused stream, ``lag_frames`` behind
``body_model_info``    aios_ros/BodyModelInfo (pub)         once, transient-local (latched)
``markers``            visualization_msgs/MarkerArray       built only while subscribed
``overlay``            sensor_msgs/Image (pub)              if ``node.overlay`` and subscribed
``/diagnostics``       diagnostic_msgs/DiagnosticArray      one status per camera, every
                                                            ``node.diagnostics_period_s``
``/tf``                tf2_msgs/TFMessage (pub)             ``node.tf.*``: joints per person
=====================  ===================================  =====================================

Threading: the image callbacks only put the message into the camera's lane of a
:class:`FrameQueue`; the inference thread takes a round (the next frame of every camera that has
one), converts each, runs them through the model together (one forward per network input
size), then each camera's temporal pipeline, and publishes the body arrays, so the executor
(timers, parameter services) is never blocked by inference and a silent camera never holds back
the others; a visualisation thread builds markers and the overlay from the newest processed frame
of each camera, so they never delay inference.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.event_handler import (
    QoSMessageLostInfo,
    SubscriptionEventCallbacks,
    UnsupportedEventTypeError,
)
from rclpy.exceptions import ParameterException
from rclpy.executors import SingleThreadedExecutor
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from aios_ros.app.intrinsics import CAMERA_INFO_REJECTIONS
from aios_ros.app.processor import CameraFrame, FrameKey, FrameProcessor, estimate_together
from aios_ros.app.runtime import (
    keep_cpu_heap,
    load_estimator,
    make_runtime,
    release_memory,
    untrained_warning,
    warm_up,
)
from aios_ros.app.settings import SECTIONS, NodeConfig, Settings, default_config_file
from aios_ros.core.config import ConfigError, build, flatten
from aios_ros.core.types import Bodies, Estimator, IntrinsicsSource, PipelineOutput
from aios_ros.msg import BodyModelInfo, SmplxBodyArray
from aios_ros.node.cameras import NodeCamera, node_cameras
from aios_ros.node.diagnostics import diagnostic_status
from aios_ros.node.frame_queue import FrameQueue
from aios_ros.node.params import declare, param_specs, read_values
from aios_ros.node.signals import StopRequested, StopSignals
from aios_ros.ros import qos
from aios_ros.ros.image_conversion import ImageConversionError
from aios_ros.ros.messages import bgr_image
from aios_ros.ros.stamps import stamp_seconds

try:
    from tf2_msgs.msg import TFMessage
except ImportError as exc:  # ROS 2 from PyPI alone has no tf2_msgs; the node runs without TF
    TFMessage = None
    _TF_MISSING = f'tf2_msgs cannot be imported ({exc})'

BAD_INPUT_LOG_PERIOD_S = 5.0
# ros2 launch sends SIGTERM 5 s after SIGINT and SIGKILL 5 s later: a frame in flight must end
# well within that
JOIN_TIMEOUT_S = 8.0
#: the outputs of each camera: (topic, message type, QoS profile)
CAMERA_OUTPUTS = (
    ('bodies', SmplxBodyArray, qos.BODIES),
    ('bodies_fused', SmplxBodyArray, qos.BODIES),
    ('body_model_info', BodyModelInfo, qos.MODEL_INFO),
    ('markers', MarkerArray, qos.MARKERS),
    ('overlay', Image, qos.OVERLAY),
)


class AiosNode(LifecycleNode):
    """The camera node, a managed (lifecycle) node; see the README's lifecycle table.

    Constructing it only declares the parameters, so parameter and lifecycle services answer as
    soon as an executor spins it; the model work happens in ``configure``. ``estimator``
    replaces the AiOS model built from the ``model.*`` parameters (tests inject their own);
    other keyword arguments go to ``rclpy.node.Node``.
    """

    def __init__(
        self, estimator: Optional[Estimator] = None, node_name: str = 'aios_node', **node_kwargs
    ) -> None:
        # Set before Node.__init__: a node whose parameters fail is still destroyed by
        # rclpy's shutdown, through destroy_node -> _release.
        self._cameras: list[NodeCamera] = []
        self._node_publishers: list = []
        self._threads: list[threading.Thread] = []
        self._active = False
        super().__init__(node_name, **node_kwargs)
        self._specs = param_specs(SECTIONS)
        declare(self, self._specs)
        values = read_values(self, self._specs)
        flat = flatten(values)
        changed = {s.name: flat[s.name] for s in self._specs if flat[s.name] != s.default}
        self.get_logger().info(f'parameters not at their defaults: {changed or "none"}')
        self._config: NodeConfig = build(Settings, values).node  # bad values fail here, early
        self._injected_estimator = estimator
        #: set by the ``shutdown`` transition: the process has nothing left to do
        self.finished = False
        #: inference rounds since configure: one batched estimate over the cameras' frames each
        self.rounds = 0
        self._last_bad_log: dict[str, float] = {}
        self.add_on_set_parameters_callback(self._on_set_parameters)

    @property
    def autostart(self) -> bool:
        return self._config.autostart

    # -- lifecycle transitions (rclpy calls them; a raised Exception would become ERROR unlogged)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Create the publishers first (topics are visible at once), then load and warm up the
        model and start the worker threads."""
        try:
            settings = build(Settings, read_values(self, self._specs))
            self._config = settings.node
            # before the publishers: the diagnostics timer reads the cameras' counters
            self._cameras = node_cameras(self._config.cameras)
            self.rounds = 0
            self._queue = FrameQueue(
                self._config.drop_policy, self._config.queue_size, len(self._cameras)
            )
            self._create_publishers()
            estimator = self._injected_estimator or self._build_estimator(settings)
            started = time.monotonic()
            warm_up(estimator, settings.model, len(self._cameras))
            self.get_logger().info(f'model warmed up in {time.monotonic() - started:.1f} s')
            runtime = make_runtime(settings, estimator)
            for camera in self._cameras:
                camera.processor = FrameProcessor(runtime, camera.name)
        except (ConfigError, OSError) as exc:
            self.get_logger().error(f'cannot configure: {exc}')
            self._release()
            return TransitionCallbackReturn.FAILURE
        info = self._cameras[0].processor.body_model_info(
            Header(stamp=self.get_clock().now().to_msg())
        )
        for camera in self._cameras:
            camera.publishers['body_model_info'].publish(info)
        self._start_threads()
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        for camera in self._cameras:
            self._subscribe(camera)
        self._active = True
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        self.finished = True
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()  # back to unconfigured, from where configure can be tried again
        return TransitionCallbackReturn.SUCCESS

    def _deactivate(self) -> None:
        """Release the subscriptions and drop the waiting frames: nothing more is computed (a
        round already in the model finishes and is published)."""
        self._active = False
        for camera in self._cameras:
            for sub in camera.subscriptions:
                self.destroy_subscription(sub)
            camera.subscriptions = []
        if self._threads:
            self._queue.clear()

    def _release(self) -> None:
        """Back to unconfigured from any state: workers joined (the round in flight is finished
        and published first, so a stop never fails it), outputs destroyed, model freed.
        Idempotent."""
        self._deactivate()
        self._stop_threads()
        if self._node_publishers:
            self.destroy_timer(self._diag_timer)
        publishers = self._node_publishers + [
            pub for camera in self._cameras for pub in camera.publishers.values()
        ]
        for pub in publishers:
            self.destroy_publisher(pub)
        self._node_publishers = []
        processor = self._cameras[0].processor if self._cameras else None
        self._cameras = []
        if processor is not None:
            release_memory(processor.runtime.settings.model)

    def _start_threads(self) -> None:
        self._stop = threading.Event()
        # Markers and the overlay are built in their own thread (~15 us per mesh-marker point
        # in rclpy), so visualisation never delays inference; it keeps only the newest frame of
        # each camera.
        self._visual_queue = FrameQueue('latest', 1, len(self._cameras))
        jobs = [
            ('aios_inference', self._queue, self._process_round),
            ('aios_visuals', self._visual_queue, self._publish_visuals),
        ]
        self._threads = [
            threading.Thread(target=self._loop, args=job[1:], name=job[0], daemon=True)
            for job in jobs
        ]
        for thread in self._threads:
            thread.start()

    def _stop_threads(self) -> None:
        if not self._threads:
            return
        self._stop.set()
        self._queue.close()
        self._visual_queue.close()
        for thread in self._threads:
            thread.join(timeout=JOIN_TIMEOUT_S)
            if thread.is_alive():
                self.get_logger().error(f'thread {thread.name} did not stop in {JOIN_TIMEOUT_S} s')
        self._threads = []

    def _build_estimator(self, settings: Settings) -> Estimator:
        config = settings.model
        warning = untrained_warning(config)
        if warning:
            self.get_logger().warning(f'{warning} (set model.checkpoint)')
        self.get_logger().info(
            f'loading AiOS on {config.device} ({config.dtype}), input '
            f'{config.short_side}/{config.max_size} px, {len(self._cameras)} camera(s)'
        )
        return load_estimator(config)

    def _create_publishers(self) -> None:
        """Every publisher reliable (what RViz, rqt and image_transport subscribe with), each
        overridable with ``qos_overrides.<resolved topic>.publisher.*``."""
        overridable = QoSOverridingOptions.with_default_policies()

        def publisher(msg_type, topic: str, profile):
            return self.create_publisher(
                msg_type, topic, profile, qos_overriding_options=overridable
            )

        for camera in self._cameras:
            camera.publishers = {
                name: publisher(msg_type, camera.topic(name), profile)
                for name, msg_type, profile in CAMERA_OUTPUTS
            }
        self._diag_pub = publisher(DiagnosticArray, '/diagnostics', qos.DIAGNOSTICS)
        self._node_publishers = [self._diag_pub]
        self._tf_pub = None
        if self._config.tf.enabled and TFMessage is None:
            self.get_logger().warning(f'TF off: {_TF_MISSING}', once=True)
        elif self._config.tf.enabled:
            self._tf_pub = publisher(TFMessage, '/tf', qos.TF)
            self._node_publishers.append(self._tf_pub)
        self._diag_timer = self.create_timer(
            self._config.diagnostics_period_s, self._publish_diagnostics
        )

    def _subscribe(self, camera: NodeCamera) -> None:
        cfg = self._config
        compressed = cfg.image_transport == 'compressed'
        # image_transport convention: remap `image`; the transport suffix follows the remap.
        topic = camera.topic('image')
        if compressed:
            topic = self.resolve_topic_name(topic) + '/compressed'
        depth = 1 if cfg.drop_policy == 'latest' else cfg.queue_size
        overridable = QoSOverridingOptions.with_default_policies()
        image_type = CompressedImage if compressed else Image

        def subscribe(events: Optional[SubscriptionEventCallbacks]):
            return self.create_subscription(
                image_type,
                topic,
                partial(self._on_image, camera),
                qos.image_qos(depth),
                qos_overriding_options=overridable,
                event_callbacks=events,
            )

        try:
            image_sub = subscribe(
                SubscriptionEventCallbacks(message_lost=partial(self._on_message_lost, camera))
            )
        except UnsupportedEventTypeError:  # an rmw without the event: the frames still flow
            image_sub = subscribe(None)
            self.get_logger().info(
                f'{rclpy.get_rmw_implementation_identifier()} reports no lost messages: '
                'frames lost in transport are not counted',
                once=True,
            )
        info_sub = self.create_subscription(
            CameraInfo,
            camera.topic('camera_info'),
            partial(self._on_camera_info, camera),
            qos.CAMERA_INFO,
            qos_overriding_options=overridable,
        )
        camera.subscriptions = [image_sub, info_sub]
        camera.image_topic, camera.info_topic = image_sub.topic_name, info_sub.topic_name
        kind = 'CompressedImage' if compressed else 'Image'
        profile = image_sub.qos_profile  # after any qos_overrides.* parameters
        self.get_logger().info(
            f'subscribed to {camera.image_topic} ({kind}, '
            f'{profile.reliability.name.lower()}, depth {profile.depth}) and '
            f'{camera.info_topic}; drop policy {cfg.drop_policy}'
        )

    # -- callbacks (executor thread): O(1), never touch the model -------------------------------

    def _on_image(self, camera: NodeCamera, msg) -> None:
        if not self._active:  # a message already taken before deactivate released the topic
            return
        camera.stats.received()
        if self._queue.put((msg, time.monotonic()), camera.lane):
            camera.stats.dropped(
                'superseded' if self._config.drop_policy == 'latest' else 'queue_full'
            )

    def _on_message_lost(self, camera: NodeCamera, info: QoSMessageLostInfo) -> None:
        """Frames the middleware saw sent but never delivered (best effort: no retransmission)."""
        camera.stats.lost_in_transport(info.total_count_change)
        self._warn_throttled(
            camera,
            'transport_lost',
            f'{info.total_count} frame(s) lost in transport on {camera.image_topic} so '
            'far (large raw frames need a transport profile that carries them: README, Transport)',
        )

    def _on_camera_info(self, camera: NodeCamera, msg: CameraInfo) -> None:
        reason = camera.processor.update_camera_info(msg)
        if reason is not None:
            counter = f'camera_info_{reason}'
            camera.stats.bad_input(counter)
            self._warn_throttled(
                camera,
                counter,
                f'CameraInfo on {camera.info_topic} ignored: {CAMERA_INFO_REJECTIONS[reason]}',
            )

    def _on_set_parameters(self, params) -> SetParametersResult:
        """Validate changes of the dynamic ``node.*`` parameters and swap the config atomically
        (read-only and out-of-range values were already rejected by their descriptors)."""
        changes = {p.name: p.value for p in params if p.name.startswith('node.')}
        if not changes:
            return SetParametersResult(successful=True)
        node_specs = [s for s in self._specs if s.name.startswith('node.')]
        try:
            config = build(NodeConfig, read_values(self, node_specs, changes)['node'], 'node.')
        except ConfigError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        self._config = config
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        # Named after the fully qualified name: /front/aios_node and /rear/aios_node must not
        # collapse into one status in the aggregator (diagnostic_updater's use_fqn); the
        # cameras of one node by their names.
        fqn = self.get_fully_qualified_name()
        statuses = [
            diagnostic_status(
                camera.stats.snapshot(),
                f'{fqn}: {camera.name} pipeline' if camera.name else f'{fqn}: pipeline',
                fqn,
                self.rounds,
            )
            for camera in self._cameras
        ]
        msg = DiagnosticArray(status=statuses)
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)

    # -- worker threads ---------------------------------------------------------------------------

    def _loop(self, queue: FrameQueue, handle) -> None:
        """Run ``handle`` on every round of queued items (each camera's failures are handled
        and counted there, so one bad frame never ends the thread)."""
        while not self._stop.is_set():
            items = queue.take(timeout_s=0.2)
            if items and not self._stop.is_set():
                handle([(self._cameras[lane], item) for lane, item in items])

    def _guarded(self, camera: NodeCamera, error_reason: str, step, *args):
        """``step(*args)``, or None with the failure counted and logged for ``camera``."""
        try:
            return step(*args)
        except ImageConversionError as exc:
            camera.stats.bad_input(exc.reason)
            self._warn_throttled(camera, exc.reason, f'skipped a bad input frame: {exc}')
        except Exception as exc:  # one bad frame must not end the node
            camera.stats.dropped(error_reason)
            self._warn_throttled(camera, error_reason, f'frame failed: {type(exc).__name__}: {exc}')
        return None

    def _process_round(self, round_: list[tuple[NodeCamera, tuple]]) -> None:
        """One frame of each camera that has one: decode each (a bad frame is skipped for its
        camera only), one batched estimate for all, then each camera's temporal pipeline and
        outputs."""
        cfg = self._config
        jobs = []
        for camera, (msg, received_s) in round_:
            job = self._guarded(camera, 'pipeline_error', self._admit, camera, msg, received_s, cfg)
            if job is not None:
                jobs.append((camera, job))
        for (camera, job), bodies in zip(jobs, self._estimate(jobs)):
            if bodies is not None:
                self._guarded(camera, 'pipeline_error', self._finish, camera, job, bodies)

    def _estimate(self, jobs: list[tuple[NodeCamera, _Job]]) -> list[Optional[Bodies]]:
        """The people of every job's frame, estimated together; None for a frame that failed
        (counted for its camera)."""
        if len(jobs) > 1:
            try:
                return list(self._estimate_round(jobs))
            except Exception:  # a batch fails as a whole: alone, only the frame at fault is lost
                pass
        people: list[Optional[Bodies]] = []
        for camera, job in jobs:
            alone = self._guarded(camera, 'pipeline_error', self._estimate_round, [(camera, job)])
            people.append(alone[0] if alone is not None else None)
        return people

    def _estimate_round(self, jobs: list[tuple[NodeCamera, _Job]]) -> list[Bodies]:
        people = estimate_together([job.frame for _, job in jobs])
        self.rounds += 1
        return people

    def _admit(self, camera: NodeCamera, msg, received_s: float, cfg: NodeConfig) -> Optional[_Job]:
        """The decoded frame of ``msg`` and what to compute for it, or None if it is skipped
        (stale, re-sent)."""
        if self._is_stale(msg.header, cfg):
            camera.stats.dropped('stale')
            return None
        processor = camera.processor
        if processor.is_resent(msg):  # dropped before it is decoded
            camera.stats.dropped('duplicate_stamp')
            return None
        image = processor.decode(msg, cfg)
        want_markers = camera.publishers['markers'].get_subscription_count() > 0
        want_overlay = cfg.overlay and camera.publishers['overlay'].get_subscription_count() > 0
        self._advance_timeline(camera, msg)
        return _Job(processor.frame(msg, image), received_s, cfg, want_markers, want_overlay)

    def _finish(self, camera: NodeCamera, job: _Job, bodies: Bodies) -> None:
        """Track the people of ``job``'s frame and publish its bodies, TF and visuals."""
        cfg, processor = job.cfg, camera.processor
        vertices = processor.needs_vertices(cfg, job.want_markers, job.want_overlay)
        out = processor.track(job.frame, bodies, vertices, keep_image=job.want_overlay)
        source = job.frame.camera.source
        if source != IntrinsicsSource.CAMERA_INFO:
            self.get_logger().warning(
                processor.intrinsics.fallback_reason(camera.info_topic), once=True
            )
        self._publish_bodies(camera, out, cfg)
        self._publish_tf(camera, out, cfg)
        camera.stats.processed(
            time.monotonic() - job.received_s,
            len(out.raw.bodies),
            source,
            processor.pipeline.switch_cuts,
        )
        if job.want_markers or job.want_overlay:
            self._visual_queue.put((out, cfg, job.want_markers, job.want_overlay), camera.lane)

    def _advance_timeline(self, camera: NodeCamera, msg: Image | CompressedImage) -> None:
        """A frame older than the previous one resets the camera's tracks (FrameProcessor)."""
        previous = camera.processor.last_stamp_ns
        if camera.processor.advance_timeline(msg):
            self._warn_throttled(
                camera,
                'time_jump_back',
                f'frame stamp {stamp_seconds(msg.header):.3f} s is older than '
                f'the previous {(previous or 0) * 1e-9:.3f} s: resetting tracks',
            )
            camera.stats.reset()

    def _publish_visuals(self, round_: list[tuple[NodeCamera, tuple]]) -> None:
        """Markers of the configured stream and the overlay of each camera (visualisation
        thread)."""
        for camera, item in round_:
            self._guarded(camera, 'visuals_error', self._publish_camera_visuals, camera, *item)

    def _publish_camera_visuals(
        self,
        camera: NodeCamera,
        out: PipelineOutput,
        cfg: NodeConfig,
        want_markers: bool,
        want_overlay: bool,
    ) -> None:
        frame = out.raw if cfg.markers.stream == 'raw' else out.fused
        if want_markers and frame is not None:
            camera.publishers['markers'].publish(camera.processor.markers(frame, cfg))
        if want_overlay:
            key: FrameKey = out.raw.key
            overlay = camera.processor.overlay(out.raw)
            camera.publishers['overlay'].publish(bgr_image(overlay, key.header))

    def _is_stale(self, header: Header, cfg: NodeConfig) -> bool:
        if cfg.drop_policy != 'latest' or cfg.max_input_age_s <= 0:
            return False
        age = self.get_clock().now() - Time.from_msg(header.stamp)
        return age.nanoseconds * 1e-9 > cfg.max_input_age_s

    def _publish_bodies(self, camera: NodeCamera, out: PipelineOutput, cfg: NodeConfig) -> None:
        processor = camera.processor
        camera.publishers['bodies'].publish(processor.body_array(out.raw, False, cfg))
        if out.fused is not None:
            camera.publishers['bodies_fused'].publish(processor.body_array(out.fused, True, cfg))

    def _publish_tf(self, camera: NodeCamera, out: PipelineOutput, cfg: NodeConfig) -> None:
        """Frames per tracked person and joint of the stream the markers show (inference thread:
        TF must not wait for the visualisation thread or for subscribers)."""
        frame = out.raw if cfg.markers.stream == 'raw' else out.fused
        if self._tf_pub is None or frame is None:
            return
        if not frame.key.header.frame_id:  # a transform needs a parent frame
            self._warn_throttled(
                camera, 'tf_no_frame_id', 'no TF frames: the image has no frame_id'
            )
            return
        transforms = camera.processor.transforms(frame, cfg)
        if transforms:
            self._tf_pub.publish(TFMessage(transforms=transforms))

    def _warn_throttled(self, camera: NodeCamera, reason: str, text: str) -> None:
        """At most one log line per camera and reason every BAD_INPUT_LOG_PERIOD_S (rclpy's
        throttle is per call site, which would hide all reasons but the first)."""
        now = time.monotonic()
        key = f'{camera.name}/{reason}'
        if now - self._last_bad_log.get(key, -np.inf) >= BAD_INPUT_LOG_PERIOD_S:
            self._last_bad_log[key] = now
            where = f'camera {camera.name}: ' if camera.name else ''
            self.get_logger().warning(f'{where}{text} [{reason}]')

    def destroy_node(self) -> None:
        """Join the worker threads before the publishers go away (from any lifecycle state)."""
        self._release()
        super().destroy_node()

    def shut_down(self) -> None:
        """The end of the process: the ``shutdown`` transition from whatever primary state the
        node is in, or just the release if a stop interrupted a transition."""
        try:
            self.trigger_shutdown()
        except _rclpy.RCLError:  # not in a primary state: a stop interrupted a transition
            self._release()


@dataclass(frozen=True)
class _Job:
    """A camera's decoded frame in a round, when its message arrived (``time.monotonic``) and
    what is computed for it (the node config of the moment, whether markers / the overlay have
    subscribers)."""

    frame: CameraFrame
    received_s: float
    cfg: NodeConfig
    want_markers: bool
    want_overlay: bool


def main(
    args: Optional[list[str]] = None,
    signals: Optional[StopSignals] = None,
    estimator: Optional[Estimator] = None,
) -> int:
    """Entry point of ``ros2 run aios_ros aios_node [--ros-args ...]``.

    The bundled ``config/camera.yaml`` is loaded first; ``--params-file`` / ``-p`` given on the
    command line (or by the launch file) override it. The executor spins in its own thread from
    the start, so parameter and lifecycle services answer while this (main) thread configures
    and activates the node (``node.autostart``) and then waits for a stop. ``signals``: handlers
    installed by the caller before its imports (``scripts/aios_node``); ``estimator``: as for
    :class:`AiosNode` (the stop-signal tests run this with their stand-in). Exit 0 after SIGINT or
    SIGTERM at any moment, 1 when the node cannot start.
    """
    signals = signals or StopSignals().install()
    # Before rclpy and the node start their threads, so that these share the heap the CPU
    # forward reuses (harmless on CUDA, whose host tensors are small).
    keep_cpu_heap()
    argv = list(sys.argv if args is None else args)
    config = default_config_file()
    if config is not None:
        argv[1:1] = ['--ros-args', '--params-file', str(config), '--']
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    node: Optional[AiosNode] = None
    executor = SingleThreadedExecutor()
    spinner = threading.Thread(target=executor.spin, name='aios_executor', daemon=True)
    try:
        node = AiosNode(estimator)
        executor.add_node(node)
        spinner.start()
        with signals.interruptible():
            if node.autostart and not _autostart(node):
                return 1
        while not (signals.requested or node.finished) and rclpy.ok():
            time.sleep(0.1)
    except StopRequested:
        pass
    except (ConfigError, ParameterException, OSError) as exc:
        rclpy.logging.get_logger('aios_node').fatal(f'cannot start: {exc}')
        return 1
    finally:
        executor.shutdown()
        if spinner.is_alive():
            spinner.join(timeout=JOIN_TIMEOUT_S)
        if node is not None:
            node.shut_down()
            node.destroy_node()
        rclpy.try_shutdown()
        signals.ignore_further()
    if signals.received:
        rclpy.logging.get_logger('aios_node').info(f'stopped by {signals.received}')
    return 0


def _autostart(node: AiosNode) -> bool:
    """configure + activate; False (the reason already logged) if configure failed."""
    if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
        rclpy.logging.get_logger('aios_node').fatal('cannot start: configure failed')
        return False
    return node.trigger_activate() == TransitionCallbackReturn.SUCCESS


if __name__ == '__main__':  # python -m aios_ros.node.node [--ros-args ...]
    raise SystemExit(main())
