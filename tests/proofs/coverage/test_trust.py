"""Penalties from the epoch's pattern (trust.py) through `verify_epoch`: a grid of honest radios
with RSSI from a log-distance model, and the cheaters the per-report rules let through."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import h3.api.basic_int as h3
import numpy as np
import pytest
from coverage_world import HOUR_MS, World, offset
from test_parity import random_epoch

from opendepin.proofs.coverage import (
    CoverageHistory,
    CoverageReason,
    Denylist,
    decode_reports,
    trust,
    verify_epoch,
)
from opendepin.proofs.coverage.corroboration import LocationStatus
from opendepin.proofs.coverage.params import CoverageParams
from opendepin.proofs.coverage.trust import assess
from opendepin.proofs.coverage.verifier import verify_batch
from opendepin.records import IngestedReport
from opendepin.types import Address, DeviceId

SPACING_M = 900.0
SIDE = 5
BEACON_HOURS = (1, 7, 13, 19)
EIRP_DBM = 20.0


def _rssi(rng: np.random.Generator, d_m: float, eirp_dbm: float = EIRP_DBM) -> int:
    """What a witness 3 dBi antenna reports: log-distance (n = 3) with 6 dB shadowing."""
    d = max(d_m, 1.0)
    return math.floor(100 * (eirp_dbm + 3 - 31.2 - 30 * math.log10(d) + rng.normal(0, 6.0)))


@dataclasses.dataclass
class Radio:
    device: DeviceId
    north: float
    east: float
    """Where the radio really is (its asserted cell may be elsewhere)."""
    eirp_dbm: float = EIRP_DBM


def _world(seed: int = 1) -> tuple[World, list[Radio]]:
    world = World()
    radios = []
    rng = np.random.default_rng(seed)
    for i in range(SIDE * SIDE):
        r, c = divmod(i, SIDE)
        n, e = (r - SIDE / 2) * SPACING_M + rng.uniform(-100, 100), (c - SIDE / 2) * SPACING_M + rng.uniform(-100, 100)
        radios.append(Radio(world.device(n, e), n, e))
    return world, radios


def _air(world: World, radios: list[Radio], seed: int = 2, hears: dict[DeviceId, set[DeviceId]] | None = None,
         quieter: dict[DeviceId, int] | None = None, clones: dict[DeviceId, DeviceId] | None = None,
         ) -> list[IngestedReport]:
    """Every radio beacons at BEACON_HOURS; every other radio that hears it (RSSI ≥ −125 dBm)
    witnesses it. `hears` limits who may hear whom (software keys hear only their ring);
    `quieter` makes a device report its receptions that many centi-dB weaker than it heard them
    (a spoofer fitting its witness reports to its asserted distance); a key in `clones` is a
    second key of its master's receiver: it reports exactly what the master heard."""
    rng = np.random.default_rng(seed)
    reports: list[IngestedReport] = []
    for k, hour in enumerate(BEACON_HOURS):
        for j, tx in enumerate(radios):
            at = world.start_ms() + hour * HOUR_MS + 1_000 * j
            beacon = world.beacon(tx.device, at_ms=at, counter=k, tx_power_cdbm=1_400)
            reports.append(beacon)
            heard: dict[DeviceId, int] = {}
            for rx in radios:
                if rx is tx or (clones or {}).get(rx.device) is not None:
                    continue
                if hears is not None and rx.device not in hears.get(tx.device, set()):
                    continue
                rssi = _rssi(rng, math.hypot(rx.north - tx.north, rx.east - tx.east), tx.eirp_dbm)
                told = rssi - (quieter or {}).get(rx.device, 0)
                if rssi >= -12_500 and told >= -13_000:  # a liar drops what it cannot plausibly claim
                    heard[rx.device] = told
            for key, master in (clones or {}).items():
                if master in heard and key != tx.device and master != tx.device:
                    heard[key] = heard[master]
            for device, rssi in sorted(heard.items()):
                reports.append(world.witness(device, beacon, rssi_cdbm=rssi))
    return reports


def _far_cell(world: World, device: DeviceId, north_m: float, east_m: float) -> None:
    """Re-assert `device` at (north, east) without moving its radio."""
    old = world.records[device]
    world.records[device] = dataclasses.replace(old, location=h3.latlng_to_cell(*offset(north_m, east_m), 12))


def test_an_honest_grid_is_corroborated_and_only_establishing() -> None:
    world, radios = _world()
    result = world.run(_air(world, radios))
    for r in radios:
        e = result.explanations[r.device]
        assert e.location == LocationStatus.CORROBORATED.value
        assert {p.reason for p in e.penalties} == {CoverageReason.ESTABLISHING}
        assert e.shares > 0


def test_a_spoofer_with_weakened_power_is_contradicted_and_uncounted() -> None:
    """It stands in the grid, asserts a cell 20 km away, transmits 6 dB down and reports its own
    receptions 25 dB weaker, so none of its or its witnesses' reports breaks a per-report rule."""
    world, radios = _world()
    honest = _air(world, radios)
    baseline = world.run(honest)
    spoofer = Radio(world.device(0.0, 0.0), 0.0, 0.0, eirp_dbm=EIRP_DBM - 6)
    _far_cell(world, spoofer.device, 20_000.0, 5_000.0)
    result = world.run(_air(world, [*radios, spoofer], seed=3, quieter={spoofer.device: 2_500}))
    e = result.explanations[spoofer.device]
    assert e.invalid == () and e.valid_beacons == len(BEACON_HOURS)  # every report passes the rules
    assert e.location == LocationStatus.CONTRADICTED.value
    (penalty,) = [p for p in e.penalties if p.reason is CoverageReason.LOCATION_CONTRADICTED]
    assert penalty.factor == 0 and e.shares == 0
    assert penalty.evidence["offset_m"] > 15_000
    assert penalty.evidence["witnesses"] >= 3
    # Its honest neighbours keep their density scale: a contradicted device does not count.
    for r in radios:
        assert result.explanations[r.device].scale == baseline.explanations[r.device].scale
        assert result.explanations[r.device].location == LocationStatus.CORROBORATED.value


def test_a_ring_of_software_keys_is_a_closed_cluster() -> None:
    """Five keys far from the grid witness only each other at plausible levels."""
    world, radios = _world()
    ring = [Radio(world.device(40_000.0 + 600 * i, 30_000.0), 40_000.0 + 600 * i, 30_000.0) for i in range(5)]
    hears = {r.device: {x.device for x in radios} for r in radios}
    hears.update({r.device: {x.device for x in ring} for r in ring})
    result = world.run(_air(world, [*radios, *ring], hears=hears))
    for r in ring:
        e = result.explanations[r.device]
        (penalty,) = [p for p in e.penalties if p.reason is CoverageReason.CLOSED_CLUSTER]
        assert penalty.factor == 0 and e.shares == 0
        assert penalty.evidence["members"] == 5 and penalty.evidence["largest"] == len(radios)
    assert all(result.explanations[r.device].shares > 0 for r in radios)


def test_keys_behind_one_receiver_share_one_reward() -> None:
    """Three extra keys on radio 12's receiver, asserting cells 1–2 km away: they beacon through
    it and report exactly what it heard."""
    world, radios = _world()
    master = radios[12]
    front = [Radio(world.device(master.north + 1_000.0 + 300 * i, master.east + 800.0), master.north, master.east)
             for i in range(3)]
    result = world.run(_air(world, [*radios, *front], clones={f.device: master.device for f in front}))
    group = tuple(sorted([master.device, *(f.device for f in front)]))
    for key in group:
        penalties = {p.reason: p for p in result.explanations[key].penalties}
        shared = penalties[CoverageReason.SHARED_RECEIVER]
        assert shared.factor == Fraction(1, 4)
        assert tuple(shared.evidence["sample"]) == group
    others = [r for r in radios if r is not master]
    assert all(CoverageReason.SHARED_RECEIVER not in {p.reason for p in result.explanations[r.device].penalties}
               for r in others)


def test_a_same_owner_witness_is_refused() -> None:
    world, radios = _world()
    a, b = radios[0].device, radios[1].device
    world.records[b] = dataclasses.replace(world.records[b], owner=Address(world.records[a].owner))
    reports = _air(world, radios)
    result = world.run(reports)
    reasons = {(v.device, v.reason) for v in result.verdicts if v.reason is not None}
    assert (b, CoverageReason.SAME_OWNER_WITNESS.value) in {(d, str(r)) for d, r in reasons}


def test_establishment_ramps_over_epochs() -> None:
    world, radios = _world()
    reports = _air(world, radios)
    start = world.start_ms()
    day = world.params.epoch_end_ms(0) - start
    device = radios[3].device
    for age, expected in ((0, Fraction(1, 3)), (1, Fraction(2, 3)), (2, None), (10, None)):
        history = CoverageHistory(first_seen_ms={device: start - age * day})
        e = world.run(reports, history).explanations[device]
        found = [p.factor for p in e.penalties if p.reason is CoverageReason.ESTABLISHING]
        assert found == ([] if expected is None else [expected])


def test_penalties_do_not_depend_on_report_order() -> None:
    world, radios = _world()
    spoofer = Radio(world.device(0.0, 0.0), 0.0, 0.0, eirp_dbm=EIRP_DBM - 6)
    _far_cell(world, spoofer.device, 20_000.0, 5_000.0)
    reports = _air(world, [*radios, spoofer], quieter={spoofer.device: 2_500})
    forward = world.run(reports).explanations
    backward = world.run(list(reversed(reports))).explanations
    assert {d: (e.shares, e.penalties) for d, e in forward.items()} == {
        d: (e.shares, e.penalties) for d, e in backward.items()
    }


def test_penalties_are_published_in_the_explanation() -> None:
    world, radios = _world()
    obj = world.run(_air(world, radios)).explanations[radios[0].device].to_obj()
    assert obj["trust"] == "1/3" and obj["location"] == "corroborated"
    assert obj["penalties"][0]["reason"] == "establishing"


@pytest.mark.parametrize("field", ["first_seen_ms"])
def test_history_keeps_the_earliest_first_seen_and_reads_old_files(field: str) -> None:
    d = DeviceId("0x" + "11" * 20)
    h = CoverageHistory(last_beacon_ms={d: 10}, first_seen_ms={d: 5})
    merged = h.updated(CoverageHistory(last_beacon_ms={d: 20}, first_seen_ms={d: 9}))
    assert merged.first_seen_ms[d] == 5
    assert CoverageHistory.from_obj(merged.to_obj()) == merged
    old = {k: v for k, v in merged.to_obj().items() if k != field}
    assert CoverageHistory.from_obj(old).first_seen_ms == {}
    assert merged.pruned(15).first_seen_ms == {d: 5}  # still has a recent entry
    assert merged.pruned(25).first_seen_ms == {}  # gone from every window: starts again
    with pytest.raises(ValueError, match="first_seen_ms"):
        CoverageHistory.from_obj({**merged.to_obj(), field: {"x": True}})


def test_two_hostile_radios_cannot_frame_an_honest_device() -> None:
    """Two real radios beside radio 12 report every beacon they hear from it at the weakest
    level a receiver could report, as if it were far away: it stays corroborated."""
    world, radios = _world()
    victim = radios[12]
    framers = [Radio(world.device(victim.north + 300.0 * s, victim.east + 250.0), victim.north + 300.0 * s,
                     victim.east + 250.0) for s in (-1, 1)]
    reports = _air(world, [*radios, *framers])
    framed: list[IngestedReport] = []
    for rep in reports:
        obj = rep.report.payload_obj()
        if rep.report.device in {f.device for f in framers} and obj["type"] == "witness" and obj["beaconer"] == victim.device:
            beacon = next(b for b in reports if b.report.device == victim.device and b.report.payload_obj()["data"] == obj["data"])
            framed.append(world.witness(rep.report.device, beacon, rssi_cdbm=-13_000))
        else:
            framed.append(rep)
    e = world.run(framed).explanations[victim.device]
    assert e.location == LocationStatus.CORROBORATED.value
    assert CoverageReason.LOCATION_CONTRADICTED not in {p.reason for p in e.penalties}
    assert e.location_test["beacons"]["trimmed"] >= 1  # the framers fit the true cell worst


def test_a_too_loud_honest_witness_counts_against_the_beaconer_not_itself() -> None:
    """A full-power spoofer claims a cell 20 km away: its nearest honest neighbours hear it
    louder than free space allows over 20 km. Once its location is contradicted, those
    receptions are judged from where its witnesses place it, and their verdict is lifted."""
    world, radios = _world()
    spoofer = Radio(world.device(0.0, 0.0), 0.0, 0.0)
    _far_cell(world, spoofer.device, 20_000.0, 5_000.0)
    reports = _air(world, [*radios, spoofer], seed=3, quieter={spoofer.device: 2_500})
    decoded = decode_reports(reports)
    rules_only = verify_batch(decoded.beacons, decoded.witnesses, world.snapshot(), world.params,
                              CoverageHistory(), Denylist())
    too_loud = {i for i, o in rules_only.witness_outcomes.items() if o is not None and o.reason is CoverageReason.BAD_RSSI}
    assert too_loud  # the per-report rule blames the honest witnesses
    result = world.run(reports)
    assert result.explanations[spoofer.device].location == LocationStatus.CONTRADICTED.value
    lifted = [i for i in too_loud if result.verdicts[i].reason is None]
    assert lifted and all(result.verdicts[i].device != spoofer.device for i in lifted)


def test_a_device_quieter_than_it_claims_has_asymmetric_links() -> None:
    """Radio 12 transmits 12 dB below the power its beacons claim and reports receptions
    truthfully: its links lose 12 dB more one way than the other."""
    world, radios = _world()
    radios[12] = dataclasses.replace(radios[12], eirp_dbm=EIRP_DBM - 12)
    result = world.run(_air(world, radios))
    penalties = {p.reason: p for p in result.explanations[radios[12].device].penalties}
    asym = penalties[CoverageReason.ASYMMETRIC_LINKS]
    assert abs(asym.evidence["mean_db"]) > 9 and asym.factor < 1
    for r in radios[:12] + radios[13:]:  # its partners' own links stay reciprocal on average
        assert CoverageReason.ASYMMETRIC_LINKS not in {p.reason for p in result.explanations[r.device].penalties}


def test_an_honest_grid_has_reciprocal_links() -> None:
    world, radios = _world(seed=7)
    result = world.run(_air(world, radios, seed=8))
    assert not any(p.reason is CoverageReason.ASYMMETRIC_LINKS for e in result.explanations.values() for p in e.penalties)


@pytest.mark.parametrize("seed", range(4))
def test_trust_is_the_same_without_the_verifiers_list_of_valid_receptions(seed: int) -> None:
    """`assess` reads the valid witness reports `verify_batch` hands it, or finds them from the
    outcomes when a `Verification` carries none: the same result either way."""
    job = random_epoch(seed, n_devices=40)
    params = CoverageParams(coverage=job.section, network=job.settings.network)
    decoded = decode_reports(job.reports)
    v = verify_batch(decoded.beacons, decoded.witnesses, job.snapshot, params, CoverageHistory(), Denylist())
    assert v.valid
    with_list = assess(decoded.beacons, decoded.witnesses, v, job.snapshot, params, CoverageHistory(), job.epoch)
    without = assess(decoded.beacons, decoded.witnesses, dataclasses.replace(v, valid=None), job.snapshot, params,
                     CoverageHistory(), job.epoch)
    assert with_list == without
    assert with_list.penalties  # the epoch has something to find


def test_the_location_tests_run_beside_the_caller_and_their_error_reaches_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`assess_started` gives what `assess` gives; a failure of the tests on their thread is
    raised by `result()` (an epoch never goes on without them)."""
    job = random_epoch(3, n_devices=40)
    params = CoverageParams(coverage=job.section, network=job.settings.network)
    decoded = decode_reports(job.reports)
    v = verify_batch(decoded.beacons, decoded.witnesses, job.snapshot, params, CoverageHistory(), Denylist())
    args = (decoded.beacons, decoded.witnesses, v, job.snapshot, params, CoverageHistory(), job.epoch)
    pending = trust.assess_started(*args)
    assert pending.result() == assess(*args)
    assert pending.result() is pending.result()

    def broken(*_: object) -> None:
        raise RuntimeError("the tests failed")

    monkeypatch.setattr(trust, "_locations", broken)
    with pytest.raises(RuntimeError, match="the tests failed"):
        trust.assess_started(*args).result()
    with pytest.raises(RuntimeError, match="the tests failed"):
        verify_epoch(job.reports, job.snapshot, params)
