"""Fixtures of the gateway tests: one cluster of eight real nodes per module, a fresh
gateway (own database, own master key) per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..cluster import Cluster
from .harness import GatewayServer


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("nodes"))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def gateway(nodes: Cluster, tmp_path: Path) -> Iterator[GatewayServer]:
    g = GatewayServer(nodes, f"sqlite:///{tmp_path / 'gateway.db'}", tmp_path).start()
    try:
        yield g
    finally:
        g.stop()


@pytest.fixture
def s3(gateway: GatewayServer) -> Any:
    return gateway.client("alice")
