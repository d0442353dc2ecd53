"""The records every stage exchanges: registry rows, chain snapshots, sealed reports, verdicts.

These types are neutral ground: the store seals `IngestedReport`s, the chain clients build
`DeviceRecord`s and `ChainSnapshot`s, ingest mirrors the registry, and every proof kind
(`opendepin.proofs`) turns sealed reports into `Verdict`s and `Shares`. None of them knows
about any particular kind.

A sealed report is only what the device signed (`IngestedReport.report`): nothing an oracle
observed while ingesting it — its receive time above all — reaches verification, because
that differs between oracles. Checks that need an oracle's clock (freshness, lateness) are
ingest's (`ingest.pipeline`); verifiers judge a report by its own signed fields against the
chain snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from operator import attrgetter
from typing import Any, TypeVar

from opendepin.reports.envelope import Report
from opendepin.types import Address, DeviceId

T = TypeVar("T")


def tuple_pickled(cls: type[T]) -> type[T]:
    """Pickle instances of the dataclass `cls` as `cls(*fields)` (its fields in order, read
    by one C attribute getter) instead of the dataclass default, which calls
    `dataclasses.fields` for every object: records a shard sends to the oracle process and
    back (registry rows, per-device tallies) pickle about twice as fast. Every field must be
    an `__init__` parameter."""
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    if not all(f.init for f in fields(cls)):  # type: ignore[arg-type]
        raise TypeError(f"{cls.__name__}: every field must be an __init__ parameter")
    get = attrgetter(*names)
    if len(names) == 1:

        def reduce(self: Any) -> tuple[Any, tuple[Any, ...]]:
            return (cls, (get(self),))

    else:

        def reduce(self: Any) -> tuple[Any, tuple[Any, ...]]:
            return (cls, get(self))

    cls.__reduce__ = reduce  # type: ignore[method-assign]
    return cls


@tuple_pickled
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

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickled as plain rows (an oracle sends the snapshot to every shard worker: a
        registry of 100,000 devices pickles about 4× faster as tuples than as dataclasses)."""
        rows = [(k, d.device, d.owner, d.kind, d.location, d.active) for k, d in self.devices.items()]
        blocks = [(k, b.number, b.hash, b.timestamp) for k, b in self.entropy_blocks.items()]
        return (_snapshot_from_rows, (self.block_number, self.entropy, rows, blocks))


def _snapshot_from_rows(
    block_number: int,
    entropy: bytes,
    rows: list[tuple[DeviceId, DeviceId, Address, str, int, bool]],
    blocks: list[tuple[int, int, bytes, int]],
) -> ChainSnapshot:
    """The snapshot `ChainSnapshot.__reduce__` flattened (keys, devices and blocks in order)."""
    return ChainSnapshot(
        block_number,
        entropy,
        {row[0]: DeviceRecord(*row[1:]) for row in rows},
        {block[0]: EntropyBlock(*block[1:]) for block in blocks},
    )


@dataclass(frozen=True, slots=True)
class IngestedReport:
    """A report as sealed for an epoch: the device-signed report and nothing else.

    It deliberately carries no ingest-side data (receive time, which ingest node, …): sealed
    inputs must be byte-identical across oracles. The wrapper stays so the `Kind`
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
