"""Image / CompressedImage -> BGR conversion: round trips through real sensor_msgs messages."""

from __future__ import annotations

import array
import importlib.metadata
import logging
import struct
import sys

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from aios_ros.ros import image_conversion as ic

MAX_PIXELS = 4096 * 4096


def image_msg(pixels: np.ndarray, encoding: str, pad: int = 0, big_endian: bool = False) -> Image:
    """An Image holding ``pixels`` (H, W[, C]) with ``pad`` extra bytes at the end of each row."""
    h, w = pixels.shape[:2]
    dtype = pixels.dtype.newbyteorder('>' if big_endian else '<')
    rows = pixels.astype(dtype).reshape(h, -1).view(np.uint8)
    rows = np.concatenate([rows, np.full((h, pad), 0xAB, np.uint8)], axis=1)
    msg = Image(
        height=h, width=w, encoding=encoding, is_bigendian=int(big_endian), step=rows.shape[1]
    )
    msg.data = array.array('B', rows.tobytes())
    return msg


@pytest.fixture(scope='module')
def bgr() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize('pad', [0, 3])
@pytest.mark.parametrize(
    'encoding, to_msg',
    [
        ('bgr8', lambda p: p),
        ('rgb8', lambda p: p[..., ::-1]),
        ('bgra8', lambda p: np.dstack([p, np.full(p.shape[:2], 9, np.uint8)])),
        ('rgba8', lambda p: np.dstack([p[..., ::-1], np.full(p.shape[:2], 9, np.uint8)])),
    ],
)
def test_colour_encodings_round_trip(bgr, encoding, to_msg, pad):
    out = ic.image_to_bgr(image_msg(to_msg(bgr), encoding, pad), MAX_PIXELS)
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, bgr)


@pytest.mark.parametrize('big_endian', [False, True])
@pytest.mark.parametrize('encoding', ['mono16', '16UC1'])
def test_mono16_keeps_high_byte(encoding, big_endian):
    mono = np.array([[0, 255, 256, 65535], [4660, 1, 32768, 512]], np.uint16)
    out = ic.image_to_bgr(image_msg(mono, encoding, pad=2, big_endian=big_endian), MAX_PIXELS)
    expected = np.array([[0, 0, 1, 255], [18, 0, 128, 2]], np.uint8)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], expected)


def test_mono8_and_float_intensities():
    mono = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    np.testing.assert_array_equal(
        ic.image_to_bgr(image_msg(mono, 'mono8'), MAX_PIXELS)[..., 1], mono
    )
    floats = np.array([[0.0, 0.5, 1.0, 2.0], [-1.0, 0.25, 0.1, 1.0]], np.float32)
    out = ic.image_to_bgr(image_msg(floats, '32FC1', pad=4), MAX_PIXELS)
    np.testing.assert_array_equal(out[..., 2], [[0, 128, 255, 255], [0, 64, 26, 255]])
    colour = np.zeros((2, 2, 3), np.float32)
    colour[..., 2] = 1.0  # 32FC3 is taken as BGR
    assert (ic.image_to_bgr(image_msg(colour, '32FC3'), MAX_PIXELS)[..., 2] == 255).all()


def test_output_does_not_alias_message(bgr):
    msg = image_msg(bgr, 'bgr8', pad=1)
    out = ic.image_to_bgr(msg, MAX_PIXELS)
    out[:] = 0
    assert ic.image_to_bgr(msg, MAX_PIXELS).any()


@pytest.mark.parametrize(
    'mutate, error',
    [
        (lambda m: setattr(m, 'encoding', 'yuv422_yuy2'), ic.UnsupportedEncodingError),
        (lambda m: setattr(m, 'encoding', ''), ic.UnsupportedEncodingError),
        (
            lambda m: (setattr(m, 'height', 0), setattr(m, 'data', array.array('B'))),
            ic.EmptyImageError,
        ),
        (lambda m: setattr(m, 'width', 0), ic.EmptyImageError),
        (lambda m: setattr(m, 'step', 20), ic.StepMismatchError),  # < 7 px * 3 bytes
        (lambda m: setattr(m, 'step', 22), ic.StepMismatchError),  # data is 5 * 21 bytes
        (lambda m: setattr(m, 'data', m.data[:-1]), ic.StepMismatchError),
    ],
)
def test_bad_raw_images_raise_named_errors(bgr, mutate, error):
    msg = image_msg(bgr, 'bgr8')
    mutate(msg)
    with pytest.raises(error) as info:
        ic.image_to_bgr(msg, MAX_PIXELS)
    assert isinstance(info.value, ValueError) and info.value.reason in ic.REASONS


@pytest.mark.parametrize('encoding', ['32FC1', '32FC3'])
@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_non_finite_float_images_are_refused(encoding, bad):
    pixels = np.full((4, 4, 3 if encoding == '32FC3' else 1), 0.5, np.float32).squeeze()
    pixels.reshape(-1)[5] = bad
    with pytest.raises(ic.NonFiniteImageError):
        ic.image_to_bgr(image_msg(pixels, encoding), MAX_PIXELS)


def test_size_limit_is_checked_before_the_data():
    huge = np.zeros((10000, 10000), np.uint8)  # 100 MB mono8, a real 10k x 10k image
    with pytest.raises(ic.ImageTooLargeError):
        ic.image_to_bgr(image_msg(huge, 'mono8'), MAX_PIXELS)
    assert ic.image_to_bgr(image_msg(huge[:100, :50], 'mono8'), MAX_PIXELS).shape == (100, 50, 3)


def compressed(image: np.ndarray, ext: str, fmt: str) -> CompressedImage:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    msg = CompressedImage(format=fmt)
    msg.data = array.array('B', buf.tobytes())
    return msg


def test_png_round_trip_is_exact(bgr):
    np.testing.assert_array_equal(
        ic.compressed_to_bgr(compressed(bgr, '.png', 'png'), MAX_PIXELS), bgr
    )


def test_jpeg_round_trip_is_close():
    yy, xx = np.mgrid[0:48, 0:64]
    smooth = np.dstack([xx * 4, yy * 5, (xx + yy) * 2]).astype(np.uint8)
    out = ic.compressed_to_bgr(compressed(smooth, '.jpg', 'bgr8; jpeg compressed bgr8'), MAX_PIXELS)
    assert out.shape == smooth.shape
    assert np.abs(out.astype(int) - smooth).mean() < 3.0


@pytest.mark.parametrize('ext', ['.png', '.jpg'])
def test_header_size_matches_the_encoder(ext):
    image = np.zeros((37, 91, 3), np.uint8)
    ok, buf = cv2.imencode(ext, image)
    assert ic.compressed_image_size(memoryview(buf)) == (91, 37)


def test_jpeg_with_megabytes_of_metadata_before_the_size_decodes():
    # 24 APP1 segments of 64 KiB (1.5 MiB of EXIF-like data) between SOI and the frame header
    image = np.full((37, 91, 3), 120, np.uint8)
    jpeg = cv2.imencode('.jpg', image)[1].tobytes()
    app1 = b'\xff\xe1' + struct.pack('>H', 65535) + bytes(65533)
    msg = CompressedImage(format='jpeg')
    msg.data = array.array('B', jpeg[:2] + app1 * 24 + jpeg[2:])
    assert len(msg.data) > 1.5 * 2**20
    out = ic.compressed_to_bgr(msg, MAX_PIXELS)
    assert out.shape == image.shape and abs(int(out.mean()) - 120) <= 2


def test_a_stream_of_empty_jpeg_segments_is_refused_cheaply():
    msg = CompressedImage(format='jpeg')
    msg.data = array.array('B', b'\xff\xd8' + b'\xff\xe1\x00\x02' * 500_000)
    with pytest.raises(ic.CorruptImageError):
        ic.compressed_to_bgr(msg, MAX_PIXELS)


def test_huge_compressed_image_is_refused_without_decoding():
    # A 10k x 10k PNG of zeros is ~100 kB on the wire but 300 MB decoded.
    big = compressed(np.zeros((10000, 10000), np.uint8), '.png', 'png')
    assert len(big.data) < 1_000_000
    with pytest.raises(ic.ImageTooLargeError):
        ic.compressed_to_bgr(big, MAX_PIXELS)


@pytest.mark.parametrize('data', [b'', b'\xff\xd8\xff\xe0garbage-not-a-jpeg' * 3, b'hello world'])
def test_corrupt_compressed_data(data):
    msg = CompressedImage(format='jpeg')
    msg.data = array.array('B', data)
    with pytest.raises((ic.CorruptImageError, ic.EmptyImageError)):
        ic.compressed_to_bgr(msg, MAX_PIXELS)


def test_jpeg_with_valid_header_and_garbage_payload(bgr):
    good = compressed(np.zeros((64, 64, 3), np.uint8), '.jpg', 'jpeg').data.tobytes()
    sos = good.index(b'\xff\xda')
    msg = CompressedImage(format='jpeg')
    msg.data = array.array('B', good[:sos])  # everything up to the scan: no pixel data at all
    with pytest.raises(ic.CorruptImageError):
        ic.compressed_to_bgr(msg, MAX_PIXELS)


def test_matches_ros2_cv_bridge_when_installed(bgr):
    cv_bridge = pytest.importorskip('cv_bridge', reason='ROS 2 cv_bridge needs a ROS install (apt)')
    if ic._BRIDGE is None:
        pytest.skip('cv_bridge found is not the ROS 2 one (PyPI ROS 1 port)')
    bridge = cv_bridge.CvBridge()
    for encoding, pixels in [('rgb8', bgr[..., ::-1]), ('mono8', bgr[..., 0])]:
        msg = image_msg(np.ascontiguousarray(pixels), encoding, pad=2)
        np.testing.assert_array_equal(
            ic.image_to_bgr(msg, MAX_PIXELS), bridge.imgmsg_to_cv2(msg, desired_encoding='bgr8')
        )


def _fake_ros2_cv_bridge(monkeypatch, tmp_path, source: str) -> None:
    """Put a ``cv_bridge`` 4.x package made of ``source`` first on the import path."""
    (tmp_path / 'cv_bridge').mkdir()
    (tmp_path / 'cv_bridge' / '__init__.py').write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, 'cv_bridge', raising=False)
    real_version = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata,
        'version',
        lambda name: '4.1.0' if name == 'cv_bridge' else real_version(name),
    )


def test_broken_cv_bridge_import_falls_back_and_says_why(monkeypatch, tmp_path, caplog):
    # What an apt cv_bridge built for numpy 1 raises under numpy 2.
    _fake_ros2_cv_bridge(monkeypatch, tmp_path, "raise AttributeError('_ARRAY_API not found')\n")
    with caplog.at_level(logging.WARNING, logger=ic.__name__):
        assert ic._load_ros2_cv_bridge() is None
    assert 'AttributeError: _ARRAY_API not found' in caplog.text


def test_cv_bridge_failing_at_first_use_is_dropped_for_the_numpy_path(
    monkeypatch, tmp_path, caplog, bgr
):
    _fake_ros2_cv_bridge(
        monkeypatch,
        tmp_path,
        'class CvBridge:\n'
        '    def imgmsg_to_cv2(self, msg, desired_encoding):\n'
        "        raise TypeError('numpy ABI mismatch')\n",
    )
    bridge = ic._load_ros2_cv_bridge()
    assert type(bridge).__name__ == 'CvBridge'
    monkeypatch.setattr(ic, '_BRIDGE', bridge)
    msg = image_msg(np.ascontiguousarray(bgr[..., ::-1]), 'rgb8', pad=2)
    with caplog.at_level(logging.WARNING, logger=ic.__name__):
        np.testing.assert_array_equal(ic.image_to_bgr(msg, MAX_PIXELS), bgr)
    assert 'cv_bridge failed (TypeError: numpy ABI mismatch)' in caplog.text
    assert ic._BRIDGE is None
