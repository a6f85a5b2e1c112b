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
_MEAN = tuple(float(v) for v in MEAN_RGB.astype(np.float32))
_INV_STD = tuple(float(v) for v in (1.0 / STD_RGB).astype(np.float32))


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


def upload(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """``array`` on ``device``: on a GPU from pinned memory without waiting for the copy."""
    tensor = torch.from_numpy(array)
    if device.type != 'cuda':
        return tensor
    return tensor.pin_memory().to(device, non_blocking=True)


def _taps(img2bb: np.ndarray, oh: int, ow: int) -> np.ndarray:
    """OpenCV's source positions (1/32 px) of the output columns, then of the output rows:
    int64 (ow + oh,)."""
    m = _inverse_affine(img2bb.astype(np.float64))
    xs, ys = np.arange(ow), np.arange(oh)
    X = _fixed_point(m[0, 0] * xs, m[0, 1] * ys + m[0, 2])  # (oh, ow)
    Y = _fixed_point(m[1, 0] * xs, m[1, 1] * ys + m[1, 2])
    if (X != X[:1]).any() or (Y != Y[:, :1]).any():
        raise ValueError('warp_scale handles axis-aligned scalings only')
    return np.concatenate([X[0], Y[:, 0]])


def warp_scale(image: torch.Tensor, img2bb: np.ndarray, oh: int, ow: int) -> torch.Tensor:
    """Axis-aligned affine resize of a uint8 (H, W, 3) image -> float32 (oh, ow, 3), computed on
    the image's device.

    Bit-identical to OpenCV 4 ``warpAffine(image.astype(float32), img2bb, (ow, oh))`` on any
    device: every product is exact (integer pixels x integer weights <= 32, sums below 2^24),
    so neither the evaluation order nor fused multiply-adds change a bit.
    """
    taps = upload(_taps(img2bb, oh, ow), image.device)
    X, Y = taps[:ow], taps[ow:]
    h, w = image.shape[:2]
    fx, fy = (X & 31).float(), (Y & 31).float()
    xa, xb = ((X >> 5) + 1).clamp(0, w + 1), ((X >> 5) + 2).clamp(0, w + 1)
    ya, yb = ((Y >> 5) + 1).clamp(0, h + 1), ((Y >> 5) + 2).clamp(0, h + 1)
    padded = image.new_zeros((h + 2, w + 2, 3))  # zero border = taps outside the image
    padded[1:-1, 1:-1] = image
    top, bottom = padded[ya].float(), padded[yb].float()
    rows = top * (32 - fy)[:, None, None] + bottom * fy[:, None, None]
    out = rows[:, xa] * (32 - fx)[None, :, None] + rows[:, xb] * fx[None, :, None]
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


def network_size(image: np.ndarray, short_side: int, max_size: int) -> tuple[int, int]:
    """Network input (oh, ow) of a BGR image; :class:`ImageError` if it is not one or too small."""
    check_image(image)
    h, w = image.shape[:2]
    problem = size_problem(h, w, short_side, max_size)
    if problem:
        raise ImageError(problem)
    return input_size(h, w, short_side, max_size)


def normalise_image(
    image: np.ndarray, short_side: int, max_size: int, device: torch.device | str = 'cpu'
) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """One BGR uint8 image (H, W, 3) -> (CHW float32 normalised RGB at the network input size,
    on ``device``; img2bb (2, 3), bb2img (2, 3)). Only the uint8 image crosses to the device."""
    oh, ow = network_size(image, short_side, max_size)
    h, w = image.shape[:2]
    img2bb, bb2img = resize_transforms(h, w, oh, ow)
    device = torch.device(device)
    warped = warp_scale(upload(np.ascontiguousarray(image), device), img2bb, oh, ow)
    rgb = warped.clamp_(0, 255).flip(-1).permute(2, 0, 1)
    # per channel with float32 scalars: no constant tensor to upload
    normed = torch.stack([(rgb[c] - _MEAN[c]) * _INV_STD[c] for c in range(3)])
    return normed, img2bb, bb2img


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
    """BGR uint8 images (H_i, W_i, 3) -> :class:`Batch` padded to the largest resized image.

    Resizing, normalisation and padding run on ``device``; what crosses to it is each uint8
    image and one small array of shapes and transforms (on a GPU: pinned, without a sync).
    """
    if not images:
        raise ImageError('no images given')
    device = torch.device(device)
    items = [normalise_image(im, short_side, max_size, device) for im in images]
    H = max(chw.shape[1] for chw, _, _ in items)
    W = max(chw.shape[2] for chw, _, _ in items)
    img = torch.zeros((len(items), 3, H, W), dtype=torch.float32, device=device)
    mask = torch.ones((len(items), H, W), dtype=torch.bool, device=device)
    for b, (chw, _, _) in enumerate(items):
        img[b, :, : chw.shape[1], : chw.shape[2]] = chw
        mask[b, : chw.shape[1], : chw.shape[2]] = False
    # per image: network input (h, w), original (h, w), img2bb (6), bb2img (6); float64 holds
    # the pixel counts and the float32 transforms exactly
    meta = np.array(
        [
            [*chw.shape[1:], *im.shape[:2], *to_net.ravel(), *to_image.ravel()]
            for (chw, to_net, to_image), im in zip(items, images)
        ],
        np.float64,
    )
    meta_t = upload(meta, device)
    n = len(items)
    return Batch(
        img=img,
        mask=mask,
        img_shape=meta_t[:, 0:2].long(),
        ori_shape=meta_t[:, 2:4].long(),
        img2bb=meta_t[:, 4:10].float().reshape(n, 2, 3),
        bb2img=meta_t[:, 10:16].float().reshape(n, 2, 3),
    )
