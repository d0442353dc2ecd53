"""The agent against the real ingest app (opendepin.ingest) over httpx.ASGITransport."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from opendepin.agent import AgentConfig, DeviceAgent, IngestSender, ManualClock
from opendepin.identity import DeviceKey
from opendepin.ingest import RegistryMirror, create_app
from opendepin.network.settings import load_settings
from opendepin.proofs.heartbeat import validate_payload
from opendepin.records import DeviceRecord
from opendepin.reports.verify import PayloadRegistry
from opendepin.store import Store
from opendepin.types import Address


def test_agent_delivers_to_real_ingest_and_drops_definitive_rejections(tmp_path: Path) -> None:
    settings = load_settings(None)
    cfg = AgentConfig.from_settings(settings, kind="heartbeat", key_type="secp256k1")
    clock = ManualClock((cfg.genesis_unix + 3 * cfg.epoch_seconds) * 1000)
    key = DeviceKey.generate()
    mirror = RegistryMirror(
        [DeviceRecord(key.device_id, Address("0x" + "11" * 20), "heartbeat", 0, True)]
    )
    payloads = PayloadRegistry()
    payloads.register("heartbeat", validate_payload)
    store = Store(tmp_path / "data")
    app = create_app(settings, store, mirror, clock=clock.now_ms, payload_registry=payloads)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    agent = DeviceAgent(key, cfg, sender=IngestSender("http://ingest", client), clock=clock)
    good = [agent.beat({"lat_e7": 473_769_000, "lon_e7": 85_417_000}) for _ in range(3)]
    bad = agent.beat({"lat_e7": 1})  # malformed heartbeat payload: a definitive rejection
    result = asyncio.run(agent.flush())
    assert result.accepted == len(good) and agent.pending == 0
    assert [(r.seq, r.reason) for r in result.rejected] == [(bad.seq, "malformed_payload")]
    store.close()
