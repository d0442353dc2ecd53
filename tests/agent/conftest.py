"""A tiny but real ingest edge for agent tests, until/besides the ingest package.

`EdgeIngest` is a FastAPI app speaking the ingest's wire contract: `POST /v1/reports` with
`{"reports": [...]}`, answering one `{index, device, seq, status, reason, message}` per
report. It really decodes (`codec.from_json`), checks network/chain, signatures
(`check_signatures`) and replays (`SequenceTracker`), and can be switched to answer 503
(`online = False`) or 413 for batches above `max_batch`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from opendepin.agent import AgentConfig, Backoff, DeviceAgent, IngestSender, ManualClock
from opendepin.errors import InvalidReport
from opendepin.identity import DeviceKey
from opendepin.network.settings import load_settings
from opendepin.reports import codec
from opendepin.reports.envelope import Report
from opendepin.reports.verify import SequenceTracker, check_network, check_signatures

INGEST_URL = "http://ingest.test"


class EdgeIngest:
    def __init__(self, network_id: str, chain_id: int) -> None:
        self.online = True
        self.max_batch = 10_000
        self.stored: list[Report] = []
        self.requests = 0
        self.tracker = SequenceTracker()
        self.app = FastAPI()

        @self.app.post("/v1/reports")
        async def post(request: Request) -> JSONResponse:
            self.requests += 1
            if not self.online:
                return JSONResponse({"title": "unavailable"}, status_code=503)
            items = (await request.json())["reports"]
            if len(items) > self.max_batch:
                return JSONResponse({"title": "too many", "status": 413}, status_code=413)
            results: list[dict[str, Any]] = []
            decoded: list[tuple[int, Report]] = []
            for i, item in enumerate(items):
                try:
                    r = codec.from_json(item)
                except InvalidReport as exc:
                    results.append({"index": i, "status": "rejected", "reason": exc.code})
                    continue
                bad = check_network(r, network_id, chain_id)
                if bad is not None:
                    results.append(_rej(i, r, bad.reason, bad.message))
                    continue
                decoded.append((i, r))
            sig = check_signatures([r for _, r in decoded])
            for (i, r), bad in zip(decoded, sig, strict=True):
                bad = bad or self.tracker.check_and_advance(r)
                if bad is not None:
                    results.append(_rej(i, r, bad.reason, bad.message))
                else:
                    self.stored.append(r)
                    results.append(
                        {
                            "index": i,
                            "device": r.device,
                            "seq": r.seq,
                            "status": "accepted",
                            "reason": None,
                            "message": "",
                        }
                    )
            return JSONResponse({"results": sorted(results, key=lambda x: x["index"])})


def _rej(i: int, r: Report, reason: str, message: str) -> dict[str, Any]:
    return {
        "index": i,
        "device": r.device,
        "seq": r.seq,
        "status": "rejected",
        "reason": str(reason),
        "message": message,
    }


@pytest.fixture
def config() -> AgentConfig:
    """A heartbeat device of the default network, for the signing, spooling and sending tests.

    These devices have no chain to read the liveness challenge from, so the config names no
    entropy window (each beat would otherwise try `rpc_url` first, fail and beat without a
    challenge); `test_heartbeat_device.py` runs the challenge against a chain.
    """
    s = load_settings(None)
    return AgentConfig.from_settings(
        s, kind="heartbeat", key_type="secp256k1", entropy_window_seconds=None
    ).with_updates(ingest_url=INGEST_URL, lat_e7=473_769_000, lon_e7=85_417_000)


@pytest.fixture
def edge(config: AgentConfig) -> EdgeIngest:
    return EdgeIngest(config.network_id, config.chain_id)


@pytest.fixture
def clock(config: AgentConfig) -> ManualClock:
    return ManualClock((config.genesis_unix + 5 * config.epoch_seconds) * 1000)


@pytest.fixture
def key() -> DeviceKey:
    return DeviceKey.generate()


def client_for(edge: EdgeIngest) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=edge.app), base_url=INGEST_URL)


def make_agent(
    key: DeviceKey,
    config: AgentConfig,
    clock: ManualClock,
    *,
    edge: EdgeIngest | None = None,
    url: str = INGEST_URL,
    state: Path | None = None,
    **kw: Any,
) -> DeviceAgent:
    client = client_for(edge) if edge is not None else httpx.AsyncClient()
    return DeviceAgent(
        key, config, sender=IngestSender(url, client), state_path=state, clock=clock,
        backoff=kw.pop("backoff", Backoff(jitter=0.0)), **kw,
    )  # fmt: skip
