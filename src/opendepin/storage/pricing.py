"""What storage costs, in credits: stored byte-time and egress bytes.

A consumer pays for two things, the way Storj bills them: data **kept** (bytes times how
long, priced per GB-month) and data **downloaded** (egress bytes, priced per GB). Credits
are what a consumer bought by burning tokens (`opendepin.storage.credits`); the gateway and
metering measure usage and `charge` turns it into the credits to spend.

Units. A GB is 10**9 bytes and a month is 30 days (`MONTH_MS`), as Storj's price list uses.
Stored data is measured in **byte-milliseconds** (`stored_byte_ms`: a 1 GB object kept for a
whole month is `GB_BYTES * MONTH_MS`), so metering can add up exact intervals without
rounding anything on the way.

Rounding. `charge` works in integers and rounds **up, once, on the total**:

    credits = ceil((stored_byte_ms * stored_price + egress_bytes * egress_price * MONTH_MS)
                  / (GB_BYTES * MONTH_MS))

Rewards round down (nobody is paid more than was earned); a charge rounds up, so usage is
never free however finely it is metered, and a bill is at most one credit above the exact
price. Charging once per metering period rather than per request keeps that one credit from
adding up.
"""

from __future__ import annotations

from dataclasses import dataclass

from opendepin.errors import InputError
from opendepin.network.settings import PricingSection, Settings

GB_BYTES = 10**9
"""A gigabyte as storage is billed: 10**9 bytes (not 2**30)."""
MONTH_MS = 30 * 86_400 * 1_000
"""A billing month: 30 days, in milliseconds."""
MAX_USAGE = 2**128
"""Largest byte-milliseconds or egress bytes `charge` accepts (far above any real bill)."""
MICRO_DOLLARS_PER_CREDIT = 1
"""The credit value the default prices assume: one credit is $0.000001."""


@dataclass(frozen=True, slots=True)
class Prices:
    """The network's storage prices, in whole credits (`[pricing]` in network.toml)."""

    stored_gb_month_credits: int = 4_000
    """Credits per GB kept for one month: Storj's $4/TB-month at $0.000001 per credit."""
    egress_gb_credits: int = 7_000
    """Credits per GB downloaded: Storj's $7/TB egress at $0.000001 per credit."""

    def __post_init__(self) -> None:
        for name in ("stored_gb_month_credits", "egress_gb_credits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InputError(f"price {name} must be a non-negative whole number of credits")

    @classmethod
    def from_section(cls, section: PricingSection) -> Prices:
        return cls(section.stored_gb_month_credits, section.egress_gb_credits)

    @classmethod
    def from_settings(cls, settings: Settings) -> Prices:
        """The prices of a network's settings (`settings.pricing`)."""
        return cls.from_section(settings.pricing)


def _usage(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_USAGE:
        raise InputError(f"{what} must be a whole number in 0..2**128, got {value!r}")
    return value


def charge(stored_byte_ms: int, egress_bytes: int, prices: Prices) -> int:
    """Credits owed for `stored_byte_ms` of storage and `egress_bytes` of egress.

    Integer maths, rounded up once on the total (see the module docstring); zero usage costs
    zero. InputError for a negative, non-integer or absurdly large usage.
    """
    stored = _usage(stored_byte_ms, "stored_byte_ms")
    egress = _usage(egress_bytes, "egress_bytes")
    numerator = (
        stored * prices.stored_gb_month_credits + egress * prices.egress_gb_credits * MONTH_MS
    )
    return -(-numerator // (GB_BYTES * MONTH_MS))
