"""Conflicting report versions: the stored half of equivocation evidence.

The report log keeps exactly one report per (device, seq) — its primary key is what makes
replays impossible, and it is never relaxed. A device that signs two *different* reports
with the same (device, seq) and sends one to oracle A and the other to oracle B has
equivocated; reconciliation (`oracle.sync`) finds out when a peer serves a version whose
signed content differs from the logged one. That other version is kept here, in
`report_conflicts`, keyed by (device, seq, sha256 of its wire bytes), never in `reports`:

```
reports           (device, seq)                 the version this oracle accepted first (unchanged)
report_conflicts  (device, seq, wire_sha256)    every other valid version it learned of
```

The store does not judge signatures: the caller (`oracle.sync.reconcile`) records only
versions it checked (valid signature by the device, other bytes than the logged one). A
version with the same EIP-712 digest as the logged one (the same statement, signed again)
is kept too: sealing then seals the smallest encoding, so every oracle seals the same bytes. Sealing reads
this table to exclude the equivocating devices and to write the evidence file
(`store.sealing`), and `GET /v1/epochs/{e}/conflicts` serves it so that peers learn of
versions they never received themselves.

Like the report log, a sealed epoch is closed: conflicts for it are refused inside the same
transaction (shared lock on the epoch's row), so re-sealing after a crash writes the same
evidence bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select

from opendepin.store import db
from opendepin.store.reportlog import LogEntry, _insert_ignore, ensure_epoch_rows
from opendepin.types import DeviceId, Epoch, ProofKind


@dataclass(frozen=True, slots=True)
class ConflictAddResult:
    """What `ConflictLog.add` did."""

    inserted: int = 0
    """Versions new to the table."""
    sealed: int = 0
    """Versions refused because their epoch is already sealed."""


def wire_sha256(wire: bytes) -> str:
    """Hex sha256 of a version's wire bytes (its key next to (device, seq))."""
    return hashlib.sha256(wire).hexdigest()


class ConflictLog:
    """Other signed versions of logged (device, seq) keys, per epoch."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, entries: Sequence[LogEntry]) -> ConflictAddResult:
        """Durably record `entries` (checked conflicting versions) in one transaction.

        A version already recorded is ignored; versions of a sealed epoch are refused.
        """
        if not entries:
            return ConflictAddResult()
        epoch_numbers = sorted({int(e.epoch) for e in entries})
        with self._engine.begin() as conn:
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
                stmt = _insert_ignore(self._engine, db.report_conflicts).returning(
                    db.report_conflicts.c.device
                )
                for e in fresh:
                    result = conn.execute(
                        stmt,
                        {
                            "device": e.device,
                            "seq": e.seq,
                            "wire_sha256": wire_sha256(e.wire),
                            "epoch": e.epoch,
                            "kind": e.kind,
                            "received_ms": e.received_ms,
                            "wire": e.wire,
                        },
                    )
                    inserted += len(result.all())
        return ConflictAddResult(inserted=inserted, sealed=len(entries) - len(fresh))

    def iter_epoch(self, epoch: int) -> Iterator[LogEntry]:
        """The epoch's recorded versions by (device, seq, wire sha256), code-point order."""
        t = db.report_conflicts
        device = t.c.device.collate("C") if db.is_postgres(self._engine) else t.c.device
        stmt = select(t).where(t.c.epoch == epoch).order_by(device, t.c.seq, t.c.wire_sha256)
        with self._engine.connect() as conn:
            for row in conn.execute(stmt):
                yield LogEntry(
                    device=DeviceId(row.device),
                    seq=int(row.seq),
                    epoch=Epoch(int(row.epoch)),
                    kind=ProofKind(row.kind),
                    received_ms=int(row.received_ms),
                    wire=bytes(row.wire),
                )

    def count(self, epoch: int) -> int:
        """Recorded versions for `epoch`."""
        return sum(1 for _ in self.iter_epoch(epoch))
