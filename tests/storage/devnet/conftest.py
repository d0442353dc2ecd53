"""One devnet subprocess (eight nodes) per module; each test uses its own bucket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import DevnetProcess


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevnetProcess]:
    d = DevnetProcess(tmp_path_factory.mktemp("devnet") / "d").start()
    try:
        yield d
    finally:
        status = d.stop()
        assert status == 0, d.errors()


@pytest.fixture
def bucket(devnet: DevnetProcess, request: pytest.FixtureRequest) -> str:
    suffix = request.node.name.replace("_", "-")[:30].lower().strip("-")
    name = devnet.credentials["bucket_prefix"] + suffix
    devnet.client().create_bucket(Bucket=name)
    return name
