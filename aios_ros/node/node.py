"""``aios_node``: camera images in; SMPL-X bodies, RViz markers, overlay and diagnostics out.

Topics (relative names: remap them, or run one node per camera namespace):

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
``/diagnostics``       diagnostic_msgs/DiagnosticArray      every ``node.diagnostics_period_s``
``/tf``                tf2_msgs/TFMessage (pub)             ``node.tf.*``: joints per person
=====================  ===================================  =====================================

Threading: the image callback only puts the message into a :class:`FrameQueue`; the inference
thread converts, runs the pipeline and publishes the body arrays, so the executor (timers,
parameter services) is never blocked by inference; a visualisation thread builds markers and the
overlay from the newest processed frame, so they never delay inference.
"""

from __future__ import annotations

import sys
import threading
import time
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
from aios_ros.app.processor import FrameKey, FrameProcessor
from aios_ros.app.runtime import (
    load_estimator,
    make_runtime,
    release_memory,
    untrained_warning,
    warm_up,
)
from aios_ros.app.settings import SECTIONS, NodeConfig, Settings, default_config_file
from aios_ros.core.config import ConfigError, build, flatten
from aios_ros.core.types import Estimator, IntrinsicsSource, PipelineOutput
from aios_ros.msg import BodyModelInfo, SmplxBodyArray
from aios_ros.node.diagnostics import NodeStats, diagnostic_status
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
        self._processor: Optional[FrameProcessor] = None
        self._subscriptions_on: list = []
        self._publishers_on: list = []
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
            self._stats = NodeStats()  # before the publishers: the diagnostics timer reads it
            self._queue = FrameQueue(self._config.drop_policy, self._config.queue_size)
            self._create_publishers()
            estimator = self._injected_estimator or self._build_estimator(settings)
            started = time.monotonic()
            warm_up(estimator, settings.model)
            self.get_logger().info(f'model warmed up in {time.monotonic() - started:.1f} s')
            self._processor = FrameProcessor(make_runtime(settings, estimator))
        except (ConfigError, OSError) as exc:
            self.get_logger().error(f'cannot configure: {exc}')
            self._release()
            return TransitionCallbackReturn.FAILURE
        self._model_info_pub.publish(
            self._processor.body_model_info(Header(stamp=self.get_clock().now().to_msg()))
        )
        self._start_threads()
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._create_subscriptions()
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
        """Release the subscriptions and drop the waiting frame: nothing more is computed (a
        frame already in the model finishes and is published)."""
        self._active = False
        for sub in self._subscriptions_on:
            self.destroy_subscription(sub)
        self._subscriptions_on = []
        if self._threads:
            while self._queue.get(timeout_s=0.0) is not None:
                pass

    def _release(self) -> None:
        """Back to unconfigured from any state: workers joined (the frame in flight is finished
        and published first, so a stop never fails it), outputs destroyed, model freed.
        Idempotent."""
        self._deactivate()
        self._stop_threads()
        if self._publishers_on:
            self.destroy_timer(self._diag_timer)
        for pub in self._publishers_on:
            self.destroy_publisher(pub)
        self._publishers_on = []
        if self._processor is not None:
            model = self._processor.runtime.settings.model
            self._processor = None
            release_memory(model)

    def _start_threads(self) -> None:
        self._stop = threading.Event()
        # Markers and the overlay are built in their own thread (~15 us per mesh-marker point
        # in rclpy), so visualisation never delays inference; it keeps only the newest frame.
        self._visual_queue = FrameQueue('latest', 1)
        jobs = [
            ('aios_inference', self._queue, self._process, 'pipeline_error'),
            ('aios_visuals', self._visual_queue, self._publish_visuals, 'visuals_error'),
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
            f'{config.short_side}/{config.max_size} px'
        )
        return load_estimator(config)

    def _create_publishers(self) -> None:
        """Every publisher reliable (what RViz, rqt and image_transport subscribe with), each
        overridable with ``qos_overrides.<resolved topic>.publisher.*``."""
        overridable = QoSOverridingOptions.with_default_policies()

        def publisher(msg_type, topic: str, profile):
            pub = self.create_publisher(
                msg_type, topic, profile, qos_overriding_options=overridable
            )
            self._publishers_on.append(pub)
            return pub

        self._bodies_pub = publisher(SmplxBodyArray, 'bodies', qos.BODIES)
        self._fused_pub = publisher(SmplxBodyArray, 'bodies_fused', qos.BODIES)
        self._model_info_pub = publisher(BodyModelInfo, 'body_model_info', qos.MODEL_INFO)
        self._markers_pub = publisher(MarkerArray, 'markers', qos.MARKERS)
        self._overlay_pub = publisher(Image, 'overlay', qos.OVERLAY)
        self._diag_pub = publisher(DiagnosticArray, '/diagnostics', qos.DIAGNOSTICS)
        self._tf_pub = None
        if self._config.tf.enabled and TFMessage is None:
            self.get_logger().warning(f'TF off: {_TF_MISSING}', once=True)
        elif self._config.tf.enabled:
            self._tf_pub = publisher(TFMessage, '/tf', qos.TF)
        self._diag_timer = self.create_timer(
            self._config.diagnostics_period_s, self._publish_diagnostics
        )

    def _create_subscriptions(self) -> None:
        cfg = self._config
        compressed = cfg.image_transport == 'compressed'
        # image_transport convention: remap `image`; the transport suffix follows the remap.
        topic = self.resolve_topic_name('image') + '/compressed' if compressed else 'image'
        depth = 1 if cfg.drop_policy == 'latest' else cfg.queue_size
        overridable = QoSOverridingOptions.with_default_policies()
        image_type = CompressedImage if compressed else Image

        def subscribe(events: Optional[SubscriptionEventCallbacks]):
            return self.create_subscription(
                image_type,
                topic,
                self._on_image,
                qos.image_qos(depth),
                qos_overriding_options=overridable,
                event_callbacks=events,
            )

        try:
            self._image_sub = subscribe(
                SubscriptionEventCallbacks(message_lost=self._on_message_lost)
            )
        except UnsupportedEventTypeError:  # an rmw without the event: the frames still flow
            self._image_sub = subscribe(None)
            self.get_logger().info(
                f'{rclpy.get_rmw_implementation_identifier()} reports no lost messages: '
                'frames lost in transport are not counted',
                once=True,
            )
        self._info_sub = self.create_subscription(
            CameraInfo,
            'camera_info',
            self._on_camera_info,
            qos.CAMERA_INFO,
            qos_overriding_options=overridable,
        )
        self._subscriptions_on = [self._image_sub, self._info_sub]
        # kept as text: the worker still names it after deactivate destroyed the subscription
        self._info_topic = self._info_sub.topic_name
        kind = 'CompressedImage' if compressed else 'Image'
        profile = self._image_sub.qos_profile  # after any qos_overrides.* parameters
        self.get_logger().info(
            f'subscribed to {self._image_sub.topic_name} ({kind}, '
            f'{profile.reliability.name.lower()}, depth {profile.depth}) and '
            f'{self._info_sub.topic_name}; drop policy {cfg.drop_policy}'
        )

    # -- callbacks (executor thread): O(1), never touch the model -------------------------------

    def _on_image(self, msg) -> None:
        if not self._active:  # a message already taken before deactivate released the topic
            return
        self._stats.received()
        if self._queue.put((msg, time.monotonic())):
            self._stats.dropped(
                'superseded' if self._config.drop_policy == 'latest' else 'queue_full'
            )

    def _on_message_lost(self, info: QoSMessageLostInfo) -> None:
        """Frames the middleware saw sent but never delivered (best effort: no retransmission)."""
        self._stats.lost_in_transport(info.total_count_change)
        self._warn_throttled(
            'transport_lost',
            f'{info.total_count} frame(s) lost in transport on {self._image_sub.topic_name} so '
            'far (large raw frames need a transport profile that carries them: README, Transport)',
        )

    def _on_camera_info(self, msg: CameraInfo) -> None:
        reason = self._processor.update_camera_info(msg)
        if reason is not None:
            counter = f'camera_info_{reason}'
            self._stats.bad_input(counter)
            self._warn_throttled(
                counter,
                f'CameraInfo on {self._info_topic} ignored: {CAMERA_INFO_REJECTIONS[reason]}',
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
        # collapse into one status in the aggregator (diagnostic_updater's use_fqn).
        name = self.get_fully_qualified_name()
        status = diagnostic_status(self._stats.snapshot(), f'{name}: pipeline', name)
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)

    # -- worker threads ---------------------------------------------------------------------------

    def _loop(self, queue: FrameQueue, handle, error_reason: str) -> None:
        """Run ``handle`` on every queued item; one failing frame never ends the thread."""
        while not self._stop.is_set():
            item = queue.get(timeout_s=0.2)
            if item is None or self._stop.is_set():
                continue
            try:
                handle(*item)
            except ImageConversionError as exc:
                self._stats.bad_input(exc.reason)
                self._warn_throttled(exc.reason, f'skipped a bad input frame: {exc}')
            except Exception as exc:  # one bad frame must not end the node
                self._stats.dropped(error_reason)
                self._warn_throttled(error_reason, f'frame failed: {type(exc).__name__}: {exc}')

    def _process(self, msg, received_s: float) -> None:
        cfg = self._config
        if self._is_stale(msg.header, cfg):
            self._stats.dropped('stale')
            return
        if self._processor.is_resent(msg):  # dropped before it is decoded
            self._stats.dropped('duplicate_stamp')
            return
        image = self._processor.decode(msg, cfg)
        want_markers = self._markers_pub.get_subscription_count() > 0
        want_overlay = cfg.overlay and self._overlay_pub.get_subscription_count() > 0
        self._advance_timeline(msg)
        out = self._processor.process(
            msg,
            image,
            self._processor.needs_vertices(cfg, want_markers, want_overlay),
            keep_image=want_overlay,
        )
        source = out.raw.key.camera.source
        if source != IntrinsicsSource.CAMERA_INFO:
            self.get_logger().warning(
                self._processor.intrinsics.fallback_reason(self._info_topic), once=True
            )
        self._publish_bodies(out, cfg)
        self._publish_tf(out, cfg)
        self._stats.processed(
            time.monotonic() - received_s,
            len(out.raw.bodies),
            source,
            self._processor.pipeline.switch_cuts,
        )
        if want_markers or want_overlay:
            self._visual_queue.put((out, cfg, want_markers, want_overlay))

    def _advance_timeline(self, msg: Image | CompressedImage) -> None:
        """A frame older than the previous one resets the tracks (FrameProcessor)."""
        previous = self._processor.last_stamp_ns
        if self._processor.advance_timeline(msg):
            self._warn_throttled(
                'time_jump_back',
                f'frame stamp {stamp_seconds(msg.header):.3f} s is older than '
                f'the previous {(previous or 0) * 1e-9:.3f} s: resetting tracks',
            )
            self._stats.reset()

    def _publish_visuals(
        self, out: PipelineOutput, cfg: NodeConfig, want_markers: bool, want_overlay: bool
    ) -> None:
        """Markers of the configured stream and the overlay (visualisation thread)."""
        frame = out.raw if cfg.markers.stream == 'raw' else out.fused
        if want_markers and frame is not None:
            self._markers_pub.publish(self._processor.markers(frame, cfg))
        if want_overlay:
            key: FrameKey = out.raw.key
            self._overlay_pub.publish(bgr_image(self._processor.overlay(out.raw), key.header))

    def _is_stale(self, header: Header, cfg: NodeConfig) -> bool:
        if cfg.drop_policy != 'latest' or cfg.max_input_age_s <= 0:
            return False
        age = self.get_clock().now() - Time.from_msg(header.stamp)
        return age.nanoseconds * 1e-9 > cfg.max_input_age_s

    def _publish_bodies(self, out: PipelineOutput, cfg: NodeConfig) -> None:
        self._bodies_pub.publish(self._processor.body_array(out.raw, False, cfg))
        if out.fused is not None:
            self._fused_pub.publish(self._processor.body_array(out.fused, True, cfg))

    def _publish_tf(self, out: PipelineOutput, cfg: NodeConfig) -> None:
        """Frames per tracked person and joint of the stream the markers show (inference thread:
        TF must not wait for the visualisation thread or for subscribers)."""
        frame = out.raw if cfg.markers.stream == 'raw' else out.fused
        if self._tf_pub is None or frame is None:
            return
        if not frame.key.header.frame_id:  # a transform needs a parent frame
            self._warn_throttled('tf_no_frame_id', 'no TF frames: the image has no frame_id')
            return
        transforms = self._processor.transforms(frame, cfg)
        if transforms:
            self._tf_pub.publish(TFMessage(transforms=transforms))

    def _warn_throttled(self, reason: str, text: str) -> None:
        """At most one log line per reason every BAD_INPUT_LOG_PERIOD_S (rclpy's throttle is
        per call site, which would hide all reasons but the first)."""
        now = time.monotonic()
        if now - self._last_bad_log.get(reason, -np.inf) >= BAD_INPUT_LOG_PERIOD_S:
            self._last_bad_log[reason] = now
            self.get_logger().warning(f'{text} [{reason}]')

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
