from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from opendepin.errors import StageError
from opendepin.network.settings import Settings, load_settings
from opendepin.proofs.heartbeat import (
    Behaviour,
    HeartbeatReason,
    explain,
    simulate_device,
)
from opendepin.proofs.heartbeat import score as hb_score
from opendepin.proofs.heartbeat import verify as hb_verify
from opendepin.proofs.heartbeat.geo import cell_centre, offset_point
from opendepin.proofs.heartbeat.scorer import TallyBuilder, fix_cell, fix_cells
from opendepin.proofs.heartbeat.settings import heartbeat_section
from opendepin.records import IngestedReport, Verdict
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.types import DeviceId, Epoch, ProofKind

from .conftest import CELL, DEVICE_A, DEVICE_B, EPOCH, heartbeat, record, snapshot


def payload_at(metres: float) -> dict[str, int]:
    centre = cell_centre(CELL)
    assert centre is not None
    lat, lon = offset_point(centre[0], centre[1], metres, 200.0)
    return {"lat_e7": round(lat * 1e7), "lon_e7": round(lon * 1e7)}


def run(reports: list[IngestedReport], settings: Settings, *records: object) -> dict[str, int]:
    snap = snapshot(*(records or (record(),)))  # type: ignore[arg-type]
    verdicts = hb_verify(reports, snap, settings)
    return dict(hb_score(reports, verdicts, snap, settings))


def test_score_full_day_full_trust_is_96_quarter_hours(settings: Settings) -> None:
    assert run([heartbeat(settings, h) for h in range(24)], settings) == {DEVICE_A: 96}


def test_score_partial_trust_counts_one_quarter_per_hour(settings: Settings) -> None:
    hbs = [heartbeat(settings, h, payload=payload_at(350.5)) for h in range(20)]
    assert run(hbs, settings) == {DEVICE_A: 20}


def test_score_counts_distinct_hours_once(settings: Settings) -> None:
    hbs = [heartbeat(settings, h, minute=m) for h in range(12) for m in (1, 3, 5)]
    assert run(hbs, settings) == {DEVICE_A: 12 * 4}


def test_score_same_hour_takes_best_trust_whatever_the_order(settings: Settings) -> None:
    near = [heartbeat(settings, h, minute=2) for h in range(12)]
    far = [heartbeat(settings, h, minute=4, payload=payload_at(350.5)) for h in range(12)]
    assert run(far + near, settings) == run(near + far, settings) == {DEVICE_A: 48}


def test_score_below_min_hours_is_zero_with_reason(settings: Settings) -> None:
    hbs = [heartbeat(settings, h) for h in range(11)]
    assert run(hbs, settings) == {}
    snap = snapshot(record())
    e = explain(hbs, hb_verify(hbs, snap, settings), snap, settings)[DEVICE_A]
    assert (e.hours, e.share, e.trusted_quarter_hours) == (11, 0, 44)
    assert e.reasons == (HeartbeatReason.INSUFFICIENT_UPTIME.value,)


def test_score_exactly_min_hours_is_paid(settings: Settings) -> None:
    assert run([heartbeat(settings, h) for h in range(12)], settings) == {DEVICE_A: 48}


def test_score_untrusted_hours_do_not_count_towards_uptime(settings: Settings) -> None:
    good = [heartbeat(settings, h) for h in range(10)]
    bad = [heartbeat(settings, h, payload=payload_at(900.5)) for h in range(10, 24)]
    snap = snapshot(record())
    reports = good + bad
    e = explain(reports, hb_verify(reports, snap, settings), snap, settings)[DEVICE_A]
    assert e.hours == 10 and e.share == 0
    assert e.invalid == (("location_untrusted", 14),)
    assert e.reasons == ("insufficient_uptime", "location_untrusted")


def test_explain_reports_distance_and_trust(settings: Settings) -> None:
    hbs = [heartbeat(settings, h, payload=payload_at(120.5 if h else 350.5)) for h in range(13)]
    snap = snapshot(record())
    e = explain(hbs, hb_verify(hbs, snap, settings), snap, settings)[DEVICE_A]
    assert (e.heartbeats, e.hours, e.min_trust_quarters, e.max_distance_m) == (13, 13, 1, 350)
    assert e.share == 12 * 4 + 1 and e.reasons == ()


def test_score_rejects_mismatched_verdicts(settings: Settings) -> None:
    hbs = [heartbeat(settings, 0)]
    with pytest.raises(StageError):
        hb_score(hbs, [], snapshot(record()), settings)
    with pytest.raises(StageError):
        hb_score(hbs, [Verdict(DEVICE_B, 0)], snapshot(record()), settings)


@hsettings(max_examples=40, deadline=None)
@given(
    hours=st.lists(st.integers(0, 23), max_size=40),
    far=st.sets(st.integers(0, 23)),
)
def test_score_equals_sum_of_best_hourly_trust(hours: list[int], far: set[int]) -> None:
    settings = load_settings(None)
    hbs = [
        heartbeat(settings, h, seq=i, payload=payload_at(350.5 if h in far else 10.5))
        for i, h in enumerate(hours)
    ]
    distinct = set(hours)
    expected = sum(1 if h in far else 4 for h in distinct)
    shares = run(hbs, settings)
    assert shares == ({DEVICE_A: expected} if len(distinct) >= 12 else {})


def test_simulated_population_scores_by_behaviour(settings: Settings) -> None:
    rng = random.Random(7)
    devices = {DEVICE_A: Behaviour.HONEST, DEVICE_B: Behaviour.DISHONEST}
    flaky = type(DEVICE_A)("0x" + "c3" * 20)
    devices[flaky] = Behaviour.FLAKY
    reports = []
    for device, behaviour in devices.items():
        for seq, sim in enumerate(simulate_device(behaviour, CELL, EPOCH, settings, rng)):
            report = Report(
                network_id="n", chain_id=1, device=device, kind=ProofKind("heartbeat"),
                epoch=Epoch(EPOCH), seq=seq, timestamp_ms=sim.timestamp_ms,
                payload=canonical_payload(sim.payload),
            )  # fmt: skip
            reports.append(IngestedReport(report))
    snap = snapshot(*(record(d) for d in devices))
    verdicts = hb_verify(reports, snap, settings)
    assert hb_score(reports, verdicts, snap, settings) == {DEVICE_A: 96}
    e = explain(reports, verdicts, snap, settings)
    assert e[DEVICE_B].invalid == (("location_untrusted", 24),)
    assert 1 <= e[flaky].hours <= 8 and e[flaky].reasons == ("insufficient_uptime",)


def test_simulate_device_is_reproducible_with_seed(settings: Settings) -> None:
    a = simulate_device(Behaviour.FLAKY, CELL, EPOCH, settings, random.Random(1))
    b = simulate_device(Behaviour.FLAKY, CELL, EPOCH, settings, random.Random(1))
    assert a == b


def test_explain_from_the_verifiers_parsed_payloads_equals_explain_from_the_reports(
    settings: Settings,
) -> None:
    """The kind hands the scorer the payloads its verifier parsed; the scorer's own decoding
    (the reference path) must give the same explanations, for a mix of valid and invalid."""
    from opendepin.proofs.heartbeat.verifier import assess_all

    rng = random.Random(11)
    devices = {DEVICE_A: Behaviour.HONEST, DEVICE_B: Behaviour.DISHONEST}
    reports = []
    for device, behaviour in devices.items():
        for seq, sim in enumerate(simulate_device(behaviour, CELL, EPOCH, settings, rng)):
            report = Report(
                network_id="n", chain_id=1, device=device, kind=ProofKind("heartbeat"),
                epoch=Epoch(EPOCH), seq=seq % 20, timestamp_ms=sim.timestamp_ms,
                payload=canonical_payload(sim.payload),
            )  # fmt: skip  (seq % 20 repeats some seqs: duplicates are invalid)
            reports.append(IngestedReport(report))
    snap = snapshot(*(record(d) for d in devices))
    assessed = assess_all(reports, snap, settings)
    verdicts = [a.verdict for a in assessed]
    assert verdicts == hb_verify(reports, snap, settings)
    assert any(not v.valid for v in verdicts) and any(v.valid for v in verdicts)
    assert all((a.payload is not None) == a.verdict.valid for a in assessed)
    fast = explain(reports, verdicts, snap, settings, [a.payload for a in assessed])
    assert fast == explain(reports, verdicts, snap, settings)
    with pytest.raises(StageError, match="parsed payloads"):
        explain(reports, verdicts, snap, settings, [None])


_beats = st.lists(
    st.tuples(
        st.sampled_from([DEVICE_A, DEVICE_B]),
        st.integers(0, 5),  # hour
        st.sampled_from([1, 4]),  # trust quarters
        st.integers(0, 2_000),  # distance
        st.sampled_from(["88283082a3fffff", "88283082a7fffff"]),  # fix cell
    ),
    max_size=30,
)


@hsettings(max_examples=100, deadline=None)
@given(_beats, st.lists(st.integers(0, 30), max_size=4))
def test_merging_runs_of_heartbeats_tallies_as_adding_each(
    beats: list[tuple[str, int, int, int, str]], cuts: list[int]
) -> None:
    """`TallyBuilder.merge_run` (the line path's per-device runs, cut anywhere, a device's
    runs in any order) gives the tallies `valid` per heartbeat gives."""
    section = heartbeat_section(load_settings(None))
    one_by_one = TallyBuilder(section)
    for device, hour, trust, distance, cell in beats:
        one_by_one.valid(DeviceId(device), hour, trust, distance, cell)
    merged = TallyBuilder(section)
    bounds = sorted({0, len(beats), *(c for c in cuts if c <= len(beats))})
    for a, b in reversed(list(itertools.pairwise(bounds))):
        for device in (DEVICE_A, DEVICE_B):
            run = [x for x in beats[a:b] if x[0] == device]
            if not run:
                continue
            hours: dict[int, int] = {}
            fixes: dict[str, int] = {}
            for _, hour, trust, _, cell in run:
                hours[hour] = max(hours.get(hour, 0), trust)
                fixes[cell] = fixes.get(cell, 0) + 1
            merged.merge_run(DeviceId(device), hours, len(run), max(x[3] for x in run), fixes)
    assert merged.finish() == one_by_one.finish()


@hsettings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(-900_000_000, 900_000_000), st.integers(-1_800_000_000, 1_800_000_000)), max_size=20),
    st.integers(0, 15),
)
def test_fix_cells_finds_the_cells_fix_cell_finds(fixes: list[tuple[int, int]], resolution: int) -> None:
    section = heartbeat_section(load_settings(None, heartbeat={"cap_resolution": resolution}))
    cell = fix_cells(section)
    for lat, lon in fixes + fixes:  # again: from its table
        assert cell(lat, lon) == fix_cell(lat, lon, section)
