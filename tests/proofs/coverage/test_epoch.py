"""The coverage stage end to end: malformed payloads, shares, explanations, activity."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from coverage_world import Triangle, reason_of

from opendepin.network.settings import Settings
from opendepin.proofs.coverage import (
    KIND,
    SHARES_PER_UNIT,
    CoverageParams,
    CoverageReason,
    beaconer_units,
    witness_units,
)
from opendepin.proofs.kind import Kind, KindJob
from opendepin.records import IngestedReport
from opendepin.types import Epoch


def test_verify_marks_malformed_payload(triangle: Triangle) -> None:
    t = triangle
    good = t.reports[0]
    bad = IngestedReport(dataclasses.replace(good.report, seq=99, payload=b"[1]"))
    result = t.world.run([*t.reports, bad])
    assert reason_of(result, bad) == CoverageReason.MALFORMED_PAYLOAD
    assert result.explanations[bad.report.device].invalid[0].seq == 99


def test_shares_follow_units_and_scale(triangle: Triangle) -> None:
    t = triangle
    result = t.world.run(t.reports)
    units = beaconer_units(2) + 2 * witness_units(2)  # one beacon heard by 2, two witnesses
    for d in (t.a, t.b, t.c):
        e = result.explanations[d]
        assert e.beacon_units + e.witness_units == units
        assert 0 < e.scale <= 1
        assert e.trust == Fraction(1, 3)  # a new device: epoch 1 of establishment_epochs = 3
        assert result.shares[d] == e.shares == int(units * e.scale * e.trust * SHARES_PER_UNIT)
    assert result.explanations[t.a].to_obj()["beacon_units"] == str(Fraction(1, 2))


def test_explanation_lists_every_invalid_report(triangle: Triangle) -> None:
    t = triangle
    late = t.world.witness(t.b, t.beacons[t.a], delay_ms=9_000)
    result = t.world.run(t.replace(t.witness_of(t.b, t.a), late))
    notes = result.explanations[t.b].invalid
    assert [(n.seq, n.reason) for n in notes] == [(late.report.seq, CoverageReason.TOO_LATE)]
    assert "9000 ms" in notes[0].details


def test_activity_feeds_next_epoch_history(triangle: Triangle) -> None:
    t = triangle
    result = t.world.run(t.reports)
    assert set(result.activity.last_active_ms) == {t.a, t.b, t.c}
    assert result.activity.last_valid_beacon_ms[t.a] == t.beacons[t.a].report.timestamp_ms
    history = result.activity.pruned(0)
    assert history.updated(result.activity) == history


def test_kind_computes_verdicts_shares_explanations_and_state(triangle: Triangle) -> None:
    t = triangle
    settings = Settings()
    snapshot = t.world.snapshot()
    section = settings.kind_section("coverage")
    result = KIND.compute(KindJob(Epoch(0), t.reports, snapshot, settings, section, KIND.initial_state(section)))
    assert isinstance(KIND, Kind)
    assert all(v.valid for v in result.verdicts)
    assert set(result.shares) == {t.a, t.b, t.c}
    assert {e.device for e in result.explanations.values()} == {t.a, t.b, t.c}
    assert all(e.shares == result.shares[e.device] for e in result.explanations.values())
    assert result.notes == {"denylist_version": 0}
    assert result.next_state is not None and b"last_valid_beacon_ms" in result.next_state
    KIND.validate_payload(t.reports[0].report.payload_obj())
    assert CoverageParams.from_settings(settings).coverage == settings.kind_section("coverage")
    assert KIND.name == "coverage"


def test_a_registry_location_that_is_not_an_h3_cell_is_an_invalid_verdict_not_a_crash(
    triangle: Triangle,
) -> None:
    """A hostile owner asserting location 0x1 must not stop the epoch (one input, one verdict)."""
    import dataclasses

    t = triangle
    t.world.records[t.a] = dataclasses.replace(t.world.records[t.a], location=1)
    result = t.world.run(t.reports)
    reasons = {v.reason for v in result.verdicts if v.device == t.a}
    assert reasons == {CoverageReason.LOCATION_NOT_ASSERTED}
    assert t.a not in result.shares
