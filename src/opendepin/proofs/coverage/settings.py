"""The `[coverage]` settings section (read from `[kinds.coverage]` or `[coverage]`)."""

from __future__ import annotations

from pydantic import Field, field_validator

from opendepin.network.settings import Section, Settings
from opendepin.proofs.coverage.regions import region_names, region_plan


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
    regions: list[str] = Field(
        default_factory=lambda: list(region_names()),
        description="Region plans (regions.toml) the network accepts; a beacon in another region is unknown_region.",
    )
    channel_tolerance_hz: int = Field(
        31_250,
        ge=0,
        description="A frequency within this of a channel centre is on that channel "
        "(LoRa demodulates up to ±25 % of the 125 kHz bandwidth off centre).",
    )
    eirp_margin_cdb: int = Field(
        200,
        ge=0,
        description="Slack over the region's maximum EIRP (devices report nominal gain, not cable loss).",
    )
    snr_excess_margin_cdb: int = Field(
        600,
        ge=0,
        description="Slack over the SNR the RSSI allows (receivers quieter than the model, RSSI calibration).",
    )
    snr_deficit_margin_cdb: int = Field(
        2_000,
        ge=0,
        description="Slack under the SNR the RSSI implies (local noise and interference raise the floor).",
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
    # Anti-gaming beyond single reports (trust.py, corroboration.py, graph.py; docs/coverage.md).
    location_sigma_cdb: int = Field(
        700, gt=0, description="Shadowing standard deviation the location test assumes, centi-dB."
    )
    location_min_exponent_centi: int = Field(
        200, gt=0, description="Smallest path-loss exponent the location fit may use (× 100)."
    )
    location_max_exponent_centi: int = Field(
        500, gt=0, description="Largest path-loss exponent the location fit may use (× 100)."
    )
    location_lr_threshold_centi: int = Field(
        1_200, gt=0, description="Likelihood ratio (× 100) from which a location is contradicted; "
        "the penalty reaches 0 at twice it.",
    )
    location_min_offset_m: int = Field(
        800, ge=0, description="A location is contradicted only if the best-fitting spot is at least this far."
    )
    location_min_witnesses: int = Field(
        3, ge=2, description="Distinct independent witnesses a location test needs."
    )
    location_robust_witnesses: int = Field(
        0, ge=0, description="The evidence of this many most influential witnesses is discounted "
        "before a location is judged (more resistance to framing, less power against spoofers).",
    )
    min_cluster_devices: int = Field(
        32, ge=2, description="A witness-graph component smaller than this (and not the largest) is a "
        "closed cluster; below half of it, it earns nothing.",
    )
    fingerprint_tolerance_cdb: int = Field(
        50, ge=0, description="Receptions this close in RSSI and in SNR (centi-dB) match."
    )
    fingerprint_tolerance_ms: int = Field(
        20, ge=0, description="Receptions this close in time (ms) match."
    )
    fingerprint_min_beacons: int = Field(
        3, ge=1, description="Matching receptions two keys need before they are one receiver."
    )
    fingerprint_match_ppm: int = Field(
        800_000, ge=0, le=1_000_000, description="Share (ppm) of their common beacons on which two keys must match."
    )
    reciprocity_threshold_cdb: int = Field(
        600, gt=0, description="Mean path-loss asymmetry (centi-dB) over a device's two-way links from "
        "which it is penalised; the penalty reaches 0 at twice it.",
    )
    reciprocity_min_partners: int = Field(
        5, ge=2, description="Two-way links a device needs before its asymmetry is judged."
    )
    establishment_epochs: int = Field(
        3, ge=1, description="A new device ramps to full units over this many epochs (1: no ramp)."
    )

    @field_validator("regions")
    @classmethod
    def _known_regions(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if region_plan(name) is None]
        if unknown:
            raise ValueError(
                f"coverage.regions: unknown region(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(region_names())}"
            )
        return value


def coverage_section(settings: Settings) -> CoverageSection:
    """The coverage section of `settings` (its defaults when none is configured)."""
    section = settings.kind_section("coverage")
    assert isinstance(section, CoverageSection)
    return section
