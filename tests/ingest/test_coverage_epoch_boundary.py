"""Regression: a beacon sent in an epoch's last second keeps its witnesses, end to end.

The witness is heard after the epoch's end but belongs to the beacon's epoch. Ingest
(freshness), reconciliation (`oracle.sync.check_offered`) and the verifier all allow a
coverage report's timestamp up to `max_witness_lag_ms` past the epoch's end
(`Kind.epoch_overhang_ms`), and no further; other kinds get no overhang.
"""

from __future__ import annotations

import math
from typing import Any

import h3.api.basic_int as h3
from fastapi.testclient import TestClient

from opendepin.crypto import keccak256
from opendepin.identity import DeviceKey
from opendepin.ingest import RegistryMirror, create_app
from opendepin.ingest.reasons import IngestReason
from opendepin.oracle.sync import check_offered
from opendepin.proofs.coverage import (
    BeaconPayload,
    CoverageHistory,
    CoverageParams,
    WitnessPayload,
    beacon_data,
    verify_epoch,
)
from opendepin.proofs.registry import kinds_for
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import RejectReason
from opendepin.store import Store
from opendepin.types import Address, DeviceId

from .support import EPOCH, EPOCH_SECONDS, GENESIS_UNIX, make_settings, sign, wire

END_MS = (GENESIS_UNIX + (EPOCH + 1) * EPOCH_SECONDS) * 1_000
"""First millisecond after epoch 5."""
BLOCK = EntropyBlock(1_000, keccak256(b"last window"), END_MS // 1_000 - 3_600)
"""The entropy block of the epoch's last window."""
FREQ_HZ = 868_100_000
LISBON = (38.7223, -9.1393)


def _cell(north_m: float, east_m: float) -> int:
    lat = LISBON[0] + north_m / 111_320.0
    lng = LISBON[1] + east_m / (111_320.0 * math.cos(math.radians(LISBON[0])))
    return h3.latlng_to_cell(lat, lng, 12)


def _beacon(key: DeviceKey, seq: int, at_ms: int) -> tuple[Report, bytes]:
    secret = keccak256(b"secret" + seq.to_bytes(4, "big"))[:16]
    data = beacon_data(BLOCK.hash, DeviceId(key.device_id), 0, secret)
    payload = BeaconPayload(0, data, BLOCK.number, FREQ_HZ, 1_400, 300, "EU868", secret)
    return sign(key, seq, timestamp_ms=at_ms, kind="coverage", payload=payload.to_obj()), data


def _witness(key: DeviceKey, seq: int, beaconer: DeviceKey, data: bytes, heard_ms: int) -> Report:
    payload: dict[str, Any] = WitnessPayload(
        DeviceId(beaconer.device_id), data, -11_000, 500, FREQ_HZ, heard_ms, 300, "EU868"
    ).to_obj()
    return sign(key, seq, timestamp_ms=heard_ms, kind="coverage", payload=payload)


def _world() -> tuple[list[DeviceKey], dict[DeviceId, DeviceRecord]]:
    keys = [DeviceKey.generate() for _ in range(3)]
    spots = ((0.0, 0.0), (0.0, 1_500.0), (1_500.0, 700.0))
    records = {
        DeviceId(k.device_id): DeviceRecord(
            k.device_id, Address("0x" + f"{i + 2:02x}" * 20), "coverage", _cell(*spot), True
        )
        for i, (k, spot) in enumerate(zip(keys, spots, strict=True))
    }
    return keys, records


def test_last_second_beacon_keeps_witnesses_heard_after_the_epoch_end(store: Store) -> None:
    settings = make_settings()
    assert settings.network.report_grace_seconds * 1_000 > 4_000  # the grace covers the lag
    keys, records = _world()
    beaconer, *listeners = keys
    beacon, data = _beacon(beaconer, 1, END_MS - 1_000)
    late = [_witness(k, 1, beaconer, data, END_MS + 2_000) for k in listeners]
    mirror = RegistryMirror(list(records.values()))
    arrives_ms = END_MS + settings.network.report_grace_seconds * 1_000 - 1  # last ms of the grace
    with TestClient(create_app(settings, store, mirror, clock=lambda: arrives_ms)) as c:
        answer = c.post("/v1/reports", json={"reports": [wire(r) for r in (beacon, *late)]}).json()
    assert answer["accepted"] == 3, answer["results"]

    sealed = store.seal_epoch(EPOCH)
    assert sealed.total_reports == 3
    reports = store.read_sealed(EPOCH)["coverage"]
    params = CoverageParams.from_settings(settings)
    snapshot = ChainSnapshot(1, keccak256(b"close"), records, entropy_blocks={BLOCK.number: BLOCK})
    lately = END_MS - 3_600_000  # every device beaconed and witnessed validly an hour ago
    history = CoverageHistory(
        last_valid_beacon_ms=dict.fromkeys(records, lately),
        last_valid_witness_ms=dict.fromkeys(records, lately),
    )
    result = verify_epoch(reports, snapshot, params, history)
    assert [v.reason for v in result.verdicts] == [None, None, None]
    assert set(result.selected[DeviceId(beaconer.device_id), 0]) == {
        DeviceId(k.device_id) for k in listeners
    }
    assert result.shares.get(DeviceId(beaconer.device_id), 0) > 0  # the beacon is rewarded


def test_witness_beyond_the_lag_after_the_epoch_end_is_wrong_epoch(store: Store) -> None:
    settings = make_settings()
    keys, records = _world()
    beaconer, listener, _ = keys
    _, data = _beacon(beaconer, 1, END_MS - 1_000)
    too_late = _witness(listener, 1, beaconer, data, END_MS + 5_000)
    at_edge = _witness(listener, 2, beaconer, data, END_MS + 4_000)  # the window is [start, end + lag)
    heartbeat = sign(keys[2], 1, timestamp_ms=END_MS + 2_000)  # no overhang for other kinds
    mirror = RegistryMirror(list(records.values()))
    with TestClient(create_app(settings, store, mirror, clock=lambda: END_MS + 6_000)) as c:
        answer = c.post("/v1/reports", json={"reports": [wire(r) for r in (too_late, at_edge, heartbeat)]})
    assert [r["reason"] for r in answer.json()["results"]] == [RejectReason.WRONG_EPOCH] * 3
    assert store.reports.count() == 0


def test_late_witness_after_the_grace_is_epoch_closed(store: Store) -> None:
    settings = make_settings()
    keys, records = _world()
    _, data = _beacon(keys[0], 1, END_MS - 1_000)
    late = _witness(keys[1], 1, keys[0], data, END_MS + 2_000)
    closes_ms = END_MS + settings.network.report_grace_seconds * 1_000
    with TestClient(create_app(settings, store, RegistryMirror(list(records.values())), clock=lambda: closes_ms)) as c:
        answer = c.post("/v1/reports", json={"reports": [wire(late)]}).json()
    assert answer["results"][0]["reason"] == IngestReason.EPOCH_CLOSED


def test_reconciliation_imports_the_late_witness_and_refuses_one_beyond_the_lag() -> None:
    settings = make_settings()
    keys, records = _world()
    beacon, data = _beacon(keys[0], 1, END_MS - 1_000)
    late = _witness(keys[1], 1, keys[0], data, END_MS + 2_000)
    too_late = _witness(keys[2], 1, keys[0], data, END_MS + 5_000)
    heartbeat = sign(keys[2], 2, timestamp_ms=END_MS + 2_000)
    problems = check_offered([beacon, late, too_late, heartbeat], EPOCH, settings, records, kinds_for(settings))
    assert problems[:2] == [None, None]
    assert [p and p[0] for p in problems[2:]] == [RejectReason.WRONG_EPOCH] * 2
