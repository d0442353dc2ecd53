"""The agent's durable state: sequence numbers and the spool of unsent reports.

Both live in one SQLite file (`agent.db`, WAL, `synchronous=FULL` so a committed row survives
a power cut on a Raspberry Pi), or in memory for simulated devices.

**Sequence numbers** must never repeat, even across crashes, or the ingest rejects the
report as replayed. The store hands them out from a *reserved block*: before using numbers
`[n, n + block)` it commits `n + block` as the high-water mark, and a restart resumes from
the high-water mark. A crash therefore skips at most one block (harmless: sequence numbers
need only increase) and costs one commit per block rather than per report.

**The spool** is the outbox: a report is committed here before any attempt to send it, and
leaves only when the ingest accepted it or rejected it for good. Reports go out in sequence
order, so the ingest's replay check never sees an older number after a newer one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from opendepin.errors import StoreError
from opendepin.reports import codec
from opendepin.reports.envelope import Report

DEFAULT_SEQ_BLOCK = 16
"""Sequence numbers reserved per commit."""
FIRST_SEQ = 1
"""The first sequence number a new device uses."""
_SEQ_KEY = "seq_high_water"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    enqueued_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True, slots=True)
class Spooled:
    """A queued report and how often sending it has been tried."""

    report: Report
    enqueued_ms: int
    """Agent clock when it was queued."""
    attempts: int
    """Send attempts so far."""


def open_db(path: Path | None) -> sqlite3.Connection:
    """Open (creating) the agent database; None opens a private in-memory one."""
    try:
        # One owner uses it at a time, not always from the thread that opened it (a devnet's
        # gateway settles from its epoch thread); sqlite3 serialises calls on a connection.
        conn = sqlite3.connect(
            ":memory:" if path is None else str(path), isolation_level=None, check_same_thread=False
        )
        if path is not None:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open agent state {path}: {exc}") from exc
    return conn


class SequenceStore:
    """Hands out strictly increasing sequence numbers that survive restarts."""

    def __init__(self, conn: sqlite3.Connection, block: int = DEFAULT_SEQ_BLOCK) -> None:
        if block < 1:
            raise ValueError("block must be >= 1")
        self._conn = conn
        self._block = block
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (_SEQ_KEY,)).fetchone()
        high = row[0] if row else FIRST_SEQ
        # Never go below a report still in the spool (e.g. a state file restored from backup).
        top = conn.execute("SELECT MAX(seq) FROM spool").fetchone()[0]
        if top is not None:
            high = max(high, top + 1)
        self._next = self._limit = high

    def next(self) -> int:
        """The next unused sequence number (reserving a new block on disk when needed)."""
        if self._next >= self._limit:
            self._limit = self._next + self._block
            self._conn.execute(
                "INSERT INTO meta(key, value) VALUES(?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (_SEQ_KEY, self._limit),
            )
        seq = self._next
        self._next += 1
        return seq

    @property
    def high_water(self) -> int:
        """Numbers below this may have been used; a restart continues from here."""
        return self._limit


class Spool:
    """Durable FIFO (by sequence number) of signed reports waiting for the ingest."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def add(self, reports: Iterable[Report], now_ms: int) -> None:
        """Queue reports (one transaction)."""
        rows = [(r.seq, codec.dumps(r), now_ms) for r in reports]
        with self._tx():
            self._conn.executemany(
                "INSERT INTO spool(seq, body, enqueued_ms) VALUES(?, ?, ?)", rows
            )

    def peek(self, limit: int) -> list[Spooled]:
        """The oldest `limit` queued reports, in sequence order."""
        rows = self._conn.execute(
            "SELECT body, enqueued_ms, attempts FROM spool ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [Spooled(codec.loads(body), enq, att) for body, enq, att in rows]

    def remove(self, seqs: Sequence[int]) -> None:
        """Drop reports that were accepted or definitively rejected."""
        with self._tx():
            self._conn.executemany("DELETE FROM spool WHERE seq = ?", [(s,) for s in seqs])

    def count_attempt(self, seqs: Sequence[int]) -> None:
        """Record one more failed send attempt for these reports."""
        with self._tx():
            self._conn.executemany(
                "UPDATE spool SET attempts = attempts + 1 WHERE seq = ?", [(s,) for s in seqs]
            )

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def _tx(self) -> _Transaction:
        return _Transaction(self._conn)


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
