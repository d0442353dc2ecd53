"""Parameters the coverage rules read: the `[coverage]` settings plus the epoch clock.

`CoverageParams` is what `verify_epoch` takes instead of the whole `Settings`, so the
verifier states exactly which numbers it depends on (and tests and benchmarks can build it
without a network.toml).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from opendepin.network.settings import NetworkSection, Settings
from opendepin.proofs.coverage.settings import CoverageSection, coverage_section
from opendepin.types import Epoch, ProofKind

COVERAGE_KIND: Final = ProofKind("coverage")
"""Kind name in reports, pools and settings."""
MS_PER_SECOND: Final = 1_000


@dataclass(frozen=True, slots=True)
class CoverageParams:
    """Everything the coverage verifier and scorer need besides reports and chain state."""

    coverage: CoverageSection = field(default_factory=CoverageSection)
    """The `[coverage]` settings section."""
    network: NetworkSection = field(default_factory=NetworkSection)
    """The `[network]` section: its epoch clock bounds every entropy window."""

    @classmethod
    def from_settings(cls, settings: Settings) -> CoverageParams:
        return cls(coverage=coverage_section(settings), network=settings.network)

    @property
    def epoch_seconds(self) -> int:
        """Epoch length (`[network] epoch_seconds`)."""
        return self.network.epoch_seconds

    def epoch_start_ms(self, epoch: Epoch | int) -> int:
        """First millisecond of `epoch`."""
        return self.network.epoch_window_ms(int(epoch))[0]

    def epoch_end_ms(self, epoch: Epoch | int) -> int:
        """First millisecond after `epoch`."""
        return self.network.epoch_window_ms(int(epoch))[1]
