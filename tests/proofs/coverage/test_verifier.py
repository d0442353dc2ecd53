"""Each coverage rule with a passing and a failing case."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from coverage_world import HOUR_MS, Triangle, World, reason_of

from opendepin.crypto import keccak256
from opendepin.proofs.coverage import CoverageHistory, CoverageReason, Denylist
from opendepin.records import IngestedReport
from opendepin.reports.envelope import canonical_payload


def test_verify_accepts_triangle_of_honest_devices(triangle: Triangle) -> None:
    result = triangle.world.run(triangle.reports)
    assert all(v.valid for v in result.verdicts)
    assert len(result.selected) == 3
    assert all(len(w) == 2 for w in result.selected.values())


def test_verify_returns_verdicts_in_input_order(triangle: Triangle) -> None:
    result = triangle.world.run(triangle.reports)
    assert [(v.device, v.seq) for v in result.verdicts] == [
        (r.report.device, r.report.seq) for r in triangle.reports
    ]


def test_verify_is_independent_of_report_order(triangle: Triangle) -> None:
    t = triangle
    late = t.world.witness(t.c, t.beacons[t.a], delay_ms=5_000)  # a duplicate, and late
    reports = [*t.reports, late]
    expected = t.world.run(reports)
    shuffled = reports[:]
    random.Random(3).shuffle(shuffled)
    result = t.world.run(shuffled)
    assert dict(result.shares) == dict(expected.shares)
    assert {(v.device, v.seq): v.reason for v in result.verdicts} == {
        (v.device, v.seq): v.reason for v in expected.verdicts
    }


# --- device rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"registered": False}, CoverageReason.UNKNOWN_DEVICE),
        ({"active": False}, CoverageReason.INACTIVE_DEVICE),
        ({"kind": "heartbeat"}, CoverageReason.WRONG_DEVICE_KIND),
        ({"asserted": False}, CoverageReason.LOCATION_NOT_ASSERTED),
    ],
)
def test_verify_rejects_witness_from_ineligible_device(
    triangle: Triangle, kwargs: dict[str, bool | str], reason: CoverageReason
) -> None:
    d = triangle.world.device(3_000, 0, **kwargs)
    report = triangle.world.witness(d, triangle.beacons[triangle.a])
    result = triangle.world.run([*triangle.reports, report])
    assert reason_of(result, report) == reason


def test_verify_rejects_beacon_from_unregistered_device(world: World) -> None:
    ghost = world.device(registered=False)
    beacon = world.beacon(ghost)
    assert reason_of(world.run([beacon]), beacon) == CoverageReason.UNKNOWN_DEVICE


def test_verify_rejects_denied_key_and_records_version(triangle: Triangle) -> None:
    t = triangle
    denylist = Denylist.build(5, keys=[t.c])
    result = t.world.run(t.reports, denylist=denylist)
    assert reason_of(result, t.beacons[t.c]) == CoverageReason.DENIED
    assert reason_of(result, t.witness_of(t.c, t.a)) == CoverageReason.DENIED
    assert reason_of(result, t.witness_of(t.a, t.b)) is None
    assert result.explanations[t.c].denylist_version == 5
    assert result.denylist_version == 5


def test_verify_rejects_denied_edge_in_either_direction(triangle: Triangle) -> None:
    t = triangle
    result = t.world.run(t.reports, denylist=Denylist.build(1, edges=[(t.b, t.a)]))
    assert reason_of(result, t.witness_of(t.b, t.a)) == CoverageReason.DENIED_EDGE
    assert reason_of(result, t.witness_of(t.a, t.b)) == CoverageReason.DENIED_EDGE
    assert reason_of(result, t.witness_of(t.c, t.a)) is None


# --- beacon rules -----------------------------------------------------------------------------


def test_verify_rejects_beacon_outside_entropy_window(triangle: Triangle) -> None:
    t = triangle
    early = t.world.beacon(t.a, at_ms=t.world.start_ms() - 1, counter=9)
    result = t.world.run([*t.reports, early])
    assert reason_of(result, early) == CoverageReason.ENTROPY_EXPIRED


def test_verify_accepts_beacon_with_current_window_entropy(triangle: Triangle) -> None:
    t = triangle
    at = t.world.start_ms() + 10 * HOUR_MS + 600_000
    current = t.world.beacon(t.a, at_ms=at, counter=1, window=10)
    result = t.world.run([*t.reports, current])
    assert reason_of(result, current) is None


def test_verify_rejects_beacon_naming_unknown_entropy_block(triangle: Triangle) -> None:
    t = triangle
    at = t.world.start_ms() + 10 * HOUR_MS
    outside = t.world.beacon(t.a, at_ms=at, counter=1, window=30)  # no such block this epoch
    result = t.world.run([*t.reports, outside])
    assert reason_of(result, outside) == CoverageReason.BAD_ENTROPY
    assert reason_of(result, t.witness_of(t.b, t.a)) is None  # its earlier beacon is unaffected


def test_verify_rejects_beacon_built_from_close_block_entropy(triangle: Triangle) -> None:
    t = triangle
    snapshot_block = t.world.snapshot().block_number
    assert snapshot_block not in t.world.entropy_blocks()
    forged = t.world.beacon(t.a, at_ms=t.world.start_ms() + 10 * HOUR_MS, counter=1)
    obj = forged.report.payload_obj() | {"entropy_block": snapshot_block}
    forged = IngestedReport(replace(forged.report, payload=canonical_payload(obj)))
    result = t.world.run([*t.reports, forged])
    assert reason_of(result, forged) == CoverageReason.BAD_ENTROPY


def test_verify_accepts_beacon_at_end_of_entropy_window(triangle: Triangle) -> None:
    t = triangle
    window_ms = t.world.window_ms()
    at = t.world.start_ms() + 9 * HOUR_MS + window_ms  # block 9's time + one window, inclusive
    edge = t.world.beacon(t.a, at_ms=at, counter=1, window=9)
    result = t.world.run([*t.reports, edge])
    assert reason_of(result, edge) is None


def test_verify_rejects_beacon_with_expired_entropy(triangle: Triangle) -> None:
    t = triangle
    at = t.world.start_ms() + 9 * HOUR_MS + t.world.window_ms() + 1
    stale = t.world.beacon(t.a, at_ms=at, counter=1, window=9)  # a window late
    result = t.world.run([*t.reports, stale])
    assert reason_of(result, stale) == CoverageReason.ENTROPY_EXPIRED


def test_verify_rejects_beacon_sent_before_its_entropy_block(triangle: Triangle) -> None:
    t = triangle
    at = t.world.start_ms() + 10 * HOUR_MS - 1
    early = t.world.beacon(t.a, at_ms=at, counter=1, window=10)  # block 10 did not exist yet
    result = t.world.run([*t.reports, early])
    assert reason_of(result, early) == CoverageReason.ENTROPY_EXPIRED


def test_verify_judges_epoch_bounds_by_signed_send_time(triangle: Triangle) -> None:
    # Arrival time is ingest's concern (epoch_closed); the verifier sees only signed fields.
    t = triangle
    end = t.world.params.epoch_end_ms(0)
    last = 23  # the epoch's last entropy window
    ok = t.world.beacon(t.b, at_ms=end - 1, counter=1, window=last)
    outside = t.world.beacon(t.c, at_ms=end, counter=1, window=last)
    result = t.world.run([*t.reports, ok, outside])
    assert reason_of(result, ok) is None
    assert reason_of(result, outside) == CoverageReason.ENTROPY_EXPIRED


def test_verify_rejects_duplicate_beacon_counter(triangle: Triangle) -> None:
    t = triangle
    again = t.world.beacon(t.a, at_ms=t.world.start_ms() + 20 * HOUR_MS, counter=0)
    result = t.world.run([again, *t.reports])  # input order does not decide which is first
    assert reason_of(result, again) == CoverageReason.DUPLICATE
    assert reason_of(result, t.beacons[t.a]) is None


def test_verify_enforces_beacon_interval(triangle: Triangle) -> None:
    t = triangle
    interval_ms = t.world.params.coverage.beacon_interval_seconds * 1_000
    first_at = t.beacons[t.a].report.timestamp_ms
    too_soon = t.world.beacon(t.a, at_ms=first_at + interval_ms - 1, counter=1)
    on_time = t.world.beacon(t.b, at_ms=t.beacons[t.b].report.timestamp_ms + interval_ms, counter=1)
    result = t.world.run([*t.reports, too_soon, on_time])
    assert reason_of(result, too_soon) == CoverageReason.IRREGULAR_INTERVAL
    assert reason_of(result, on_time) is None


def test_verify_enforces_beacon_interval_across_epochs(triangle: Triangle) -> None:
    t = triangle
    first_at = t.beacons[t.a].report.timestamp_ms
    history = CoverageHistory(
        last_beacon_ms={t.a: first_at - 1_000},
        last_valid_witness_ms={t.a: first_at - 1_000},
    )
    result = t.world.run(t.reports, history=history)
    assert reason_of(result, t.beacons[t.a]) == CoverageReason.IRREGULAR_INTERVAL
    assert reason_of(result, t.beacons[t.b]) is None


def test_verify_rejects_beacon_with_wrong_data(triangle: Triangle) -> None:
    t = triangle
    forged = t.world.beacon(
        t.a, at_ms=t.world.start_ms() + 10 * HOUR_MS, counter=1, data=bytes(16)
    )
    result = t.world.run([*t.reports, forged])
    assert reason_of(result, forged) == CoverageReason.INVALID_PACKET


def test_verify_rejects_beacon_made_from_other_entropy(triangle: Triangle) -> None:
    t = triangle
    t.world.entropy = bytes(32)  # the chain's entropy differs from what devices used
    result = t.world.run(t.reports)
    assert reason_of(result, t.beacons[t.a]) == CoverageReason.INVALID_PACKET
    assert reason_of(result, t.witness_of(t.b, t.a)) == CoverageReason.INVALID_BEACON


# --- witness rules ----------------------------------------------------------------------------


def test_verify_rejects_duplicate_witness(triangle: Triangle) -> None:
    t = triangle
    again = t.world.witness(t.b, t.beacons[t.a], delay_ms=300)
    result = t.world.run([again, *t.reports])
    assert reason_of(result, again) == CoverageReason.DUPLICATE
    assert reason_of(result, t.witness_of(t.b, t.a)) is None


def test_verify_rejects_self_witness(triangle: Triangle) -> None:
    t = triangle
    own = t.world.witness(t.a, t.beacons[t.a])
    result = t.world.run([*t.reports, own])
    assert reason_of(result, own) == CoverageReason.SELF_WITNESS


def test_verify_rejects_witness_of_unreported_beacon(world: World, triangle: Triangle) -> None:
    t = triangle
    silent = world.device(-1_500, 0)
    never_reported = world.beacon(silent)
    heard = world.witness(t.a, never_reported)
    result = world.run([*t.reports, heard])
    assert reason_of(result, heard) == CoverageReason.UNKNOWN_BEACON


def test_verify_rejects_witness_with_mismatched_data(triangle: Triangle) -> None:
    t = triangle
    wrong = t.world.witness(t.b, t.beacons[t.a], data=bytes(16))
    result = t.world.run(t.replace(t.witness_of(t.b, t.a), wrong))
    assert reason_of(result, wrong) == CoverageReason.INVALID_PACKET


@pytest.mark.parametrize(("delay_ms", "reason"), [(4_000, None), (4_001, "too_late"), (-4_001, "too_late")])
def test_verify_checks_witness_lag(triangle: Triangle, delay_ms: int, reason: str | None) -> None:
    t = triangle
    w = t.world.witness(t.b, t.beacons[t.a], delay_ms=delay_ms)
    result = t.world.run(t.replace(t.witness_of(t.b, t.a), w))
    assert reason_of(result, w) == reason


@pytest.mark.parametrize(("diff_hz", "reason"), [(100_000, None), (100_001, "invalid_frequency")])
def test_verify_checks_frequency(triangle: Triangle, diff_hz: int, reason: str | None) -> None:
    t = triangle
    # 868.0 MHz is no EU868 channel: widen the channel tolerance so the pair rule decides.
    wide = t.world.params.coverage.model_copy(update={"channel_tolerance_hz": 100_000})
    t.world.params = replace(t.world.params, coverage=wide)
    w = t.world.witness(t.b, t.beacons[t.a], frequency_hz=868_100_000 - diff_hz)
    result = t.world.run(t.replace(t.witness_of(t.b, t.a), w))
    assert reason_of(result, w) == reason


def test_verify_rejects_region_mismatch(triangle: Triangle) -> None:
    # AS923-1 and AU915 share the 200 kHz grid around 923 MHz: a witness claiming AU915 hears an
    # AS923-1 beacon on a channel of its own region, so only the region rule tells them apart.
    t = triangle
    old = t.beacons[t.a]
    beacon = t.world.beacon(
        t.a, at_ms=old.report.timestamp_ms, frequency_hz=923_200_000, region="AS923-1"
    )
    same = t.world.witness(t.c, beacon, region="AS923-1")
    other = t.world.witness(t.b, beacon, region="AU915")
    kept = [r for r in t.reports if r is not old and r.report.payload_obj().get("beaconer") != t.a]
    result = t.world.run([*kept, beacon, same, other])
    assert reason_of(result, beacon) is None
    assert reason_of(result, same) is None
    assert reason_of(result, other) == CoverageReason.INVALID_REGION


def test_verify_rejects_witness_too_close(triangle: Triangle) -> None:
    t = triangle
    near = t.world.device(0, 100)  # ~100 m from a: fewer than 8 res-11 cells
    fine = t.world.device(0, 600)
    heard_near = t.world.witness(near, t.beacons[t.a])
    heard_fine = t.world.witness(fine, t.beacons[t.a])
    history = CoverageHistory(
        last_valid_beacon_ms={d: t.world.start_ms() for d in (near, fine)}
    )
    result = t.world.run([*t.reports, heard_near, heard_fine], history=history)
    assert reason_of(result, heard_near) == CoverageReason.BELOW_MIN_DISTANCE
    assert reason_of(result, heard_fine) is None


def test_verify_rejects_witness_too_far(triangle: Triangle) -> None:
    t = triangle
    far = t.world.device(101_000, 0)
    ok = t.world.device(99_000, 0)
    reports = [
        *t.reports,
        far_w := t.world.witness(far, t.beacons[t.a], rssi_cdbm=-13_000),
        ok_w := t.world.witness(ok, t.beacons[t.a], rssi_cdbm=-13_000),
    ]
    history = CoverageHistory(last_valid_beacon_ms={d: t.world.start_ms() for d in (far, ok)})
    result = t.world.run(reports, history=history)
    assert reason_of(result, far_w) == CoverageReason.MAX_DISTANCE_EXCEEDED
    assert reason_of(result, ok_w) is None


def test_verify_rejects_rssi_louder_than_free_space(triangle: Triangle) -> None:
    t = triangle
    # a-b is 1.5 km: FSPL(868.1 MHz) = 94.7 dB; budget 14 + 3 + 3 dBm; margin 5 dB -> -69.7 dBm.
    loud = t.world.witness(t.b, t.beacons[t.a], rssi_cdbm=-6_900)
    quiet = t.world.witness(t.c, t.beacons[t.a], rssi_cdbm=-7_100)
    reports = t.replace(t.witness_of(t.b, t.a), loud)
    reports = [quiet if r is t.witness_of(t.c, t.a) else r for r in reports]
    result = t.world.run(reports)
    assert reason_of(result, loud) == CoverageReason.BAD_RSSI
    assert reason_of(result, quiet) is None


# --- reciprocity ------------------------------------------------------------------------------


def test_verify_requires_beaconer_to_have_witnessed(triangle: Triangle) -> None:
    t = triangle
    loner = t.world.device(-1_500, 0)
    beacon = t.world.beacon(loner)
    heard = t.world.witness(t.a, beacon)
    result = t.world.run([*t.reports, beacon, heard])
    assert reason_of(result, beacon) == CoverageReason.NO_VALID_WITNESSES
    assert reason_of(result, heard) == CoverageReason.INVALID_BEACON
    with_history = t.world.run(
        [*t.reports, beacon, heard],
        history=CoverageHistory(last_valid_witness_ms={loner: t.world.start_ms()}),
    )
    assert reason_of(with_history, beacon) is None
    assert reason_of(with_history, heard) is None


def test_verify_requires_witness_to_have_beaconed(triangle: Triangle) -> None:
    t = triangle
    listener = t.world.device(-1_500, 0)
    heard = t.world.witness(listener, t.beacons[t.a])
    result = t.world.run([*t.reports, heard])
    assert reason_of(result, heard) == CoverageReason.NO_VALID_BEACONS
    window_ms = t.world.params.coverage.reciprocity_window_seconds * 1_000
    received = heard.report.timestamp_ms
    stale = CoverageHistory(last_valid_beacon_ms={listener: received - window_ms - 1})
    assert reason_of(t.world.run([*t.reports, heard], history=stale), heard) == "gateway_no_valid_beacons"
    recent = CoverageHistory(last_valid_beacon_ms={listener: received - window_ms})
    assert reason_of(t.world.run([*t.reports, heard], history=recent), heard) is None


# --- selection --------------------------------------------------------------------------------


def test_select_caps_witnesses_by_entropy_not_arrival(world: World) -> None:
    beaconer = world.device(0, 0)
    listeners = [world.device(2_000 + 300 * (i // 5), 600 * (i % 5)) for i in range(20)]
    beacon = world.beacon(beaconer)
    reports = [beacon]
    reports += [world.witness(d, beacon, delay_ms=10 + i) for i, d in enumerate(listeners)]
    history = CoverageHistory(
        last_valid_beacon_ms={d: world.start_ms() for d in listeners},
        last_valid_witness_ms={beaconer: world.start_ms()},
    )
    result = world.run(reports, history=history)
    chosen = result.selected[beaconer, 0]
    assert len(chosen) == world.params.coverage.max_witnesses_per_beacon
    assert chosen != tuple(listeners[:14])  # not simply the earliest arrivals
    assert world.run(list(reversed(reports)), history=history).selected[beaconer, 0] == chosen
    world.entropy = bytes(32)  # other entropy, other beacon data, other selection
    again = [world.beacon(beaconer, counter=0)]
    again += [world.witness(d, again[0]) for d in listeners]
    assert set(world.run(again, history=history).selected[beaconer, 0]) != set(chosen)


# --- the per-beacon secret ----------------------------------------------------------------------


def test_verify_rejects_radio_less_witness_computed_from_public_inputs(triangle: Triangle) -> None:
    """Entropy, address and counter are public: a fleet without a radio can hash them, but not
    the secret, so its "reception" matches none of the beaconer's beacons."""
    t = triangle
    beacon = t.beacons[t.a]
    payload = beacon.report.payload_obj()
    block = t.world.entropy_blocks()[payload["entropy_block"]]
    public_only = keccak256(block.hash + bytes.fromhex(t.a[2:]) + (0).to_bytes(8, "big"))[:16]
    liar = t.world.device(0, -1_500)
    fake = t.world.witness(liar, beacon, data=public_only)
    honest = t.world.witness(t.world.device(-1_500, 0), beacon)
    result = t.world.run([*t.reports, fake, honest])
    assert reason_of(result, fake) == CoverageReason.INVALID_PACKET
    assert reason_of(result, honest) in (None, CoverageReason.NO_VALID_BEACONS)  # it heard it


def test_verify_rejects_beacon_whose_secret_does_not_regenerate_its_data(triangle: Triangle) -> None:
    t = triangle
    at = t.world.start_ms() + 10 * HOUR_MS
    good = t.world.beacon(t.a, at_ms=at, counter=1, secret=bytes(range(16)))
    obj = good.report.payload_obj() | {"secret": "0x" + bytes(range(1, 17)).hex()}
    lying = IngestedReport(replace(good.report, payload=canonical_payload(obj)))
    heard = t.world.witness(t.b, lying)
    result = t.world.run([*t.reports, lying, heard])
    assert reason_of(result, lying) == CoverageReason.INVALID_PACKET
    assert reason_of(result, heard) == CoverageReason.INVALID_BEACON
    result = t.world.run([*t.reports, good, t.world.witness(t.b, good)])
    assert reason_of(result, good) is None


# --- a beacon in the epoch's last second keeps its witnesses ------------------------------------


def test_verify_accepts_witness_heard_after_the_epoch_end_of_a_last_second_beacon(
    triangle: Triangle,
) -> None:
    t = triangle
    end = t.world.params.epoch_end_ms(0)
    last = t.world.beacon(t.a, at_ms=end - 1_000, counter=1)
    late = [t.world.witness(w, last, delay_ms=3_000) for w in (t.b, t.c)]  # heard at end + 2 s
    assert all(w.report.epoch == 0 and w.report.timestamp_ms == end + 2_000 for w in late)
    result = t.world.run([*t.reports, last, *late])
    assert [reason_of(result, w) for w in late] == [None, None]
    assert reason_of(result, last) is None
    assert set(result.selected[t.a, 1]) == {t.b, t.c}  # the beacon is rewarded with them


def test_verify_rejects_witness_heard_beyond_the_lag_after_the_epoch_end(triangle: Triangle) -> None:
    t = triangle
    end = t.world.params.epoch_end_ms(0)
    last = t.world.beacon(t.a, at_ms=end - 1_000, counter=1)
    too_late = t.world.witness(t.b, last, delay_ms=6_000)  # heard at end + 5 s > end + 4 s
    result = t.world.run([*t.reports, last, too_late])
    assert reason_of(result, too_late) == CoverageReason.ENTROPY_EXPIRED
    beacon_after_end = t.world.beacon(t.c, at_ms=end + 1_000, counter=1, window=23)
    result = t.world.run([*t.reports, beacon_after_end])  # the overhang is for witnesses only
    assert reason_of(result, beacon_after_end) == CoverageReason.ENTROPY_EXPIRED
