"""The in-process server: uvicorn on a free port, real HTTP over loopback."""

from __future__ import annotations

import httpx

from opendepin.ingest import IngestServer, create_app
from opendepin.store import Store

from .support import NOW_MS, Devices, make_settings, sign, wire


def test_ingest_server_accepts_reports_over_http(store: Store, devices: Devices) -> None:
    app = create_app(make_settings(), store, devices.mirror, clock=lambda: NOW_MS)
    with IngestServer(app) as server:
        resp = httpx.post(
            f"{server.url}/v1/reports", json={"reports": [wire(sign(devices.keys[0], 1))]}
        )
        assert resp.status_code == 200
        assert resp.json()["accepted"] == 1
        assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    assert store.reports.count() == 1
