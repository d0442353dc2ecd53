"""The report log: every accepted report, durably, exactly once.

Ingest appends a whole batch of accepted reports in ONE transaction and answers the device
only after that transaction committed. The primary key `(device, seq)` makes a replay
impossible even across restarts and across several ingest processes sharing one database:
a row whose key already exists is not inserted (`ON CONFLICT DO NOTHING ... RETURNING`), and
the caller learns exactly which entries were new. `last_seqs()` recovers the highest accepted
sequence number per device at startup, which seeds ingest's in-memory replay check.

Each row keeps the report's wire bytes (the compact JSON line `reports.codec.dumps` produces),
so sealing writes exactly what the device signed, plus its epoch, kind, device and seq, and
the ingest clock at acceptance (`received_ms`). `received_ms` is for operations only (metrics,
debugging): it is this oracle's own clock, so it never reaches sealed files or verification.

Sealed epochs are closed: an append for a sealed epoch is refused inside the same
transaction that would have written it (`AppendResult.sealed`; ingest reports the reason
`epoch_sealed`). The appender takes a shared lock on the epoch's row in `epochs` and the
sealer an exclusive one (PostgreSQL row locks; SQLite serialises writers anyway), so no
report can slip into an epoch between "sealed" and "files written".

The rows go in with ONE statement per batch, written for each database because the generic
executemany path costs more than the database work itself at ingest rates:

* PostgreSQL: `INSERT ... SELECT ... FROM unnest(...) ON CONFLICT DO NOTHING RETURNING
  device, seq` with six parameters, so the statement text is constant (psycopg prepares it
  once) whatever the batch size. Device ids and kinds travel as text arrays; the integer
  columns and the wire bytes travel as ONE comma-separated string each (wire bytes in
  bytea's `\\x<hex>` input form), split by `string_to_array` on the server: psycopg's
  per-element array adaptation of a `bytea[]` cost ~7 µs per row of client CPU, this ~1 µs.
* SQLite: a multi-row `INSERT ... VALUES (?,?,?,?,?,?),(...) ON CONFLICT DO NOTHING
  RETURNING device, seq`, in chunks of `SQLITE_ROWS_PER_INSERT` rows to stay below SQLite's
  bound-parameter limit (32,766 since 3.32; RETURNING needs 3.35 anyway).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Row, Table, and_, func, or_, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from opendepin.reports import codec
from opendepin.reports.envelope import Report
from opendepin.store import db
from opendepin.types import DeviceId, Epoch, ProofKind


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One accepted report as the log stores it."""

    device: DeviceId
    """Device that signed the report."""
    seq: int
    """The report's per-device sequence number."""
    epoch: Epoch
    """Epoch the report is for (signed by the device)."""
    kind: ProofKind
    """Proof kind of the report."""
    received_ms: int
    """Ingest clock at acceptance, Unix milliseconds (operations only; never sealed)."""
    wire: bytes
    """Compact single-line wire JSON of the signed report."""

    @classmethod
    def of(cls, report: Report, received_ms: int, wire: bytes | None = None) -> LogEntry:
        """Build an entry from a decoded report (wire bytes default to `codec.dumps`)."""
        if wire is None:
            wire = codec.dumps(report).encode("utf-8")
        return cls(
            device=report.device,
            seq=report.seq,
            epoch=report.epoch,
            kind=report.kind,
            received_ms=received_ms,
            wire=wire,
        )

    @classmethod
    def from_row(cls, row: Row[Any]) -> LogEntry:
        """An entry from a row of `reports` or `report_conflicts` (same columns)."""
        return cls(
            device=DeviceId(row.device),
            seq=int(row.seq),
            epoch=Epoch(int(row.epoch)),
            kind=ProofKind(row.kind),
            received_ms=int(row.received_ms),
            wire=bytes(row.wire),
        )


class LogLine(NamedTuple):
    """One logged report as sealing and reconciliation read an epoch: the key that orders it
    and its wire bytes (`ReportLog.epoch_lines`). A plain tuple, not a `LogEntry`: an epoch's
    whole log is read at once, and building 12,000 frozen dataclasses cost more than the
    query itself."""

    kind: ProofKind
    device: DeviceId
    seq: int
    wire: bytes
    """Compact single-line wire JSON of the signed report."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What `ReportLog.append` did with each entry, by index into its argument."""

    inserted: tuple[int, ...] = ()
    """Entries now durably in the log."""
    replayed: tuple[int, ...] = ()
    """Entries whose (device, seq) was already in the log (or earlier in the same batch)."""
    sealed: tuple[int, ...] = ()
    """Entries for an epoch that is already sealed; nothing was written for them."""
    sealed_epochs: frozenset[int] = field(default_factory=frozenset)
    """The sealed epochs that caused `sealed`."""


def _insert_ignore(engine: Engine, table: Table) -> postgresql.Insert | sqlite.Insert:
    if db.is_postgres(engine):
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


_REPORT_COLUMNS = "device, seq, epoch, kind, received_ms, wire"
_PG_INSERT_REPORTS = (
    f"INSERT INTO reports ({_REPORT_COLUMNS}) "
    "SELECT t.device, t.seq, t.epoch, t.kind, t.received_ms, t.wire FROM unnest("
    "%s::varchar[], string_to_array(%s, ',')::bigint[], string_to_array(%s, ',')::bigint[], "
    "%s::varchar[], string_to_array(%s, ',')::bigint[], string_to_array(%s, ',')::bytea[]"
    ") AS t(device, seq, epoch, kind, received_ms, wire) "
    "ON CONFLICT DO NOTHING RETURNING device, seq"
)
SQLITE_ROWS_PER_INSERT = 5_000
"""Rows per SQLite INSERT statement (6 parameters each, below the 32,766 limit)."""
_SQLITE_ROW = "(?,?,?,?,?,?)"
KEYS_PER_LOOKUP = 500
"""(device, seq) pairs per `get_many` query (2 parameters each, far below every limit)."""


def _insert_new_rows(
    conn: Connection, postgres: bool, rows: Sequence[LogEntry]
) -> set[tuple[str, int]]:
    """Insert `rows` (distinct keys), skipping keys already stored; the keys inserted."""
    out: list[Any] = []
    if postgres:
        params = (
            [r.device for r in rows],
            ",".join([str(int(r.seq)) for r in rows]),
            ",".join([str(int(r.epoch)) for r in rows]),
            [r.kind for r in rows],
            ",".join([str(int(r.received_ms)) for r in rows]),
            ",".join(["\\x" + r.wire.hex() for r in rows]),
        )
        out.extend(conn.exec_driver_sql(_PG_INSERT_REPORTS, params).all())
    else:
        for start in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
            chunk = rows[start : start + SQLITE_ROWS_PER_INSERT]
            sql = (
                f"INSERT INTO reports ({_REPORT_COLUMNS}) VALUES "
                + ",".join([_SQLITE_ROW] * len(chunk))
                + " ON CONFLICT DO NOTHING RETURNING device, seq"
            )
            flat: list[Any] = []
            for r in chunk:
                flat += (r.device, r.seq, r.epoch, r.kind, r.received_ms, r.wire)
            out.extend(conn.exec_driver_sql(sql, tuple(flat)).all())
    return {(str(d), int(s)) for d, s in out}


def ensure_epoch_rows(conn: Connection, engine: Engine, epoch_numbers: Sequence[int]) -> None:
    """Make sure `epochs` has a row for each epoch (unsealed if new)."""
    conn.execute(
        _insert_ignore(engine, db.epochs),
        [{"epoch": e, "sealed": False} for e in sorted(set(epoch_numbers))],
    )


class ReportLog:
    """Append-only log of accepted reports in the index database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def append(self, entries: Sequence[LogEntry]) -> AppendResult:
        """Durably append `entries` in one transaction; returns what happened to each.

        On return the transaction has committed: `inserted` entries survive a crash.
        Raises StoreError-free SQLAlchemy errors only for operational failures (the caller
        answers 5xx and the device retries; nothing was written).
        """
        if not entries:
            return AppendResult()
        epoch_numbers = sorted({int(e.epoch) for e in entries})
        with self._engine.begin() as conn:
            ensure_epoch_rows(conn, self._engine, epoch_numbers)
            # Shared lock on the epochs' rows: a concurrent seal (exclusive lock) waits for
            # this transaction, and this one sees a seal that committed first.
            rows = conn.execute(
                select(db.epochs.c.epoch, db.epochs.c.sealed)
                .where(db.epochs.c.epoch.in_(epoch_numbers))
                .order_by(db.epochs.c.epoch)
                .with_for_update(read=True)
            ).all()
            sealed_epochs = frozenset(int(r.epoch) for r in rows if r.sealed)
            sealed: list[int] = []
            replayed: list[int] = []
            candidates: list[int] = []
            seen: set[tuple[str, int]] = set()
            for i, entry in enumerate(entries):
                key = (str(entry.device), entry.seq)
                if entry.epoch in sealed_epochs:
                    sealed.append(i)
                elif key in seen:
                    replayed.append(i)
                else:
                    seen.add(key)
                    candidates.append(i)
            inserted_keys: set[tuple[str, int]] = set()
            if candidates:
                inserted_keys = _insert_new_rows(
                    conn, db.is_postgres(self._engine), [entries[i] for i in candidates]
                )
        inserted: list[int] = []
        for i in candidates:
            key = (str(entries[i].device), entries[i].seq)
            (inserted if key in inserted_keys else replayed).append(i)
        return AppendResult(
            inserted=tuple(inserted),
            replayed=tuple(sorted(replayed)),
            sealed=tuple(sealed),
            sealed_epochs=sealed_epochs,
        )

    def last_seqs(self) -> dict[DeviceId, int]:
        """Highest accepted seq per device (seeds the replay check at startup)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(db.reports.c.device, func.max(db.reports.c.seq)).group_by(
                    db.reports.c.device
                )
            ).all()
        return {DeviceId(str(d)): int(s) for d, s in rows}

    def count(self, epoch: int | None = None, kind: str | None = None) -> int:
        """Number of stored reports, optionally for one epoch and/or kind."""
        stmt = select(func.count()).select_from(db.reports)
        if epoch is not None:
            stmt = stmt.where(db.reports.c.epoch == epoch)
        if kind is not None:
            stmt = stmt.where(db.reports.c.kind == kind)
        with self._engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def kinds(self, epoch: int) -> list[ProofKind]:
        """Proof kinds with at least one report in `epoch`, sorted."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(db.reports.c.kind).where(db.reports.c.epoch == epoch).distinct()
            ).scalars()
            return sorted(ProofKind(str(k)) for k in rows)

    def iter_epoch(
        self,
        epoch: int,
        kind: str,
        batch_rows: int = 5_000,
        *,
        after: tuple[str, int] | None = None,
        limit: int | None = None,
    ) -> Iterator[LogEntry]:
        """Stream one epoch's reports of one kind in (device, seq) order (code-point order),
        optionally only those after the key `after` and at most `limit` of them (paging)."""
        device_col = db.reports.c.device
        order_device = device_col.collate("C") if db.is_postgres(self._engine) else device_col
        stmt = select(db.reports).where(db.reports.c.epoch == epoch, db.reports.c.kind == kind)
        if after is not None:
            device, seq = after
            stmt = stmt.where(or_(order_device > device, and_(device_col == device, db.reports.c.seq > seq)))
        stmt = stmt.order_by(order_device, db.reports.c.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._engine.connect() as conn:
            result = conn.execution_options(yield_per=batch_rows).execute(stmt)
            for row in result:
                yield LogEntry.from_row(row)

    def _ordered(self, column: Any) -> Any:
        """`column` compared by code point (PostgreSQL's default collation is not)."""
        return column.collate("C") if db.is_postgres(self._engine) else column

    def iter_epoch_wire(
        self,
        epoch: int,
        kind: str,
        *,
        after: tuple[str, int] | None = None,
        limit: int | None = None,
    ) -> Iterator[bytes]:
        """The wire bytes of `iter_epoch(epoch, kind, after=..., limit=...)`, in its order,
        without reading or building anything else (report-set exports, agreement batches)."""
        t = db.reports
        device_col = self._ordered(t.c.device)
        stmt = select(t.c.wire).where(t.c.epoch == epoch, t.c.kind == kind)
        if after is not None:
            device, seq = after
            stmt = stmt.where(or_(device_col > device, and_(t.c.device == device, t.c.seq > seq)))
        stmt = stmt.order_by(device_col, t.c.seq)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._engine.connect() as conn:
            for (wire,) in conn.execute(stmt):
                yield bytes(wire)

    def epoch_lines(self, epoch: int) -> list[LogLine]:
        """Every logged report of `epoch` in ONE query, ordered by kind, then (device, seq),
        all by code point: the order of `kinds` + `iter_epoch` per kind, i.e. of the sealed
        files and of `GET /v1/epochs/{epoch}/reports`."""
        t = db.reports
        stmt = (
            select(t.c.kind, t.c.device, t.c.seq, t.c.wire)
            .where(t.c.epoch == epoch)
            .order_by(self._ordered(t.c.kind), self._ordered(t.c.device), t.c.seq)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [LogLine(kind, device, int(seq), bytes(wire)) for kind, device, seq, wire in rows]

    def get(self, device: str, seq: int) -> LogEntry | None:
        """The logged report with key (device, seq), whatever its epoch, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(db.reports).where(db.reports.c.device == device, db.reports.c.seq == seq)
            ).one_or_none()
        if row is None:
            return None
        return LogEntry.from_row(row)

    def get_many(self, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], LogEntry]:
        """The logged reports among `keys` ((device, seq), whatever their epoch), by key."""
        wanted = sorted(set(keys))
        out: dict[tuple[str, int], LogEntry] = {}
        t = db.reports
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), KEYS_PER_LOOKUP):
                chunk = wanted[start : start + KEYS_PER_LOOKUP]
                for row in conn.execute(select(t).where(tuple_(t.c.device, t.c.seq).in_(chunk))):
                    out[(str(row.device), int(row.seq))] = LogEntry.from_row(row)
        return out

    def is_sealed(self, epoch: int) -> bool:
        """True once `seal_epoch(epoch)` has closed the epoch."""
        with self._engine.connect() as conn:
            value = conn.execute(
                select(db.epochs.c.sealed).where(db.epochs.c.epoch == epoch)
            ).scalar_one_or_none()
        return bool(value)

    def sealed_epochs(self) -> set[int]:
        """All sealed epoch numbers."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(db.epochs.c.epoch).where(db.epochs.c.sealed.is_(True))
            ).scalars()
            return {int(e) for e in rows}
