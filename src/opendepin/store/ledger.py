"""The stage ledger: each oracle stage of each epoch runs exactly once.

An oracle epoch is a chain of stages (seal → verify → reward → publish → attest → submit).
Each stage records, in `stage_runs`, the digest of what it consumed and of what it produced.
The rule that makes a crash harmless:

* a stage whose outputs are database rows writes them **in the same transaction** as its
  ledger row (`run_once` hands the stage function that transaction's connection);
* a stage whose outputs are files writes them with `files.atomic_write` (temp, fsync,
  rename) and records the ledger row afterwards; a crash in between re-runs the stage,
  which — being a pure function of its inputs — rewrites the same bytes.

On restart, a stage whose row exists is skipped and its recorded output digest returned.
If two processes race on the same stage, the primary key lets exactly one record win; the
loser's transaction (with its database outputs) rolls back and it returns the winner's row.

A small key/value table (`put`/`get`) holds other oracle state, e.g. submitted tx hashes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from opendepin.store import db
from opendepin.types import Epoch


def wall_clock_ms() -> int:
    """Unix time in milliseconds (ledger bookkeeping only; never an input to a stage)."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class StageRecord:
    """The ledger row of a finished stage."""

    epoch: Epoch
    """Epoch the stage ran for."""
    stage: str
    """Stage name, e.g. "verify"."""
    input_digest: str
    """Digest of what the stage consumed (e.g. the input manifest's sha256)."""
    output_digest: str
    """Digest of what it produced."""
    finished_ms: int
    """Wall clock when it was recorded (bookkeeping, not an output)."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Stage-defined JSON details (counts, file names, tx hashes)."""


@dataclass(frozen=True, slots=True)
class StageOutput:
    """What a stage function returns to `run_once`."""

    input_digest: str
    output_digest: str
    details: Mapping[str, Any] = field(default_factory=dict)


class StageLedger:
    """Exactly-once bookkeeping of oracle stages, plus a small key/value store."""

    def __init__(self, engine: Engine, clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self._engine = engine
        self._clock_ms = clock_ms

    @property
    def engine(self) -> Engine:
        return self._engine

    def done(self, epoch: int, stage: str, *, conn: Connection | None = None) -> StageRecord | None:
        """The stage's record if it already ran for `epoch`, else None."""
        stmt = select(db.stage_runs).where(
            db.stage_runs.c.epoch == epoch, db.stage_runs.c.stage == stage
        )
        if conn is not None:
            row = conn.execute(stmt).one_or_none()
        else:
            with self._engine.connect() as own:
                row = own.execute(stmt).one_or_none()
        if row is None:
            return None
        return StageRecord(
            epoch=Epoch(int(row.epoch)),
            stage=str(row.stage),
            input_digest=str(row.input_digest),
            output_digest=str(row.output_digest),
            finished_ms=int(row.finished_ms),
            details=json.loads(row.details),
        )

    def record(
        self,
        epoch: int,
        stage: str,
        input_digest: str,
        output_digest: str,
        details: Mapping[str, Any] | None = None,
        *,
        conn: Connection | None = None,
    ) -> StageRecord:
        """Record a finished stage; pass `conn` to commit it with the stage's own writes.

        Raises sqlalchemy IntegrityError if the stage was already recorded (use `run_once`
        to get skip-if-done semantics).
        """
        rec = StageRecord(
            epoch=Epoch(epoch),
            stage=stage,
            input_digest=input_digest,
            output_digest=output_digest,
            finished_ms=self._clock_ms(),
            details=dict(details or {}),
        )
        values = {
            "epoch": epoch,
            "stage": stage,
            "input_digest": input_digest,
            "output_digest": output_digest,
            "finished_ms": rec.finished_ms,
            "details": json.dumps(rec.details, sort_keys=True),
        }
        if conn is not None:
            conn.execute(db.stage_runs.insert().values(**values))
        else:
            with self._engine.begin() as own:
                own.execute(db.stage_runs.insert().values(**values))
        return rec

    def run_once(
        self, epoch: int, stage: str, fn: Callable[[Connection], StageOutput]
    ) -> StageRecord:
        """Run `fn` for (epoch, stage) unless it already ran; returns the ledger record.

        `fn` receives the open transaction: database outputs it writes through that
        connection commit atomically with the ledger row (or not at all). File outputs must be
        written with `atomic_write` inside `fn`. If another process recorded the stage
        meanwhile, this run's transaction is rolled back and the other record is returned.
        """
        existing = self.done(epoch, stage)
        if existing is not None:
            return existing
        try:
            with self._engine.begin() as conn:
                out = fn(conn)
                return self.record(
                    epoch, stage, out.input_digest, out.output_digest, out.details, conn=conn
                )
        except IntegrityError:
            winner = self.done(epoch, stage)
            if winner is None:
                raise
            return winner

    def forget(self, epoch: int, stages: Iterable[str]) -> int:
        """Delete the rows of `stages` for `epoch` so they run again (recovery only: an oracle
        replacing a sealed set the others did not agree on); returns how many were deleted."""
        names = list(stages)
        with self._engine.begin() as conn:
            result = conn.execute(
                delete(db.stage_runs).where(db.stage_runs.c.epoch == epoch, db.stage_runs.c.stage.in_(names))
            )
        return int(result.rowcount or 0)

    def stages(self, epoch: int) -> list[StageRecord]:
        """All recorded stages of `epoch`, by finishing time then name."""
        with self._engine.connect() as conn:
            names = conn.execute(
                select(db.stage_runs.c.stage).where(db.stage_runs.c.epoch == epoch)
            ).scalars().all()
        records = [r for r in (self.done(epoch, str(n)) for n in names) if r is not None]
        return sorted(records, key=lambda r: (r.finished_ms, r.stage))

    def put(self, key: str, value: str, *, conn: Connection | None = None) -> None:
        """Set `key` to `value` (insert or overwrite)."""
        table = db.kv
        if db.is_postgres(self._engine):
            stmt: Any = postgresql.insert(table).values(key=key, value=value)
        else:
            stmt = sqlite.insert(table).values(key=key, value=value)
        stmt = stmt.on_conflict_do_update(index_elements=[table.c.key], set_={"value": value})
        if conn is not None:
            conn.execute(stmt)
        else:
            with self._engine.begin() as own:
                own.execute(stmt)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value stored under `key`, or `default`."""
        with self._engine.connect() as conn:
            value = conn.execute(select(db.kv.c.value).where(db.kv.c.key == key)).scalar_one_or_none()
        return default if value is None else str(value)
