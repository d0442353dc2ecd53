"""Reward units against Helium's numbers; hex density scaling against Helium's test vector."""

from __future__ import annotations

from fractions import Fraction

import h3.api.basic_int as h3
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.proofs.coverage.scorer import (
    SHARES_PER_UNIT,
    beaconer_units,
    hex_density_scales,
    shares_of,
    witness_units,
)
from opendepin.proofs.coverage.settings import CoverageSection

DENSITY = CoverageSection().density_resolutions

# Res-12 cells from helium/oracles' hex_density test (live ledger population of res-8 hex
# 882830D341FFFFF, 2022-10-14), with the scales Helium expects (rounded to 4 places).
HELIUM_CELLS = [
    631210990515536895, 631210990515536895, 631210990515536895, 631210990515537919,
    631210990515537919, 631210990515537919, 631210990515538431, 631210990515564031,
    631210990515589631, 631210990515600383, 631210990515601919, 631210990515606527,
    631210990515722239, 631210990515722239, 631210990515727359, 631210990515728895,
    631210990515739647, 631210990515874303, 631210990515924479, 631210990516363775,
    631210990515987455, 631210990516590079, 631210990516612607, 631210990516613631,
    631210990516640767, 631210990516876799, 631210990516885503, 631210990516888063,
    631210990516907007, 631210990516912639, 631210990516955647, 631210990516996607,
    631210990517011455, 631210990517016575, 631210990517144063, 631210990517264895,
]
HELIUM_SCALES = {
    631210990515537919: "0.0060", 631210990516955647: "0.0417", 631210990516885503: "0.0139",
    631210990515601919: "0.0104", 631210990516590079: "0.0556", 631210990516888063: "0.0139",
    631210990516640767: "0.0556", 631210990516907007: "0.0208", 631210990515874303: "0.0556",
    631210990517011455: "0.0139", 631210990516363775: "0.1667", 631210990515589631: "0.0104",
    631210990516996607: "0.0139", 631210990515600383: "0.0104", 631210990517016575: "0.0139",
    631210990515606527: "0.0104", 631210990515739647: "0.0083", 631210990516613631: "0.0278",
    631210990516876799: "0.0139", 631210990515924479: "0.0556", 631210990515538431: "0.0060",
    631210990515536895: "0.0060", 631210990517144063: "0.0833", 631210990517264895: "0.0833",
    631210990516612607: "0.0278", 631210990515722239: "0.0083", 631210990516912639: "0.0208",
    631210990515727359: "0.0083", 631210990515564031: "0.0417", 631210990515728895: "0.0083",
    631210990515987455: "0.0556",
}


def test_beaconer_units_match_helium_formula() -> None:
    assert [beaconer_units(n) for n in range(5)] == [Fraction(n, 4) for n in range(5)]
    assert beaconer_units(5) == Fraction(6, 5)  # 2 - 0.8
    assert beaconer_units(6) == Fraction(34, 25)  # 2 - 0.64
    assert beaconer_units(14) == 2 - Fraction(4, 5) ** 10
    assert all(beaconer_units(n) <= 2 for n in range(60))


def test_witness_units_match_helium_formula() -> None:
    assert witness_units(0) == 0
    assert [witness_units(n) for n in range(1, 5)] == [1, 1, 1, 1]
    assert witness_units(5) == Fraction(19, 25)  # (4 - 0.2) / 5 = 0.76
    assert witness_units(14) == (4 - (1 - Fraction(4, 5) ** 10)) / 14
    assert float(witness_units(14)) == 0.22195529874285713


def test_witness_total_shrinks_towards_redundancy_minus_one() -> None:
    # n × unit = R − 1 + d^(n−R): extra witnesses split a shrinking total (4 → 3).
    totals = [n * witness_units(n) for n in range(4, 15)]
    assert totals == sorted(totals, reverse=True)
    assert totals[0] == 4
    assert all(t > 3 for t in totals)


def test_hex_density_scales_match_helium_vector() -> None:
    scales = hex_density_scales(HELIUM_CELLS, DENSITY)
    assert {c: f"{float(s):.4f}" for c, s in scales.items()} == HELIUM_SCALES


def test_hex_density_scale_is_one_for_lone_device() -> None:
    cell = h3.latlng_to_cell(38.7, -9.1, 12)
    assert hex_density_scales([cell], DENSITY) == {cell: Fraction(1)}


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(38.60, 38.80), st.floats(-9.30, -9.00), st.integers(11, 13)),
        min_size=1,
        max_size=60,
    )
)
def test_hex_density_scale_always_in_unit_interval(points: list[tuple[float, float, int]]) -> None:
    cells = [h3.latlng_to_cell(lat, lng, res) for lat, lng, res in points]
    scales = hex_density_scales(cells, DENSITY)
    assert set(scales) == set(cells)
    assert all(0 < s <= 1 for s in scales.values())


def test_shares_round_down() -> None:
    assert shares_of(Fraction(1), Fraction(1)) == SHARES_PER_UNIT
    assert shares_of(Fraction(1, 3), Fraction(1)) == 333_333
    assert shares_of(Fraction(2, 3), Fraction(1, 2)) == 333_333
