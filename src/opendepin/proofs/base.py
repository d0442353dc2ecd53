"""What every proof kind provides, and the types its stages exchange.

A proof kind is one package under `proofs/` (heartbeat, coverage, …) exposing a module
object that satisfies `ProofModule`. The oracle runs, for each kind and epoch:

```
sealed reports (IngestedReport)  +  ChainSnapshot at the epoch's close block  +  settings
        └──────────── verify ────────────▶ one Verdict per report (valid, or invalid with a reason)
                                                  └── score ──▶ Shares: device -> non-negative int
```

A sealed report is only what the device signed (`IngestedReport.report`): nothing an oracle
observed while ingesting it — its receive time above all — reaches verification, because
that differs between oracles. Checks that need an oracle's clock (freshness, lateness) are
ingest's, which decides acceptance (`ingest.pipeline`); verifiers judge a report by its own
signed fields against the chain snapshot.

Both steps are pure functions of their arguments: no clock, no unseeded randomness, no
dependence on input order beyond what the kind documents, no floats in the shares. Shares
are integers in a fixed-point scale the kind documents (for example heartbeat counts
quarter-hours of trusted uptime), so two oracles compute byte-identical rewards.

Adding a kind adds a package and one entry in the registry of kinds; it touches no other kind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from opendepin.network.settings import Settings
from opendepin.reports.envelope import Report
from opendepin.types import Address, DeviceId, ProofKind


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device as the DeviceRegistry saw it at the snapshot block."""

    device: DeviceId
    """Device id (its address; also the registry NFT's token id)."""
    owner: Address
    """Current NFT owner: who is paid for the device's work."""
    kind: str
    """Proof kind the device was registered for."""
    location: int
    """Asserted H3 cell as an unsigned 64-bit int; 0 when no location was asserted."""
    active: bool
    """False after the owner deactivated it."""


@dataclass(frozen=True, slots=True)
class EntropyBlock:
    """A block whose hash devices could see while the epoch ran (windowed entropy)."""

    number: int
    """Block number."""
    hash: bytes
    """32-byte block hash: the entropy devices derive their packets from."""
    timestamp: int
    """Block timestamp, Unix seconds: the entropy is public from then on."""


@dataclass(frozen=True, slots=True)
class ChainSnapshot:
    """Chain state every oracle reads at the same block, so all see the same world."""

    block_number: int
    """The epoch's close block."""
    entropy: bytes
    """32 bytes of chain entropy for the epoch (the close block's hash); only known after the
    epoch, so it suits post-epoch choices (e.g. witness selection), never device packets."""
    devices: Mapping[DeviceId, DeviceRecord] = field(default_factory=dict)
    """Registry contents at `block_number`."""
    entropy_blocks: Mapping[int, EntropyBlock] = field(default_factory=dict)
    """Block number -> the epoch's entropy blocks that devices could use *during* the epoch
    (one per entropy window; read at the close block so every oracle sees the same set)."""


@dataclass(frozen=True, slots=True)
class IngestedReport:
    """A report as sealed for an epoch: the device-signed report and nothing else.

    It deliberately carries no ingest-side data (receive time, which ingest node, …): sealed
    inputs must be byte-identical across oracles. The wrapper stays so the `ProofModule`
    protocol names what it consumes — reports an ingest accepted and an oracle sealed — as
    opposed to any `Report` a caller could construct.
    """

    report: Report
    """The signed report, exactly as accepted (its wire bytes are the sealed line)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Outcome of verifying one report: valid, or invalid with a stable reason."""

    device: DeviceId
    """Device whose report this is."""
    seq: int
    """The report's sequence number (with `device`, identifies the report)."""
    reason: StrEnum | None = None
    """None when valid; otherwise a value of the kind's reason enum."""
    details: str = ""
    """Human explanation of an invalid verdict (what was expected, what was seen)."""

    @property
    def valid(self) -> bool:
        return self.reason is None


Shares = Mapping[DeviceId, int]
"""Non-negative integer shares of a kind's reward pool, per device (kind-defined scale)."""


class ProofModule(Protocol):
    """The interface of one proof kind."""

    kind: ProofKind
    """Name used in reports, pools and settings."""

    def validate_payload(self, payload: dict[str, Any]) -> None:
        """Raise ValueError (with a message) if a payload is malformed for this kind."""
        ...

    def verify(
        self,
        reports: Sequence[IngestedReport],
        snapshot: ChainSnapshot,
        settings: Settings,
    ) -> list[Verdict]:
        """One verdict per report, in the order given."""
        ...

    def score(
        self,
        reports: Sequence[IngestedReport],
        verdicts: Sequence[Verdict],
        snapshot: ChainSnapshot,
        settings: Settings,
    ) -> Shares:
        """Shares of the kind's pool per device, from the valid verdicts."""
        ...
