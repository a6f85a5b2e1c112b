"""Parity record of the seeded AiOS model (``python -m aios_ros.tools.parity_record``).

:func:`record` collects the intermediate and final outputs of one padded batch under the keys
of the official fixtures (``shared/reference/aios/seeded/README.md`` §3; ``aux_outputs`` only for
decoder layers 0-1), so ``compare_fixture.py`` can check them; post-processing uses the original
image sizes as target sizes. Weights: the deterministic ``aios-seeded-v1`` recipe of a seed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import torch

from aios_ros.core.smplx import POSE_SLICES
from aios_ros.model.aios import AiOS, ForwardTrace
from aios_ros.model.config import ModelConfig
from aios_ros.model.estimator import build_model
from aios_ros.model.heads import inverse_sigmoid
from aios_ros.model.postprocess import BOX_KEYS, fullpose, postprocess, top_scores
from aios_ros.model.preprocess import Batch, make_batch

VERTEX_STRIDE = 16
SMPLX_POSE_PARTS = {
    'pred_smpl_pose': (0, 22),
    'pred_smpl_lhand_pose': (22, 37),
    'pred_smpl_rhand_pose': (37, 52),
    'pred_smpl_jaw_pose': (52, 53),
}


def read_images(paths: list[str]) -> list:
    images = []
    for p in paths:
        image = cv2.imread(p, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        if image is None:
            raise SystemExit(f'cannot read image {p}')
        images.append(image)
    return images


def _input_and_encoder(batch: Batch, tr: ForwardTrace) -> dict:
    t = tr.transformer
    sel = t.selection
    return {
        'img': batch.img,
        'img_shape': batch.img_shape,
        'ori_shape': batch.ori_shape,
        'img2bb_trans': batch.img2bb,
        'bb2img_trans': batch.bb2img,
        'image_mask': batch.mask,
        'backbone_shapes': [tuple(f.shape) for f in tr.features],
        'backbone_masks': tr.feature_masks,
        'backbone_C3': tr.features[0],
        'spatial_shapes': t.spatial_shapes,
        'level_start_index': t.level_start_index,
        'valid_ratios': t.valid_ratios,
        'mask_flatten': t.mask_flatten,
        'memory': t.memory,
        'enc_class_logits': sel.logits,
        'enc_topk_indices': sel.indices,
        'enc_topk_boxes': sel.boxes_unsig.sigmoid(),
        'enc_topk_proposals': sel.proposals,
        'enc_topk_content': sel.content,
    }


def _decoder(model: AiOS, tr: ForwardTrace) -> dict:
    t = tr.transformer
    dec = t.decoder
    aux = [
        {
            'pred_logits': model.class_embed[lid](dec.hs[lid]),
            'pred_boxes': (
                model.bbox_embed[lid](dec.hs[lid]) + inverse_sigmoid(dec.references[lid])
            ).sigmoid(),
        }
        for lid in (0, 1)
    ]
    return {
        'dec_hs': dec.hs,
        'dec_references': dec.references,
        'dec_topk_indices': dec.person_index.T,
        'dec_topk_scores': dec.person_scores.T,
        'person_token': torch.gather(t.selection.indices, 1, dec.person_index),
        'aux_outputs': aux,
        'interm_outputs': {
            'pred_logits': model.transformer.enc_out_class_embed(t.selection.content),
            'pred_boxes': t.selection.boxes_unsig.sigmoid(),
        },
    }


def _smplx_all(model: AiOS, out: dict) -> dict:
    """SMPL-X for every one of the B x 100 people (the official model does this)."""
    rot = out['rotmat'].flatten(0, 1)
    res = model.body_model(
        **{name: rot[:, s] for name, s in POSE_SLICES.items()},
        betas=out['pred_smpl_beta'].flatten(0, 1),
        expression=out['pred_smpl_expr'].flatten(0, 1),
    )
    shape = out['rotmat'].shape[:2]
    verts = res.vertices.view(*shape, -1, 3)
    return {'pred_smpl_kp3d': res.joints.view(*shape, -1, 3), 'pred_smpl_verts': verts}


def record(model: AiOS, batch: Batch) -> dict:
    """Run one padded batch and collect the fixture keys."""
    out, tr = model(batch.img, batch.mask, trace=True)
    body = _smplx_all(model, out)
    final = {k: v for k, v in out.items() if k.startswith('pred_')}
    final.update({k: out['rotmat'][:, :, lo:hi] for k, (lo, hi) in SMPLX_POSE_PARTS.items()})
    final['pred_smpl_fullpose'] = fullpose(out['rotmat'])
    final['pred_smpl_kp3d'] = body['pred_smpl_kp3d']
    verts = body['pred_smpl_verts']
    final['pred_smpl_verts_sub16'] = verts[:, :, ::VERTEX_STRIDE]
    final['pred_smpl_verts_mean'] = verts.double().mean(2)
    final['pred_smpl_verts_absmean'] = verts.double().abs().mean(2)
    rec = _input_and_encoder(batch, tr)
    dec = _decoder(model, tr)
    final['aux_outputs'] = dec.pop('aux_outputs')
    final['interm_outputs'] = dec.pop('interm_outputs')
    rec.update(dec)
    rec['out'] = final
    rec['out_rot6d'] = out['rot6d']
    rec['post'] = postprocess(final, batch.ori_shape, batch.img_shape)
    rec['post_target_sizes'] = batch.ori_shape
    rec['post_topk_indexes'] = top_scores(out['pred_logits'])[3]
    # the official engine passes the network input size as target size: only the boxes change
    rec['post_engine_boxes'] = [
        {k: p[k] for k in BOX_KEYS} for p in postprocess(final, batch.img_shape, batch.img_shape)
    ]
    return rec


def write_record(seed: int, images: list[str], short_side: int, max_size: int, out: Path) -> None:
    """Record the ``aios-seeded-v1`` model of ``seed`` on ``images`` (one padded batch) and save
    the record with ``torch.save`` to ``out``."""
    model = build_model(ModelConfig(seed=seed, short_side=short_side, max_size=max_size))
    batch = make_batch(read_images(images), short_side, max_size)
    with torch.inference_mode():
        rec = record(model, batch)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(rec, out)
