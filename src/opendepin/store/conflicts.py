"""Conflicting report versions: the stored half of equivocation evidence.

The report log keeps exactly one report per (device, seq) — its primary key is what makes
replays impossible, and it is never relaxed. A device that signs two *different* reports
with the same (device, seq) and sends one to oracle A and the other to oracle B has
equivocated; reconciliation (`oracle.sync`) finds out when a peer serves a version whose
signed content differs from the logged one. That other version is kept here, in
`report_conflicts`, never in `reports`, FILED under the epoch whose reconciliation it
serves:

```
reports           (device, seq)                 the version this oracle accepted first (unchanged)
report_conflicts  (device, seq, wire_sha256)    every other valid version it learned of, with
                                                `epoch` = the epoch it is filed under
```

A version is usually filed under its own epoch, and its row key is the sha256 of its wire
bytes. The two versions can also name different epochs (seq s signed for epoch e and again
for e+1); the later epoch's evidence then needs the earlier version, and one version may be
filed under two epochs. A row filed under an epoch other than the version's own is keyed by
the sha256 of `b"<filed epoch>:" + wire` instead (`row_key`), so both filings fit the
primary key; rows from before cross-epoch evidence are all own-epoch rows, keys unchanged.

What counts for epoch X (`store.sealing.known_versions`) is the logged row of each key plus
the rows FILED under X — nothing else. `file_known(X)` files under X what this oracle already
knows from other filings: for every key with a version of epoch X (logged at X, or filed
under X) every known version of an epoch at or before X. `relevant(X)` is that set plus the
rows already filed (what `GET /v1/epochs/{e}/conflicts` serves).

The store does not judge signatures: the caller (`oracle.sync.reconcile`) records only
versions it checked (valid signature by the device, other bytes than the logged one). A
version with the same EIP-712 digest as the logged one (the same statement, signed again)
is kept too: sealing then seals the smallest encoding, so every oracle seals the same bytes. Sealing reads
this table to exclude the equivocating devices and to write the evidence file
(`store.sealing`), and `GET /v1/epochs/{e}/conflicts` serves it so that peers learn of
versions they never received themselves.

Like the report log, a sealed epoch is closed: rows filed under it are refused inside the same
transaction (shared lock on the epoch's row), so re-sealing after a crash writes the same
evidence bytes. Versions learned later still count for the epochs they are filed under.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, select

from opendepin.canonical import sha256_hex
from opendepin.errors import InvalidReport, StoreError
from opendepin.reports import codec
from opendepin.store import db
from opendepin.store.reportlog import LogEntry, _insert_ignore, ensure_epoch_rows
from opendepin.types import Epoch


@dataclass(frozen=True, slots=True)
class ConflictAddResult:
    """What `ConflictLog.add` did."""

    inserted: int = 0
    """Versions new to the table."""
    sealed: int = 0
    """Versions refused because their epoch is already sealed."""


def wire_sha256(wire: bytes) -> str:
    """Hex sha256 of a version's wire bytes (its key next to (device, seq))."""
    return sha256_hex(wire)


def own_epoch(wire: bytes) -> int:
    """The epoch a version's device signed (StoreError if the bytes are not a report)."""
    try:
        return int(codec.loads(wire).epoch)
    except (InvalidReport, ValueError) as exc:
        raise StoreError(f"a recorded version is not a report: {exc}") from exc


def row_key(wire: bytes, filed_epoch: int) -> str:
    """The row's key next to (device, seq): sha256 of the wire bytes, domain-separated by
    the filed epoch when that is not the version's own epoch."""
    if own_epoch(wire) == filed_epoch:
        return wire_sha256(wire)
    return wire_sha256(f"{filed_epoch}:".encode() + wire)


class ConflictLog:
    """Other signed versions of logged (device, seq) keys, filed per epoch."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, entries: Sequence[LogEntry]) -> ConflictAddResult:
        """Durably record `entries` (checked conflicting versions) in one transaction.

        Each entry is filed under its `epoch` (normally the version's own epoch; an earlier
        version that is evidence for a later epoch is filed under that later one). A
        version already filed there is ignored; entries filed under a sealed epoch are refused.
        """
        if not entries:
            return ConflictAddResult()
        with self._engine.begin() as conn:
            return self._add(conn, entries)

    def _add(self, conn: Connection, entries: Sequence[LogEntry]) -> ConflictAddResult:
        epoch_numbers = sorted({int(e.epoch) for e in entries})
        ensure_epoch_rows(conn, self._engine, epoch_numbers)
        rows = conn.execute(
            select(db.epochs.c.epoch, db.epochs.c.sealed)
            .where(db.epochs.c.epoch.in_(epoch_numbers))
            .order_by(db.epochs.c.epoch)
            .with_for_update(read=True)
        ).all()
        sealed_epochs = {int(r.epoch) for r in rows if r.sealed}
        fresh = [e for e in entries if int(e.epoch) not in sealed_epochs]
        inserted = 0
        if fresh:
            stmt = _insert_ignore(self._engine, db.report_conflicts).returning(db.report_conflicts.c.device)
            for e in fresh:
                result = conn.execute(
                    stmt,
                    {
                        "device": e.device,
                        "seq": e.seq,
                        "wire_sha256": row_key(e.wire, int(e.epoch)),
                        "epoch": e.epoch,
                        "kind": e.kind,
                        "received_ms": e.received_ms,
                        "wire": e.wire,
                    },
                )
                inserted += len(result.all())
        return ConflictAddResult(inserted=inserted, sealed=len(entries) - len(fresh))

    def iter_epoch(self, epoch: int) -> Iterator[LogEntry]:
        """The versions filed under `epoch` by (device, seq, row key), code-point order.

        `LogEntry.epoch` is the filed epoch; the version's own epoch is in its wire bytes.
        """
        t = db.report_conflicts
        device = t.c.device.collate("C") if db.is_postgres(self._engine) else t.c.device
        stmt = select(t).where(t.c.epoch == epoch).order_by(device, t.c.seq, t.c.wire_sha256)
        with self._engine.connect() as conn:
            for row in conn.execute(stmt):
                yield LogEntry.from_row(row)

    def relevant(self, epoch: int) -> list[LogEntry]:
        """Every version this oracle knows that counts for `epoch`, except its logged epoch
        rows: the rows filed under it, plus, for each key with a version of `epoch` (logged
        at `epoch` or filed under it), every other known version of an epoch at or before
        it, whatever it is filed under. Filed under `epoch`, sorted by (device, seq, wire).
        """
        t, r = db.report_conflicts, db.reports
        with self._engine.connect() as conn:
            filed = [LogEntry.from_row(row) for row in conn.execute(select(t).where(t.c.epoch == epoch))]
            keys = {(str(e.device), e.seq) for e in filed}
            keys |= {
                (str(d), int(s))
                for d, s in conn.execute(
                    select(r.c.device, r.c.seq)
                    .join(t, (t.c.device == r.c.device) & (t.c.seq == r.c.seq))
                    .where(r.c.epoch == epoch)
                    .distinct()
                ).all()
            }
            out: dict[tuple[str, int, bytes], LogEntry] = {
                (str(e.device), e.seq, e.wire): e for e in filed
            }
            for device, seq in sorted(keys):
                logged = conn.execute(
                    select(r).where(r.c.device == device, r.c.seq == seq)
                ).one_or_none()
                known = [LogEntry.from_row(row) for row in conn.execute(select(t).where(t.c.device == device, t.c.seq == seq))]
                if logged is not None and int(logged.epoch) != epoch:
                    known.append(LogEntry.from_row(logged))
                for e in known:
                    if own_epoch(e.wire) <= epoch:
                        out.setdefault((device, seq, e.wire), replace(e, epoch=Epoch(epoch)))
        return [out[k] for k in sorted(out)]

    def file_known(self, epoch: int, received_ms: int) -> ConflictAddResult:
        """File under `epoch` every `relevant(epoch)` version not filed there yet (see module doc)."""
        with self._engine.begin() as conn:
            filed = {
                (str(d), int(s), bytes(w))
                for d, s, w in conn.execute(
                    select(db.report_conflicts.c.device, db.report_conflicts.c.seq, db.report_conflicts.c.wire)
                    .where(db.report_conflicts.c.epoch == epoch)
                ).all()
            }
        missing = [
            replace(e, received_ms=received_ms)
            for e in self.relevant(epoch)
            if (str(e.device), e.seq, e.wire) not in filed
        ]
        return self.add(missing)

    def count(self, epoch: int) -> int:
        """Versions filed under `epoch`."""
        return sum(1 for _ in self.iter_epoch(epoch))
