"""Reading what a cut-off rosbag2 sqlite3 file still holds.

A database file that lost its end (a copy cut short, a full disk) is refused as a whole: SQLite
checks the page count in its header against the file ("database disk image is malformed"), and
even past that check a query stops at the first page missing from its B-tree walk. The rows of
a rosbag2 ``messages`` table are spread over leaf pages that the table's growth allocated
anywhere in the file, so the rows before the cut are not one prefix of a query either.

:class:`TruncatedSqlite` therefore reads the schema and the ``topics`` table through SQLite
(page 1 and the first pages: always there when anything is) and walks the ``messages`` table's
B-tree page by page itself (SQLite file format, "B-tree pages" and "Record format"): every row
whose leaf page and overflow chain lie wholly inside the file is kept, the others are lost. It
offers what replay uses of a rosbags ``Reader``: ``connections`` and ``messages()``
in timestamp order, ``close()``.
"""

from __future__ import annotations

import mmap
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional

from aios_ros.ros.truncated_mcap import SalvagedConnection

_TABLE_INTERIOR, _TABLE_LEAF = 0x05, 0x0D


@dataclass(frozen=True)
class _Row:
    timestamp: int
    topic_id: int
    rowid: int
    spans: tuple[tuple[int, int], ...]  # (start, end) of the payload's pieces in the file


class TruncatedSqlite:
    """The readable rows of the rosbag2 sqlite3 file ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            topics, root = _schema(path)
        except sqlite3.DatabaseError as exc:
            raise ValueError(f'{path}: {exc} (its schema and topics are unreadable)') from exc
        self._file = open(path, 'rb')
        self._data = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        page_size = struct.unpack_from('>H', self._data, 16)[0]
        self._page_size = 65536 if page_size == 1 else page_size
        self._usable = self._page_size - self._data[20]
        self._pages = len(self._data) // self._page_size  # only whole pages count
        rows = self._walk(root)
        rows = [r for r in rows if r.topic_id in topics]
        rows.sort(key=lambda r: (r.timestamp, r.rowid))  # rosbags' order: by time, then id
        self._rows = rows
        counts: dict[int, int] = {}
        for row in rows:
            counts[row.topic_id] = counts.get(row.topic_id, 0) + 1
        self.connections = [
            SalvagedConnection(tid, name, msgtype, counts.get(tid, 0))
            for tid, (name, msgtype) in sorted(topics.items())
        ]

    @property
    def message_count(self) -> int:
        return len(self._rows)

    def messages(
        self, connections: Iterable[SalvagedConnection] = ()
    ) -> Iterator[tuple[SalvagedConnection, int, bytes]]:
        """(connection, timestamp ns, CDR bytes) of every readable row of ``connections`` (all
        if empty), by timestamp."""
        wanted = {c.id: c for c in (connections or self.connections)}
        for row in self._rows:
            if row.topic_id in wanted:
                payload = b''.join(self._data[a:b] for a, b in row.spans)
                yield wanted[row.topic_id], row.timestamp, _data_column(payload)

    def close(self) -> None:
        self._data.close()
        self._file.close()

    def _page(self, number: int) -> tuple[int, int]:
        """(offset of the page's B-tree header, offset of the page) of page ``number``."""
        start = (number - 1) * self._page_size
        return start + (100 if number == 1 else 0), start

    def _walk(self, root: int) -> list[_Row]:
        rows, todo, seen = [], [root], set()
        while todo:
            number = todo.pop()
            if number in seen:
                continue
            seen.add(number)
            if not 1 <= number <= self._pages:  # past the cut: the rows below it are lost
                continue
            header, page = self._page(number)
            kind, cells = self._data[header], struct.unpack_from('>H', self._data, header + 3)[0]
            if kind == _TABLE_INTERIOR:
                pointers = header + 12
                todo.append(struct.unpack_from('>I', self._data, header + 8)[0])
            elif kind == _TABLE_LEAF:
                pointers = header + 8
            else:  # a zeroed or foreign page: whatever it held is lost
                continue
            for k in range(cells):
                cell = page + struct.unpack_from('>H', self._data, pointers + 2 * k)[0]
                if kind == _TABLE_INTERIOR:
                    todo.append(struct.unpack_from('>I', self._data, cell)[0])
                else:
                    row = self._leaf_row(cell)
                    if row is not None:
                        rows.append(row)
        return rows

    def _leaf_row(self, cell: int) -> Optional[_Row]:
        """The row of the table-leaf cell at ``cell``, or None if its overflow chain is cut."""
        size, pos = _varint(self._data, cell)
        rowid, pos = _varint(self._data, pos)
        local = _local_payload(size, self._usable)
        spans = [(pos, pos + local)]
        remaining, next_page = size - local, 0
        if remaining:
            next_page = struct.unpack_from('>I', self._data, pos + local)[0]
        while remaining:
            if not 1 <= next_page <= self._pages:
                return None
            _, page = self._page(next_page)
            take = min(remaining, self._usable - 4)
            spans.append((page + 4, page + 4 + take))
            remaining -= take
            next_page = struct.unpack_from('>I', self._data, page)[0]
        topic_id, timestamp = _leading_integers(self._data[spans[0][0] : spans[0][1]])
        return _Row(timestamp, topic_id, rowid, tuple(spans))


def _schema(path: Path) -> tuple[dict[int, tuple[str, str]], int]:
    """{topic id: (name, type)} and the root page of ``messages``, read through SQLite."""
    db = sqlite3.connect(f'file:{path}?mode=ro&immutable=1', uri=True)
    try:
        # lets SQLite read a file shorter than its header says (its own corruption check)
        db.execute('PRAGMA writable_schema = ON')
        roots = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'messages'").fetchall()
        if not roots:
            raise sqlite3.DatabaseError('no messages table: not a rosbag2 database')
        rows = db.execute('SELECT id, name, type FROM topics')
        topics = {tid: (name, msgtype) for tid, name, msgtype in rows}
        return topics, int(roots[0][0])
    finally:
        db.close()


def _varint(buf, pos: int) -> tuple[int, int]:
    """SQLite's big-endian varint at ``pos``: (value, position after it)."""
    value = 0
    for i in range(9):
        byte = buf[pos + i]
        if i == 8:
            return (value << 8) | byte, pos + 9
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    raise AssertionError('unreachable')


def _local_payload(size: int, usable: int) -> int:
    """Bytes of a table-leaf payload of ``size`` bytes kept on the leaf page itself."""
    most = usable - 35
    if size <= most:
        return size
    least = (usable - 12) * 32 // 255 - 23
    k = least + (size - least) % (usable - 4)
    return k if k <= most else least


_INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}


def _columns(payload: bytes) -> tuple[list[int], int]:
    """The serial types of a record and where its values start."""
    header_size, pos = _varint(payload, 0)
    types = []
    while pos < header_size:
        serial, pos = _varint(payload, pos)
        types.append(serial)
    return types, header_size


def _size(serial: int) -> int:
    if serial in _INT_SIZES:
        return _INT_SIZES[serial]
    if serial == 7:
        return 8
    return (serial - 12) // 2 if serial >= 12 else 0


def _integer(payload: bytes, serial: int, pos: int) -> int:
    if serial in (8, 9):
        return serial - 8
    return int.from_bytes(payload[pos : pos + _INT_SIZES[serial]], 'big', signed=True)


def _leading_integers(local: bytes) -> tuple[int, int]:
    """(topic_id, timestamp) of a ``messages`` record: columns 2 and 3 (``id`` is the rowid,
    stored as NULL), both on the leaf page: the local part always holds the record's start."""
    types, pos = _columns(local)
    pos += _size(types[0])
    topic_id = _integer(local, types[1], pos)
    return topic_id, _integer(local, types[2], pos + _size(types[1]))


def _data_column(payload: bytes) -> bytes:
    """The ``data`` blob, the record's fourth column."""
    types, pos = _columns(payload)
    pos += sum(_size(t) for t in types[:3])
    return payload[pos : pos + _size(types[3])]
