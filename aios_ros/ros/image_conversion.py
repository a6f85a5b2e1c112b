"""sensor_msgs Image / CompressedImage -> BGR uint8 numpy image, with one error type per bad input.

The ROS 2 ``cv_bridge`` (apt) decodes the integer encodings when it is importable. The PyPI
package of the same name is a ROS 1 port that breaks with numpy 2, so it is never used; without
the ROS 2 one a small numpy conversion does the work. Validation (encoding, size, step, data
length, pixel limit, non-finite floats) always runs here first, so both paths reject bad input
with the same :class:`ImageConversionError` subclasses, whose ``reason`` names the counter the
node reports in ``/diagnostics``.

The functions only read the message attributes (``height``, ``width``, ``encoding``,
``is_bigendian``, ``step``, ``data``; ``format`` and ``data`` for compressed images), so they
need no ROS import.
"""

from __future__ import annotations

import importlib.metadata
import logging
import struct
from typing import Any, Optional

import cv2
import numpy as np


class ImageConversionError(ValueError):
    """An input image that cannot be converted; ``reason`` is a short counter name."""

    reason = 'invalid'


class UnsupportedEncodingError(ImageConversionError):
    reason = 'unknown_encoding'


class EmptyImageError(ImageConversionError):
    reason = 'empty'


class StepMismatchError(ImageConversionError):
    """``step`` is smaller than a row, or ``data`` does not hold ``height * step`` bytes."""

    reason = 'step_mismatch'


class ImageTooLargeError(ImageConversionError):
    reason = 'too_large'


class CorruptImageError(ImageConversionError):
    """Compressed data that OpenCV cannot decode."""

    reason = 'corrupt_compressed'


class NonFiniteImageError(ImageConversionError):
    """NaN or infinity in a floating-point image."""

    reason = 'non_finite'


REASONS = tuple(cls.reason for cls in ImageConversionError.__subclasses__())

# encoding -> (numpy dtype, channels)
_LAYOUTS = {
    'bgr8': (np.uint8, 3),
    'rgb8': (np.uint8, 3),
    'bgra8': (np.uint8, 4),
    'rgba8': (np.uint8, 4),
    'mono8': (np.uint8, 1),
    '8UC1': (np.uint8, 1),
    '8UC3': (np.uint8, 3),
    'mono16': (np.uint16, 1),
    '16UC1': (np.uint16, 1),
    '32FC1': (np.float32, 1),
    '32FC3': (np.float32, 3),
}
ENCODINGS = tuple(_LAYOUTS)
# Encodings the ROS 2 cv_bridge converts to bgr8 exactly like the numpy path below.
_BRIDGE_ENCODINGS = frozenset({'bgr8', 'rgb8', 'bgra8', 'rgba8', 'mono8'})


_LOG = logging.getLogger(__name__)


def _load_ros2_cv_bridge() -> Optional[Any]:
    """A ``CvBridge`` from the ROS 2 cv_bridge (version >= 2), else None.

    Any exception counts as "no bridge": an apt cv_bridge built against numpy 1 raises
    ``AttributeError: _ARRAY_API not found`` under numpy 2, which must not stop the node.
    """
    try:
        # ROS 2 releases are 2.x (Foxy) .. 4.x (Jazzy); PyPI's ROS 1 port is 1.13.
        if int(importlib.metadata.version('cv_bridge').split('.')[0]) < 2:
            return None
        from cv_bridge import CvBridge

        return CvBridge()
    except importlib.metadata.PackageNotFoundError:
        return None
    except Exception as error:
        _warn_bridge_off('unusable', error)
        return None


_BRIDGE = _load_ros2_cv_bridge()


def image_to_bgr(msg: Any, max_pixels: int) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into a (H, W, 3) uint8 BGR array.

    Supported encodings: ``ENCODINGS``. 16-bit mono keeps the high byte; float images are
    intensities in [0, 1] (clipped; 32FC3 is taken as BGR). Padded rows (``step`` larger than a
    row) and big-endian data are honoured. Raises an :class:`ImageConversionError` subclass.
    """
    encoding = str(msg.encoding)
    if encoding not in _LAYOUTS:
        raise UnsupportedEncodingError(
            f'unsupported encoding {encoding!r} (supported: {", ".join(ENCODINGS)})'
        )
    height, width = int(msg.height), int(msg.width)
    check_size(width, height, max_pixels)
    dtype, channels = _LAYOUTS[encoding]
    row_bytes = width * channels * np.dtype(dtype).itemsize
    step, size = int(msg.step), len(msg.data)
    if step < row_bytes or step % np.dtype(dtype).itemsize:
        raise StepMismatchError(
            f'step {step} does not fit {width} px of {encoding} ({row_bytes} bytes per row)'
        )
    if size != step * height:
        raise StepMismatchError(f'data has {size} bytes, expected height*step = {height * step}')
    if _BRIDGE is not None and encoding in _BRIDGE_ENCODINGS:
        bridged = _bridge_to_bgr(msg)
        if bridged is not None:
            return bridged
    order = '>' if msg.is_bigendian else '<'
    rows = np.frombuffer(msg.data, np.uint8).reshape(height, step)[:, :row_bytes]
    pixels = rows.view(np.dtype(dtype).newbyteorder(order)).reshape(height, width, channels)
    return _to_bgr8(pixels, encoding)


def _bridge_to_bgr(msg: Any) -> Optional[np.ndarray]:
    """The bridge's bgr8 conversion of a validated message; None (bridge off) if it fails.

    The message already passed validation, so a failure here is the bridge's own (e.g. a
    numpy ABI mismatch that shows only at the first call): it is logged once and the numpy
    path takes over for good.
    """
    global _BRIDGE
    try:
        return np.ascontiguousarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding='bgr8'))
    except Exception as error:
        _warn_bridge_off('failed', error)
        _BRIDGE = None
        return None


def _warn_bridge_off(what: str, error: Exception) -> None:
    _LOG.warning(f'cv_bridge {what} ({type(error).__name__}: {error}); using the numpy conversion')


def _to_bgr8(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """(H, W, C) pixels of ``encoding`` -> a new (H, W, 3) uint8 BGR array."""
    if pixels.dtype.kind == 'f':
        if not np.isfinite(pixels).all():
            raise NonFiniteImageError(f'{encoding} image contains NaN or infinity')
        pixels = (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif pixels.dtype.itemsize == 2:
        pixels = (pixels >> 8).astype(np.uint8)
    if encoding.startswith('rgb'):
        pixels = pixels[..., 2::-1]
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    return np.ascontiguousarray(pixels[..., :3])


def compressed_to_bgr(msg: Any, max_pixels: int) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) into (H, W, 3) uint8 BGR.

    The image size is read from the JPEG/PNG header and checked against ``max_pixels`` before
    anything is decoded, so a small file that expands to a huge image is refused cheaply.
    """
    data = np.frombuffer(msg.data, np.uint8)
    if data.size == 0:
        raise EmptyImageError('compressed image has no data')
    size = compressed_image_size(memoryview(data))
    if size is None:
        raise CorruptImageError(f'not a JPEG or PNG stream (format {msg.format!r})')
    check_size(*size, max_pixels)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise CorruptImageError(f'cannot decode {msg.format!r} data ({data.size} bytes)')
    return image


def check_size(width: int, height: int, max_pixels: int) -> None:
    """Raise unless 0 < width * height <= max_pixels."""
    if width <= 0 or height <= 0:
        raise EmptyImageError(f'image is {width}x{height}')
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f'image is {width}x{height} = {width * height} px, more than max_pixels = {max_pixels}'
        )


# JPEG APPn segments (EXIF, ICC profiles, thumbnails: at most 64 KiB each) precede the size;
# real files have a few dozen at most, so more is taken as garbage rather than walked
_MAX_JPEG_SEGMENTS = 1024
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers carry the image size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def compressed_image_size(data: memoryview) -> Optional[tuple[int, int]]:
    """(width, height) from the header of a PNG or JPEG stream, or None if not found; walks the
    JPEG segments without copying, however many bytes of metadata come before the size."""
    head = bytes(data[:24])
    if head.startswith(_PNG_SIGNATURE) and head[12:16] == b'IHDR' and len(head) >= 24:
        return struct.unpack('>II', head[16:24])
    if not head.startswith(b'\xff\xd8'):
        return None
    pos, segments = 2, 0
    while pos + 4 <= len(data) and segments < _MAX_JPEG_SEGMENTS:
        segments += 1
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        (length,) = struct.unpack('>H', data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF and pos + 9 <= len(data):
            height, width = struct.unpack('>HH', data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    return None
