"""The node's egress evidence: GET orders of ended epochs filed once as "usage" reports of
type "egress" (≤ 64 orders each, one gateway per report), accepted by a real ingest app."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import httpx

from opendepin.agent import IngestSender, ManualClock
from opendepin.identity import DeviceKey
from opendepin.ingest import RegistryMirror, create_app
from opendepin.network.settings import Settings, load_settings
from opendepin.records import DeviceRecord
from opendepin.reports.verify import PayloadRegistry
from opendepin.storage.node.config import LEDGER_FILE, NodeConfig
from opendepin.storage.node.ledger import OrderLedger
from opendepin.storage.node.reporter import EGRESS_ORDERS_PER_REPORT, NodeReporter
from opendepin.storage.node.store import PieceStore
from opendepin.storage.orders import Action, parse_order
from opendepin.store import Store
from opendepin.types import Address, DeviceId

from .conftest import Placer

DAY = 86_400


def usage_payloads() -> PayloadRegistry:
    """The usage kind's validator when it is installed, else the generic path (any payload)."""
    registry = PayloadRegistry()
    try:
        from opendepin.proofs.registry import get_kind

        registry.register("usage", get_kind("usage").validate_payload)
    except Exception:
        registry.register("usage", lambda payload: None)
    return registry


def test_egress_reports_cover_each_get_order_of_ended_epochs_once(tmp_path: Path) -> None:
    settings: Settings = load_settings(None)
    n = settings.network
    clock = ManualClock((n.genesis_unix + 3 * DAY + 3_600) * 1000)  # in epoch 3
    key = DeviceKey.generate()
    node = DeviceId(key.device_id)
    a, b = Placer(settings, node), Placer(settings, node)
    config = NodeConfig(
        directory=tmp_path / "node",
        network_id=n.network_id,
        chain_id=n.chain_id,
        genesis_unix=n.genesis_unix,
        epoch_seconds=n.epoch_seconds,
        placers=frozenset({DeviceId(a.address), DeviceId(b.address)}),
    )
    config.directory.mkdir(parents=True)
    store = PieceStore(config.directory, 1 << 30)
    ledger = OrderLedger(config.directory / LEDGER_FILE)
    piece = secrets.token_bytes(32)
    served = {}
    for i in range(EGRESS_ORDERS_PER_REPORT + 6):
        order = a.order(piece, Action.GET)
        served[order.serial] = ledger.record(order, 1_000 + i, clock.now_ms()).bytes
    order_b = b.order(piece, Action.GET)
    served[order_b.serial] = ledger.record(order_b, 7, clock.now_ms()).bytes
    ledger.record(a.order(piece, Action.PUT), 500, clock.now_ms())  # not egress

    ingest = Store(tmp_path / "ingest")
    records = [DeviceRecord(node, Address("0x" + "11" * 20), "storage", 0, True)]
    app = create_app(
        settings,
        ingest,
        RegistryMirror(records),
        clock=clock.now_ms,
        payload_registry=usage_payloads(),
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    state = tmp_path / "node.db"

    def reporter() -> NodeReporter:
        return NodeReporter(
            config,
            key,
            store,
            sender=IngestSender("http://ingest", client),
            clock=clock,
            state_path=state,
        )

    first = reporter()
    assert first.file_egress() == []  # epoch 3 has not ended
    clock.advance(DAY)  # epoch 4
    reports = first.file_egress()
    assert [r.kind for r in reports] == ["usage"] * 3
    assert all(r.epoch == 4 and r.device == node for r in reports)
    payloads = [r.payload_obj() for r in reports]
    assert sorted(len(p["orders"]) for p in payloads) == [1, 6, EGRESS_ORDERS_PER_REPORT]
    got = {}
    for p in payloads:
        assert p["type"] == "egress" and len(p["bytes"]) == len(p["orders"])
        for obj, nbytes in zip(p["orders"], p["bytes"], strict=True):
            order = parse_order(obj)
            assert order.placer == p["gateway"] and order.action is Action.GET
            assert order.serial not in got
            got[order.serial] = nbytes
    assert got == served

    ledger.record(a.order(piece, Action.GET), 42, clock.now_ms())  # served in epoch 4
    assert first.file_egress() == []  # nothing of epoch 3 twice, epoch 4 not yet
    result = asyncio.run(first.agent.flush())
    assert result.accepted == 3 and result.rejected == ()
    first.close()

    again = reporter()  # a restart remembers how far it filed
    assert again.file_egress() == []
    clock.advance(DAY)  # epoch 5
    (late,) = again.file_egress()
    assert late.payload_obj()["bytes"] == [42]
    again.close()
    ledger.close()
    asyncio.run(client.aclose())
    ingest.close()
