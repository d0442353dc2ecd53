"""Fixtures shared by the whole suite.

`database_url` / `store` run a test once on SQLite and once on the PostgreSQL server at
127.0.0.1:5432 (each in its own fresh schema, dropped afterwards). PostgreSQL tests fail,
never skip, when the server is unreachable.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from opendepin.store import Store
from opendepin.store.testing import BACKENDS, temporary_database_url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with temporary_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "data", database_url)
    try:
        yield s
    finally:
        s.close()
