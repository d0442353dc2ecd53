"""The `[heartbeat]` settings section (read from `[kinds.heartbeat]` or `[heartbeat]`)."""

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

    @model_validator(mode="after")
    def _check_thresholds(self) -> HeartbeatSection:
        if self.partial_trust_meters < self.full_trust_meters:
            raise ValueError("heartbeat.partial_trust_meters must be >= full_trust_meters")
        return self


def heartbeat_section(settings: Settings) -> HeartbeatSection:
    """The heartbeat section of `settings` (its defaults when none is configured)."""
    section = settings.kind_section("heartbeat")
    assert isinstance(section, HeartbeatSection)
    return section
