"""The `[coverage]` settings section (read from `[kinds.coverage]` or `[coverage]`)."""

from __future__ import annotations

from pydantic import Field

from opendepin.network.settings import Section, Settings


class CoverageSection(Section):
    """Wireless Proof-of-Coverage (after Helium IoT's beacon/witness rules; see docs/coverage.md).

    Radio quantities are integers: power in centi-dBm, gains and margins in centi-dB,
    frequencies in Hz, times in milliseconds or seconds as the name says.
    """

    beacon_interval_seconds: int = Field(
        21_600, ge=0, description="At most one beacon per device per this many seconds."
    )
    entropy_window_seconds: int = Field(
        3_600,
        gt=0,
        description="A beacon must be sent within this long after its entropy block's time; "
        "the epoch has one entropy block per window (the last block at or before the window's start).",
    )
    max_witness_lag_ms: int = Field(
        4_000, ge=0, description="A witness heard more than this after the beacon is too late."
    )
    max_frequency_diff_hz: int = Field(
        100_000, ge=0, description="Largest witness/beacon frequency difference."
    )
    min_grid_distance: int = Field(
        8, ge=0, description="Witness and beaconer parent cells must be at least this many cells apart."
    )
    grid_distance_resolution: int = Field(
        11, ge=0, le=15, description="H3 resolution of the parent cells `min_grid_distance` counts."
    )
    max_distance_m: int = Field(100_000, gt=0, description="Witnesses further away are invalid.")
    rssi_margin_cdb: int = Field(
        500, ge=0, description="Slack over the free-space RSSI bound before a witness is too loud."
    )
    max_tx_power_cdbm: int = Field(
        3_000, description="Claimed transmit power is capped at this for the RSSI bound."
    )
    max_antenna_gain_cdbi: int = Field(
        1_200, ge=0, description="Claimed antenna gains are capped at this for the RSSI bound."
    )
    reciprocity_window_seconds: int = Field(
        172_800, ge=0, description="Beaconers/witnesses need valid activity in this window (48 h)."
    )
    max_witnesses_per_beacon: int = Field(
        14, ge=1, description="Valid witnesses rewarded per beacon, chosen from entropy."
    )
    witness_redundancy: int = Field(4, ge=1, description="Witness count at which units saturate.")
    witness_decay_ppm: int = Field(
        800_000, gt=0, lt=1_000_000, description="Decay of extra witnesses' value (0.8)."
    )
    beaconer_units_cap: int = Field(2, ge=1, description="Most units one beacon can earn.")
    density_resolutions: dict[int, tuple[int, int, int]] = Field(
        default_factory=lambda: {
            4: (2, 500, 1_000),
            5: (4, 100, 200),
            6: (4, 25, 50),
            7: (4, 5, 10),
            8: (2, 1, 1),
            9: (2, 1, 1),
            10: (2, 1, 1),
        },
        description="H3 resolution -> (neighbours, target, max) for hex density scaling.",
    )
    density_window_seconds: int = Field(
        216_000, ge=0, description="A device counts for hex density if active in this window (60 h)."
    )
    unknown_hex_scale_ppm: int = Field(
        200_000, gt=0, le=1_000_000, description="Density scale of a device with no active hex."
    )
    denylist_signers: list[str] = Field(
        default_factory=list, description="Addresses whose signatures a denylist file needs."
    )
    denylist_threshold: int = Field(1, ge=1, description="Signatures a denylist file needs.")
    denylist_path: str = Field(
        "", description="The network's signed denylist_v1.json the oracle loads (empty or absent: none, version 0)."
    )


def coverage_section(settings: Settings) -> CoverageSection:
    """The coverage section of `settings` (its defaults when none is configured)."""
    section = settings.kind_section("coverage")
    assert isinstance(section, CoverageSection)
    return section
