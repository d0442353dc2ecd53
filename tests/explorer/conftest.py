"""A small demo network, run once per session, and an explorer client over its files.

Two epochs, 10 heartbeat and 8 coverage devices (8 is the least that includes the coverage
cheats: location spoofers and a witness ring), three oracles: the files of `depin demo --dir`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

import opendepin as od
from opendepin.explorer import explorer_app

from .helpers import EPOCHS, Demo


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    root = tmp_path_factory.mktemp("explorer-demo")
    summary = od.run_demo(kinds={"heartbeat": 10, "coverage": 8}, epochs=EPOCHS, data_dir=root)
    return Demo(root, summary)


@pytest.fixture(scope="session")
def client(demo: Demo) -> Iterator[TestClient]:
    with TestClient(explorer_app(demo.root)) as c:
        yield c
