"""The in-process server: uvicorn on a free port, real HTTP over loopback."""

from __future__ import annotations

import socket

import httpx
import pytest
from fastapi import FastAPI

from opendepin.errors import DepinError
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


def test_ingest_server_starts_the_signature_workers(store: Store, devices: Devices) -> None:
    app = create_app(make_settings(verify_workers=2), store, devices.mirror, clock=lambda: NOW_MS)
    workers = app.state.pipeline.workers
    with IngestServer(app):
        assert len(workers.pids()) == 2


def test_ingest_server_on_a_taken_port_is_one_depin_error() -> None:
    app = FastAPI()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with pytest.raises(DepinError) as info:
            IngestServer(app, "127.0.0.1", port)
    assert str(info.value) == f"cannot listen on 127.0.0.1:{port}: Address already in use"


def test_ingest_server_on_a_port_out_of_range_is_one_depin_error() -> None:
    with pytest.raises(DepinError, match=r"^cannot listen on 127\.0\.0\.1:70000: "):
        IngestServer(FastAPI(), "127.0.0.1", 70_000)
