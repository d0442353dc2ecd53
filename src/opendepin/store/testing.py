"""Throw-away databases for tests: a fresh SQLite file or a fresh PostgreSQL schema.

Tests of anything that uses the store run on both backends. `temporary_database_url`
yields a URL for a database nobody else uses: for SQLite a file under the given directory,
for PostgreSQL a newly created schema (selected through the connection's `search_path`)
that is dropped afterwards, so parallel test runs never collide. The PostgreSQL server is
taken from `DEPIN_TEST_POSTGRES_URL` (default: the development server at 127.0.0.1:5432);
if it is unreachable the context manager raises — PostgreSQL tests fail, they do not skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_TEST_URL_ENV = "DEPIN_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_TEST_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS: tuple[Literal["sqlite", "postgresql"], ...] = ("sqlite", "postgresql")


def postgres_test_url() -> str:
    """The PostgreSQL server tests use."""
    return os.environ.get(POSTGRES_TEST_URL_ENV, DEFAULT_POSTGRES_TEST_URL)


@contextmanager
def temporary_database_url(
    backend: Literal["sqlite", "postgresql"], directory: Path
) -> Iterator[str]:
    """Yield the URL of an empty database on `backend`; PostgreSQL schemas are dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{(directory / f'index-{uuid.uuid4().hex[:8]}.db').resolve()}"
        return
    base = postgres_test_url()
    schema = f"t_{uuid.uuid4().hex}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()
