from __future__ import annotations

import pytest

from opendepin.network.settings import Settings, load_settings
from opendepin.proofs.heartbeat import HeartbeatReason
from opendepin.proofs.heartbeat import verify as hb_verify
from opendepin.proofs.heartbeat.geo import cell_centre, offset_point
from opendepin.proofs.heartbeat.verifier import verify_in_epoch

from .conftest import CELL, DEVICE_A, DEVICE_B, heartbeat, record, snapshot


def only_reason(settings: Settings, ingested: object, snap: object = None) -> object:
    [v] = hb_verify([ingested], snap or snapshot(record()), settings)  # type: ignore[list-item,arg-type]
    return v.reason


def payload_at(metres: float) -> dict[str, int]:
    centre = cell_centre(CELL)
    assert centre is not None
    lat, lon = offset_point(centre[0], centre[1], metres, 45.0)
    return {"lat_e7": round(lat * 1e7), "lon_e7": round(lon * 1e7)}


def test_verify_accepts_good_heartbeat(settings: Settings) -> None:
    [v] = hb_verify([heartbeat(settings, 0)], snapshot(record()), settings)
    assert v.valid and v.device == DEVICE_A and v.details == ""


def test_verify_rejects_wrong_kind(settings: Settings) -> None:
    assert (
        only_reason(settings, heartbeat(settings, 0, kind="coverage")) == HeartbeatReason.WRONG_REPORT_KIND
    )


def test_verify_rejects_unknown_device(settings: Settings) -> None:
    assert (
        only_reason(settings, heartbeat(settings, 0, device=DEVICE_B))
        == HeartbeatReason.UNKNOWN_DEVICE
    )


def test_verify_rejects_inactive_device(settings: Settings) -> None:
    snap = snapshot(record(active=False))
    assert only_reason(settings, heartbeat(settings, 0), snap) == HeartbeatReason.INACTIVE_DEVICE


def test_verify_rejects_device_registered_for_other_kind(settings: Settings) -> None:
    snap = snapshot(record(kind="coverage"))
    assert only_reason(settings, heartbeat(settings, 0), snap) == HeartbeatReason.WRONG_DEVICE_KIND


@pytest.mark.parametrize("location", [0, 12345])
def test_verify_rejects_missing_or_invalid_location(settings: Settings, location: int) -> None:
    snap = snapshot(record(location=location))
    assert (
        only_reason(settings, heartbeat(settings, 0), snap) == HeartbeatReason.LOCATION_NOT_ASSERTED
    )


@pytest.mark.parametrize("raw", [b"[1,2]", b"not json", b'{"lat_e7":1}'])
def test_verify_rejects_malformed_payload(settings: Settings, raw: bytes) -> None:
    reason = only_reason(settings, heartbeat(settings, 0, raw_payload=raw))
    assert reason == HeartbeatReason.MALFORMED_PAYLOAD


def test_verify_rejects_timestamp_outside_epoch(settings: Settings) -> None:
    hb = heartbeat(settings, 24)  # first hour of the next epoch, still labelled EPOCH
    assert only_reason(settings, hb) == HeartbeatReason.WRONG_EPOCH
    assert only_reason(settings, heartbeat(settings, 23)) is None
    assert verify_in_epoch(heartbeat(settings, 23, minute=59).report, settings.network) is None


def test_verify_rejects_duplicate_seq_keeps_first(settings: Settings) -> None:
    first = heartbeat(settings, 1, seq=7)
    again = heartbeat(settings, 2, seq=7)
    verdicts = hb_verify([first, again], snapshot(record()), settings)
    assert [v.reason for v in verdicts] == [None, HeartbeatReason.DUPLICATE]


def test_verify_accepts_second_heartbeat_in_same_hour(settings: Settings) -> None:
    hbs = [heartbeat(settings, 1, minute=1), heartbeat(settings, 1, minute=4)]
    assert all(v.valid for v in hb_verify(hbs, snapshot(record()), settings))


@pytest.mark.parametrize(("metres", "valid"), [(399.5, True), (401.5, False)])
def test_verify_location_trust_boundary(settings: Settings, metres: float, valid: bool) -> None:
    reason = only_reason(settings, heartbeat(settings, 0, payload=payload_at(metres)))
    assert (reason is None) is valid
    if not valid:
        assert reason == HeartbeatReason.LOCATION_UNTRUSTED


def test_verify_untrusted_details_name_distance(settings: Settings) -> None:
    [v] = hb_verify(
        [heartbeat(settings, 0, payload=payload_at(5_000.5))], snapshot(record()), settings
    )
    assert v.reason == HeartbeatReason.LOCATION_UNTRUSTED and "5000 m" in v.details


def test_verify_rule_order_first_failure_wins(settings: Settings) -> None:
    # Inactive *and* malformed *and* outside the epoch: the earliest rule names the reason.
    snap = snapshot(record(active=False))
    hb = heartbeat(settings, 30, raw_payload=b"{}")
    assert only_reason(settings, hb, snap) == HeartbeatReason.INACTIVE_DEVICE


def test_verify_uses_configured_thresholds() -> None:
    tight = load_settings(None, heartbeat={"full_trust_meters": 10, "partial_trust_meters": 20})
    hb = heartbeat(tight, 0, payload=payload_at(50.5))
    assert only_reason(tight, hb) == HeartbeatReason.LOCATION_UNTRUSTED


def test_verdict_reason_values_are_stable() -> None:
    assert {r.value for r in HeartbeatReason} == {
        "wrong_report_kind", "unknown_device", "inactive_device", "wrong_device_kind",
        "location_not_asserted", "malformed_payload", "wrong_epoch",
        "duplicate", "location_untrusted", "insufficient_uptime",
        "bad_challenge", "stale_challenge", "cell_cap", "owner_cap",
    }  # fmt: skip


def test_verify_is_pure_and_keeps_input_order(settings: Settings) -> None:
    hbs = [heartbeat(settings, h, device=DEVICE_A if h % 2 else DEVICE_B) for h in range(6)]
    snap = snapshot(record(), record(DEVICE_B, active=False))
    first = hb_verify(hbs, snap, settings)
    assert first == hb_verify(hbs, snap, settings)
    assert [(v.device, v.seq) for v in first] == [(h.report.device, h.report.seq) for h in hbs]
    assert first[0].reason == HeartbeatReason.INACTIVE_DEVICE and first[1].valid
