"""Official resize rule, OpenCV-4 fixed-point warp, normalisation, batching and input errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from aios_ros.model.preprocess import (
    MIN_FEATURE_TOKENS,
    ImageError,
    feature_tokens,
    input_size,
    make_batch,
    normalise_image,
    resize_transforms,
    size_problem,
    warp_scale,
)


@pytest.mark.parametrize(
    'hw, expected',
    [
        ((1080, 1920), (750, 1333)),  # long side capped: round(1333 * 1080 / 1920) = 750 short side
        ((800, 1333), (800, 1333)),  # already the right size
        ((480, 640), (800, 1066)),  # int(800 * 640 / 480) truncates 1066.67
        ((640, 480), (1066, 800)),
        ((500, 500), (800, 800)),
    ],
)
def test_input_size_official_rule(hw, expected):
    assert input_size(*hw, 800, 1333) == expected


def test_warp_doubles_size_with_exact_bilinear_taps():
    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 0] = [[0, 64], [128, 255]]
    img2bb, _ = resize_transforms(2, 2, 4, 4)
    out = warp_scale(torch.from_numpy(image), img2bb, 4, 4)[..., 0].numpy()
    # x_src = x_dst / 2: taps at 0, 0.5, 1, 1.5; the last half step reads the zero border
    expected = np.array(
        [
            [0, 32, 64, 32],
            [64, 111.75, 159.5, 79.75],
            [128, 191.5, 255, 127.5],
            [64, 95.75, 127.5, 63.75],
        ],
        np.float32,
    )
    np.testing.assert_array_equal(out, expected)


def test_warp_fixed_point_is_1_32_pixel():
    image = np.zeros((1, 3, 3), np.uint8)
    image[0, :, 0] = [0, 96, 0]
    img2bb, _ = resize_transforms(1, 3, 1, 2)  # x_src = 1.5 * x_dst
    out = warp_scale(torch.from_numpy(image), img2bb, 1, 2)[0, :, 0].numpy()
    np.testing.assert_array_equal(out, [0.0, 48.0])


@pytest.mark.skipif(cv2.__version__.split('.')[0] != '4', reason='OpenCV 5 interpolates exactly')
@pytest.mark.parametrize('hw, out_hw', [((480, 640), (800, 1066)), ((1080, 1920), (750, 1333))])
def test_warp_is_bit_identical_to_opencv_4(hw, out_hw):
    image = np.random.default_rng(0).integers(0, 256, (*hw, 3), dtype=np.uint8)
    img2bb, _ = resize_transforms(*hw, *out_hw)
    ours = warp_scale(torch.from_numpy(image), img2bb, *out_hw).numpy()
    theirs = cv2.warpAffine(image.astype(np.float32), img2bb, out_hw[::-1], flags=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(ours, theirs)


def test_normalisation_is_rgb_imagenet():
    image = np.full((4, 6, 3), (10, 20, 30), np.uint8)  # B, G, R
    chw, img2bb, bb2img = normalise_image(image, 256, 400)
    chw = chw.numpy()
    assert chw.shape == (3, 256, 384)
    expected = (np.array([30, 20, 10]) - [123.675, 116.28, 103.53]) / [58.395, 57.12, 57.375]
    np.testing.assert_allclose(chw[:, 1, 1], expected, rtol=1e-6)
    np.testing.assert_allclose(img2bb @ [6, 4, 1], [384, 256], rtol=1e-6)
    np.testing.assert_allclose(bb2img @ [384, 256, 1], [6, 4], rtol=1e-6)


def test_batch_pads_bottom_right_and_masks():
    a = np.full((40, 60, 3), 200, np.uint8)
    b = np.full((60, 40, 3), 200, np.uint8)
    batch = make_batch([a, b], 256, 427)
    assert batch.img.shape == (2, 3, 384, 384)
    assert batch.img_shape.tolist() == [[256, 384], [384, 256]]
    assert batch.ori_shape.tolist() == [[40, 60], [60, 40]]
    assert not batch.mask[0, :256, :384].any() and batch.mask[0, 256:].all()
    assert batch.mask[1, :, 256:].all() and torch.all(batch.img[1, :, :, 256:] == 0)


@pytest.mark.parametrize(
    'hw, tokens', [((256, 341), 1840), ((800, 1333), 22223), ((512, 853), 9120)]
)
def test_feature_tokens(hw, tokens):
    assert feature_tokens(*hw) == tokens


@pytest.mark.parametrize(
    'image, message',
    [
        (np.zeros((0, 10, 3), np.uint8), 'empty image'),
        (np.zeros((10, 10), np.uint8), '(H, W, 3)'),
        (np.zeros((10, 10, 3), np.float32), 'uint8'),
        (np.zeros((1, 5000, 3), np.uint8), 'too elongated'),
        (np.zeros((10, 4000, 3), np.uint8), 'too small'),
        ([[0, 0, 0]], 'numpy'),
    ],
)
def test_bad_images_are_rejected(image, message):
    with pytest.raises(ImageError, match=message.replace('(', r'\(').replace(')', r'\)')):
        make_batch([image], 800, 1333)


@pytest.mark.parametrize(
    'h, w, problem',
    [
        (1, 4000, 'too elongated'),  # the network input would be 0 px high
        (2, 3000, 'too small'),  # 1500 x 1: fewer than 900 encoder tokens
        (32, 1333, 'too small'),
        (33, 1333, None),  # the thinnest strip at the full long side
        (100, 100, None),  # upscaled to 800 x 800
    ],
)
def test_the_size_rule_names_what_cannot_go_through_the_network(h, w, problem):
    found = size_problem(h, w, 800, 1333)
    assert (found is None) if problem is None else (problem in found)
    if problem is None:
        assert feature_tokens(*input_size(h, w, 800, 1333)) >= MIN_FEATURE_TOKENS
