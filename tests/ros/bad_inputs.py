"""The bad-input corpus: every way a camera message can be unusable, with the reason it counts as.

Each case is ``(name, builder, reason)``: ``builder()`` returns a fresh ``sensor_msgs/Image`` or
``CompressedImage`` (stamp left at zero for the caller), ``reason`` is the ``bad_input.<reason>``
counter it must raise. Sizes stay small (the node tests run the whole corpus), except where the
size is the point; those only claim it in the header or compress well.
"""

from __future__ import annotations

import array
import struct
import zlib
from typing import Callable

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage, Image

W, H = 64, 48


def raw(encoding: str = 'bgr8', width: int = W, height: int = H, step=None, data=None, **extra):
    """An Image whose fields default to a consistent bgr8 frame; any field can be spoiled."""
    channels_bytes = {'bgr8': 3, 'rgb8': 3, 'mono8': 1, 'mono16': 2, '32FC1': 4, '32FC3': 12}
    step = width * channels_bytes.get(encoding, 3) if step is None else step
    if data is None:
        data = bytes(step * height)
    msg = Image(encoding=encoding, width=width, height=height, step=step, **extra)
    msg.data = array.array('B', data)
    return msg


def floats(values: float, channels: int = 1) -> bytes:
    pixels = np.full((H, W, channels), 0.5, '<f4')
    pixels[H // 2, W // 2, 0] = values
    return pixels.tobytes()


def compressed(data: bytes, fmt: str = 'jpeg') -> CompressedImage:
    msg = CompressedImage(format=fmt)
    msg.data = array.array('B', data)
    return msg


def encoded(ext: str, h: int = H, w: int = W) -> bytes:
    return cv2.imencode(ext, np.full((h, w, 3), 90, np.uint8))[1].tobytes()


JPEG = encoded('.jpg')
PNG = encoded('.png')
SOS = JPEG.index(b'\xff\xda')


def jpeg_claiming(width: int, height: int) -> bytes:
    """The small JPEG with the size fields of its frame header rewritten."""
    sof = next(i for i in range(2, SOS) if JPEG[i] == 0xFF and JPEG[i + 1] in (0xC0, 0xC2))
    return JPEG[: sof + 5] + struct.pack('>HH', height, width) + JPEG[sof + 9 :]


def png_claiming(width: int, height: int) -> bytes:
    """The small PNG with its IHDR size (and CRC) rewritten."""
    ihdr = PNG[12:29]
    body = ihdr[:4] + struct.pack('>II', width, height) + ihdr[12:]
    return PNG[:12] + body + struct.pack('>I', zlib.crc32(body)) + PNG[33:]


CASES: list[tuple[str, Callable[[], object], str]] = [
    # raw: encodings
    ('yuv422', lambda: raw('yuv422_yuy2', step=W * 2), 'unknown_encoding'),
    ('empty_encoding', lambda: raw(''), 'unknown_encoding'),
    ('bayer', lambda: raw('bayer_rggb8', step=W), 'unknown_encoding'),
    ('lowercase_BGR8', lambda: raw('BGR8'), 'unknown_encoding'),
    ('encoding_with_spaces', lambda: raw(' bgr8 '), 'unknown_encoding'),
    ('16UC3', lambda: raw('16UC3', step=W * 6), 'unknown_encoding'),
    ('64FC1', lambda: raw('64FC1', step=W * 8), 'unknown_encoding'),
    # raw: sizes
    ('zero_height', lambda: raw(height=0, data=b''), 'empty'),
    ('zero_width', lambda: raw(width=0, step=0, data=b''), 'empty'),
    ('zero_both', lambda: raw(width=0, height=0, step=0, data=b''), 'empty'),
    ('too_large_square', lambda: raw(width=10000, height=10000, step=30000, data=b''), 'too_large'),
    (
        'too_large_line',
        lambda: raw(width=2**24 + 1, height=1, step=3 * 2**24 + 3, data=b''),
        'too_large',
    ),
    ('max_width_field', lambda: raw(width=2**32 - 1, height=2, step=0, data=b''), 'too_large'),
    ('strip_4_rows', lambda: raw(height=4), 'unusable_size'),
    ('strip_4_columns', lambda: raw(width=4), 'unusable_size'),
    ('one_pixel', lambda: raw(width=1, height=1), 'unusable_size'),
    # raw: step and data length
    (
        'step_short_by_one',
        lambda: raw(step=W * 3 - 1, data=bytes((W * 3 - 1) * H)),
        'step_mismatch',
    ),
    ('step_zero', lambda: raw(step=0, data=b''), 'step_mismatch'),
    ('data_empty', lambda: raw(data=b''), 'step_mismatch'),
    ('data_one_byte_short', lambda: raw(data=bytes(W * 3 * H - 1)), 'step_mismatch'),
    ('data_one_byte_long', lambda: raw(data=bytes(W * 3 * H + 1)), 'step_mismatch'),
    ('data_one_row_short', lambda: raw(data=bytes(W * 3 * (H - 1))), 'step_mismatch'),
    (
        'step_padding_without_data',
        lambda: raw(step=W * 3 + 16, data=bytes(W * 3 * H)),
        'step_mismatch',
    ),
    (
        'mono16_odd_step',
        lambda: raw('mono16', step=W * 2 + 1, data=bytes((W * 2 + 1) * H)),
        'step_mismatch',
    ),
    (
        '32FC1_step_not_multiple_of_4',
        lambda: raw('32FC1', step=W * 4 + 2, data=bytes((W * 4 + 2) * H)),
        'step_mismatch',
    ),
    (
        'rgb8_declared_as_mono8_data',
        lambda: raw('rgb8', step=W, data=bytes(W * H)),
        'step_mismatch',
    ),
    # raw: float contents
    ('32FC1_nan', lambda: raw('32FC1', data=floats(np.nan)), 'non_finite'),
    ('32FC1_plus_inf', lambda: raw('32FC1', data=floats(np.inf)), 'non_finite'),
    ('32FC1_minus_inf', lambda: raw('32FC1', data=floats(-np.inf)), 'non_finite'),
    ('32FC3_nan', lambda: raw('32FC3', data=floats(np.nan, 3)), 'non_finite'),
    (
        '32FC1_big_endian_nan',
        lambda: raw('32FC1', data=np.full((H, W), np.nan, '>f4').tobytes(), is_bigendian=1),
        'non_finite',
    ),
    # compressed: not an image
    ('no_data', lambda: compressed(b''), 'empty'),
    ('text', lambda: compressed(b'hello world'), 'corrupt_compressed'),
    ('zeros', lambda: compressed(bytes(4096)), 'corrupt_compressed'),
    ('jpeg_soi_only', lambda: compressed(b'\xff\xd8'), 'corrupt_compressed'),
    ('png_signature_only', lambda: compressed(PNG[:8], 'png'), 'corrupt_compressed'),
    ('bmp', lambda: compressed(encoded('.bmp'), 'bmp'), 'corrupt_compressed'),
    ('tiff', lambda: compressed(encoded('.tiff'), 'tiff'), 'corrupt_compressed'),
    (
        'jpeg_garbage_after_soi',
        lambda: compressed(b'\xff\xd8\xff\xe0garbage-not-a-jpeg' * 3),
        'corrupt_compressed',
    ),
    (
        'jpeg_empty_segments_forever',
        lambda: compressed(b'\xff\xd8' + b'\xff\xe1\x00\x02' * 100_000),
        'corrupt_compressed',
    ),
    # compressed: damaged image data
    ('jpeg_header_only', lambda: compressed(JPEG[:SOS]), 'corrupt_compressed'),
    (
        'jpeg_payload_zeroed',
        lambda: compressed(JPEG[:SOS] + bytes(len(JPEG) - SOS)),
        'corrupt_compressed',
    ),
    ('png_truncated', lambda: compressed(PNG[: len(PNG) // 2], 'png'), 'corrupt_compressed'),
    (
        'png_data_zeroed',
        lambda: compressed(PNG[:41] + bytes(len(PNG) - 41), 'png'),
        'corrupt_compressed',
    ),
    # compressed: sizes
    ('jpeg_claims_65535_square', lambda: compressed(jpeg_claiming(65535, 65535)), 'too_large'),
    (
        'png_claims_100k_square',
        lambda: compressed(png_claiming(100_000, 100_000), 'png'),
        'too_large',
    ),
    (
        'png_10k_zeros',
        lambda: compressed(
            cv2.imencode('.png', np.zeros((10000, 10000), np.uint8))[1].tobytes(), 'png'
        ),
        'too_large',
    ),
    ('jpeg_claims_zero_width', lambda: compressed(jpeg_claiming(0, H)), 'empty'),
    ('png_claims_zero_height', lambda: compressed(png_claiming(W, 0), 'png'), 'empty'),
    ('jpeg_strip_4000x1', lambda: compressed(encoded('.jpg', 1, 4000)), 'unusable_size'),
    ('png_strip_3000x2', lambda: compressed(encoded('.png', 2, 3000), 'png'), 'unusable_size'),
]
