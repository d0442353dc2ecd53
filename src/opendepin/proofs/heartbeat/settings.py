"""The `[heartbeat]` settings section (read from `[kinds.heartbeat]` or `[heartbeat]`).

Besides Helium Mobile's trust distances and uptime minimum it holds the anti-gaming knobs:

- `liveness_window_seconds`: a heartbeat must name the current hour's chain entropy block and be
  signed within this many seconds after it (`verifier.verify_liveness`). On by default (300 s);
  at most `hour_seconds`; 0 turns the rule off (heartbeats then prove only that the key signed).
- `max_devices_per_cell` at `cap_resolution`, `max_devices_per_owner`: how many devices one
  spot and one owner may have rewarded per epoch (`scorer.apply_caps`). 0 means no cap.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from opendepin.network.settings import Section, Settings


class HeartbeatSection(Section):
    """Heartbeat / uptime proof (after Helium Mobile's rules; see `proofs.heartbeat`)."""

    min_online_hours: int = Field(
        12, ge=0, description="Distinct online hours (buckets) an epoch needs for any reward."
    )
    full_trust_meters: int = Field(
        300, gt=0, description="Location trust 1.0 within this distance of the asserted cell."
    )
    partial_trust_meters: int = Field(
        400, gt=0, description="Location trust 0.25 up to this distance; 0 beyond."
    )
    hour_seconds: int = Field(
        3_600,
        gt=0,
        description="Length of one uptime bucket ('hour'); shorten only for simulated clocks.",
    )

    liveness_window_seconds: int = Field(
        300,
        ge=0,
        description="A heartbeat must carry the current hour's entropy block and be signed at most "
        "this long after that block's time (default 300 s, at most hour_seconds); 0 turns the "
        "liveness challenge off.",
    )
    cap_resolution: int = Field(
        10,
        ge=0,
        le=15,
        description="H3 resolution of the cells the per-cell device cap counts in (10: ~66 m edge).",
    )
    max_devices_per_cell: int = Field(
        2,
        ge=0,
        description="Devices rewarded per cap_resolution cell of their asserted location (0: no cap).",
    )
    max_devices_per_owner: int = Field(
        1_000, ge=0, description="Devices rewarded per registry owner (0: no cap)."
    )

    @model_validator(mode="after")
    def _check_thresholds(self) -> HeartbeatSection:
        if self.partial_trust_meters < self.full_trust_meters:
            raise ValueError("heartbeat.partial_trust_meters must be >= full_trust_meters")
        if self.liveness_window_seconds > self.hour_seconds:
            raise ValueError("heartbeat.liveness_window_seconds must be <= hour_seconds")
        return self


def heartbeat_section(settings: Settings) -> HeartbeatSection:
    """The heartbeat section of `settings` (its defaults when none is configured)."""
    section = settings.kind_section("heartbeat")
    assert isinstance(section, HeartbeatSection)
    return section
