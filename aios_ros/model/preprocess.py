"""Official AiOS input pipeline: affine-warp resize, BGR -> RGB, ImageNet normalisation, padding.

Resize rule (DETR, official ``util/preprocessing.resize``): shorter side -> ``short_side`` unless
the longer side would exceed ``max_size``, then shorter side = round(max_size * short / long);
longer side = int(shorter * long / short). The resize is the affine warp that maps the image box
onto the output box (x_src = x_dst * W / ow, no half-pixel offset) with bilinear taps and a zero
border, computed exactly like OpenCV 4's ``cv2.warpAffine(INTER_LINEAR)`` used by the official code:
source positions in 1/32-pixel fixed point (OpenCV 5 interpolates exactly, which differs by up to
2.5 grey levels at edges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np
import torch

MIN_FEATURE_TOKENS = 900  # the two-stage selection keeps 900 encoder tokens
MEAN_RGB = np.array([123.675, 116.28, 103.53], dtype=np.float64)
STD_RGB = np.array([58.395, 57.12, 57.375], dtype=np.float64)


class ImageError(ValueError):
    """The input image cannot be processed (empty, wrong layout or dtype, too small)."""


def input_size(h: int, w: int, short_side: int, max_size: int) -> tuple[int, int]:
    """Network input (oh, ow) for an h x w image (official rule, see module docstring)."""
    size = short_side
    lo, hi = float(min(h, w)), float(max(h, w))
    if hi / lo * size > max_size:
        size = int(round(max_size * lo / hi))
    if (w <= h and w == size) or (h <= w and h == size):
        return h, w
    if w < h:
        return int(size * h / w), size
    return size, int(size * w / h)


def feature_tokens(h: int, w: int) -> int:
    """Encoder tokens of an h x w network input: 4 levels at strides 8, 16, 32, 64, each stride-2
    step mapping x -> floor((x - 1) / 2) + 1 (ResNet stem, pooling, stages, extra level)."""
    tokens = 0
    for step in range(1, 7):
        h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1
        if step >= 3:
            tokens += h * w
    return tokens


def size_problem(h: int, w: int, short_side: int, max_size: int) -> Optional[str]:
    """Why an h x w image cannot go through the network (one line), or None.

    The rule: resized by :func:`input_size`, the image must keep both sides and give the
    two-stage selection its :data:`MIN_FEATURE_TOKENS` encoder tokens, about 43,000 network input
    pixels (224 x 224, or 33 px high at 1333 px wide): only strips a few pixels high fail.
    """
    oh, ow = input_size(h, w, short_side, max_size)
    if oh < 1 or ow < 1:
        return f'image of {w}x{h} pixels is too elongated for a {short_side}/{max_size} input size'
    if feature_tokens(oh, ow) < MIN_FEATURE_TOKENS:
        return (
            f'network input {ow}x{oh} (from a {w}x{h} image) is too small: AiOS needs '
            f'at least {MIN_FEATURE_TOKENS} encoder tokens (about 43,000 input pixels)'
        )
    return None


def resize_transforms(h: int, w: int, oh: int, ow: int) -> tuple[np.ndarray, np.ndarray]:
    """(2, 3) float32 affine maps original -> network input and back (official construction
    from the box centre, half-height and half-width points)."""
    src = np.array([[w * 0.5, h * 0.5], [w * 0.5, h], [w, h * 0.5]], dtype=np.float32)
    dst = np.array([[ow * 0.5, oh * 0.5], [ow * 0.5, oh], [ow, oh * 0.5]], dtype=np.float32)
    return (
        cv2.getAffineTransform(src, dst).astype(np.float32),
        cv2.getAffineTransform(dst, src).astype(np.float32),
    )


def _inverse_affine(t: np.ndarray) -> np.ndarray:
    """(2, 3) output -> source map, computed in double exactly as OpenCV's ``warpAffine`` does."""
    d = t[0, 0] * t[1, 1] - t[0, 1] * t[1, 0]
    d = 1.0 / d if d != 0 else 0.0
    m = np.array([[t[1, 1] * d, -t[0, 1] * d, 0.0], [-t[1, 0] * d, t[0, 0] * d, 0.0]])
    m[0, 2] = -m[0, 0] * t[0, 2] - m[0, 1] * t[1, 2]
    m[1, 2] = -m[1, 0] * t[0, 2] - m[1, 1] * t[1, 2]
    return m


def _fixed_point(along: np.ndarray, across: np.ndarray) -> np.ndarray:
    """OpenCV's source position in 1/32 px: (round(across*1024) + 16 + round(along*1024)) >> 5."""
    position: np.ndarray = (
        np.rint(across * 1024).astype(np.int64)[:, None]
        + 16
        + np.rint(along * 1024).astype(np.int64)[None, :]
    ) >> 5
    return position


def warp_scale(image: np.ndarray, img2bb: np.ndarray, oh: int, ow: int) -> np.ndarray:
    """Axis-aligned affine resize of a uint8 (H, W, 3) image -> float32 (oh, ow, 3).

    Bit-identical to OpenCV 4 ``warpAffine(image.astype(float32), img2bb, (ow, oh))``: all products
    are exact (integer pixels x multiples of 1/32), so the evaluation order does not matter.
    """
    m = _inverse_affine(img2bb.astype(np.float64))
    xs, ys = np.arange(ow), np.arange(oh)
    X = _fixed_point(m[0, 0] * xs, m[0, 1] * ys + m[0, 2])  # (oh, ow)
    Y = _fixed_point(m[1, 0] * xs, m[1, 1] * ys + m[1, 2])
    if (X != X[:1]).any() or (Y != Y[:, :1]).any():
        raise ValueError('warp_scale handles axis-aligned scalings only')
    x0, fx = X[0] >> 5, (X[0] & 31).astype(np.float32)
    y0, fy = Y[:, 0] >> 5, (Y[:, 0] & 31).astype(np.float32)
    h, w = image.shape[:2]
    padded = np.zeros((h + 2, w + 2, 3), np.float32)  # zero border = taps outside the image
    padded[1:-1, 1:-1] = image
    xa, xb = np.clip(x0 + 1, 0, w + 1), np.clip(x0 + 2, 0, w + 1)
    ya, yb = np.clip(y0 + 1, 0, h + 1), np.clip(y0 + 2, 0, h + 1)
    rows = padded[ya] * (32 - fy)[:, None, None] + padded[yb] * fy[:, None, None]
    out: np.ndarray = rows[:, xa] * (32 - fx)[None, :, None] + rows[:, xb] * fx[None, :, None]
    return out / 1024


def check_image(image: np.ndarray) -> None:
    """Raise :class:`ImageError` unless ``image`` is a non-empty (H, W, 3) uint8 BGR array."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f'expected a numpy BGR image, got {type(image).__name__}')
    if image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f'expected an (H, W, 3) BGR image, got shape {image.shape}')
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f'empty image (shape {image.shape})')
    if image.dtype != np.uint8:
        raise ImageError(f'expected a uint8 image, got {image.dtype}')


def normalise_image(
    image: np.ndarray, short_side: int, max_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One BGR uint8 image (H, W, 3) -> (CHW float32 normalised RGB at the network input size,
    img2bb (2, 3), bb2img (2, 3))."""
    check_image(image)
    h, w = image.shape[:2]
    problem = size_problem(h, w, short_side, max_size)
    if problem:
        raise ImageError(problem)
    oh, ow = input_size(h, w, short_side, max_size)
    img2bb, bb2img = resize_transforms(h, w, oh, ow)
    warped = warp_scale(image, img2bb, oh, ow)
    rgb = np.clip(warped, 0, 255)[:, :, ::-1]
    normed = (rgb - MEAN_RGB.astype(np.float32)) * (1.0 / STD_RGB).astype(np.float32)
    return np.ascontiguousarray(normed.transpose(2, 0, 1), dtype=np.float32), img2bb, bb2img


@dataclass
class Batch:
    """A padded network input batch.

    img (B, 3, H, W) float32 normalised RGB (padding 0 at bottom/right); mask (B, H, W) bool, True
    on padding; img_shape (B, 2) int64 (h, w) of each resized image; ori_shape (B, 2) int64 original
    (h, w); img2bb / bb2img (B, 2, 3) float32 affine maps original <-> network input pixels.
    """

    img: torch.Tensor
    mask: torch.Tensor
    img_shape: torch.Tensor
    ori_shape: torch.Tensor
    img2bb: torch.Tensor
    bb2img: torch.Tensor


def make_batch(
    images: list[np.ndarray], short_side: int, max_size: int, device: torch.device | str = 'cpu'
) -> Batch:
    """BGR uint8 images (H_i, W_i, 3) -> :class:`Batch` padded to the largest resized image."""
    if not images:
        raise ImageError('no images given')
    items = [normalise_image(im, short_side, max_size) for im in images]
    H = max(chw.shape[1] for chw, _, _ in items)
    W = max(chw.shape[2] for chw, _, _ in items)
    img = torch.zeros((len(items), 3, H, W), dtype=torch.float32)
    mask = torch.ones((len(items), H, W), dtype=torch.bool)
    for b, (chw, _, _) in enumerate(items):
        img[b, :, : chw.shape[1], : chw.shape[2]] = torch.from_numpy(chw)
        mask[b, : chw.shape[1], : chw.shape[2]] = False
    return Batch(
        img=img.to(device),
        mask=mask.to(device),
        img_shape=torch.tensor([chw.shape[1:] for chw, _, _ in items], device=device),
        ori_shape=torch.tensor([im.shape[:2] for im in images], device=device),
        img2bb=torch.from_numpy(np.stack([t for _, t, _ in items])).to(device),
        bb2img=torch.from_numpy(np.stack([t for _, _, t in items])).to(device),
    )
