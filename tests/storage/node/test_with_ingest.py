"""A node process files its placement and removal reports with a real ingest server."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from opendepin.ingest import RegistryMirror, create_app
from opendepin.ingest.pipeline import payload_registry
from opendepin.ingest.server import IngestServer
from opendepin.network.settings import Settings
from opendepin.proofs.registry import get_kind
from opendepin.records import DeviceRecord
from opendepin.storage.orders import Action
from opendepin.store import Store
from opendepin.types import Address

from .conftest import NodeProcess, Placer, new_piece_id
from .test_node_process import put

StartNode = Callable[..., NodeProcess]


def wait_for(check: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_placement_and_removal_reports_reach_the_ingest(
    tmp_path: Path, settings: Settings, placer: Placer, start_node: StartNode
) -> None:
    mirror = RegistryMirror(
        [DeviceRecord(placer.node, Address("0x" + "22" * 20), "storage", 0, True)]
    )
    store = Store(tmp_path / "ingest")
    app = create_app(
        settings, store, mirror, payload_registry=payload_registry({"storage": get_kind("storage")})
    )
    with IngestServer(app) as ingest:
        node = start_node("--ingest", ingest.url)
        piece = new_piece_id()
        assert put(node, placer, piece, os.urandom(3000)).status_code == 201
        meta = node.directory / "pieces" / piece.hex()[:2] / f"{piece.hex()}.json"

        def state() -> str | None:
            report = json.loads(meta.read_text()).get("report")
            return None if report is None else str(report["state"])

        assert wait_for(lambda: state() == "accepted"), node.log()
        r = httpx.delete(
            f"{node.url}/v1/pieces/{piece.hex()}", headers=placer.headers(piece, Action.DELETE)
        )
        assert r.status_code == 200
        # the placement, then the removal: each delivered and accepted by the ingest
        assert wait_for(lambda: node.log().count("reports: 1 accepted") == 2), node.log()
        assert node.terminate() == 0
    store.close()
