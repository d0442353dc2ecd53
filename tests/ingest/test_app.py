"""POST /v1/reports through the HTTP API: every rejection reason, batches, problems, durability."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, Request
from fastapi.testclient import TestClient

from opendepin.ingest import IngestReason, RegistryMirror, create_app
from opendepin.reports import codec
from opendepin.reports.eip712 import report_digest
from opendepin.reports.reasons import RejectReason
from opendepin.reports.verify import PayloadRegistry
from opendepin.store import Store

from .support import (
    CHAIN_ID,
    EPOCH,
    EPOCH_SECONDS,
    GENESIS_UNIX,
    NOW_MS,
    AppFactory,
    Devices,
    make_settings,
    sign,
    wire,
)

PROBLEM = "application/problem+json"


def post(client: TestClient, body: Any) -> dict[str, Any]:
    resp = client.post("/v1/reports", json=body)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def only_reason(client: TestClient, item: Any) -> str | None:
    data = post(client, item)
    assert len(data["results"]) == 1
    reason: str | None = data["results"][0]["reason"]
    return reason


def test_post_single_report_is_accepted_and_stored(client: TestClient, devices: Devices, store: Store) -> None:
    report = sign(devices.keys[0], 1)
    data = post(client, wire(report))
    assert data["accepted"] == 1 and data["rejected"] == 0
    assert data["results"] == [
        {"index": 0, "device": report.device, "seq": 1, "status": "accepted", "reason": None, "message": ""}
    ]
    assert store.reports.count(epoch=EPOCH, kind="heartbeat") == 1
    assert store.reports.last_seqs() == {report.device: 1}


def test_post_ed25519_report_is_accepted(client: TestClient, devices: Devices) -> None:
    assert only_reason(client, wire(sign(devices.keys[1], 1))) is None


def _signer_mismatch(devices: Devices) -> dict[str, Any]:
    report = sign(devices.keys[0], 3)
    forged = devices.keys[2].sign_digest(report_digest(report))
    return wire(dataclasses.replace(report, signature=forged))


def _bad_signature(devices: Devices) -> dict[str, Any]:
    report = sign(devices.keys[0], 3)
    return wire(dataclasses.replace(report, signature=report.signature[:64]))


def _missing_field(devices: Devices) -> dict[str, Any]:
    item = wire(sign(devices.keys[0], 3))
    del item["seq"]
    return item


REJECTION_CASES: dict[str, Any] = {
    RejectReason.MALFORMED: _missing_field,
    RejectReason.WRONG_NETWORK: lambda d: wire(sign(d.keys[0], 3, network_id="other-net")),
    RejectReason.WRONG_CHAIN: lambda d: wire(sign(d.keys[0], 3, chain_id=CHAIN_ID + 1)),
    RejectReason.UNKNOWN_DEVICE: lambda d: wire(sign(d.unregistered, 3)),
    RejectReason.INACTIVE_DEVICE: lambda d: wire(sign(d.inactive, 3)),
    RejectReason.BAD_SIGNATURE: _bad_signature,
    RejectReason.SIGNER_MISMATCH: _signer_mismatch,
    RejectReason.STALE: lambda d: wire(sign(d.keys[0], 3, timestamp_ms=NOW_MS - 3 * 3_600_000)),
    RejectReason.FUTURE: lambda d: wire(sign(d.keys[0], 3, timestamp_ms=NOW_MS + 600_000)),
    RejectReason.UNKNOWN_KIND: lambda d: wire(sign(d.keys[0], 3, kind="storage")),
    RejectReason.MALFORMED_PAYLOAD: lambda d: wire(sign(d.keys[0], 3, payload={"lat_e7": 1})),
    RejectReason.WRONG_EPOCH: lambda d: wire(sign(d.keys[0], 3, epoch=EPOCH - 1)),
}


@pytest.mark.parametrize("reason", sorted(REJECTION_CASES))
def test_post_rejects_with_reason(
    reason: str, client: TestClient, devices: Devices, store: Store
) -> None:
    data = post(client, REJECTION_CASES[reason](devices))
    result = data["results"][0]
    assert (result["status"], result["reason"]) == ("rejected", reason)
    assert result["message"]
    assert store.reports.count() == 0


def test_every_reject_reason_has_a_case() -> None:
    covered = set(REJECTION_CASES) | {RejectReason.REPLAYED}
    assert covered == set(RejectReason)


def test_post_same_report_twice_is_replayed(client: TestClient, devices: Devices) -> None:
    item = wire(sign(devices.keys[0], 7))
    assert only_reason(client, item) is None
    assert only_reason(client, item) == RejectReason.REPLAYED
    assert only_reason(client, wire(sign(devices.keys[0], 6))) == RejectReason.REPLAYED


def test_post_report_for_sealed_epoch_is_epoch_sealed(
    client: TestClient, devices: Devices, store: Store
) -> None:
    store.seal_epoch(EPOCH)
    assert only_reason(client, wire(sign(devices.keys[0], 1))) == IngestReason.EPOCH_SEALED
    assert store.reports.count() == 0
    # The seq was not burned: once the epoch is open again (next epoch) the device may reuse it.
    late = sign(devices.keys[0], 1, epoch=EPOCH + 1, timestamp_ms=NOW_MS - 60_000 + EPOCH_SECONDS * 1_000)
    next_client = create_app(
        make_settings(), store, devices.mirror, clock=lambda: NOW_MS + EPOCH_SECONDS * 1_000
    )
    with TestClient(next_client) as c:
        assert only_reason(c, wire(late)) is None


def test_post_report_after_epoch_end_plus_grace_is_epoch_closed(store: Store, devices: Devices) -> None:
    grace_s = 600
    settings = make_settings().model_copy(
        update={"network": make_settings().network.model_copy(update={"report_grace_seconds": grace_s})}
    )
    end_ms = (GENESIS_UNIX + (EPOCH + 1) * EPOCH_SECONDS) * 1_000
    signed_at = end_ms - 1_000  # the epoch's last second: fresh enough at both instants below
    for now_ms, seq, expected in ((end_ms + grace_s * 1_000 - 1, 1, None), (end_ms + grace_s * 1_000, 2, IngestReason.EPOCH_CLOSED)):
        app = create_app(settings, store, devices.mirror, clock=lambda now_ms=now_ms: now_ms)
        with TestClient(app) as c:
            assert only_reason(c, wire(sign(devices.keys[0], seq, timestamp_ms=signed_at))) == expected
    assert store.reports.count() == 1  # the closed-epoch report changed nothing


def test_post_mixed_batch_reports_each_outcome(
    client: TestClient, devices: Devices, store: Store
) -> None:
    good_a = sign(devices.keys[0], 10)
    good_b = sign(devices.keys[1], 4)
    batch = [
        wire(good_a),
        "not a report",
        wire(sign(devices.unregistered, 1)),
        wire(good_b),
        wire(sign(devices.keys[0], 9)),  # lower than 10 earlier in the batch
        wire(good_a),  # exact duplicate
        _signer_mismatch(devices),
    ]
    data = post(client, {"reports": batch})
    reasons = [r["reason"] for r in data["results"]]
    assert reasons == [
        None,
        RejectReason.MALFORMED,
        RejectReason.UNKNOWN_DEVICE,
        None,
        RejectReason.REPLAYED,
        RejectReason.REPLAYED,
        RejectReason.SIGNER_MISMATCH,
    ]
    assert [r["index"] for r in data["results"]] == list(range(7))
    assert data["results"][1]["device"] is None
    assert (data["accepted"], data["rejected"]) == (2, 5)
    assert store.reports.count() == 2


def test_rejected_payload_does_not_burn_seq(client: TestClient, devices: Devices) -> None:
    bad = sign(devices.keys[2], 5, payload={"lat_e7": 1})
    assert only_reason(client, wire(bad)) == RejectReason.MALFORMED_PAYLOAD
    assert only_reason(client, wire(sign(devices.keys[2], 5))) is None


def test_replay_after_restart_over_same_db_is_rejected(
    database_url: str, tmp_path: Path, devices: Devices
) -> None:
    item = wire(sign(devices.keys[0], 42))
    for expected in (None, RejectReason.REPLAYED):
        with Store(tmp_path / "d", database_url) as s:
            app = create_app(make_settings(), s, devices.mirror, clock=lambda: NOW_MS)
            with TestClient(app) as c:
                assert only_reason(c, item) == expected
            assert s.reports.count() == 1
    # An older seq is refused by the tracker seeded from the store.
    with Store(tmp_path / "d", database_url) as s:
        app = create_app(make_settings(), s, devices.mirror, clock=lambda: NOW_MS)
        with TestClient(app) as c:
            assert only_reason(c, wire(sign(devices.keys[0], 41))) == RejectReason.REPLAYED


def test_accepted_reports_are_readable_after_seal(
    client: TestClient, devices: Devices, store: Store
) -> None:
    reports = [sign(devices.keys[0], s) for s in (1, 2, 3)] + [sign(devices.keys[1], 1)]
    post(client, {"reports": [wire(r) for r in reports]})
    sealed = store.seal_epoch(EPOCH)
    assert sealed.total_reports == 4
    back = store.read_sealed(EPOCH)["heartbeat"]
    assert sorted((i.report for i in back), key=lambda r: (r.device, r.seq)) == [i.report for i in back]
    assert {i.report for i in back} == set(reports)


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (b"{not json", 400, "not-json"),
        (b"\xff\xfe", 400, "not-json"),
        (b"[1, 2]", 422, "bad-shape"),
        (b'{"reports": {}}', 422, "bad-shape"),
        (b'{"reports": [], "extra": 1}', 422, "bad-shape"),
    ],
)
def test_post_malformed_request_is_problem_json(
    client: TestClient, body: bytes, status: int, slug: str
) -> None:
    resp = client.post("/v1/reports", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == status
    assert resp.headers["content-type"] == PROBLEM
    problem = resp.json()
    assert problem["type"] == f"urn:opendepin:problem:{slug}"
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]


def test_post_too_many_reports_is_413(make_client: AppFactory, devices: Devices) -> None:
    client = make_client(make_settings(max_batch=2))
    body = {"reports": [wire(sign(devices.keys[0], s)) for s in (1, 2, 3)]}
    resp = client.post("/v1/reports", json=body)
    assert resp.status_code == 413
    assert resp.headers["content-type"] == PROBLEM
    assert resp.json()["type"] == "urn:opendepin:problem:too-many-reports"


def test_post_body_too_large_is_413(make_client: AppFactory, devices: Devices) -> None:
    client = make_client(make_settings(max_body_bytes=100))
    resp = client.post("/v1/reports", json=wire(sign(devices.keys[0], 1)))
    assert resp.status_code == 413
    assert resp.json()["type"] == "urn:opendepin:problem:body-too-large"


def test_unknown_route_is_problem_json(client: TestClient) -> None:
    resp = client.get("/v2/nothing")
    assert resp.status_code == 404
    assert resp.headers["content-type"] == PROBLEM
    resp = client.get("/v1/reports")
    assert resp.status_code == 405
    assert resp.json()["type"] == "urn:opendepin:problem:method-not-allowed"


def test_empty_batch_is_accepted_with_zero_counts(client: TestClient) -> None:
    assert post(client, {"reports": []}) == {"accepted": 0, "rejected": 0, "results": []}


def test_metrics_count_accepted_and_rejected_by_reason(client: TestClient, devices: Devices) -> None:
    post(client, {"reports": [wire(sign(devices.keys[0], 1)), wire(sign(devices.unregistered, 1))]})
    text = client.get("/metrics").text
    assert "depin_ingest_reports_accepted_total 1.0" in text
    assert 'depin_ingest_reports_rejected_total{reason="unknown_device"} 1.0' in text
    assert "depin_ingest_request_seconds_count 1.0" in text


def test_healthz_reports_ok(client: TestClient, devices: Devices) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"
    assert resp.json()["devices"] == len(devices.mirror)


def test_openapi_publishes_report_schemas(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"WireReport", "ReportBatch", "IngestResponse", "Problem"} <= set(schemas)
    assert set(schemas["WireReport"]["required"]) >= {"device", "seq", "signature", "payload"}
    post_op = spec["paths"]["/v1/reports"]["post"]
    assert "requestBody" in post_op and "413" in post_op["responses"]
    json.dumps(spec)


def test_extra_router_is_mounted(store: Store, devices: Devices) -> None:
    router = APIRouter()

    @router.get("/v1/rewards/{account}")
    def rewards(account: str, request: Request) -> dict[str, Any]:
        return {"account": account, "network": request.app.state.settings.network.network_id}

    app = create_app(make_settings(), store, RegistryMirror(), routers=[router])
    with TestClient(app) as c:
        assert c.get("/v1/rewards/0xabc").json() == {"account": "0xabc", "network": "opendepin-test"}


def test_route_parameter_error_is_problem_json(store: Store) -> None:
    router = APIRouter()

    @router.get("/v1/items/{number}")
    def item(number: int) -> dict[str, int]:
        return {"number": number}

    app = create_app(make_settings(), store, RegistryMirror(), routers=[router])
    with TestClient(app) as c:
        resp = c.get("/v1/items/not-a-number")
        assert resp.status_code == 422
        assert resp.headers["content-type"] == PROBLEM
        assert resp.json()["type"] == "urn:opendepin:problem:invalid-request"


def test_payload_integer_beyond_64_bits_is_kept_exactly(store: Store, devices: Devices) -> None:
    # The body is parsed with the stdlib json: a parser that turned 2**70 into a float would
    # reject (or alter) a report the device really signed.
    payloads = PayloadRegistry()
    payloads.register("counter", lambda payload: None)
    app = create_app(
        make_settings(), store, devices.mirror, clock=lambda: NOW_MS, payload_registry=payloads
    )
    report = sign(devices.keys[0], 1, kind="counter", payload={"n": 2**70, "m": -(2**65)})
    body = json.dumps({"reports": [wire(report)]}).encode()
    with TestClient(app) as c:
        resp = c.post("/v1/reports", content=body, headers={"content-type": "application/json"})
    assert resp.json()["accepted"] == 1, resp.text
    (stored,) = store.reports.iter_epoch(EPOCH, "counter")
    assert stored.wire == codec.dumps(report).encode()


def test_device_id_with_lone_surrogate_is_echoed_in_the_response(client: TestClient) -> None:
    body = b'{"reports": [{"device": "\\ud800", "seq": 3}]}'
    resp = client.post("/v1/reports", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 200
    (result,) = resp.json()["results"]
    assert (result["device"], result["seq"], result["reason"]) == ("\ud800", 3, "malformed")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 200_000 + b"]" * 200_000, id="arrays"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, id="objects"),
        pytest.param(b'[NaN, "]]]", ' + b"[" * 200_000 + b"]" * 200_001, id="orjson-refuses-first"),
        pytest.param(b'{"reports": [' + b"[" * 1_024 + b"]" * 1_024 + b"]}", id="just-over-limit"),
        pytest.param(b"[NaN, " + b"[" * 1_024 + b"]" * 1_025, id="just-over-limit-orjson-refuses"),
    ],
)
def test_deeply_nested_body_is_not_json_problem(client: TestClient, body: bytes) -> None:
    # The stdlib parser would overflow the worker thread's C stack and kill the process.
    resp = client.post("/v1/reports", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.json()["type"] == "urn:opendepin:problem:not-json"
    assert "nested too deeply" in resp.json()["detail"]


def test_body_only_the_stdlib_parses_keeps_its_outcome(client: TestClient) -> None:
    # orjson refuses NaN; the stdlib parses it, so the request is answered as before.
    body = b'{"reports": [NaN, ' + b"[" * 100 + b"]" * 100 + b"]}"
    data = post_raw(client, body)
    assert [r["reason"] for r in data["results"]] == ["malformed", "malformed"]


def post_raw(client: TestClient, body: bytes) -> dict[str, Any]:
    resp = client.post("/v1/reports", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    return data


def test_mounted_router_posts_are_guarded_against_deep_nesting(store: Store) -> None:
    # Routers mounted on the ingest app (the oracle's attestations) parse bodies with the
    # stdlib too; the guard answers for them before any parser runs.
    router = APIRouter()

    @router.post("/v1/echo")
    def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    app = create_app(make_settings(), store, RegistryMirror(), routers=[router])
    deep = b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with TestClient(app) as c:
        resp = c.post("/v1/echo", content=deep, headers={"content-type": "application/json"})
        assert resp.status_code == 400
        assert resp.headers["content-type"] == PROBLEM
        assert "nested too deeply" in resp.json()["detail"]
        ok = c.post("/v1/echo", content=b'{"a": [[1]]}', headers={"content-type": "application/json"})
        assert ok.json() == {"a": [[1]]}


def test_mounted_router_body_over_the_size_limit_is_refused(store: Store) -> None:
    router = APIRouter()

    @router.post("/v1/echo")
    def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    settings = make_settings()
    limit = settings.ingest.max_body_bytes
    app = create_app(settings, store, RegistryMirror(), routers=[router])
    with TestClient(app) as c:
        resp = c.post(
            "/v1/echo",
            content=b'{"a": "' + b"x" * limit + b'"}',
            headers={"content-type": "application/json"},
        )
    assert resp.status_code == 413
    assert resp.json()["type"] == "urn:opendepin:problem:body-too-large"
