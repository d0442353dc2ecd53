"""One check order: ingest's list, reconciliation's derived list, and `run_checks` over a batch."""

from __future__ import annotations

import dataclasses
from typing import Any

from opendepin.identity import DeviceKey, KeyType
from opendepin.ingest.checks import (
    CLOCK_CHECKS,
    INGEST_ORDER,
    RECONCILE_ORDER,
    Check,
    CheckContext,
    run_checks,
)
from opendepin.ingest.reasons import IngestReason
from opendepin.records import DeviceRecord
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import RejectReason
from opendepin.reports.verify import PayloadRegistry
from opendepin.types import Address, DeviceId

NETWORK, CHAIN_ID, EPOCH_SECONDS, GENESIS = "checks-net", 31337, 86_400, 1_767_225_600
EPOCH = 3
NOW_MS = (GENESIS + EPOCH * EPOCH_SECONDS) * 1_000 + 3 * 3_600_000
MAX_AGE_S, MAX_FUTURE_S = 7_200, 300


def _signed(key: DeviceKey, **overrides: Any) -> Report:
    fields: dict[str, Any] = {
        "network_id": NETWORK, "chain_id": CHAIN_ID, "kind": "heartbeat", "epoch": EPOCH, "seq": 1,
        "timestamp_ms": NOW_MS - 1_000, "payload": {"lat_e7": 1, "lon_e7": 2},
    }
    fields.update(overrides)
    return new_signed_report(key, **fields)


def _validator(payload: dict[str, Any]) -> None:
    if type(payload.get("lat_e7")) is not int:
        raise ValueError("lat_e7 must be an integer")


def _context(records: dict[str, DeviceRecord], **kw: Any) -> CheckContext:
    payloads = PayloadRegistry()
    payloads.register("heartbeat", _validator)
    return CheckContext(
        network_id=NETWORK, chain_id=CHAIN_ID, registry=records.get, payloads=payloads, now_ms=NOW_MS,
        max_age_s=MAX_AGE_S, max_future_s=MAX_FUTURE_S, epoch_seconds=EPOCH_SECONDS, genesis_unix=GENESIS, **kw,
    )


def _record(key: DeviceKey, active: bool = True) -> DeviceRecord:
    return DeviceRecord(DeviceId(key.device_id), Address(key.device_id), "heartbeat", 0, active)


def test_reconcile_order_is_ingest_order_without_decode_replay_and_clock_checks() -> None:
    assert INGEST_ORDER[0] is Check.DECODE and INGEST_ORDER[-1] is Check.PAYLOAD
    assert RECONCILE_ORDER == (Check.NETWORK, Check.REGISTRY, Check.SIGNATURE, Check.IN_EPOCH, Check.PAYLOAD)
    kept = [c for c in INGEST_ORDER if c in RECONCILE_ORDER]
    assert kept == [c for c in RECONCILE_ORDER if c is not Check.IN_EPOCH]  # same relative order
    assert not CLOCK_CHECKS & set(RECONCILE_ORDER)


def test_run_checks_reports_each_reason_in_ingest_order() -> None:
    key, ed, gone, stranger = DeviceKey.generate(), DeviceKey.generate(KeyType.ED25519), DeviceKey.generate(), DeviceKey.generate()
    records = {k.device_id: _record(k) for k in (key, ed)} | {gone.device_id: _record(gone, active=False)}
    late = _signed(key, seq=8)
    batch = [
        _signed(key),
        _signed(key, network_id="elsewhere", seq=2),
        _signed(key, chain_id=1, seq=3),
        _signed(stranger, seq=1),
        _signed(gone, seq=1),
        dataclasses.replace(_signed(key, seq=4), signature=b"\x00" * 65),
        _signed(key, seq=5, timestamp_ms=NOW_MS - MAX_AGE_S * 1000 - 1),
        _signed(key, seq=6, timestamp_ms=NOW_MS + MAX_FUTURE_S * 1000 + 1),
        _signed(key, seq=7, epoch=9),
        late,
        _signed(key, seq=9, kind="storage"),
        _signed(key, seq=10, payload={"lat_e7": "x"}),
        _signed(ed, seq=1),
    ]
    ctx = _context(records, epoch_open=lambda r: (IngestReason.EPOCH_CLOSED, "closed") if r is late else None)
    checks = [c for c in INGEST_ORDER if c not in (Check.DECODE, Check.REPLAY)]
    reasons = [None if p is None else p[0] for p in run_checks(batch, checks, ctx)]
    assert reasons == [
        None,
        RejectReason.WRONG_NETWORK,
        RejectReason.WRONG_CHAIN,
        RejectReason.UNKNOWN_DEVICE,
        RejectReason.INACTIVE_DEVICE,
        RejectReason.BAD_SIGNATURE,
        RejectReason.STALE,
        RejectReason.FUTURE,
        RejectReason.WRONG_EPOCH,
        IngestReason.EPOCH_CLOSED,
        RejectReason.UNKNOWN_KIND,
        RejectReason.MALFORMED_PAYLOAD,
        None,
    ]


def test_first_failing_check_wins() -> None:
    stranger = DeviceKey.generate()
    bad = dataclasses.replace(_signed(stranger, network_id="elsewhere"), signature=b"\x00" * 65)
    [problem] = run_checks([bad], INGEST_ORDER[1:4], _context({}))
    assert problem is not None and problem[0] is RejectReason.WRONG_NETWORK


def test_a_validator_that_crashes_is_a_malformed_payload_not_a_crash() -> None:
    key = DeviceKey.generate()

    def broken(payload: dict[str, Any]) -> None:
        raise ZeroDivisionError("plugin bug")

    payloads = PayloadRegistry()
    payloads.register("heartbeat", broken)
    ctx = dataclasses.replace(_context({key.device_id: _record(key)}), payloads=payloads)
    [problem] = run_checks([_signed(key)], (Check.PAYLOAD,), ctx)
    assert problem is not None and problem[0] is RejectReason.MALFORMED_PAYLOAD
    assert "ZeroDivisionError" in problem[1]
