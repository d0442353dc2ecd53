"""The adversarial suite: reproducible, well-formed attacker reports, honest baselines, arithmetic.

Small populations and 2 epochs keep the directory fast. No assertion here is about the
targets: the suite measures rules; whether they meet the targets is for `bench/attacks.py`.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from opendepin.network.settings import load_settings
from opendepin.proofs.coverage.payload import parse_payload
from opendepin.proofs.heartbeat.payload import validate_payload
from opendepin.reports.verify import check_signatures
from opendepin.sim.attacks.coverage import COVERAGE_ATTACKERS, HONEST
from opendepin.sim.attacks.heartbeat import HEARTBEAT_ATTACKERS
from opendepin.sim.attacks.models import PROJECT, ROOFTOP
from opendepin.sim.attacks.suite import (
    Metrics,
    UnknownScenario,
    check_scenarios,
    coverage_metrics,
    heartbeat_metrics,
    run_coverage,
    run_heartbeat,
    run_scenario,
)

HONEST_SMALL = 16
EPOCHS = 2


def test_same_seed_gives_identical_reports_and_figures() -> None:
    first = run_coverage(3, PROJECT, ["front10_noised", "predict"], honest=HONEST_SMALL, epochs=EPOCHS)
    again = run_coverage(3, PROJECT, ["front10_noised", "predict"], honest=HONEST_SMALL, epochs=EPOCHS)
    assert [[r.signature for r in e] for e in first.reports] == [
        [r.signature for r in e] for e in again.reports
    ]
    settings = load_settings(None)
    assert coverage_metrics(first, "x", "project", settings, 100) == coverage_metrics(
        again, "x", "project", settings, 100
    )
    rows = run_scenario("hb_farm30", "project", seed=3, honest=HONEST_SMALL, epochs=EPOCHS)
    assert rows == run_scenario("hb_farm30", "project", seed=3, honest=HONEST_SMALL, epochs=EPOCHS)


def test_another_seed_gives_other_reports() -> None:
    a = run_coverage(1, PROJECT, ["ring5"], honest=9, epochs=1)
    b = run_coverage(2, PROJECT, ["ring5"], honest=9, epochs=1)
    assert {r.device for r in a.reports[0]}.isdisjoint({r.device for r in b.reports[0]})


@pytest.mark.parametrize("name", sorted(COVERAGE_ATTACKERS))
def test_coverage_attacker_reports_are_well_formed_signed_reports(name: str) -> None:
    model = ROOFTOP if name.startswith("front") else PROJECT
    run = run_coverage(5, model, [name], honest=HONEST_SMALL, epochs=EPOCHS)
    mine = [r for epoch in run.reports for r in epoch if run.roles[r.device] == name]
    assert mine, f"{name} sent nothing"
    assert check_signatures(mine) == [None] * len(mine)
    for r in mine:
        parse_payload(r.payload_obj())  # raises on a malformed payload


@pytest.mark.parametrize("name", sorted(HEARTBEAT_ATTACKERS))
def test_heartbeat_attacker_reports_are_well_formed_signed_reports(name: str) -> None:
    run = run_heartbeat(5, [name], honest=HONEST_SMALL, epochs=1)
    mine = [r for r in run.reports[0] if run.roles[r.device] == name]
    assert mine, f"{name} sent nothing"
    assert check_signatures(mine) == [None] * len(mine)
    for r in mine:
        validate_payload(r.payload_obj())


def test_part_timer_loses_what_ingest_refuses_as_stale() -> None:
    run = run_heartbeat(5, ["hb_parttime"], honest=4, epochs=1)
    per_device = [sum(1 for r in run.reports[0] if r.device == d)
                  for d, role in run.roles.items() if role == "hb_parttime"]
    assert per_device and all(0 < n < 12 for n in per_device)


def test_honest_only_runs_report_no_attacker_share() -> None:
    settings = load_settings(None)
    cov = coverage_metrics(
        run_coverage(0, PROJECT, [], honest=HONEST_SMALL, epochs=EPOCHS), "honest", "project", settings, 100
    )
    assert cov.attacker_keys == 0 and cov.attacker_shares == 0 and cov.honest_shares > 0
    assert cov.pool_share == 0 and cov.reward_per_key == 0 and cov.break_even_epochs is None
    hb = heartbeat_metrics(run_heartbeat(0, [], honest=HONEST_SMALL, epochs=1), "honest", settings, 100)
    assert hb.attacker_shares == 0 and hb.pool_share == 0 and hb.honest_shares > 0
    assert all(set(r.values()) == {HONEST} for r in [run_coverage(0, PROJECT, [], honest=4, epochs=1).roles])


def _metrics(**kw: int) -> Metrics:
    fields = dict(
        attacker_keys=2, honest_devices=9, attacker_shares=10, honest_shares=90, honest_penalised=1,
        pool_tokens=24_000 * 10**18, fee_tokens=11 * 10**18, network_devices=10_000,
    )
    fields.update(kw)
    return Metrics(scenario="s", model="project", kind="coverage", **fields)  # type: ignore[arg-type]


def test_metric_arithmetic_on_hand_made_figures() -> None:
    m = _metrics()
    assert m.pool_share == Fraction(10, 100)
    assert m.reward_per_key == Fraction(10 * 9, 2 * 90)  # (10 / 2 keys) / (90 / 9 devices) = 1/2
    assert m.honest_penalised_share == Fraction(1, 9)
    # An honest device earns 24,000 / 10,000 = 2.4 tokens; the key half that: 1.2 tokens/epoch.
    assert m.key_tokens_per_epoch == Fraction(12, 10) * 10**18
    assert m.break_even_epochs == Fraction(11, 1) / Fraction(12, 10)
    assert m.fee_for_one_year == 438 * 10**18
    assert m.passes() == {"reward_per_key": False, "pool_share": False, "honest_penalised": False}
    small = _metrics(attacker_shares=1, honest_shares=999, honest_penalised=0, honest_devices=101)
    assert small.passes() == {"reward_per_key": True, "pool_share": True, "honest_penalised": True}
    assert _metrics(attacker_shares=0).break_even_epochs is None


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(UnknownScenario, match="nope"):
        check_scenarios(["ring5", "nope"])
    assert "mixed" in check_scenarios([])
