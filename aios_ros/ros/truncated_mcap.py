"""Reading what a cut-off MCAP file holds: a recorder killed (or a disk filled) before it wrote
the summary and footer leaves records that are intact up to the cut, but rosbags refuses the
whole file ("File end magic is invalid") and ``ros2 bag record`` leaves no ``metadata.yaml``.

:class:`TruncatedMcap` walks the records from the start (MCAP spec: opcode u8, length u64,
content; schemas and channels come before the messages that use them, chunks hold records of
their own), keeps every schema, channel and message it can parse and stops at the first record
that runs past the end or does not parse. It offers what replay uses of a rosbags ``Reader``:
``connections`` and ``messages()`` in log-time order, ``close()``.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Optional

from rosbags.rosbag2.storage_mcap import DECOMPRESSORS

MAGIC = b'\x89MCAP0\r\n'
_SCHEMA, _CHANNEL, _MESSAGE, _CHUNK = 0x03, 0x04, 0x05, 0x06


@dataclass(frozen=True)
class SalvagedConnection:
    """A channel of the file, shaped as the rosbags connection fields replay reads."""

    id: int
    topic: str
    msgtype: str
    msgcount: int


@dataclass
class _Scan:
    schemas: dict[int, str] = field(default_factory=dict)  # schema id -> message type
    channels: dict[int, tuple[str, int]] = field(default_factory=dict)  # id -> (topic, schema)
    # (log_time ns, channel id, chunk index or -1 for the file itself, start, end)
    messages: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    chunks: list[tuple[int, int, str, int]] = field(default_factory=list)  # start, end, codec, size


class TruncatedMcap:
    """The readable part of the MCAP file ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, 'rb')
        self._data = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        if self._data[: len(MAGIC)] != MAGIC:
            self.close()
            raise ValueError(f'{path} is not an MCAP file (no start magic)')
        scan = _Scan()
        _walk(memoryview(self._data), len(MAGIC), -1, scan)
        scan.messages.sort(key=lambda m: m[0])  # stable: equal times keep file order
        self._scan = scan
        counts: dict[int, int] = {}
        for _, channel, *_ in scan.messages:
            counts[channel] = counts.get(channel, 0) + 1
        self.connections = [
            SalvagedConnection(cid, topic, scan.schemas.get(schema, ''), counts.get(cid, 0))
            for cid, (topic, schema) in sorted(scan.channels.items())
        ]
        self._cached: tuple[int, Optional[bytes]] = (-2, None)

    @property
    def message_count(self) -> int:
        return len(self._scan.messages)

    def messages(
        self, connections: Iterable[SalvagedConnection] = ()
    ) -> Iterator[tuple[SalvagedConnection, int, bytes]]:
        """(connection, log time ns, CDR bytes) of every readable message of ``connections``
        (all if empty), by log time."""
        wanted = {c.id: c for c in (connections or self.connections)}
        for t_ns, channel, chunk, start, end in self._scan.messages:
            if channel in wanted:
                yield wanted[channel], t_ns, bytes(self._records(chunk)[start:end])

    def _records(self, chunk: int) -> memoryview:
        if chunk < 0:
            return memoryview(self._data)
        if self._cached[0] != chunk:  # messages come chunk by chunk: one decompressed at a time
            start, end, codec, size = self._scan.chunks[chunk]
            self._cached = (chunk, DECOMPRESSORS[codec](self._data[start:end], size))
        records = self._cached[1]
        assert records is not None
        return memoryview(records)

    def close(self) -> None:
        self._data.close()
        self._file.close()


def _walk(buf: memoryview, pos: int, chunk: int, scan: _Scan) -> None:
    """Parse the records of ``buf`` from ``pos`` into ``scan`` up to the first that does not
    parse. ``chunk``: index of the chunk ``buf`` holds the records of (-1: the file itself)."""
    while pos + 9 <= len(buf):
        opcode, length = struct.unpack_from('<BQ', buf, pos)
        body, end = pos + 9, pos + 9 + length
        cut = end > len(buf)
        if cut and not (opcode == _CHUNK and chunk < 0):
            return
        try:  # a chunk cut off by the end of the file still gives its first records
            _record(buf, opcode, body, min(end, len(buf)), chunk, scan)
        except (struct.error, UnicodeDecodeError, KeyError, ValueError):
            return
        if cut:
            return
        pos = end


def _record(buf: memoryview, opcode: int, pos: int, end: int, chunk: int, scan: _Scan) -> None:
    if opcode == _SCHEMA:
        (sid,) = struct.unpack_from('<H', buf, pos)
        scan.schemas[sid], _ = _string(buf, pos + 2, end)
    elif opcode == _CHANNEL:
        cid, sid = struct.unpack_from('<HH', buf, pos)
        topic, pos = _string(buf, pos + 4, end)
        encoding, _ = _string(buf, pos, end)
        if encoding == 'cdr':  # ROS 2 messages; other encodings are not replayable
            scan.channels[cid] = (topic, sid)
    elif opcode == _MESSAGE:
        cid, _seq, log_time = struct.unpack_from('<HIQ', buf, pos)
        if cid in scan.channels:
            scan.messages.append((log_time, cid, chunk, pos + 22, end))
    elif opcode == _CHUNK and chunk < 0:
        size = struct.unpack_from('<Q', buf, pos + 16)[0]
        codec, at = _string(buf, pos + 28, end)
        (records_len,) = struct.unpack_from('<Q', buf, at)
        start = at + 8
        if codec == '':  # readable in place, even the records of a chunk cut by the end
            records_len = min(records_len, end - start)
        elif start + records_len > end:
            raise ValueError('compressed chunk cut off')
        index = len(scan.chunks)
        scan.chunks.append((start, start + records_len, codec, size))
        raw = buf[start : start + records_len]
        records = raw if codec == '' else memoryview(DECOMPRESSORS[codec](bytes(raw), size))
        _walk(records, 0, index, scan)


def _string(buf: memoryview, pos: int, end: int) -> tuple[str, int]:
    (n,) = struct.unpack_from('<I', buf, pos)
    if pos + 4 + n > end:
        raise ValueError('string runs past its record')
    return bytes(buf[pos + 4 : pos + 4 + n]).decode(), pos + 4 + n
