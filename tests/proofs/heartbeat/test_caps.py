"""Caps per location and per owner: who is kept, why, and that input order cannot change it."""

from __future__ import annotations

import random

import h3
import pytest

from opendepin.errors import StageError
from opendepin.network.settings import Settings, load_settings
from opendepin.proofs.heartbeat import HEARTBEAT, HeartbeatExplanation, HeartbeatReason, explain
from opendepin.proofs.heartbeat import verify as hb_verify
from opendepin.proofs.heartbeat.geo import cell_centre, offset_point
from opendepin.proofs.heartbeat.scorer import MAX_KEPT_LISTED, apply_caps, cap_cell, rank_key
from opendepin.proofs.kind import KindJob
from opendepin.records import ChainSnapshot, IngestedReport
from opendepin.types import Address, DeviceId, Epoch

from .conftest import CELL, EPOCH, OWNER, heartbeat, record, snapshot

ENTROPY = bytes(range(32))
FARM = [DeviceId("0x" + f"{i:02x}" * 20) for i in range(1, 6)]
"""Five devices asserting the same spot."""
OTHER_OWNER = Address("0x" + "0d" * 20)


def far_cell(km: float) -> int:
    centre = cell_centre(CELL)
    assert centre is not None
    lat, lon = offset_point(centre[0], centre[1], km * 1000, 90.0)
    return int(h3.str_to_int(h3.latlng_to_cell(lat, lon, 12)))


def day(settings: Settings, device: DeviceId, cell: int = CELL, hours: int = 24) -> list[IngestedReport]:
    centre = cell_centre(cell)
    assert centre is not None
    payload = {"lat_e7": round(centre[0] * 1e7), "lon_e7": round(centre[1] * 1e7)}
    return [heartbeat(settings, h, device=device, payload=payload) for h in range(hours)]


def run(settings: Settings, reports: list[IngestedReport], snap: ChainSnapshot) -> dict[DeviceId, HeartbeatExplanation]:
    return dict(explain(reports, hb_verify(reports, snap, settings), snap, settings))


def ranked(devices: list[DeviceId], entropy: bytes = ENTROPY) -> list[DeviceId]:
    return sorted(devices, key=lambda d: rank_key(entropy, d))


def test_cell_cap_keeps_the_lowest_entropy_ranks_and_explains_the_rest(settings: Settings) -> None:
    snap = snapshot(*(record(d) for d in FARM), entropy=ENTROPY)
    reports = [r for d in FARM for r in day(settings, d)]
    out = run(settings, reports, snap)
    order = ranked(FARM)
    kept, capped = order[:2], order[2:]
    assert [out[d].share for d in kept] == [96, 96]
    for d in capped:
        e = out[d]
        assert e.share == 0 and e.reasons == ("cell_cap",)
        assert e.trusted_quarter_hours == 96
        assert e.capped is not None and e.capped.to_obj() == {
            "reason": "cell_cap",
            "cell": cap_cell(CELL, 10),
            "kept": kept,
            "kept_total": 2,
        }


def test_cell_cap_does_not_touch_devices_in_other_cells(settings: Settings) -> None:
    cells = [CELL, far_cell(1), far_cell(2), far_cell(3), far_cell(4)]
    snap = snapshot(*(record(d, location=c) for d, c in zip(FARM, cells, strict=True)), entropy=ENTROPY)
    reports = [r for d, c in zip(FARM, cells, strict=True) for r in day(settings, d, c)]
    out = run(settings, reports, snap)
    assert all(out[d].share == 96 and out[d].capped is None for d in FARM)


def test_caps_do_not_depend_on_input_order(settings: Settings) -> None:
    snap = snapshot(*(record(d) for d in FARM), entropy=ENTROPY)
    reports = [r for d in FARM for r in day(settings, d)]
    first = run(settings, reports, snap)
    for seed in range(5):
        shuffled = list(reports)
        random.Random(seed).shuffle(shuffled)
        assert run(settings, shuffled, snap) == first


def test_the_entropy_not_the_devices_decides_who_is_kept(settings: Settings) -> None:
    """Another close block ranks differently: a device cannot pick a winning id in advance."""
    reports = [r for d in FARM for r in day(settings, d)]
    winners = set()
    for i in range(8):
        entropy = bytes([i]) * 32
        out = run(settings, reports, snapshot(*(record(d) for d in FARM), entropy=entropy))
        kept = tuple(d for d in FARM if out[d].share > 0)
        assert set(kept) == set(ranked(FARM, entropy)[:2])
        winners.add(kept)
    assert len(winners) > 1


def test_moving_the_reported_fix_does_not_escape_the_cell_cap(settings: Settings) -> None:
    """The cap counts the *asserted* cell: a device reporting 250 m away (still trusted) is
    grouped where it asserted."""
    centre = cell_centre(CELL)
    assert centre is not None
    devices = FARM[:3]
    lat, lon = offset_point(centre[0], centre[1], 250.0, 0.0)
    moved = {"lat_e7": round(lat * 1e7), "lon_e7": round(lon * 1e7)}
    reports = day(settings, devices[0]) + day(settings, devices[1])
    reports += [heartbeat(settings, h, device=devices[2], payload=moved) for h in range(24)]
    out = run(settings, reports, snapshot(*(record(d) for d in devices), entropy=ENTROPY))
    assert sorted(out[d].share for d in devices) == [0, 96, 96]
    assert {out[d].reasons for d in devices if out[d].share == 0} == {("cell_cap",)}


def test_asserting_another_resolution_at_the_same_spot_lands_in_the_same_cap_cell() -> None:
    coarse = h3.latlng_to_cell(47.3769, 8.5417, 8)
    fine = int(h3.str_to_int(h3.cell_to_center_child(coarse, 13)))
    assert cap_cell(int(h3.str_to_int(coarse)), 9) == cap_cell(fine, 9) is not None


def test_devices_that_earn_nothing_take_no_cap_slot(settings: Settings) -> None:
    snap = snapshot(*(record(d) for d in FARM[:3]), entropy=ENTROPY)
    flaky = ranked(FARM[:3])[0]  # the best-ranked device, but below the uptime minimum
    reports = [r for d in FARM[:3] for r in day(settings, d, hours=3 if d == flaky else 24)]
    out = run(settings, reports, snap)
    assert out[flaky].reasons == ("insufficient_uptime",)
    assert all(out[d].share == 96 for d in FARM[:3] if d != flaky)


def test_owner_cap_limits_one_owners_devices_anywhere(settings: Settings) -> None:
    tight = load_settings(None, heartbeat={"max_devices_per_owner": 2})
    cells = [CELL, far_cell(1), far_cell(2), far_cell(3), far_cell(4)]
    owners = [OWNER, OWNER, OWNER, OWNER, OTHER_OWNER]
    snap = snapshot(
        *(record(d, location=c, owner=o) for d, c, o in zip(FARM, cells, owners, strict=True)), entropy=ENTROPY
    )
    reports = [r for d, c in zip(FARM, cells, strict=True) for r in day(tight, d, c)]
    out = run(tight, reports, snap)
    kept = ranked(FARM[:4])[:2]
    assert {d for d in FARM if out[d].share > 0} == {*kept, FARM[4]}
    capped = next(d for d in FARM[:4] if d not in kept)
    decision = out[capped].capped
    assert decision is not None
    assert decision.to_obj() == {"reason": "owner_cap", "owner": OWNER, "kept": kept, "kept_total": 2}
    assert out[capped].reasons == ("owner_cap",)


def test_zero_means_no_cap(settings: Settings) -> None:
    free = load_settings(None, heartbeat={"max_devices_per_cell": 0, "max_devices_per_owner": 0})
    snap = snapshot(*(record(d) for d in FARM), entropy=ENTROPY)
    assert apply_caps(set(FARM), snap, free.kind_section("heartbeat")) == {}  # type: ignore[arg-type]
    assert len(apply_caps(set(FARM), snap, settings.kind_section("heartbeat"))) == 3  # type: ignore[arg-type]


def test_an_earning_device_without_a_cell_is_a_stage_error(settings: Settings) -> None:
    snap = snapshot(record(FARM[0], location=0), entropy=ENTROPY)
    with pytest.raises(StageError):
        apply_caps({FARM[0]}, snap, settings.kind_section("heartbeat"))  # type: ignore[arg-type]


def test_published_explanation_carries_the_cap(settings: Settings) -> None:
    snap = snapshot(*(record(d) for d in FARM[:3]), entropy=ENTROPY)
    reports = [r for d in FARM[:3] for r in day(settings, d)]
    job = KindJob(Epoch(EPOCH), reports, snap, settings, settings.kind_section("heartbeat"))
    result = HEARTBEAT.compute(job)
    [capped] = [d for d, e in result.explanations.items() if "capped" in e.details]
    assert capped not in result.shares
    assert result.explanations[capped].to_obj()["capped"]["reason"] == HeartbeatReason.CELL_CAP.value
    assert len(result.shares) == 2


def test_cap_cell_is_none_for_no_location() -> None:
    assert cap_cell(0, 10) is None and cap_cell(12345, 10) is None


def test_a_capped_explanation_lists_a_bounded_number_of_kept_devices(settings: Settings) -> None:
    many = [DeviceId(f"0x{i:040x}") for i in range(1, 41)]
    wide = load_settings(None, heartbeat={"max_devices_per_cell": 30})
    snap = snapshot(*(record(d) for d in many), entropy=ENTROPY)
    capped = apply_caps(set(many), snap, wide.kind_section("heartbeat"))  # type: ignore[arg-type]
    assert len(capped) == 10
    for decision in capped.values():
        assert decision.kept == tuple(ranked(many)[:MAX_KEPT_LISTED]) and decision.kept_total == 30


def test_a_farm_that_spreads_its_asserted_cells_but_reports_one_spot_is_one_spot(settings: Settings) -> None:
    """Five keys assert five neighbouring cells (each alone in its cap cell) but every heartbeat
    reports the same fix: the cap also counts the cell of the reported fix."""
    ring = sorted(h3.grid_disk(str(cap_cell(CELL, 10)), 1))[:5]
    cells = [int(h3.str_to_int(h3.cell_to_center_child(c, 12))) for c in ring]
    assert len({cap_cell(c, 10) for c in cells}) == len(cells)  # the asserted cells escape the cell cap
    snap = snapshot(*(record(d, location=c) for d, c in zip(FARM, cells, strict=True)), entropy=ENTROPY)
    reports = [r for d in FARM for r in day(settings, d, CELL)]  # one machine, one fix
    out = run(settings, reports, snap)
    paid = [d for d in FARM if out[d].share > 0]
    assert len(paid) == 2 and paid == sorted(ranked(FARM)[:2])
    for d in set(FARM) - set(paid):
        capped = out[d].capped
        assert capped is not None and capped.reason is HeartbeatReason.CELL_CAP
        assert capped.group == "fix " + str(cap_cell(CELL, 10))


def test_precomputed_cells_decide_as_the_computed_ones(settings: Settings) -> None:
    """`apply_caps` with the cells the shards computed (some or all) caps the same devices."""
    many = [DeviceId(f"0x{i:040x}") for i in range(1, 41)]
    locations = [CELL, far_cell(3), far_cell(9)]
    snap = snapshot(*(record(d, location=locations[i % 3]) for i, d in enumerate(many)), entropy=ENTROPY)
    section = settings.kind_section("heartbeat")
    reference = apply_caps(set(many), snap, section)  # type: ignore[arg-type]
    assert reference  # the test exercises capping
    every = {d: str(cap_cell(snap.devices[d].location, 10)) for d in many}
    assert apply_caps(set(many), snap, section, cells=every) == reference  # type: ignore[arg-type]
    some = dict(list(every.items())[::3])
    assert apply_caps(set(many), snap, section, cells=some) == reference  # type: ignore[arg-type]


def test_tallies_carry_the_cap_cell_of_earning_devices_only(settings: Settings) -> None:
    from opendepin.proofs.heartbeat.scorer import tally

    snap = snapshot(*(record(d) for d in FARM[:2]), entropy=ENTROPY)
    reports = day(settings, FARM[0]) + day(settings, FARM[1], hours=2)  # FARM[1]: too few hours
    tallies = tally(reports, hb_verify(reports, snap, settings), snap, settings)
    assert tallies[FARM[0]].earning and tallies[FARM[0]].cell == cap_cell(CELL, 10)
    assert not tallies[FARM[1]].earning and tallies[FARM[1]].cell is None
