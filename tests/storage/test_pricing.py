"""Storage prices and `charge`: integers, rounded up once, defaults from Storj's list prices."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendepin.errors import ConfigError, InputError
from opendepin.network.settings import load_settings
from opendepin.storage.pricing import GB_BYTES, MONTH_MS, Prices, charge

TB = 1_000 * GB_BYTES
MICRO_DOLLARS_PER_DOLLAR = 10**6


def test_defaults_are_storj_list_prices_at_a_micro_dollar_per_credit() -> None:
    prices = Prices()
    assert charge(TB * MONTH_MS, 0, prices) == 4 * MICRO_DOLLARS_PER_DOLLAR  # $4 per TB-month
    assert charge(0, TB, prices) == 7 * MICRO_DOLLARS_PER_DOLLAR  # $7 per TB egress


def test_exact_amounts_are_not_rounded() -> None:
    prices = Prices(stored_gb_month_credits=4_000, egress_gb_credits=7_000)
    assert charge(GB_BYTES * MONTH_MS // 2, GB_BYTES * 3, prices) == 2_000 + 21_000
    assert charge(0, 0, prices) == 0


def test_any_usage_costs_at_least_one_credit() -> None:
    assert charge(1, 0, Prices()) == 1
    assert charge(0, 1, Prices()) == 1
    assert charge(0, 1, Prices(egress_gb_credits=0)) == 0  # a free price stays free


@given(
    stored=st.integers(0, 2**80),
    egress=st.integers(0, 2**60),
    sp=st.integers(0, 10**9),
    ep=st.integers(0, 10**9),
)
def test_charge_is_the_exact_price_rounded_up_once(
    stored: int, egress: int, sp: int, ep: int
) -> None:
    prices = Prices(sp, ep)
    exact_numerator = stored * sp + egress * ep * MONTH_MS
    denominator = GB_BYTES * MONTH_MS
    credits = charge(stored, egress, prices)
    assert credits * denominator >= exact_numerator  # never below the price
    assert (credits - 1) * denominator < exact_numerator or credits == 0  # at most one credit above


@pytest.mark.parametrize(("stored", "egress"), [(-1, 0), (0, -1), (1.5, 0), (True, 0), (2**129, 0)])
def test_bad_usage_is_an_input_error(stored: object, egress: object) -> None:
    with pytest.raises(InputError):
        charge(stored, egress, Prices())  # type: ignore[arg-type]


def test_negative_price_is_refused() -> None:
    with pytest.raises(InputError, match="non-negative"):
        Prices(stored_gb_month_credits=-1)


def test_prices_come_from_the_pricing_section(tmp_path: Path) -> None:
    cfg = tmp_path / "network.toml"
    cfg.write_text("[pricing]\nstored_gb_month_credits = 10\negress_gb_credits = 20\n")
    prices = Prices.from_settings(load_settings(cfg))
    assert prices == Prices(10, 20)
    cfg.write_text("[pricing]\negress_gb_credits = -1\n")
    with pytest.raises(ConfigError, match="egress_gb_credits"):
        load_settings(cfg)
