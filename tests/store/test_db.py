"""Index database setup: SQLite pragmas and the default URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from opendepin.network.settings import StoreSection
from opendepin.store import Store
from opendepin.store.db import SCHEMA_VERSION, SCHEMA_VERSION_KEY

SQLITE_SYNCHRONOUS_FULL = 2


def test_open_default_uses_sqlite_wal_with_full_sync(tmp_path: Path) -> None:
    with Store.open(StoreSection(data_dir=tmp_path / "data")) as store:
        assert store.database_url.endswith("/data/index.db")
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == SQLITE_SYNCHRONOUS_FULL
        assert (tmp_path / "data" / "index.db").is_file()


def test_open_records_schema_version(store: Store) -> None:
    assert store.ledger.get(SCHEMA_VERSION_KEY) == str(SCHEMA_VERSION)
