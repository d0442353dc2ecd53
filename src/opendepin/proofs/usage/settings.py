"""The `[usage]` settings section (read from `[kinds.usage]` or `[usage]`).

Oracle side (part of the epoch's published parameters):

- `gateways`: the gateway addresses whose usage counts (empty: any device registered as kind
  `usage` that is an authorised `Credits` spender at the close block);
- `max_reports_per_gateway`: usage and spend reports counted per gateway and epoch (more are
  `too_many_reports`), a bound on what one gateway can make the oracles do;
- `order_lookback_seconds`, `max_order_ttl_seconds`: an egress order counts in a report of
  epoch E when it expires after E's start minus the lookback and at most the TTL after E's
  end. A node files the orders of an epoch once it has ended (so in E + 1, the epoch in
  which the gateway settles E and files its usage for it); the lookback must cover that.

Prices come from `[pricing]` (`Settings.pricing`, `opendepin.storage.pricing.charge`).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from opendepin.identity.address import checksum
from opendepin.network.settings import Section, Settings
from opendepin.types import DeviceId

MAX_GATEWAYS = 256


class UsageSection(Section):
    """Usage settlement: which gateways count, and bounds on what they file."""

    gateways: tuple[DeviceId, ...] = Field(
        (),
        description="Gateway addresses whose usage counts (empty: any registered usage device "
        "that is an authorised Credits spender).",
    )
    max_reports_per_gateway: int = Field(
        10_000,
        gt=0,
        le=1_000_000,
        description="Usage and spend reports counted per gateway and epoch.",
    )
    order_lookback_seconds: int = Field(
        172_800,
        ge=0,
        le=10**8,
        description="Earliest an egress order may have expired before its report's epoch started.",
    )
    max_order_ttl_seconds: int = Field(
        86_400,
        ge=0,
        le=10**7,
        description="Latest an egress order may expire after the epoch's end.",
    )

    @field_validator("gateways", mode="before")
    @classmethod
    def _checksum_gateways(cls, value: object) -> object:
        if isinstance(value, (list, tuple)):
            if len(value) > MAX_GATEWAYS:
                raise ValueError(f"usage.gateways: at most {MAX_GATEWAYS} gateways")
            out = []
            for item in value:
                if not isinstance(item, str):
                    raise ValueError(f"usage.gateways: {item!r} is not an address")
                out.append(checksum(item))
            return tuple(out)
        return value

    @property
    def gateway_set(self) -> frozenset[DeviceId]:
        return frozenset(self.gateways)

    @property
    def order_lookback_ms(self) -> int:
        return self.order_lookback_seconds * 1_000

    @property
    def max_order_ttl_ms(self) -> int:
        return self.max_order_ttl_seconds * 1_000


def usage_section(settings: Settings) -> UsageSection:
    """The usage section of `settings` (its defaults when none is configured)."""
    section = settings.kind_section("usage")
    assert isinstance(section, UsageSection)
    return section
