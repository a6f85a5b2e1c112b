"""AiOS as the per-frame estimator of the pipeline (``Estimator`` protocol of
:mod:`aios_ros.core.types`).

One image -> network (final decoder layer only) -> official top-50 selection -> the people above
``candidate_threshold`` (each query once, at most ``max_people``) -> SMPL-X for those people only.
Everything a caller needs: ``build_estimator(config)``, then ``estimate(image_bgr, camera)`` per
frame (``estimate_batch`` for the frames of several cameras, batched), ``regress(tokens)``
after temporal fusion, and ``body_model`` for forward kinematics.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import torch

from aios_ros.body.body_model import SmplxBodyModel
from aios_ros.body.smplx_layer import SmplxLayer
from aios_ros.core.smplx import POSE_SLICES
from aios_ros.core.tokens import TOKEN_DIM, TOKENS_PER_PERSON
from aios_ros.core.types import Bodies, Camera
from aios_ros.model.aios import AiOS
from aios_ros.model.camera import cam_to_translation, default_K, metric_translation, project
from aios_ros.model.checkpoint import CheckpointError, load_strict, read_checkpoint
from aios_ros.model.config import UNTRAINED_WARNING, ModelConfig
from aios_ros.model.cpu_heap import keep_cpu_heap
from aios_ros.model.cuda_graphs import GraphRunner
from aios_ros.model.postprocess import BOX_KEYS, scale_boxes, top_scores
from aios_ros.model.precision import resolve_dtype
from aios_ros.model.preprocess import Batch, make_batch, network_size, size_problem, upload
from aios_ros.model.seeded_weights import seeded_state_dict, smplx_placeholder

LOG = logging.getLogger(__name__)
BOX_OUTPUTS = tuple(BOX_KEYS.values())  # body, left hand, right hand, face


def build_model(config: ModelConfig) -> AiOS:
    """The AiOS network with the checkpoint's weights
    (or seeded weights if ``checkpoint`` is '')."""
    if not config.checkpoint:
        LOG.warning(UNTRAINED_WARNING, config.seed)
        model = AiOS(SmplxLayer(smplx_placeholder()))
        load_strict(
            model, seeded_state_dict(model.state_dict(), config.seed), f'seed {config.seed}'
        )
        return model.eval()
    state_dict = read_checkpoint(config.checkpoint)
    try:
        body = SmplxLayer.from_state_dict(state_dict, prefix='body_model.')
    except KeyError as exc:
        raise CheckpointError(f'{config.checkpoint}: {exc.args[0]}') from exc
    model = AiOS(body)
    load_strict(model, state_dict, config.checkpoint)
    return model.eval()


def build_smplx(config: ModelConfig, checkpoint_layer: SmplxLayer) -> SmplxLayer:
    """SMPL-X layer used for the outputs: the checkpoint's own (``checkpoint_layer``, the model's
    ``body_model``) or one built from the user's SMPL-X folder ``config.smplx_path``.

    With a folder, the checkpoint's ``body_model.transl`` (part of the trained model) is kept, so
    a folder holding the same SMPL-X data gives identical results.
    """
    if not config.smplx_path:
        return checkpoint_layer
    layer = SmplxLayer.from_smplx_folder(config.smplx_path)
    with torch.no_grad():
        layer.transl.copy_(checkpoint_layer.transl)
    return layer.to(checkpoint_layer.transl.device)


def build_estimator(config: ModelConfig) -> 'AiosEstimator':
    """Load weights and SMPL-X as configured and return a ready estimator."""
    model = build_model(config).to(config.device)
    return AiosEstimator(model, build_smplx(config, model.body_model), config)


@dataclass
class Detections:
    """Network result for a batch of images: ``out`` as returned by :meth:`AiOS.forward`
    (float32, one row per image) and the pre-processed ``batch``."""

    out: dict[str, torch.Tensor]
    batch: Batch


def _to_host(tensors: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """float32 numpy copies of ``tensors`` through one device-to-host transfer (one sync on a
    GPU instead of one per tensor)."""
    flat = torch.cat([t.float().reshape(-1) for t in tensors.values()]).cpu().numpy()
    sizes = [t.numel() for t in tensors.values()]
    parts = np.split(flat, np.cumsum(sizes)[:-1])
    return {k: p.reshape(t.shape) for (k, t), p in zip(tensors.items(), parts)}


class AiosEstimator:
    """Multi-person whole-body SMPL-X estimation with AiOS (implements ``Estimator``).

    Attributes: ``model`` (:class:`AiOS`), ``smplx`` (:class:`SmplxLayer`), ``body_model``
    (``BodyModel`` on numpy arrays), ``config``, ``untrained`` (True with seeded weights).
    """

    def __init__(self, model: AiOS, smplx: SmplxLayer, config: ModelConfig) -> None:
        self.model = model.eval()
        self.smplx = smplx.eval()
        self.config = config
        self.device = torch.device(config.device)
        self.body_model = SmplxBodyModel(smplx)
        self.untrained = not config.checkpoint
        #: the precision the network runs in (``config.dtype`` resolved for this machine)
        self.dtype = resolve_dtype(config.dtype, self.device.type)
        # On a GPU the whole network forward replays as one CUDA graph per padded input-size
        # bucket; on the CPU, graphs bring nothing and the forward runs eagerly, its tensors
        # reusing the heap of the previous forward.
        self._graphs = None
        if self.device.type == 'cpu':
            keep_cpu_heap()
        if self.device.type == 'cuda':
            autocast = torch.bfloat16 if self.dtype == 'bf16' else None
            self._graphs = GraphRunner(
                lambda img, mask: self.model(img, mask)[0], self.device, autocast_dtype=autocast
            )

    def default_K(self, width: int, height: int) -> np.ndarray:
        """(3, 3) intrinsics the network implicitly assumes for a ``width`` x ``height`` image."""
        return default_K(width, height, self.config.short_side, self.config.max_size)

    def size_problem(self, width: int, height: int) -> Optional[str]:
        """Why a ``width`` x ``height`` image is unusable for the network, or None."""
        return size_problem(height, width, self.config.short_side, self.config.max_size)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype == 'bf16':
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def estimate(self, image: np.ndarray, camera: Camera) -> Bodies:
        """BGR uint8 (H, W, 3) -> the people in it, by descending score (see ``Estimator``)."""
        return self.estimate_batch([image], [camera])[0]

    def estimate_batch(
        self, images: Sequence[np.ndarray], cameras: Sequence[Camera]
    ) -> list[Bodies]:
        """The people of each image, exactly as :meth:`estimate` of that image alone, in one
        forward per network input size: images of the same size (cameras of one model) share a
        forward; images of another size get their own, because padding an image into a larger
        batch changes its result (the official model's backbone sees the padding: with the seeded
        weights a 400x480 crop padded beside a 480x640 image changes its top-50 scores by up to
        0.009 and its selection). On CUDA the size is the graph bucket every image is padded to
        anyway."""
        groups: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(self._forward_size(image), []).append(i)
        people: dict[int, Bodies] = {}
        for rows in groups.values():
            detections = self.detect([images[i] for i in rows])
            for b, i in enumerate(rows):
                people[i] = self.bodies(detections, cameras[i], b)
        return [people[i] for i in range(len(images))]

    def _forward_size(self, image: np.ndarray) -> tuple[int, int]:
        """The size the network runs an image at: its input size, or on CUDA its graph bucket."""
        size = network_size(image, self.config.short_side, self.config.max_size)
        return self._graphs.policy.bucket(*size) if self._graphs is not None else size

    def detect(self, images: Sequence[np.ndarray]) -> Detections:
        """First half of :meth:`estimate_batch` for images of one size: pre-processing and the
        network (no SMPL-X); a batch of images of several sizes is padded as the official model
        pads it."""
        cfg = self.config
        batch = make_batch(list(images), cfg.short_side, cfg.max_size, self.device)
        with torch.inference_mode():
            if self._graphs is not None:
                out = self._graphs(batch.img, batch.mask)
            else:
                with self._autocast():
                    out, _ = self.model(batch.img, batch.mask)
        return Detections({k: v.float() for k, v in out.items()}, batch)

    def bodies(self, detections: Detections, camera: Camera, index: int = 0) -> Bodies:
        """Second half of :meth:`estimate_batch` for image ``index`` of the batch: selection,
        SMPL-X for the kept people, camera."""
        with torch.inference_mode():
            return self._bodies(detections.out, detections.batch, camera, index)

    def _select(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """logits (G, 2) -> (scores (N,), queries (N,)): official top-50 over queries x classes,
        each query once (its best class), score >= candidate_threshold, at most max_people."""
        scores, queries, _, _ = top_scores(logits[None])
        scores, queries = scores[0], queries[0]
        # first entry of each query (entries are by descending score), without a host loop
        first = ~(queries[:, None] == queries[None, :]).tril(-1).any(1)
        keep = first & (scores >= self.config.candidate_threshold)
        # kept entries first, still by score; the people count is the frame's one small read
        # before the final transfer (a boolean mask would sync once per indexed tensor)
        order = torch.argsort((~keep).to(torch.uint8), stable=True)
        n = int(keep.sum().clamp(max=self.config.max_people))
        return scores[order[:n]], queries[order[:n]]

    def _bodies(
        self, out: Mapping[str, torch.Tensor], batch: Batch, camera: Camera, b: int
    ) -> Bodies:
        scores, q = self._select(out['pred_logits'][b])
        if q.numel() == 0:
            return self._no_bodies()
        boxes = torch.stack([scale_boxes(out[k][b, q], batch.ori_shape[b]) for k in BOX_OUTPUTS], 1)
        rot = out['rotmat'][b, q]
        betas, expr, cam = (
            out['pred_smpl_beta'][b, q],
            out['pred_smpl_expr'][b, q],
            out['pred_smpl_cam'][b, q],
        )
        smplx = self.smplx(
            **{name: rot[:, s] for name, s in POSE_SLICES.items()},
            betas=betas,
            expression=expr,
            with_vertices=self.config.with_vertices,
        )
        joints = smplx.joints
        img_hw, to_original = batch.img_shape[b], batch.bb2img[b]
        if self.config.metric_camera:
            K = upload(np.asarray(camera.K, np.float32), joints.device)
            transl = metric_translation(cam, K, img_hw, to_original.diagonal())
            p = joints + transl[:, None]
            keypoints = (p / p[..., 2:3]) @ K.T
            keypoints = keypoints[..., :2]
        else:
            transl = cam_to_translation(cam)
            keypoints = project(joints, transl, img_hw) @ to_original[:, :2].T + to_original[:, 2]

        outputs = {
            'scores': scores,
            'boxes': boxes,
            'pose': rot,
            'betas': betas,
            'expression': expr,
            'transl': transl,
            'keypoints_2d': keypoints,
            'joints_3d': joints + transl[:, None],
            'tokens': out['tokens'][b, q],
        }
        if smplx.vertices is not None:
            outputs['vertices'] = smplx.vertices + transl[:, None]
        host = _to_host(outputs)
        host['tokens'] = host['tokens'].astype(np.float16)
        return Bodies(vertices=host.pop('vertices', None), **host)

    def _no_bodies(self) -> Bodies:
        bodies = Bodies.empty(len(self.body_model.joint_names))
        bodies.tokens = np.zeros((0, TOKENS_PER_PERSON, TOKEN_DIM), np.float16)
        if self.config.with_vertices:
            bodies.vertices = np.zeros((0, self.body_model.num_vertices, 3), np.float32)
        return bodies

    def regress(self, tokens: np.ndarray) -> dict[str, np.ndarray]:
        """Final-layer SMPL-X heads on token blocks (N, 39, 256) -> ``pose`` (N, 53, 3, 3),
        ``betas`` (N, 10), ``expression`` (N, 10), ``cam`` (N, 3) = (s, tx, ty), float32."""
        tokens = np.asarray(tokens)
        if tokens.ndim != 3 or tokens.shape[1:] != (TOKENS_PER_PERSON, TOKEN_DIM):
            raise ValueError(f'tokens must have shape (N, 39, 256), got {tokens.shape}')
        with torch.inference_mode():
            t = torch.as_tensor(tokens, dtype=torch.float32, device=self.device)
            out = self.model.regress(t)
        return {
            'pose': out['rotmat'].cpu().numpy(),
            'betas': out['pred_smpl_beta'].cpu().numpy(),
            'expression': out['pred_smpl_expr'].cpu().numpy(),
            'cam': out['pred_smpl_cam'].cpu().numpy(),
        }
