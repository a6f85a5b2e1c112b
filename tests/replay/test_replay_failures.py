"""Replay keeps what it wrote: bad frames are skipped and counted, any end finalises the bag.

Each case edits the tiny sample bag (a corrupt JPEG, a repeated or backwards stamp, a damaged
metadata file, a truncated database) or breaks the run (an estimator error, a failing write, a
signal), then checks what the user sees (exit code, one line) and that the output bag reads back
with every frame processed before the end.
"""

import os
import signal
from dataclasses import replace

import cv2
import numpy as np
import pytest

pytest.importorskip('aios_ros.msg', reason='messages not built: run scripts/setup.sh, . env.sh')

from rosbags.rosbag2 import (  # noqa: E402
    CompressionFormat,
    CompressionMode,
    Reader,
    ReaderError,
    StoragePlugin,
    Writer,
)

from aios_ros.replay import replayer  # noqa: E402
from aios_ros.replay.replayer import ReplayFailed, ReplayOptions, run_replay  # noqa: E402
from aios_ros.ros.bags import make_typestore  # noqa: E402
from aios_ros.ros.truncated_mcap import TruncatedMcap  # noqa: E402
from aios_ros.ros.truncated_sqlite import TruncatedSqlite  # noqa: E402
from aios_ros.synthetic import sample_bag as generate  # noqa: E402
from aios_ros.tools import replay  # noqa: E402

from .test_replay import input_stamps, oracle_runtime, read_all  # noqa: E402


def edited_bag(src, dst, edit=lambda i, msg: None, storage=StoragePlugin.SQLITE3):
    """Copy of bag ``src`` where image ``i`` becomes ``edit(i, msg)`` (in place), or the raw
    record ``edit`` returns."""
    store = make_typestore()
    with Reader(src) as reader, Writer(dst, version=9, storage_plugin=storage) as writer:
        conns = {
            c.id: writer.add_connection(c.topic, c.msgtype, typestore=store)
            for c in reader.connections
        }
        images = 0
        for conn, t_ns, raw in reader.messages():
            if conn.topic == generate.IMAGE_TOPIC:
                msg = store.deserialize_cdr(raw, conn.msgtype)
                record = edit(images, msg)
                raw = store.serialize_cdr(msg, conn.msgtype) if record is None else record
                images += 1
            writer.write(conns[conn.id], t_ns, raw)
    return dst


def stream_stamps(out, topic='/aios/bodies'):
    msgs, store = read_all(out)
    return [
        (lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)(
            store.deserialize_cdr(raw, msgtype)
        )
        for t, msgtype, _, raw in msgs
        if t == topic
    ]


def corrupt_jpeg(index):
    def edit(i, msg):
        if i == index:
            msg.data = msg.data.copy()
            msg.data[200:] = 0x5A  # the JPEG header survives, the entropy-coded data does not

    return edit


def test_corrupt_frame_in_the_middle_is_skipped(tiny_bag, tiny_frames, body_model, tmp_path):
    bag = edited_bag(tiny_bag, tmp_path / 'in', corrupt_jpeg(1))
    summary = run_replay(
        ReplayOptions(bag=bag, out=tmp_path / 'out', progress=False),
        runtime=oracle_runtime(tiny_bag, body_model),
    )
    assert summary.frames == tiny_frames - 1
    assert dict(summary.skipped) == {'corrupt_compressed': 1} and not summary.error
    expected = [t for i, t in enumerate(input_stamps(tiny_bag)) if i != 1]
    assert stream_stamps(tmp_path / 'out') == expected
    assert sorted(stream_stamps(tmp_path / 'out', '/aios/bodies_fused')) == expected


def test_a_degenerate_frame_is_skipped_as_unusable_size(
    tiny_bag, tiny_frames, body_model, tmp_path
):
    def strip(i, msg):  # a valid JPEG of 4000 x 1 px: decodes, but the network input is 0 px high
        if i == 2:
            msg.data = np.frombuffer(
                cv2.imencode('.jpg', np.zeros((1, 4000, 3), np.uint8))[1], np.uint8
            )

    summary = run_replay(
        ReplayOptions(
            bag=edited_bag(tiny_bag, tmp_path / 'in', strip), out=tmp_path / 'out', progress=False
        ),
        runtime=oracle_runtime(tiny_bag, body_model),
    )
    assert summary.frames == tiny_frames - 1 and dict(summary.skipped) == {'unusable_size': 1}
    expected = [t for i, t in enumerate(input_stamps(tiny_bag)) if i != 2]
    assert stream_stamps(tmp_path / 'out') == expected


def test_damaged_record_is_skipped(tiny_bag, tiny_frames, body_model, tmp_path):
    def edit(i, msg):
        return b'\x00\x01\x00\x00\xff' if i == 2 else None  # a CDR header, then nothing

    bag = edited_bag(tiny_bag, tmp_path / 'in', edit)
    summary = run_replay(
        ReplayOptions(bag=bag, out=tmp_path / 'out', progress=False),
        runtime=oracle_runtime(tiny_bag, body_model),
    )
    assert dict(summary.skipped) == {'corrupt_message': 1} and summary.frames == tiny_frames - 1


def test_strict_ends_at_the_first_bad_frame_with_a_finalised_bag(tiny_bag, body_model, tmp_path):
    bag = edited_bag(tiny_bag, tmp_path / 'in', corrupt_jpeg(2))
    with pytest.raises(ReplayFailed) as failed:
        run_replay(
            ReplayOptions(bag=bag, out=tmp_path / 'out', progress=False, strict=True),
            runtime=oracle_runtime(tiny_bag, body_model),
        )
    assert failed.value.summary.frames == 2 and 'corrupt_compressed' in failed.value.summary.error
    assert stream_stamps(tmp_path / 'out') == input_stamps(tiny_bag)[:2]
    assert (tmp_path / 'out' / 'metadata.yaml').is_file()


def test_repeated_stamp_is_skipped_and_backwards_stamp_resets(
    tiny_bag, tiny_frames, body_model, tmp_path
):
    stamps = input_stamps(tiny_bag)

    def edit(i, msg):
        if i == 2:  # the stamp of frame 1 again
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamps[1], 10**9)
        if i == 3:  # older than frame 0: a restarted recording
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamps[0] - 10**6, 10**9)

    bag = edited_bag(tiny_bag, tmp_path / 'in', edit)
    summary = run_replay(
        ReplayOptions(bag=bag, out=tmp_path / 'out', progress=False),
        runtime=oracle_runtime(tiny_bag, body_model),
    )
    assert dict(summary.skipped) == {'duplicate_stamp': 1}
    assert summary.time_resets == 1 and summary.frames == tiny_frames - 1
    assert stream_stamps(tmp_path / 'out') == [stamps[0], stamps[1], stamps[0] - 10**6]


class FailingEstimator:
    """The oracle, raising on call ``fail_at``."""

    def __init__(self, inner, fail_at):
        self.inner, self.fail_at = inner, fail_at

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def estimate_batch(self, images, cameras):
        return [self.estimate(image, camera) for image, camera in zip(images, cameras)]

    def estimate(self, image, camera):
        if self.inner.calls == self.fail_at:
            raise RuntimeError('CUDA error: an illegal memory access was encountered')
        return self.inner.estimate(image, camera)


def test_error_mid_run_keeps_every_frame_before_it(tiny_bag, body_model, tmp_path):
    runtime = oracle_runtime(tiny_bag, body_model)
    runtime = replace(runtime, estimator=FailingEstimator(runtime.estimator, 2))
    with pytest.raises(ReplayFailed) as failed:
        run_replay(
            ReplayOptions(bag=tiny_bag, out=tmp_path / 'out', progress=False), runtime=runtime
        )
    assert (
        failed.value.summary.frames == 2 and 'illegal memory access' in failed.value.summary.error
    )
    assert stream_stamps(tmp_path / 'out') == input_stamps(tiny_bag)[:2]
    assert len(stream_stamps(tmp_path / 'out', '/aios/bodies_fused')) == 2


def test_disk_full_keeps_what_was_written(tiny_bag, body_model, tmp_path, monkeypatch, capsys):
    written = []
    real_write = Writer.write

    def write(self, connection, timestamp, data):
        if connection.topic == '/aios/overlay/compressed' and len(written) == 2:
            raise OSError(28, 'No space left on device')
        if connection.topic == '/aios/overlay/compressed':
            written.append(timestamp)
        real_write(self, connection, timestamp, data)

    monkeypatch.setattr(Writer, 'write', write)
    monkeypatch.setattr(replayer, 'load_runtime', lambda o: oracle_runtime(tiny_bag, body_model))
    out = tmp_path / 'out'
    assert replay.main(['--bag', str(tiny_bag), '--out', str(out)]) == 1
    captured = capsys.readouterr()
    assert 'No space left on device' in captured.err and 'wrote' in captured.out
    assert stream_stamps(out, '/aios/overlay/compressed') == written
    assert stream_stamps(out)[:2] == input_stamps(tiny_bag)[:2]


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_stop_signal_finishes_the_frame_and_finalises(
    tiny_bag, body_model, tmp_path, monkeypatch, signum
):
    runtime = oracle_runtime(tiny_bag, body_model)
    oracle = runtime.estimator

    class Signalling(FailingEstimator):
        def estimate(self, image, camera):
            if oracle.calls == 1:
                os.kill(os.getpid(), signum)  # arrives while frame 1 is being processed
            return oracle.estimate(image, camera)

    runtime = replace(runtime, estimator=Signalling(oracle, None))
    monkeypatch.setattr(replayer, 'load_runtime', lambda o: runtime)
    out = tmp_path / 'out'
    assert replay.main(['--bag', str(tiny_bag), '--out', str(out)]) == 130
    assert stream_stamps(out) == input_stamps(tiny_bag)[:2]
    assert signal.getsignal(signum) is not None  # the previous handler is back


def test_damaged_inputs_and_outputs_are_one_line_errors(tiny_bag, tmp_path, capsys, monkeypatch):
    def never(options):
        raise AssertionError('the model must not load before input and output are checked')

    monkeypatch.setattr(replayer, 'load_runtime', never)
    broken = tmp_path / 'broken'
    broken.mkdir()
    meta = broken / 'metadata.yaml'  # no storage file to read around it
    text = (tiny_bag / 'metadata.yaml').read_text()
    meta.write_text(text[: len(text) // 2])
    cases = [
        (['--bag', str(broken), '--out', str(tmp_path / 'o1')], 'cannot read input bag'),
        (
            ['--bag', str(tiny_bag), '--out', str(tmp_path / 'broken' / 'metadata.yaml' / 'o')],
            'is not a directory',
        ),
        (['--bag', str(tiny_bag), '--out', str(tiny_bag)], 'output exists'),
    ]
    for argv, text in cases:
        assert replay.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert text in err and len(err.splitlines()) == 1
    assert not (tmp_path / 'o1').exists()


def _cut_db3(src, dst, fraction):
    """Copy of bag folder ``src`` whose database keeps only its first ``fraction``."""
    dst.mkdir()
    for f in src.iterdir():
        data = f.read_bytes()
        cut = f.suffix == '.db3'
        (dst / f.name).write_bytes(data[: int(len(data) * fraction)] if cut else data)
    return dst


def test_cut_off_sqlite_database_is_read_up_to_the_cut(tiny_bag, tiny_frames, body_model, tmp_path):
    """sqlite refuses a truncated database as a whole ("malformed"); replay reads its pages."""
    bag = _cut_db3(tiny_bag, tmp_path / 'in', 0.9)
    with pytest.raises(ReaderError, match='malformed'), Reader(bag):
        pass
    kept = TruncatedSqlite(next(bag.glob('*.db3')))
    readable = [t for c, t, _ in kept.messages() if c.topic == generate.IMAGE_TOPIC]
    kept.close()
    assert 0 < len(readable) < tiny_frames
    summary = run_replay(
        ReplayOptions(bag=bag, out=tmp_path / 'out', progress=False),
        runtime=oracle_runtime(tiny_bag, body_model),
    )
    assert summary.frames == len(readable) and 'malformed' in summary.input_note
    assert stream_stamps(tmp_path / 'out') == readable == input_stamps(tiny_bag)[: len(readable)]


def test_damaged_metadata_beside_a_whole_database_loses_no_frame(
    tiny_bag, tiny_frames, body_model, tmp_path
):
    bag = _cut_db3(tiny_bag, tmp_path / 'in', 1.0)
    text = (bag / 'metadata.yaml').read_text()
    (bag / 'metadata.yaml').write_text(text[: len(text) // 2])
    summary = run_replay(
        ReplayOptions(bag=bag, out=tmp_path / 'out', progress=False),
        runtime=oracle_runtime(tiny_bag, body_model),
    )
    assert summary.frames == tiny_frames and 'metadata' in summary.input_note
    assert stream_stamps(tmp_path / 'out') == input_stamps(tiny_bag)


def test_sqlite_database_cut_before_any_message_is_a_one_line_error(tiny_bag, tmp_path, capsys):
    bag = _cut_db3(tiny_bag, tmp_path / 'in', 0.3)  # the tiny bag's leaf pages come last
    assert replay.main(['--bag', str(bag), '--out', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err.strip()
    assert f'cannot read input bag {bag}' in err and 'no complete message' in err
    assert len(err.splitlines()) == 1 and not (tmp_path / 'out').exists()


def test_rows_of_a_cut_sqlite_file_are_those_of_the_whole_file(tmp_path):
    """A larger table (many leaf and overflow pages): whatever a cut leaves is read exactly as
    rosbags reads the whole file, in its order; the longer the file, the more rows."""
    store, rng = make_typestore(), np.random.default_rng(0)
    with Writer(tmp_path / 'bag', version=9, storage_plugin=StoragePlugin.SQLITE3) as writer:
        a, b = (writer.add_connection(t, 'std_msgs/msg/String', typestore=store) for t in 'ab')
        for i in range(300):  # 10 B .. 20 kB: rows on the leaf page alone and with overflow
            size = int(rng.integers(10, 20000))
            writer.write(b if i % 3 else a, 1000 + i, rng.bytes(size))
    with Reader(tmp_path / 'bag') as reader:
        whole = [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]
    data = next((tmp_path / 'bag').glob('*.db3')).read_bytes()
    counts = []
    for fraction in (0.25, 0.5, 0.75, 0.99, 1.0):
        cut = tmp_path / f'cut_{fraction}.db3'
        cut.write_bytes(data[: int(len(data) * fraction)])
        kept = TruncatedSqlite(cut)
        rows = [(c.topic, t, raw) for c, t, raw in kept.messages()]
        assert sum(c.msgcount for c in kept.connections) == len(rows) == kept.message_count
        kept.close()
        assert rows == whole[: len(rows)]
        counts.append(len(rows))
    assert counts == sorted(counts) and counts[0] > 0.15 * len(whole) and counts[-1] == len(whole)


def _mcap_of(bag):
    return next(bag.glob('*.mcap'))


@pytest.mark.parametrize('metadata', [True, False], ids=['metadata_kept', 'no_metadata'])
def test_cut_off_mcap_is_read_up_to_the_cut(
    tiny_bag, tiny_frames, body_model, tmp_path, capsys, metadata
):
    """A recorder killed mid-run: the MCAP file has no footer (and maybe no metadata.yaml)."""
    bag = edited_bag(tiny_bag, tmp_path / 'in', storage=StoragePlugin.MCAP)
    data = _mcap_of(bag).read_bytes()
    _mcap_of(bag).write_bytes(data[: len(data) * 6 // 10])
    if not metadata:
        (bag / 'metadata.yaml').unlink()
    with Reader(tiny_bag) as full:  # how many images lie wholly before the cut
        images = [c for c in full.connections if c.topic == generate.IMAGE_TOPIC]
        kept = TruncatedMcap(_mcap_of(bag))
        readable = sum(1 for c, _, _ in kept.messages() if c.topic == generate.IMAGE_TOPIC)
        kept.close()
        assert 0 < readable < images[0].msgcount == tiny_frames
    summary = run_replay(
        ReplayOptions(bag=bag, out=tmp_path / 'out', progress=False),
        runtime=oracle_runtime(tiny_bag, body_model),
    )
    assert summary.frames == readable and 'cut off' in summary.input_note
    assert stream_stamps(tmp_path / 'out') == input_stamps(tiny_bag)[:readable]
    replayer.print_summary(summary, tmp_path / 'out')
    assert 'complete messages before the cut' in capsys.readouterr().out


def test_compressed_mcap_chunks_are_read_without_metadata(tiny_bag, tmp_path):
    src = tmp_path / 'zstd'
    store = make_typestore()
    writer = Writer(src, version=9, storage_plugin=StoragePlugin.MCAP)
    writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    with Reader(tiny_bag) as reader, writer:
        conns = {
            c.id: writer.add_connection(c.topic, c.msgtype, typestore=store)
            for c in reader.connections
        }
        expected = [(c.topic, t, raw) for c, t, raw in reader.messages()]
        for c, t, raw in reader.messages():
            writer.write(conns[c.id], t, raw)
    assert b'zstd' in _mcap_of(src).read_bytes()[:4096]  # the chunk says how it is compressed
    (src / 'metadata.yaml').unlink()
    salvaged = TruncatedMcap(_mcap_of(src))
    assert [(c.topic, t, raw) for c, t, raw in salvaged.messages()] == expected
    salvaged.close()


def test_mcap_cut_before_any_message_is_a_one_line_error(tiny_bag, tmp_path, capsys):
    bag = edited_bag(tiny_bag, tmp_path / 'in', storage=StoragePlugin.MCAP)
    _mcap_of(bag).write_bytes(_mcap_of(bag).read_bytes()[:200])
    assert replay.main(['--bag', str(bag), '--out', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err.strip()
    assert 'cannot read input bag' in err and 'no complete message' in err
    assert len(err.splitlines()) == 1 and not (tmp_path / 'out').exists()
