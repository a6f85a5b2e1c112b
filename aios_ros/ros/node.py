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
=====================  ===================================  =====================================

Threading: the image callback only puts the message into a :class:`FrameQueue`; the inference
thread converts, runs the pipeline and publishes the body arrays, so the executor (timers,
parameter services) is never blocked by inference; a visualisation thread builds markers and the
overlay from the newest processed frame, so they never delay inference.
"""
from __future__ import annotations

import array
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from aios_ros.config import ConfigError, build, flatten
from aios_ros.model.checkpoint import CheckpointError
from aios_ros.model.config import ModelConfig
from aios_ros.msg import BodyModelInfo, SmplxBodyArray
from aios_ros.pipeline.pipeline import Pipeline
from aios_ros.pipeline.types import Estimator, IntrinsicsSource, PipelineOutput, StreamFrame
from aios_ros.render.display_geometry import display_geometry
from aios_ros.ros import qos
from aios_ros.ros.diagnostics import NodeStats, diagnostic_status
from aios_ros.ros.frame_queue import FrameQueue
from aios_ros.ros.image_conversion import ImageConversionError, compressed_to_bgr, image_to_bgr
from aios_ros.ros.intrinsics import IntrinsicsSelector
from aios_ros.ros.markers import marker_array
from aios_ros.ros.messages import (STREAM_FUSED, STREAM_RAW, body_array, body_model_info,
                                   copy_header, stamp_seconds)
from aios_ros.ros.node_config import NodeConfig
from aios_ros.ros.params import declare, param_specs, read_values
from aios_ros.temporal.config import FilterConfig, FusionConfig, TrackerConfig, from_parameters

SECTIONS = {'model': ModelConfig, 'tracker': TrackerConfig, 'fusion': FusionConfig,
            'filters': FilterConfig, 'node': NodeConfig}
BAD_INPUT_LOG_PERIOD_S = 5.0


class FrameKey(NamedTuple):
    """What the node passes to the pipeline with each frame and gets back with its outputs."""

    header: Header
    intrinsics_source: IntrinsicsSource


class AiosNode(Node):
    """The camera node. ``estimator`` replaces the AiOS model built from the ``model.*``
    parameters (tests inject their own); other keyword arguments go to ``rclpy.node.Node``."""

    def __init__(self, estimator: Optional[Estimator] = None, node_name: str = 'aios_node',
                 **node_kwargs) -> None:
        super().__init__(node_name, **node_kwargs)
        self._specs = param_specs(SECTIONS)
        declare(self, self._specs)
        values = read_values(self, self._specs)
        flat = flatten(values)
        changed = {s.name: flat[s.name] for s in self._specs if flat[s.name] != s.default}
        self.get_logger().info(f'parameters not at their defaults: {changed or "none"}')
        self._config: NodeConfig = build(NodeConfig, values['node'], 'node.')
        model_config = build(ModelConfig, values['model'], 'model.')
        if estimator is None:
            estimator = self._build_estimator(model_config)
        self._pipeline = Pipeline(estimator, from_parameters(values), with_vertices=False)
        self._intrinsics = IntrinsicsSelector.for_model(
            self._config.fallback_K, model_config.short_side, model_config.max_size)
        self._stats = NodeStats()
        self._queue = FrameQueue(self._config.drop_policy, self._config.queue_size)
        self._last_bad_log: dict[str, float] = {}
        self._last_stamp_s = -np.inf
        body_model = estimator.body_model
        self._display = display_geometry(body_model, self._config.markers.mesh_faces)
        self._create_io()
        self._model_info_pub.publish(body_model_info(
            body_model, self._display.faces, Header(stamp=self.get_clock().now().to_msg())))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._start_threads()

    def _start_threads(self) -> None:
        self._stop = threading.Event()
        # Markers and the overlay are built in their own thread (~15 us per mesh-marker point
        # in rclpy), so visualisation never delays inference; it keeps only the newest frame.
        self._visual_queue = FrameQueue('latest', 1)
        jobs = [('aios_inference', self._queue, self._process, 'pipeline_error'),
                ('aios_visuals', self._visual_queue, self._publish_visuals, 'visuals_error')]
        self._threads = [threading.Thread(target=self._loop, args=job[1:], name=job[0],
                                          daemon=True) for job in jobs]
        for thread in self._threads:
            thread.start()

    def _build_estimator(self, config: ModelConfig) -> Estimator:
        from aios_ros.model.estimator import UNTRAINED_WARNING, build_estimator
        if not config.checkpoint:
            self.get_logger().warning(f'{UNTRAINED_WARNING % config.seed} (set model.checkpoint)')
        self.get_logger().info(f'loading AiOS on {config.device} ({config.dtype}), input '
                               f'{config.short_side}/{config.max_size} px')
        return build_estimator(config)

    def _create_io(self) -> None:
        cfg = self._config
        compressed = cfg.image_transport == 'compressed'
        # image_transport convention: remap `image`; the transport suffix follows the remap.
        topic = self.resolve_topic_name('image') + '/compressed' if compressed else 'image'
        depth = 1 if cfg.drop_policy == 'latest' else cfg.queue_size
        self._convert = compressed_to_bgr if compressed else image_to_bgr
        self._image_sub = self.create_subscription(
            CompressedImage if compressed else Image, topic, self._on_image, qos.image_qos(depth),
            qos_overriding_options=QoSOverridingOptions.with_default_policies())
        self._info_sub = self.create_subscription(CameraInfo, 'camera_info',
                                                  self._on_camera_info, qos.CAMERA_INFO)
        self._bodies_pub = self.create_publisher(SmplxBodyArray, 'bodies', qos.BODIES)
        self._fused_pub = self.create_publisher(SmplxBodyArray, 'bodies_fused', qos.BODIES)
        self._model_info_pub = self.create_publisher(BodyModelInfo, 'body_model_info',
                                                     qos.MODEL_INFO)
        self._markers_pub = self.create_publisher(MarkerArray, 'markers', qos.MARKERS)
        self._overlay_pub = self.create_publisher(Image, 'overlay', qos.OVERLAY)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', qos.DIAGNOSTICS)
        self._diag_timer = self.create_timer(cfg.diagnostics_period_s, self._publish_diagnostics)
        kind = 'CompressedImage' if compressed else 'Image'
        profile = self._image_sub.qos_profile  # after any qos_overrides.* parameters
        self.get_logger().info(
            f'subscribed to {self._image_sub.topic_name} ({kind}, '
            f'{profile.reliability.name.lower()}, depth {profile.depth}) and '
            f'{self._info_sub.topic_name}; drop policy {cfg.drop_policy}')

    # -- callbacks (executor thread): O(1), never touch the model -------------------------------

    def _on_image(self, msg) -> None:
        self._stats.received()
        if self._queue.put((msg, time.monotonic())):
            self._stats.dropped('superseded' if self._config.drop_policy == 'latest'
                                else 'queue_full')

    def _on_camera_info(self, msg: CameraInfo) -> None:
        if not self._intrinsics.update_camera_info(msg.k, msg.width, msg.height):
            self.get_logger().warning(
                f'CameraInfo on {self._info_sub.topic_name} is uncalibrated (K[0] == 0); ignored',
                once=True)

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
        status = diagnostic_status(self._stats.snapshot(), f'{self.get_name()}: pipeline',
                                   self.get_fully_qualified_name())
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)

    # -- worker threads ---------------------------------------------------------------------------

    def _loop(self, queue: FrameQueue, handle, error_reason: str) -> None:
        """Run ``handle`` on every queued item; one failing frame never ends the thread."""
        while not self._stop.is_set():
            item = queue.get(timeout_s=0.2)
            if item is None:
                continue
            try:
                handle(*item)
            except ImageConversionError as exc:
                self._stats.bad_input(exc.reason)
                self._warn_throttled(exc.reason, f'skipped a bad input frame: {exc}')
            except Exception as exc:  # noqa: BLE001 - one bad frame must not end the node
                self._stats.dropped(error_reason)
                self._warn_throttled(error_reason, f'frame failed: {type(exc).__name__}: {exc}')

    def _process(self, msg, received_s: float) -> None:
        cfg = self._config
        if self._is_stale(msg.header, cfg):
            self._stats.dropped('stale')
            return
        stamp_s = stamp_seconds(msg.header)
        if stamp_s == self._last_stamp_s:  # a re-sent frame: dropped before it is decoded
            self._stats.dropped('duplicate_stamp')
            return
        image = self._convert(msg, cfg.max_pixels)
        camera = self._intrinsics.camera_for(image.shape[1], image.shape[0])
        if camera.source != IntrinsicsSource.CAMERA_INFO:
            self.get_logger().warning(
                self._intrinsics.fallback_reason(self._info_sub.topic_name), once=True)
        want_markers = self._markers_pub.get_subscription_count() > 0
        want_overlay = cfg.overlay and self._overlay_pub.get_subscription_count() > 0
        self._pipeline.with_vertices = (cfg.publish_vertices or want_overlay
                                        or (want_markers and cfg.markers.mesh))
        self._advance_timeline(stamp_s)
        out = self._pipeline.process(image, camera, stamp_s,
                                     FrameKey(copy_header(msg.header), camera.source))
        self._publish_bodies(out, cfg)
        self._stats.processed(time.monotonic() - received_s, len(out.raw.bodies), camera.source,
                              self._pipeline.switch_cuts)
        if want_markers or want_overlay:
            self._visual_queue.put((out, image, camera, cfg, want_markers, want_overlay))

    def _advance_timeline(self, stamp_s: float) -> None:
        """Time going backwards (bag restarted or looped, camera reset) resets the pipeline: its
        tracks belong to the old timeline. Called once the frame has decoded, so a bad frame
        neither resets the tracks nor makes its stamp a duplicate."""
        if stamp_s < self._last_stamp_s:
            self._warn_throttled('time_jump_back', f'frame stamp {stamp_s:.3f} s is older than '
                                 f'the previous {self._last_stamp_s:.3f} s: resetting tracks')
            self._stats.reset()
            self._pipeline.reset()
        self._last_stamp_s = stamp_s

    def _publish_visuals(self, out: PipelineOutput, image: np.ndarray, camera, cfg: NodeConfig,
                         want_markers: bool, want_overlay: bool) -> None:
        """Markers of the configured stream and the overlay (visualisation thread)."""
        frame = out.raw if cfg.markers.stream == 'raw' else out.fused
        if want_markers and frame is not None:
            self._markers_pub.publish(marker_array(
                frame.bodies, frame.key.header, self._display.parents,
                self._display.faces if cfg.markers.mesh else None, cfg.markers.lifetime_s))
        if want_overlay:
            self._publish_overlay(image, out.raw, camera)

    def _is_stale(self, header: Header, cfg: NodeConfig) -> bool:
        if cfg.drop_policy != 'latest' or cfg.max_input_age_s <= 0:
            return False
        age = self.get_clock().now() - Time.from_msg(header.stamp)
        return age.nanoseconds * 1e-9 > cfg.max_input_age_s

    def _publish_bodies(self, out: PipelineOutput, cfg: NodeConfig) -> None:
        raw_key: FrameKey = out.raw.key
        self._bodies_pub.publish(body_array(out.raw.bodies, raw_key.header, STREAM_RAW, 0,
                                            raw_key.intrinsics_source, cfg.publish_vertices))
        if out.fused is not None:
            key: FrameKey = out.fused.key
            self._fused_pub.publish(body_array(out.fused.bodies, key.header, STREAM_FUSED,
                                               out.lag_frames, key.intrinsics_source,
                                               cfg.publish_vertices))

    def _publish_overlay(self, image: np.ndarray, frame: StreamFrame, camera) -> None:
        from aios_ros.render.overlay import render_overlay  # drawing code only when enabled
        drawn = render_overlay(image, frame.bodies, camera, self._display.faces,
                               self._display.parents)
        msg = Image(header=copy_header(frame.key.header), height=drawn.shape[0],
                    width=drawn.shape[1], encoding='bgr8', is_bigendian=0,
                    step=drawn.shape[1] * 3)
        msg.data = array.array('B', drawn.tobytes())
        self._overlay_pub.publish(msg)

    def _warn_throttled(self, reason: str, text: str) -> None:
        """At most one log line per reason every BAD_INPUT_LOG_PERIOD_S (rclpy's throttle is
        per call site, which would hide all reasons but the first)."""
        now = time.monotonic()
        if now - self._last_bad_log.get(reason, -np.inf) >= BAD_INPUT_LOG_PERIOD_S:
            self._last_bad_log[reason] = now
            self.get_logger().warning(f'{text} [{reason}]')

    def destroy_node(self) -> None:
        """Stop and join the worker threads before the publishers go away."""
        self._stop.set()
        self._queue.close()
        self._visual_queue.close()
        for thread in self._threads:
            thread.join(timeout=30.0)
        super().destroy_node()


def default_config_file() -> Optional[Path]:
    """``config/camera.yaml`` of the source tree, else of the installed package share."""
    path = Path(__file__).resolve().parents[2] / 'config' / 'camera.yaml'
    if path.is_file():
        return path
    try:
        from ament_index_python.packages import get_package_share_directory
        path = Path(get_package_share_directory('aios_ros')) / 'config' / 'camera.yaml'
    except (ImportError, KeyError, ValueError):
        return None
    return path if path.is_file() else None


def main(args: Optional[list[str]] = None) -> int:
    """Entry point of ``ros2 run aios_ros aios_node [--ros-args ...]``.

    The bundled ``config/camera.yaml`` is loaded first; ``--params-file`` / ``-p`` given on the
    command line (or by the launch file) override it.
    """
    argv = list(sys.argv if args is None else args)
    config = default_config_file()
    if config is not None:
        argv[1:1] = ['--ros-args', '--params-file', str(config), '--']
    rclpy.init(args=argv)
    node = None
    try:
        node = AiosNode()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except (ConfigError, ParameterException, CheckpointError, OSError) as exc:
        rclpy.logging.get_logger('aios_node').fatal(f'cannot start: {exc}')
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
