"""The index database: one SQLAlchemy engine and the tables everything else in `store` uses.

SQLite is the default (`sqlite:///<data_dir>/index.db`), opened in WAL mode so readers never
block the single writer, with `synchronous=FULL`: every commit fsyncs the write-ahead log, so a
report batch that ingest answered 2xx for survives a power loss, not only a process crash
(`NORMAL` in WAL mode keeps the database consistent but may lose the last commits). Ingest
commits once per batch, so the one fsync per commit costs little. PostgreSQL is used when a
`postgresql+psycopg://...` URL is configured; it is what several ingest nodes share.

Tables (all created on first open; the schema version is stored in `kv` under
`store.schema_version`):

```
reports      (device, seq) PK · epoch · kind · received_ms · wire     the accepted-report log
             (received_ms: this ingest's clock, for operations; never sealed)
report_conflicts (device, seq, wire_sha256) PK · epoch · kind · received_ms · wire
             other signed versions of a logged (device, seq) learned from peers: equivocation
             evidence (store.conflicts); the `reports` row is never replaced. `epoch` is the
             epoch the row is filed under; a version filed under another epoch than its own
             is keyed by sha256("<epoch>:" ‖ wire) instead (store.conflicts.row_key)
epochs       epoch PK · sealed · sealed_ms · manifest_sha256           which epochs are closed
stage_runs   (epoch, stage) PK · input/output digest · finished_ms · details   the stage ledger
kv           key PK · value                                            small oracle state
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Engine,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url

SCHEMA_VERSION = 1
SCHEMA_VERSION_KEY = "store.schema_version"
"""Bumped when a table changes shape."""

DEVICE_ID_MAX_CHARS = 66
"""Device ids are 42-char checksummed addresses; a little room for other id schemes."""
KIND_MAX_CHARS = 64
STAGE_MAX_CHARS = 64
KV_KEY_MAX_CHARS = 200
SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for the write lock before failing."""

metadata = MetaData()

reports = Table(
    "reports",
    metadata,
    Column("device", String(DEVICE_ID_MAX_CHARS), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("kind", String(KIND_MAX_CHARS), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("wire", LargeBinary, nullable=False),
    PrimaryKeyConstraint("device", "seq", name="reports_pk"),
)
Index("reports_epoch_kind", reports.c.epoch, reports.c.kind)

report_conflicts = Table(
    "report_conflicts",
    metadata,
    Column("device", String(DEVICE_ID_MAX_CHARS), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("wire_sha256", String(64), nullable=False),
    Column("epoch", BigInteger, nullable=False),
    Column("kind", String(KIND_MAX_CHARS), nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Column("wire", LargeBinary, nullable=False),
    PrimaryKeyConstraint("device", "seq", "wire_sha256", name="report_conflicts_pk"),
)
Index("report_conflicts_epoch", report_conflicts.c.epoch)

epochs = Table(
    "epochs",
    metadata,
    Column("epoch", BigInteger, primary_key=True, autoincrement=False),
    Column("sealed", Boolean, nullable=False, default=False),
    Column("sealed_ms", BigInteger, nullable=True),
    Column("manifest_sha256", String(64), nullable=True),
)

stage_runs = Table(
    "stage_runs",
    metadata,
    Column("epoch", BigInteger, nullable=False),
    Column("stage", String(STAGE_MAX_CHARS), nullable=False),
    Column("input_digest", String(128), nullable=False),
    Column("output_digest", String(128), nullable=False),
    Column("finished_ms", BigInteger, nullable=False),
    Column("details", Text, nullable=False),
    PrimaryKeyConstraint("epoch", "stage", name="stage_runs_pk"),
)

kv = Table(
    "kv",
    metadata,
    Column("key", String(KV_KEY_MAX_CHARS), primary_key=True),
    Column("value", Text, nullable=False),
)


def default_database_url(data_dir: Path) -> str:
    """The SQLite URL used when no `database_url` is configured."""
    return f"sqlite:///{(data_dir / 'index.db').resolve()}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for `url` with the SQLite pragmas above, or a pooled PostgreSQL engine."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
