"""The store: report log, sealed epoch inputs, index database and stage ledger.

```
ingest ──append(batch)──▶ ReportLog (reports table, unique (device, seq))
reconcile ──add──▶ ConflictLog (report_conflicts: other signed versions of a logged key)
                              │ seal_epoch(epoch)  (equivocating devices excluded, evidence written)
                              ▼
      <data_dir>/epochs/<epoch>/inputs/<kind>_v1.<sha>.jsonl + inputs.json
                              │ read_sealed(epoch)
                              ▼
                 oracle stages ──run_once/record──▶ StageLedger (stage_runs, kv)
```

`Store` bundles one database engine with the data directory; open it with
`Store.open(settings.store)` (SQLite WAL at `<data_dir>/index.db` unless `database_url`
names another database, e.g. `postgresql+psycopg://postgres@127.0.0.1:5432/test`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine

from opendepin.network.settings import StoreSection
from opendepin.records import IngestedReport
from opendepin.store import db
from opendepin.store.conflicts import ConflictAddResult, ConflictLog
from opendepin.store.files import atomic_write
from opendepin.store.ledger import StageLedger, StageOutput, StageRecord, wall_clock_ms
from opendepin.store.reportlog import AppendResult, LogEntry, LogLine, ReportLog
from opendepin.store.sealing import (
    Equivocation,
    EvidenceFile,
    InputManifest,
    Sealed,
    SealedFile,
    epoch_dir,
    inputs_dir,
    read_equivocations,
    read_input_manifest,
    read_sealed_reports,
    reopen_epoch,
    seal,
    seal_epoch,
)
from opendepin.types import ProofKind

__all__ = [
    "AppendResult",
    "ConflictAddResult",
    "ConflictLog",
    "Equivocation",
    "EvidenceFile",
    "InputManifest",
    "LogEntry",
    "LogLine",
    "ReportLog",
    "Sealed",
    "SealedFile",
    "StageLedger",
    "StageOutput",
    "StageRecord",
    "Store",
    "atomic_write",
    "epoch_dir",
    "inputs_dir",
    "read_equivocations",
    "read_input_manifest",
    "read_sealed_reports",
]


class Store:
    """One index database plus the data directory of sealed and published epoch files."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url or db.default_database_url(self.data_dir)
        self.engine: Engine = db.make_engine(self.database_url)
        db.metadata.create_all(self.engine)
        self._clock_ms = clock_ms
        self.reports = ReportLog(self.engine)
        self.conflicts = ConflictLog(self.engine)
        self.ledger = StageLedger(self.engine, clock_ms)
        if self.ledger.get(db.SCHEMA_VERSION_KEY) is None:
            self.ledger.put(db.SCHEMA_VERSION_KEY, str(db.SCHEMA_VERSION))

    @classmethod
    def open(cls, section: StoreSection, clock_ms: Callable[[], int] = wall_clock_ms) -> Store:
        """Open the store a `[store]` settings section describes."""
        return cls(section.data_dir, section.database_url, clock_ms)

    def seal_epoch(
        self, epoch: int, allowed: AbstractSet[str] | None = None, *, reseal: bool = False
    ) -> InputManifest:
        """Close `epoch` and write its content-addressed input files (idempotent).

        `allowed` (sha256 hex of wire lines) restricts the epoch's versions to an agreed set;
        `reseal` replaces an earlier seal (recovery from a losing set, `oracle.recovery`)."""
        return seal_epoch(self.engine, self.data_dir, epoch, self._clock_ms, allowed, reseal=reseal)

    def seal(
        self,
        epoch: int,
        allowed: AbstractSet[str] | None = None,
        *,
        reseal: bool = False,
        logged: Sequence[LogLine] | None = None,
    ) -> Sealed:
        """`seal_epoch`, also returning the log it sealed from; `logged` is the caller's
        earlier `reports.epoch_lines(epoch)`, reused if nothing joined the epoch since
        (`store.sealing.seal`)."""
        return seal(
            self.engine, self.data_dir, epoch, self._clock_ms, allowed, reseal=reseal, logged=logged
        )

    def reopen(self, epoch: int) -> None:
        """Let a sealed epoch take the imports of a re-seal (recovery only, `oracle.recovery`)."""
        reopen_epoch(self.engine, epoch)

    def epoch_dir(self, epoch: int) -> Path:
        return epoch_dir(self.data_dir, epoch)

    def inputs_dir(self, epoch: int) -> Path:
        return inputs_dir(self.data_dir, epoch)

    def input_manifest(self, epoch: int) -> InputManifest:
        """The sealed epoch's `inputs.json` (StoreError if not sealed)."""
        return read_input_manifest(self.inputs_dir(epoch))

    def read_sealed(
        self, epoch: int, kinds: set[str] | None = None
    ) -> dict[ProofKind, list[IngestedReport]]:
        """Sealed reports of `epoch` per kind, checked against the manifest's digests."""
        return read_sealed_reports(self.inputs_dir(epoch), kinds)

    def close(self) -> None:
        """Release database connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
