"""AiosEstimator against the full official-style record of the same seeded model.

The estimator runs SMPL-X only for the people it returns; its outputs must equal the official
post-processing of the all-100-people forward (``seeded_record``).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from aios_ros.body.smplx_layer import SmplxLayer
from aios_ros.core.types import Bodies, Camera, IntrinsicsSource
from aios_ros.model.config import ModelConfig
from aios_ros.model.estimator import AiosEstimator, build_smplx
from aios_ros.model.preprocess import ImageError

SHORT_SIDE, MAX_SIZE = 256, 427  # as in conftest.py (the public fixture size)

CONFIG = ModelConfig(  # fp32 on every machine: compared with the fp32 official record
    short_side=SHORT_SIDE, max_size=MAX_SIZE, dtype='fp32', candidate_threshold=0.0, max_people=50
)
CAMERA = Camera(
    np.array([[600.0, 0, 320], [0, 600.0, 240], [0, 0, 1]]), 640, 480, IntrinsicsSource.CAMERA_INFO
)


@pytest.fixture(scope='module')
def estimator(seeded_model):
    return AiosEstimator(seeded_model, seeded_model.body_model, CONFIG)


@pytest.fixture(scope='module')
def detections(estimator, synth_image):
    """The network result, shared by the tests that vary only the selection / SMPL-X settings."""
    return estimator.detect([synth_image])


@pytest.fixture(scope='module')
def bodies(estimator, detections):
    return estimator.bodies(detections, CAMERA)


def _official_people(rec):
    """Rows of the official post-processing result that the estimator returns: each query once."""
    queries = (rec['post_topk_indexes'][0] // 2).tolist()
    rows = [i for i, q in enumerate(queries) if q not in queries[:i]]
    return rows, [queries[i] for i in rows]


def test_selection_and_boxes_match_official_postprocessing(bodies, seeded_record):
    post = seeded_record['post'][0]
    rows, _ = _official_people(seeded_record)
    assert len(bodies) == len(rows) and len(rows) >= 40
    np.testing.assert_allclose(bodies.scores, post['scores'][rows], atol=1e-6)
    assert np.all(np.diff(bodies.scores) <= 0)
    for i, key in enumerate(('body_bbox', 'lhand_bbox', 'rhand_bbox', 'face_bbox')):
        np.testing.assert_allclose(bodies.boxes[:, i], post[key][rows], atol=1e-3)


def test_smplx_for_returned_people_equals_the_all_queries_run(bodies, seeded_record):
    post = seeded_record['post'][0]
    rows, queries = _official_people(seeded_record)
    np.testing.assert_allclose(bodies.transl, post['cam_trans'][rows], rtol=1e-6)
    expected = (post['smpl_kp3d'][rows] + post['cam_trans'][rows][:, None]).numpy()
    np.testing.assert_allclose(bodies.joints_3d, expected, atol=2e-5 * np.abs(expected).max())
    to_orig = seeded_record['bb2img_trans'][0]
    proj = post['smplx_joint_proj'][rows] @ to_orig[:, :2].T + to_orig[:, 2]
    np.testing.assert_allclose(bodies.keypoints_2d, proj, rtol=1e-4, atol=1e-2)
    rot = torch.cat(
        [
            seeded_record['out'][k][0, queries]
            for k in (
                'pred_smpl_pose',
                'pred_smpl_lhand_pose',
                'pred_smpl_rhand_pose',
                'pred_smpl_jaw_pose',
            )
        ],
        1,
    )
    np.testing.assert_allclose(bodies.pose, rot, atol=1e-6)
    np.testing.assert_allclose(
        bodies.betas, seeded_record['out']['pred_smpl_beta'][0, queries], atol=1e-6
    )


def test_tokens_and_regress(bodies, estimator, seeded_record):
    _, queries = _official_people(seeded_record)
    blocks = seeded_record['dec_hs'][5][0].view(100, 39, 256)[queries]
    assert bodies.tokens.dtype == np.float16 and bodies.tokens.shape == (len(queries), 39, 256)
    np.testing.assert_array_equal(bodies.tokens, blocks.half().numpy())
    again = estimator.regress(blocks.numpy())
    out = seeded_record['out']
    np.testing.assert_allclose(again['pose'], bodies.pose, atol=1e-5)
    np.testing.assert_allclose(again['cam'], out['pred_smpl_cam'][0, queries], atol=1e-5)
    np.testing.assert_allclose(again['expression'], out['pred_smpl_expr'][0, queries], atol=1e-5)
    with pytest.raises(ValueError, match=r'\(N, 39, 256\)'):
        estimator.regress(np.zeros((2, 21, 256), np.float32))


def test_thresholds_and_empty_result(seeded_model, detections, bodies):
    config = dataclasses.replace(CONFIG, candidate_threshold=0.4, max_people=5)
    some = AiosEstimator(seeded_model, seeded_model.body_model, config).bodies(detections, CAMERA)
    expected = bodies.scores[bodies.scores >= 0.4][:5]
    assert 0 < len(some) <= 5
    np.testing.assert_array_equal(some.scores, expected)
    strict = AiosEstimator(
        seeded_model,
        seeded_model.body_model,
        dataclasses.replace(CONFIG, candidate_threshold=1.0, with_vertices=True),
    )
    none = strict.bodies(detections, CAMERA)
    assert len(none) == 0 and none.tokens.shape == (0, 39, 256)
    assert none.joints_3d.shape == (0, 144, 3) and none.vertices.shape == (0, 10475, 3)
    with pytest.raises(ImageError, match='empty image'):
        strict.estimate(np.zeros((0, 0, 3), np.uint8), CAMERA)


def test_smplx_folder_and_checkpoint_buffers_agree(seeded_model, detections, smplx_dir):
    """The same SMPL-X data read from a user folder or from checkpoint tensors: same outputs."""
    from_folder = SmplxLayer.from_smplx_folder(smplx_dir)
    checkpoint = {f'body_model.{k}': v for k, v in from_folder.state_dict().items()}
    checkpoint['body_model.transl'] = torch.tensor([[0.01, -0.02, 0.03]])
    checkpoint_layer = SmplxLayer.from_state_dict(checkpoint, prefix='body_model.')
    config = dataclasses.replace(CONFIG, max_people=3, with_vertices=True)
    a = AiosEstimator(seeded_model, build_smplx(config, checkpoint_layer), config)
    b = AiosEstimator(
        seeded_model,
        build_smplx(dataclasses.replace(config, smplx_path=str(smplx_dir)), checkpoint_layer),
        config,
    )
    assert b.smplx is not checkpoint_layer
    out_a, out_b = a.bodies(detections, CAMERA), b.bodies(detections, CAMERA)
    np.testing.assert_array_equal(out_a.joints_3d, out_b.joints_3d)
    np.testing.assert_array_equal(out_a.vertices, out_b.vertices)
    assert out_a.vertices.shape == (3, from_folder.num_vertices, 3)


def test_missing_smplx_folder(tmp_path, seeded_model):
    with pytest.raises(FileNotFoundError, match='smpl-x.is.tue.mpg.de'):
        build_smplx(
            dataclasses.replace(CONFIG, smplx_path=str(tmp_path / 'nothing')),
            seeded_model.body_model,
        )


def test_metric_camera_with_the_equivalent_intrinsics_is_official(seeded_model, detections, bodies):
    """Real K equal to the official camera (f = 5000 px at the network input) -> same result."""
    sx, sy = 640 / 341, 480 / 256
    K = np.array([[5000 * sx, 0, 320], [0, 5000 * sy, 240], [0, 0, 1]])
    config = dataclasses.replace(CONFIG, metric_camera=True)
    metric = AiosEstimator(seeded_model, seeded_model.body_model, config).bodies(
        detections, Camera(K, 640, 480, IntrinsicsSource.CAMERA_INFO)
    )
    np.testing.assert_allclose(metric.transl, bodies.transl, rtol=1e-4)
    np.testing.assert_allclose(metric.keypoints_2d, bodies.keypoints_2d, rtol=1e-4, atol=0.05)
    half_focal = Camera(K * [[0.5], [0.5], [1]], 640, 480, IntrinsicsSource.CAMERA_INFO)
    closer = AiosEstimator(seeded_model, seeded_model.body_model, config).bodies(
        detections, half_focal
    )
    np.testing.assert_allclose(closer.transl[:, 2], bodies.transl[:, 2] / 2, rtol=1e-4)


@contextlib.contextmanager
def _forward_shapes(model: torch.nn.Module) -> Iterator[list[tuple[int, ...]]]:
    """The input shape of every forward of ``model`` inside the block."""
    shapes: list[tuple[int, ...]] = []
    handle = model.register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0].shape)))
    try:
        yield shapes
    finally:
        handle.remove()


def _assert_same_people(batched: Bodies, alone: Bodies, exact: bool) -> None:
    tol = dict(rtol=0, atol=0) if exact else dict(rtol=1e-4, atol=1e-3)
    assert len(batched) == len(alone)
    np.testing.assert_allclose(batched.scores, alone.scores, **(tol if exact else dict(atol=1e-5)))
    np.testing.assert_allclose(batched.boxes, alone.boxes, **(tol if exact else dict(atol=1e-2)))
    np.testing.assert_allclose(batched.transl, alone.transl, **tol)
    np.testing.assert_allclose(batched.joints_3d, alone.joints_3d, **tol)


def test_batch_of_one_size_is_one_forward_and_equals_each_image_alone(estimator, synth_image):
    """Two cameras of one resolution: one forward of batch 2, each image's people as alone."""
    mirrored = np.ascontiguousarray(synth_image[:, ::-1])
    with _forward_shapes(estimator.model) as shapes:
        batched = estimator.estimate_batch([synth_image, mirrored], [CAMERA, CAMERA])
    assert shapes == [(2, 3, SHORT_SIDE, 341)]
    alone = [estimator.estimate(image, CAMERA) for image in (synth_image, mirrored)]
    for got, want in zip(batched, alone):
        _assert_same_people(got, want, exact=False)


def test_images_of_other_sizes_get_their_own_forward_not_padding(estimator, synth_image):
    """Padding the crop beside the full image would change its people; a forward per size keeps
    every image's result exactly its result alone."""
    crop = np.ascontiguousarray(synth_image[40:440, 80:560])  # 400x480 -> network 256x307
    crop_camera = Camera(CAMERA.K - [[0, 0, 80], [0, 0, 40], [0, 0, 0]], 480, 400, CAMERA.source)
    with _forward_shapes(estimator.model) as shapes:
        batched = estimator.estimate_batch([crop, synth_image], [crop_camera, CAMERA])
    assert shapes == [(1, 3, SHORT_SIDE, 307), (1, 3, SHORT_SIDE, 341)]
    _assert_same_people(batched[0], estimator.estimate(crop, crop_camera), exact=True)
    _assert_same_people(batched[1], estimator.estimate(synth_image, CAMERA), exact=True)


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason='the CUDA-graph estimator needs a CUDA device'
)
@pytest.mark.parametrize('dtype', ['fp32', 'bf16'])
def test_cuda_graph_estimator_replays_and_matches_eager(seeded_model, synth_image, dtype, caplog):
    model = copy.deepcopy(seeded_model).cuda()
    config = dataclasses.replace(CONFIG, device='cuda', dtype=dtype)
    gpu = AiosEstimator(model, model.body_model, config)
    assert gpu._graphs is not None
    with caplog.at_level(logging.WARNING, logger='aios_ros.model.cuda_graphs'):
        graph = [gpu.detect([synth_image]).out for _ in range(2)]  # capture, then replay
    assert gpu._graphs.capture_error is None and not caplog.records
    assert gpu._graphs.replays == 2
    # eager CUDA forward on the same bucket-padded input (what the graph computes)
    batch = gpu.detect([synth_image]).batch
    hb, wb = gpu._graphs.policy.bucket(*batch.img.shape[-2:])
    img = torch.zeros(1, 3, hb, wb, device='cuda')
    mask = torch.ones(1, hb, wb, dtype=torch.bool, device='cuda')
    img[..., : batch.img.shape[-2], : batch.img.shape[-1]] = batch.img
    mask[:, : batch.img.shape[-2], : batch.img.shape[-1]] = False
    with torch.inference_mode(), torch.autocast('cuda', torch.bfloat16, enabled=dtype == 'bf16'):
        eager, _ = model(img, mask)
    # bf16: same kernels in and out of the graph, but autocast's cast cache is off in the graph
    tolerance = 1e-5 if dtype == 'fp32' else 2e-2
    for key in ('pred_logits', 'pred_boxes', 'rotmat', 'pred_smpl_cam'):
        torch.testing.assert_close(
            graph[1][key], eager[key].float(), rtol=tolerance, atol=tolerance
        )
    torch.testing.assert_close(graph[0]['pred_boxes'], graph[1]['pred_boxes'], rtol=0, atol=0)
