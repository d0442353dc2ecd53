"""Region plans as data, and the radio plausibility rules that read them."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import pytest
from coverage_world import Triangle, World, reason_of
from pydantic import ValidationError

from opendepin.proofs.coverage import CoverageReason, CoverageSection
from opendepin.proofs.coverage.regions import (
    RegionPlan,
    accepted_plans,
    parse_plans,
    region_names,
    region_plan,
    region_plans,
    thermal_noise_floor_cdbm,
)
from opendepin.records import IngestedReport

# --- the plans --------------------------------------------------------------------------------


def test_plans_cover_the_required_regions_with_their_limits() -> None:
    eirp = {name: plan.max_eirp_cdbm for name, plan in region_plans().items()}
    assert eirp == {
        "EU868": 1_600,
        "US915": 3_600,
        "AU915": 3_000,
        "AS923-1": 1_600,
        "CN470": 1_915,
        "IN865": 3_000,
        "KR920": 1_400,
    }
    assert region_names() == tuple(eirp)


def test_plans_list_the_uplink_channels() -> None:
    eu = region_plan("EU868")
    assert eu is not None
    assert eu.channels_hz == (
        867_100_000, 867_300_000, 867_500_000, 867_700_000, 867_900_000,
        868_100_000, 868_300_000, 868_500_000,
    )
    us = region_plan("US915")
    assert us is not None
    assert (len(us.channels_hz), us.channels_hz[0], us.channels_hz[-1]) == (64, 902_300_000, 914_900_000)
    cn = region_plan("CN470")
    assert cn is not None
    assert (len(cn.channels_hz), cn.channels_hz[-1]) == (96, 489_300_000)
    for plan in region_plans().values():
        assert list(plan.channels_hz) == sorted(set(plan.channels_hz))
        assert plan.bandwidth_hz == 125_000


def test_receiver_model_is_integers_and_follows_the_noise_formula() -> None:
    for plan in region_plans().values():
        assert plan.sensitivity_cdbm == -14_200
        assert plan.demodulation_snr_floor_cdb == -2_000
        assert plan.snr_saturation_cdb == 1_400
        assert plan.noise_floor_cdbm == thermal_noise_floor_cdbm(plan.bandwidth_hz, plan.noise_figure_cdb)
        expected = 100 * (-174 + 10 * math.log10(plan.bandwidth_hz)) + plan.noise_figure_cdb
        assert abs(plan.noise_floor_cdbm - expected) <= 0.5
        for value in (plan.max_eirp_cdbm, plan.sensitivity_cdbm, plan.noise_floor_cdbm, *plan.channels_hz):
            assert type(value) is int
    assert thermal_noise_floor_cdbm(125_000, 600) == -11_703
    with pytest.raises(ValueError, match="bandwidth"):
        thermal_noise_floor_cdbm(0, 600)


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("EU868", "EU868"), ("AS923", "AS923-1"), ("AS923-1", "AS923-1"), ("KR920", "KR920")],
)
def test_region_plan_finds_names_and_aliases(name: str, canonical: str) -> None:
    plan = region_plan(name)
    assert plan is not None and plan.name == canonical


@pytest.mark.parametrize("name", ["", "eu868", "EU868 ", "EU868\x00", "EU433", "AS923-2", "X" * 16, "ЕU868"])
def test_region_plan_of_an_unknown_or_hostile_name_is_none(name: str) -> None:
    assert region_plan(name) is None


def test_accepted_plans_map_every_alias_and_refuse_unknown_names() -> None:
    accepted = accepted_plans(["AS923", "EU868"])
    assert set(accepted) == {"AS923", "AS923-1", "EU868"}
    assert accepted["AS923"] is accepted["AS923-1"]
    with pytest.raises(ValueError, match="unknown region 'XX'"):
        accepted_plans(["EU868", "XX"])


@pytest.mark.parametrize(
    ("frequency_hz", "nearest"),
    [
        (868_100_000, 868_100_000),
        (100_000, 867_100_000),  # far below the band
        (10**12, 868_500_000),  # far above it
        (868_190_000, 868_100_000),
        (868_210_000, 868_300_000),
        (868_200_000, 868_100_000),  # a tie goes to the lower channel
        (867_950_000, 867_900_000),
        (868_050_000, 868_100_000),
    ],
)
def test_nearest_channel(frequency_hz: int, nearest: int) -> None:
    eu = region_plan("EU868")
    assert eu is not None
    assert eu.nearest_channel_hz(frequency_hz) == nearest
    assert eu.channel_offset_hz(frequency_hz) == abs(frequency_hz - nearest)


def _data(**regions: dict[str, Any]) -> dict[str, Any]:
    receiver = {
        "bandwidth_hz": 125_000,
        "sensitivity_cdbm": -14_200,
        "demodulation_snr_floor_cdb": -2_000,
        "noise_figure_cdb": 600,
        "snr_saturation_cdb": 1_400,
    }
    return {"receiver": receiver, "regions": regions}


def test_parse_plans_builds_grids_lists_and_overrides() -> None:
    plans = parse_plans(
        _data(
            A={"first_hz": 100, "spacing_hz": 10, "count": 3, "max_eirp_cdbm": 1, "noise_figure_cdb": 300},
            B={"channels_hz": [7, 5], "max_eirp_cdbm": 2, "aliases": ["Bee"]},
        )
    )
    assert plans["A"].channels_hz == (100, 110, 120)
    assert plans["A"].noise_floor_cdbm == thermal_noise_floor_cdbm(125_000, 300)
    assert plans["B"] == RegionPlan(
        "B", ("Bee",), (5, 7), 125_000, 2, -14_200, -2_000, 600, -11_703, 1_400
    )


@pytest.mark.parametrize(
    ("regions", "message"),
    [
        ({"A": {"channels_hz": [1], "first_hz": 1, "spacing_hz": 1, "count": 1, "max_eirp_cdbm": 1}}, "not both"),
        ({"A": {"channels_hz": [], "max_eirp_cdbm": 1}}, "non-empty"),
        ({"A": {"channels_hz": [5, 5], "max_eirp_cdbm": 1}}, "twice"),
        ({"A": {"channels_hz": [True], "max_eirp_cdbm": 1}}, "positive integers"),
        ({"A": {"first_hz": 1, "spacing_hz": 0, "count": 1, "max_eirp_cdbm": 1}}, "positive"),
        ({"A": {"channels_hz": [1], "max_eirp_cdbm": 1.5}}, "max_eirp_cdbm must be an integer"),
        ({"A": {"channels_hz": [1], "max_eirp_cdbm": 1, "colour": "red"}}, "unknown key"),
        ({"A": {"channels_hz": [1], "max_eirp_cdbm": 1}, "B": {"channels_hz": [2], "max_eirp_cdbm": 1, "aliases": ["A"]}}, "used twice"),
        ({}, "at least one"),
    ],
)
def test_parse_plans_refuses_bad_data(regions: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_plans(_data(**regions))


def test_parse_plans_needs_the_whole_receiver_model() -> None:
    data = _data(A={"channels_hz": [1], "max_eirp_cdbm": 1})
    del data["receiver"]["noise_figure_cdb"]
    with pytest.raises(ValueError, match="receiver"):
        parse_plans(data)


def test_settings_accept_every_region_by_default_and_refuse_unknown_ones() -> None:
    assert CoverageSection().regions == list(region_names())
    assert CoverageSection(regions=["AS923"]).regions == ["AS923"]
    with pytest.raises(ValidationError, match="unknown region"):
        CoverageSection(regions=["EU868", "MARS1"])


# --- beacon rules -----------------------------------------------------------------------------


def _with(world: World, **update: object) -> None:
    world.params = replace(world.params, coverage=world.params.coverage.model_copy(update=update))


def _beacon_reason(world: World, beacon: IngestedReport) -> str | None:
    return reason_of(world.run([beacon]), beacon)


@pytest.mark.parametrize("region", ["XX868", "eu868", "EU433", "\u202eEU868"])
def test_beacon_in_an_unknown_region_is_rejected(world: World, region: str) -> None:
    beacon = world.beacon(world.device(), region=region)
    assert _beacon_reason(world, beacon) == CoverageReason.UNKNOWN_REGION


def test_beacon_in_a_region_the_network_does_not_accept_is_rejected(world: World) -> None:
    _with(world, regions=["US915", "AU915"])
    beacon = world.beacon(world.device())
    result = world.run([beacon])
    assert reason_of(result, beacon) == CoverageReason.UNKNOWN_REGION
    assert "not accepted" in result.verdicts[0].details


def test_beacon_region_accepted_passes_to_reciprocity(world: World) -> None:
    # Alone, a valid beacon fails only reciprocity (nobody witnessed; it witnessed nobody).
    beacon = world.beacon(world.device(), region="EU868")
    assert _beacon_reason(world, beacon) == CoverageReason.NO_VALID_WITNESSES


@pytest.mark.parametrize(
    ("frequency_hz", "reason"),
    [
        (868_100_000, CoverageReason.NO_VALID_WITNESSES),
        (867_100_000, CoverageReason.NO_VALID_WITNESSES),
        (868_100_000 + 31_250, CoverageReason.NO_VALID_WITNESSES),
        (868_100_000 - 31_251, CoverageReason.OFF_CHANNEL),
        (868_200_000, CoverageReason.OFF_CHANNEL),
        (100_000, CoverageReason.OFF_CHANNEL),  # a 100 kHz "carrier"
        (1, CoverageReason.OFF_CHANNEL),
        (10**12, CoverageReason.OFF_CHANNEL),
        (915_000_000, CoverageReason.OFF_CHANNEL),  # a US915 frequency claimed as EU868
    ],
)
def test_beacon_must_be_on_a_channel_of_its_region(world: World, frequency_hz: int, reason: str) -> None:
    beacon = world.beacon(world.device(), frequency_hz=frequency_hz)
    assert _beacon_reason(world, beacon) == reason


def test_channel_tolerance_is_configurable(world: World) -> None:
    _with(world, channel_tolerance_hz=0)
    d = world.device()
    assert _beacon_reason(world, world.beacon(d, frequency_hz=868_100_001)) == CoverageReason.OFF_CHANNEL


@pytest.mark.parametrize(
    ("region", "frequency_hz", "tx_power_cdbm", "gain_cdbi", "reason"),
    [
        ("EU868", 868_100_000, 1_400, 300, None),  # the agent's default: 17 dBm, within 16 + 2
        ("EU868", 868_100_000, 1_500, 300, None),  # exactly 16 + 2 dBm
        ("EU868", 868_100_000, 1_501, 300, CoverageReason.EIRP_EXCEEDED),
        ("EU868", 868_100_000, 2_700, 300, CoverageReason.EIRP_EXCEEDED),
        ("EU868", 868_100_000, 100_000, 100_000, CoverageReason.EIRP_EXCEEDED),
        ("EU868", 868_100_000, -100_000, -100_000, None),  # feeble but not illegal
        ("US915", 904_100_000, 3_000, 600, None),
        ("US915", 904_100_000, 3_000, 801, CoverageReason.EIRP_EXCEEDED),
        ("KR920", 922_100_000, 1_400, 300, CoverageReason.EIRP_EXCEEDED),
        ("CN470", 486_300_000, 1_900, 200, None),
    ],
)
def test_beacon_eirp_within_the_region_limit(
    world: World, region: str, frequency_hz: int, tx_power_cdbm: int, gain_cdbi: int, reason: str | None
) -> None:
    beacon = world.beacon(
        world.device(), region=region, frequency_hz=frequency_hz,
        tx_power_cdbm=tx_power_cdbm, antenna_gain_cdbi=gain_cdbi,
    )
    assert _beacon_reason(world, beacon) == (reason or CoverageReason.NO_VALID_WITNESSES)


def test_beacon_rules_apply_in_order(world: World) -> None:
    d = world.device()
    both = world.beacon(d, region="XX", frequency_hz=1, tx_power_cdbm=100_000)
    assert _beacon_reason(world, both) == CoverageReason.UNKNOWN_REGION
    d2 = world.device()
    loud_off = world.beacon(d2, frequency_hz=1, tx_power_cdbm=100_000)
    assert _beacon_reason(world, loud_off) == CoverageReason.OFF_CHANNEL


def test_witnesses_of_an_implausible_beacon_are_invalid(triangle: Triangle) -> None:
    t = triangle
    old = t.beacons[t.a]
    loud = t.world.beacon(t.a, at_ms=old.report.timestamp_ms, tx_power_cdbm=3_000)
    heard = t.world.witness(t.b, loud)
    kept = [r for r in t.reports if r is not old and r.report.payload_obj().get("beaconer") != t.a]
    result = t.world.run([*kept, loud, heard])
    assert reason_of(result, loud) == CoverageReason.EIRP_EXCEEDED
    assert reason_of(result, heard) == CoverageReason.INVALID_BEACON


# --- witness rules ----------------------------------------------------------------------------


def _witness_reason(t: Triangle, **kwargs: Any) -> str | None:
    w = t.world.witness(t.b, t.beacons[t.a], **kwargs)
    return reason_of(t.world.run(t.replace(t.witness_of(t.b, t.a), w)), w)


def test_honest_triangle_passes_every_radio_rule(triangle: Triangle) -> None:
    assert all(v.valid for v in triangle.world.run(triangle.reports).verdicts)


@pytest.mark.parametrize(("region", "reason"), [("EU868", None), ("Atlantis", "unknown_region"), ("", "unknown_region")])
def test_witness_region_must_be_known(triangle: Triangle, region: str, reason: str | None) -> None:
    # The payload parser refuses "" (malformed_payload) before any rule runs.
    expected = "malformed_payload" if region == "" else reason
    assert _witness_reason(triangle, region=region) == expected


def test_witness_region_must_be_accepted(triangle: Triangle) -> None:
    _with(triangle.world, regions=["EU868"])
    assert _witness_reason(triangle, region="US915", frequency_hz=904_100_000) == "unknown_region"


@pytest.mark.parametrize(
    ("frequency_hz", "reason"),
    [(868_100_000, None), (868_120_000, None), (868_140_000, "off_channel"), (100_000, "off_channel")],
)
def test_witness_must_be_on_a_channel_of_its_region(
    triangle: Triangle, frequency_hz: int, reason: str | None
) -> None:
    assert _witness_reason(triangle, frequency_hz=frequency_hz) == reason


def test_witness_on_another_channel_fails_the_frequency_rule(triangle: Triangle) -> None:
    assert _witness_reason(triangle, frequency_hz=868_300_000) == "invalid_frequency"


@pytest.mark.parametrize(
    ("rssi_cdbm", "snr_cdb", "reason"),
    [
        (-14_200, -1_950, None),  # at sensitivity, SNR just above the floor
        (-14_201, -1_950, "below_sensitivity"),
        (-13_500, -1_950, None),  # −135 dBm witness claims (cf. −25 dB SNR below)
        (-100_000, -1_950, "below_sensitivity"),  # absurdly weak
    ],
)
def test_witness_rssi_not_below_sensitivity(
    triangle: Triangle, rssi_cdbm: int, snr_cdb: int, reason: str | None
) -> None:
    assert _witness_reason(triangle, rssi_cdbm=rssi_cdbm, snr_cdb=snr_cdb) == reason


@pytest.mark.parametrize(
    ("snr_cdb", "reason"),
    [(-2_000, None), (-2_001, "snr_below_floor"), (-2_500, "snr_below_floor"), (-100_000, "snr_below_floor")],
)
def test_witness_snr_not_below_demodulation_floor(triangle: Triangle, snr_cdb: int, reason: str | None) -> None:
    assert _witness_reason(triangle, rssi_cdbm=-13_000, snr_cdb=snr_cdb) == reason


@pytest.mark.parametrize(
    ("rssi_cdbm", "snr_cdb", "reason"),
    [
        # −110 dBm is 7.03 dB over the −117.03 dBm floor: SNR up to 7.03 + 6 dB.
        (-11_000, 703, None),
        (-11_000, 1_303, None),
        (-11_000, 1_304, "snr_inconsistent"),
        (-11_000, -1_297, None),  # 20 dB worse than implied: a noisy site
        (-11_000, -1_298, "snr_inconsistent"),
        # Below the noise floor SNR is negative; a clean signal there is impossible.
        (-12_500, -800, None),
        (-12_500, 500, "snr_inconsistent"),
        # A strong signal: implied SNR saturates at +14 dB.
        (-6_900, 2_000, None),
        (-6_900, 2_001, "snr_inconsistent"),
        (-6_900, -600, None),
        (-6_900, -601, "snr_inconsistent"),
        (-6_900, 9_000, "snr_inconsistent"),  # what an uncapped RSSI − floor would claim
        (100_000, 100_000, "snr_inconsistent"),  # absurd levels inside the payload bounds
    ],
)
def test_witness_snr_consistent_with_rssi(
    triangle: Triangle, rssi_cdbm: int, snr_cdb: int, reason: str | None
) -> None:
    outcome = _witness_reason(triangle, rssi_cdbm=rssi_cdbm, snr_cdb=snr_cdb)
    # A valid radio claim may still be too loud for free space (the RSSI rule comes later).
    assert outcome == reason or (reason is None and outcome == "bad_rssi")


def test_snr_margins_are_configurable(triangle: Triangle) -> None:
    # The triangle's other witnesses report SNR 700 for −110 dBm (implied 703): keep them valid.
    _with(triangle.world, snr_excess_margin_cdb=0, snr_deficit_margin_cdb=3)
    assert _witness_reason(triangle, rssi_cdbm=-11_000, snr_cdb=703) is None
    assert _witness_reason(triangle, rssi_cdbm=-11_000, snr_cdb=704) == "snr_inconsistent"
    assert _witness_reason(triangle, rssi_cdbm=-11_000, snr_cdb=700) is None
    assert _witness_reason(triangle, rssi_cdbm=-11_000, snr_cdb=699) == "snr_inconsistent"


def test_witness_radio_rules_apply_in_order(triangle: Triangle) -> None:
    assert _witness_reason(triangle, region="XX", frequency_hz=1, rssi_cdbm=-20_000) == "unknown_region"
    assert _witness_reason(triangle, frequency_hz=1, rssi_cdbm=-20_000) == "off_channel"
    assert _witness_reason(triangle, rssi_cdbm=-20_000, snr_cdb=-3_000) == "below_sensitivity"
    assert _witness_reason(triangle, rssi_cdbm=-13_000, snr_cdb=-3_000) == "snr_below_floor"
