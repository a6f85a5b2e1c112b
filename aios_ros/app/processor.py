"""One camera's frame path, the same for the live node and the offline replay.

decode (Image / CompressedImage -> BGR) -> intrinsics (CameraInfo, else ``node.fallback_K``, else
the estimator's default) -> estimator -> temporal :class:`~aios_ros.temporal.pipeline.Pipeline`
-> ``SmplxBodyArray`` messages -> visuals (MarkerArray, overlay image).

The node wraps it with subscriptions, worker threads and publishers; replay with a bag reader
and writer. The node's parameters may change while it runs, so every call takes the current
:class:`~aios_ros.app.settings.NodeConfig`. Building messages and visuals reads no processor
state, so it may run in another thread than :meth:`FrameProcessor.process`.

Several cameras share one estimator: :func:`estimate_together` runs the decoded frames of one
round through one batched estimate, then each camera's processor tracks its own people
(:meth:`FrameProcessor.track`); one camera's frame alone is :meth:`FrameProcessor.process`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from aios_ros.app.intrinsics import IntrinsicsSelector
from aios_ros.app.runtime import Runtime
from aios_ros.app.settings import NodeConfig
from aios_ros.core.types import Bodies, Camera, PipelineOutput, StreamFrame
from aios_ros.ros.image_conversion import ImageConversionError, compressed_to_bgr, image_to_bgr
from aios_ros.ros.markers import marker_array
from aios_ros.ros.messages import (
    STREAM_FUSED,
    STREAM_RAW,
    body_array,
    body_model_info,
    copy_header,
)
from aios_ros.ros.stamps import stamp_ns, stamp_seconds
from aios_ros.ros.tf_frames import person_transforms
from aios_ros.temporal.pipeline import Pipeline


class UnusableSizeError(ImageConversionError):
    """A decoded image whose size the estimator cannot take (``Estimator.size_problem``)."""

    reason = 'unusable_size'


@dataclass(frozen=True)
class FrameKey:
    """What travels with a frame through the pipeline and comes back with its outputs.

    header: copy of the input image's header; every output of the frame is stamped with it.
    camera: the intrinsics the frame was processed with.
    image: the decoded input (H, W, 3) uint8 BGR, kept only when an overlay is drawn of it.
    tag: the caller's own (replay: where the frame sits in the bag).
    """

    header: Any
    camera: Camera
    image: Optional[np.ndarray] = None
    tag: Any = None


@dataclass(frozen=True)
class CameraFrame:
    """One camera's decoded frame on its way into the estimator (:meth:`FrameProcessor.frame`):
    the camera's ``processor``, the image message ``msg``, its decoded (H, W, 3) uint8 BGR
    ``image`` and the intrinsics ``camera`` it is processed with."""

    processor: FrameProcessor
    msg: Any
    image: np.ndarray
    camera: Camera


def estimate_together(frames: Sequence[CameraFrame]) -> list[Bodies]:
    """The people of every frame, by one ``estimate_batch`` of the shared estimator (one
    forward per network input size: cameras of one resolution share it); frames of one camera
    or of several."""
    estimator = frames[0].processor.runtime.estimator
    return estimator.estimate_batch([f.image for f in frames], [f.camera for f in frames])


class FrameProcessor:
    """The frame path of one camera: its identities, its intrinsics, the shared estimator.
    ``camera_name``: the camera's name among several served together ('' alone); it keeps the
    TF frames of the cameras apart (track ids are per camera)."""

    def __init__(self, runtime: Runtime, camera_name: str = '') -> None:
        self.runtime = runtime
        self.camera_name = camera_name
        settings = runtime.settings
        self.pipeline = Pipeline(runtime.estimator, settings.temporal)
        self.intrinsics = IntrinsicsSelector(settings.node.fallback_K, runtime.estimator.default_K)
        #: stamp (integer ns) of the last frame that went into the pipeline
        self.last_stamp_ns: int | None = None

    def is_resent(self, msg: Any) -> bool:
        """Whether ``msg`` carries the stamp of the last processed frame: a re-sent frame, to be
        skipped before it is decoded."""
        return stamp_ns(msg.header) == self.last_stamp_ns

    def advance_timeline(self, msg: Any) -> bool:
        """Take the stamp of ``msg`` (a frame that decoded and is about to be processed) as the
        newest; True if time went backwards (a bag restarted or looped, a camera reset): then
        every identity is forgotten, since the tracks belong to the old timeline. Called only
        once a frame has decoded, so a bad frame neither resets the tracks nor becomes the stamp
        that a re-sent frame is compared with."""
        stamp = stamp_ns(msg.header)
        jumped_back = self.last_stamp_ns is not None and stamp < self.last_stamp_ns
        if jumped_back:
            self.pipeline.reset()
        self.last_stamp_ns = stamp
        return jumped_back

    def update_camera_info(self, msg: Any) -> Optional[str]:
        """Take the intrinsics of a CameraInfo message; else (ignored) why not
        (:data:`~aios_ros.app.intrinsics.CAMERA_INFO_REJECTIONS`)."""
        return self.intrinsics.update_camera_info(msg.k, msg.width, msg.height)

    def decode(self, msg: Any, cfg: NodeConfig) -> np.ndarray:
        """Image or CompressedImage message -> (H, W, 3) uint8 BGR; bad images, and images of a
        size the estimator cannot take, raise
        :class:`~aios_ros.ros.image_conversion.ImageConversionError`."""
        convert = compressed_to_bgr if hasattr(msg, 'format') else image_to_bgr
        image = convert(msg, cfg.max_pixels)
        problem = self.runtime.estimator.size_problem(image.shape[1], image.shape[0])
        if problem:
            raise UnusableSizeError(problem)
        return image

    @staticmethod
    def needs_vertices(cfg: NodeConfig, markers: bool, overlay: bool) -> bool:
        """Whether meshes must be computed: published, drawn in the overlay or as mesh markers."""
        return cfg.publish_vertices or overlay or (markers and cfg.markers.mesh)

    def process(
        self, msg: Any, image: np.ndarray, vertices: bool, keep_image: bool = False, tag: Any = None
    ) -> PipelineOutput:
        """Estimate and track the people of the decoded ``image`` of ``msg``; ``vertices``:
        compute meshes (:meth:`needs_vertices`); ``keep_image``: keep the image in the frame's key
        (overlay)."""
        frame = self.frame(msg, image)
        (bodies,) = estimate_together([frame])
        return self.track(frame, bodies, vertices, keep_image, tag)

    def frame(self, msg: Any, image: np.ndarray) -> CameraFrame:
        """The decoded ``image`` of ``msg`` with the intrinsics it is processed with."""
        height, width = image.shape[:2]
        return CameraFrame(self, msg, image, self.intrinsics.camera_for(width, height))

    def track(
        self,
        frame: CameraFrame,
        bodies: Bodies,
        vertices: bool,
        keep_image: bool = False,
        tag: Any = None,
    ) -> PipelineOutput:
        """The temporal pipeline on the people the estimator found in ``frame`` (of this
        camera); arguments as for :meth:`process`."""
        key = FrameKey(
            copy_header(frame.msg.header), frame.camera, frame.image if keep_image else None, tag
        )
        return self.pipeline.process_bodies(
            bodies, frame.camera, stamp_seconds(frame.msg.header), key, vertices
        )

    def flush(self, vertices: bool) -> list[StreamFrame]:
        """The fused frames still queued at the end of a stream, oldest first."""
        return self.pipeline.flush(vertices)

    def body_array(self, frame: StreamFrame, fused: bool, cfg: NodeConfig) -> Any:
        """The ``SmplxBodyArray`` of one stream frame (raw, or fused ``lag_frames`` behind)."""
        key: FrameKey = frame.key
        lag = self.pipeline.lag_frames if fused else 0
        return body_array(
            frame.bodies,
            key.header,
            STREAM_FUSED if fused else STREAM_RAW,
            lag,
            key.camera.source,
            cfg.publish_vertices,
        )

    def markers(self, frame: StreamFrame, cfg: NodeConfig) -> Any:
        """The ``MarkerArray`` of one stream frame (skeletons, labels, meshes if enabled)."""
        display = self.runtime.display
        return marker_array(
            frame.bodies,
            frame.key.header,
            display.parents,
            display.faces if cfg.markers.mesh else None,
            cfg.markers.lifetime_s,
        )

    def transforms(self, frame: StreamFrame, cfg: NodeConfig) -> list[Any]:
        """The TF transforms (``TransformStamped``) of one stream frame: one per tracked person
        and ``cfg.tf.frames`` joint, under the image's frame, named
        ``<prefix>[<camera_name>/]<track_id>/<joint>``."""
        name = self.camera_name
        prefix = f'{cfg.tf.prefix}{name}/' if name else cfg.tf.prefix
        return person_transforms(frame.bodies, frame.key.header, cfg.tf.frames, prefix)

    def overlay(self, frame: StreamFrame) -> np.ndarray:
        """``frame`` drawn over its input image (kept with ``keep_image``), (H, W, 3) BGR."""
        from aios_ros.render.overlay import render_overlay  # drawing code only when used

        key: FrameKey = frame.key
        display = self.runtime.display
        return render_overlay(
            key.image,
            frame.bodies,
            key.camera,
            display.faces,
            display.parents,
            note=self.runtime.note or None,
        )

    def body_model_info(self, header: Any) -> Any:
        """The latched ``BodyModelInfo`` (joint names, faces, marker faces, skeleton)."""
        return body_model_info(
            self.runtime.estimator.body_model, self.runtime.display.faces, header
        )
