"""Fixtures of the placer tests: a cluster of eight real storage nodes (see cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "nodes")
    try:
        yield c
    finally:
        c.close()
