"""What a proof kind is: one package that declares everything about one resource.

A *kind* (heartbeat, coverage, storage, a third party's sensor network …) is a Python object
that satisfies `Kind`, published under the entry-point group `opendepin.proof_kinds`
(`proofs.registry`). Ingest, the oracle, `depin audit`, `depin agent` and `depin demo` learn
every kind from that one registry; none of them names a kind.

```
declared                      used by                 what it is
name, reasons, rules          everyone                its name in reports, pools, files; its reason enum; its ordered rules
settings_model                network.settings        typed section, from [kinds.<name>] or [<name>] of network.toml
validate_payload              ingest, reconciliation  cheap schema check of an untrusted payload (ValueError)
entropy_window_seconds        oracle snapshot         the kind wants one chain entropy block per window
epoch_overhang_ms             ingest, reconciliation  how far past its epoch's end a report's timestamp may lie
initial_state / state file    oracle snapshot, audit  state carried across epochs (kinds/<name>/state_v1.json)
external_inputs               oracle snapshot         other files it reads, frozen into kinds/<name>/
chain_inputs(section, view)   oracle snapshot         chain facts it reads (events, contract state in the
                                                      epoch's blocks), frozen into kinds/<name>/ (optional)
compute(KindJob)              oracle compute, audit   ordered rules → verdicts, shares, explanations, next state
device(config)                depin agent             what the device sends
simulation(spec)              depin demo              honest and dishonest simulated devices
```

**The one pure function.** `compute` is the whole kind for one epoch: sealed reports, the
chain snapshot at the close block, the settings, the state before the epoch and the frozen
external inputs in; a `KindResult` out. Verdicts, shares, per-device explanations and the
state after the epoch all come out of that one call, so nothing re-reads evidence later and
nothing is memoised in the kind object. It must be a function of its arguments only (no
clock, no unseeded randomness, no floats in shares) so every oracle, and every auditor,
computes the same bytes.

**State across epochs** is declared, not special-cased: a kind with state returns bytes for
`initial_state` and a `next_state` from `compute`. The oracle copies epoch e's
`kinds/<name>/next_state_v1.json` to epoch e+1's `kinds/<name>/state_v1.json` (epoch 0, or an
epoch after one that did not run the kind, starts from `initial_state`), and `depin audit`
checks that chain. The kind owns the bytes (its own versioned format inside).

**Epoch overhang.** A report names its epoch and its timestamp must lie inside it, except
that a kind may let timestamps run up to `epoch_overhang_ms` past the epoch's end (default 0):
coverage files a witness under its *beacon's* epoch, and a beacon sent in an epoch's last
second is heard up to `max_witness_lag_ms` later. The overhang is per kind, not per payload
type (ingest checks time before it decodes payloads); the kind's own rules judge which of its
reports may use it. It must stay within `network.report_grace_seconds`, or ingest closes the
epoch before its overhanging reports can arrive.

**Chain inputs.** A kind that reads the chain beyond the registry and entropy (the usage
kind reads the epoch's `CreditsSpent` events) implements the optional hook
`chain_inputs(section, view: ChainView) -> {file name: bytes}`. The snapshot stage calls it
once per epoch with the chain, the deployment's contract addresses and the epoch's block range
(after the previous epoch's close block, up to this epoch's); the files are written under
`kinds/<name>/` and listed in the manifest like external inputs, and `compute` reads them back
from `KindJob.inputs` — so `depin audit` recomputes from the frozen bytes, never from the chain.
The hook must read nothing beyond `view.to_block` (or only what is fixed by then) so every
oracle writes the same bytes. `KindBase` gives `{}`.

**Unused pool.** `KindJob.pool` is the kind's pool in base units, so a kind can price its
work against it; a kind that cannot use all of it (the usage pool pays at most the token value
of the credits consumers burnt) returns `KindResult.pool_unused`, which the oracle hands to the
other paid kinds in proportion to their basis points (`oracle.compute`).

**Sharding by device (optional).** A kind whose rules judge each device's reports without
looking at other devices' reports (heartbeat: every rule but the caps) can also implement
`ShardedKind`: `compute_shard(job)` on the reports of a subset of devices (every report of
each of them, in sealed order) returns one verdict per report plus a picklable partial, and
`combine(job, partials)` (with `job.reports` empty) turns the partials of a partition of the
devices into the rest of the `KindResult` (shares, explanations, notes, state). The oracle then
splits an epoch's sealed file by device and runs the shards on every core, or on a cluster
(`oracle.shards`, `oracle.executors`), holding no more than a shard of reports at a time. The
contract, checked by a property test per kind: for every partition of the devices,
`combine` of the shards gives the shares, explanations, notes and state of `compute`, and the
shards' verdicts are `compute`'s.

A sharded kind may also judge a shard straight from its sealed lines (`LineShardedKind`:
`compute_shard_lines(job, lines, decode)`), skipping a `Report` object per line. It must
return what `compute_shard` returns on the decoded lines — the same invalid verdicts (by line
index) and the same partial — and call `decode(i)` for any line it cannot judge itself: that
is the oracle's own decoder of line i, which raises the oracle's error for a line that holds
no report.

**Every file of a kind lives under `kinds/<name>/`** of the epoch directory with the same
names for the same roles (`epoch_layout`), so any kind is a template for the next.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel

from opendepin.errors import StageError
from opendepin.records import ChainSnapshot, IngestedReport, Shares, Verdict
from opendepin.reports.envelope import Report
from opendepin.types import Address, DeviceId, Epoch, ProofKind

if TYPE_CHECKING:
    from opendepin.agent.config import AgentConfig
    from opendepin.chain.accounts import Signer
    from opendepin.chain.backend import Chain
    from opendepin.identity import DeviceKey
    from opendepin.network.settings import Settings


@dataclass(frozen=True, slots=True)
class Rule:
    """One verification rule as a kind declares it, in the order the rules apply.

    The first failing rule decides a report's verdict; `reasons` are the codes it can give.
    `applies_to` says what it judges: "report" (every report), a payload type ("beacon",
    "witness"), or "device" (a device-level reason, given in explanations, never on a verdict).
    """

    name: str
    reasons: tuple[str, ...]
    summary: str
    applies_to: str = "report"

    def to_obj(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reasons": list(self.reasons),
            "summary": self.summary,
            "applies_to": self.applies_to,
        }


@dataclass(frozen=True, slots=True)
class KindJob:
    """Everything a kind's `compute` may read for one epoch (and nothing else)."""

    epoch: Epoch
    """The epoch being computed."""
    reports: Sequence[IngestedReport]
    """This kind's sealed reports, in sealed order."""
    snapshot: ChainSnapshot
    """Registry and entropy at the epoch's close block."""
    settings: Settings
    """The network's settings (the epoch clock is `settings.network`)."""
    section: Any
    """This kind's own settings section (an instance of its `settings_model`)."""
    state: bytes | None = None
    """The kind's state before the epoch (None for a stateless kind)."""
    inputs: Mapping[str, bytes] = field(default_factory=dict)
    """The kind's frozen external and chain inputs, by file name (see `Kind.external_inputs`,
    `ChainInputsKind.chain_inputs`)."""
    pool: int = 0
    """The kind's pool this epoch, base units (what its shares divide; see
    `KindResult.pool_unused`)."""


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one device earned what it earned from one kind this epoch (published)."""

    device: DeviceId
    """The device."""
    shares: int
    """Its shares of the kind's pool (0 when it earned nothing)."""
    reasons: tuple[str, ...]
    """Reason codes for earning less than a perfect epoch, sorted (report and device level)."""
    invalid: Mapping[str, int] = field(default_factory=dict)
    """Invalid reports of the device, counted by reason."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """Kind-specific figures (hours, units, scale …) as JSON values."""

    def to_obj(self) -> dict[str, Any]:
        """JSON form: the kind's details plus `device`, `shares`, `reasons` and `invalid`."""
        return {
            **self.details,
            "device": self.device,
            "shares": self.shares,
            "reasons": list(self.reasons),
            "invalid": dict(sorted(self.invalid.items())),
        }

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> Explanation:
        """Read back a published explanation (`to_obj`); ValueError if it is not one."""
        try:
            details = {
                k: v for k, v in obj.items() if k not in ("device", "shares", "reasons", "invalid")
            }
            return cls(
                device=DeviceId(str(obj["device"])),
                shares=int(obj["shares"]),
                reasons=tuple(str(r) for r in obj["reasons"]),
                invalid={str(k): int(v) for k, v in dict(obj["invalid"]).items()},
                details=details,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a published explanation: {exc}") from exc

    @property
    def main_reason(self) -> str | None:
        """The reason that says most: the most frequent invalid one (a tie goes to the code that
        sorts last, as the demo has always counted), else the first device-level reason, else None."""
        if self.invalid:
            return max(self.invalid.items(), key=lambda rc: (rc[1], rc[0]))[0]
        return self.reasons[0] if self.reasons else None


@dataclass(frozen=True, slots=True)
class KindResult:
    """What one kind computed for one epoch."""

    verdicts: tuple[Verdict, ...]
    """One verdict per sealed report, in sealed order."""
    shares: Shares
    """Positive shares of the kind's pool per device."""
    explanations: Mapping[DeviceId, Explanation]
    """One explanation per device that reported or earned."""
    next_state: bytes | None = None
    """The kind's state after the epoch (stateful kinds), the next epoch's `state`."""
    notes: Mapping[str, Any] = field(default_factory=dict)
    """Kind-level facts published in `verdicts_v1.json` next to the verdicts (e.g. a denylist
    version)."""
    withheld_shares: int = 0
    """Shares of the pool the kind withholds this epoch: they count when the pool is divided
    but are paid to nobody, so their tokens stay unallocated (not minted). Storage holds back a
    young node's earnings this way; a kind that withholds should say why in its notes."""
    pool_unused: int = 0
    """Base units of its pool (`KindJob.pool`) the kind does not use this epoch (0 ≤ it ≤
    pool). The oracle divides only the rest among its shares and gives this part to the other
    paid kinds in proportion to their basis points, recorded in the notes of both sides."""


class DeviceBehaviour(Protocol):
    """What a device of a kind sends when `depin agent run` wakes it up."""

    def payloads(self, timestamp_ms: int) -> list[dict[str, Any]]:
        """The payloads to sign and send now (usually one)."""
        ...


@dataclass(frozen=True, slots=True)
class SimSpec:
    """What a kind's simulation model is built from (`depin demo`)."""

    seed: int
    """Everything the model does derives from this."""
    count: int
    """How many devices of this kind to simulate."""
    owners: Sequence[Signer]
    """Owners to assign the devices to (they register them and are paid)."""
    settings: Settings
    """The simulated network's settings."""


@dataclass(frozen=True, slots=True)
class SimHour:
    """One simulated hour: the entropy block devices can see and where the clock is."""

    epoch: Epoch
    hour: int
    """Hour of the epoch, from 0."""
    hour_start_unix: int
    epoch_start_unix: int
    entropy_block: int
    """The last block at or before the hour's start."""
    entropy: bytes
    """That block's hash."""


@dataclass(frozen=True, slots=True)
class SimDevice:
    """One simulated device as the network registers it."""

    key: DeviceKey
    owner: Signer
    asserted_cell: int
    """The H3 cell its owner asserts (0: none)."""
    behaviour: str
    """A label for the demo's tables ("honest", "spoofer" …)."""


class SimModel(Protocol):
    """A kind's simulated devices and the reports they send."""

    @property
    def devices(self) -> Sequence[SimDevice]:
        """Every simulated device (registered by the demo before epoch 0)."""
        ...

    def hour_reports(self, hour: SimHour) -> list[Report]:
        """Every signed report the devices send in `hour` (cheats included)."""
        ...


@runtime_checkable
class Kind(Protocol):
    """The interface of one proof kind (see the module docstring)."""

    @property
    def name(self) -> ProofKind:
        """Name in reports, pools, settings and file paths (lower-case ASCII)."""
        ...

    @property
    def reasons(self) -> type[StrEnum]:
        """Every reason code its verdicts and explanations use."""
        ...

    @property
    def rules(self) -> Sequence[Rule]:
        """Its verification rules, in the order they apply (documentation, explorer, tests)."""
        ...

    @property
    def settings_model(self) -> type[BaseModel]:
        """Its typed settings section (frozen pydantic model with defaults)."""
        ...

    @property
    def payload_schemas(self) -> Mapping[str, Mapping[str, Any]]:
        """JSON Schema of each payload type it accepts, by type name."""
        ...

    def validate_payload(self, payload: dict[str, Any]) -> None:
        """Raise ValueError with a message if the payload is malformed (ingest-time check)."""
        ...

    def entropy_window_seconds(self, section: Any) -> int | None:
        """Seconds per entropy window if its devices derive data from chain entropy."""
        ...

    def epoch_overhang_ms(self, section: Any) -> int:
        """How many ms past its epoch's end a report's timestamp may lie (0: none)."""
        ...

    def initial_state(self, section: Any) -> bytes | None:
        """State before the first epoch; None for a stateless kind."""
        ...

    def external_inputs(self, section: Any) -> Mapping[str, bytes]:
        """Files from outside the epoch it reads (frozen at the snapshot), by file name."""
        ...

    def compute(self, job: KindJob) -> KindResult:
        """Verify, score and explain one epoch (pure)."""
        ...

    def device(self, config: AgentConfig) -> DeviceBehaviour:
        """Device-side behaviour for `depin agent run` (ConfigError if it cannot run there)."""
        ...

    def simulation(self, spec: SimSpec) -> SimModel:
        """The kind's simulation model for `depin demo`."""
        ...


@dataclass(frozen=True, slots=True)
class ChainView:
    """What a kind's `chain_inputs` may read: the chain and where the network lives on it."""

    chain: Chain
    """The chain the oracle reads (the same node its registry snapshot came from)."""
    contracts: Mapping[str, Address]
    """Contract name -> address of the deployment (`Deployment.addresses`: "Token",
    "DeviceRegistry", "RewardDistributor", "Credits" …; what the oracle was given)."""
    first_block: int
    """The deployment's first block: where scans of contract history start."""
    from_block: int
    """The epoch's first block: the block after the previous epoch's close block (the
    deployment's first block for epoch 0)."""
    to_block: int
    """The epoch's close block (inclusive): nothing later may change what the hook returns."""

    def contract(self, name: str) -> Address:
        """The address of contract `name`; StageError when the oracle was not given it."""
        address = self.contracts.get(name)
        if address is None:
            known = ", ".join(sorted(self.contracts)) or "none"
            raise StageError(f"the oracle knows no {name} contract address (known: {known})")
        return address


@runtime_checkable
class ChainInputsKind(Protocol):
    """A kind with the optional `chain_inputs` hook (see the module docstring)."""

    def chain_inputs(self, section: Any, view: ChainView) -> Mapping[str, bytes]:
        """Files of chain facts to freeze into `kinds/<name>/` for the epoch `view` spans."""
        ...


@dataclass(frozen=True, slots=True)
class ShardPart:
    """What a sharded kind computed for one shard of devices."""

    verdicts: tuple[Verdict, ...]
    """One verdict per report of the shard, in the shard's (sealed) order."""
    partial: Any
    """The kind's own per-device summary, handed to `combine` (picklable: it may cross
    processes and machines)."""


@dataclass(frozen=True, slots=True)
class ShardLines:
    """What a line-sharded kind computed for one shard's sealed lines."""

    count: int
    """Lines judged."""
    invalid: tuple[tuple[int, Verdict], ...]
    """(index of the line from 0, verdict) of every invalid report, in line order; every
    other line's verdict is valid."""
    partial: Any
    """What `compute_shard` would return as its partial."""


@runtime_checkable
class ShardedKind(Protocol):
    """A kind whose epoch splits by device (see the module docstring)."""

    def compute_shard(self, job: KindJob) -> ShardPart:
        """Verify and summarise the reports of one shard of devices (pure)."""
        ...

    def combine(self, job: KindJob, partials: Sequence[Any]) -> KindResult:
        """Shares, explanations, notes and state from every shard's partial; `verdicts` is
        empty (the shards gave them)."""
        ...


@runtime_checkable
class LineShardedKind(ShardedKind, Protocol):
    """A sharded kind that also judges a shard from its sealed lines (module docstring)."""

    def compute_shard_lines(
        self, job: KindJob, lines: Sequence[bytes], decode: Callable[[int], IngestedReport]
    ) -> ShardLines:
        """`compute_shard` on the reports of `lines`, with only the invalid verdicts."""
        ...


def kind_overhangs_ms(kinds: Mapping[str, Kind], settings: Settings) -> dict[str, int]:
    """Kind name -> its `epoch_overhang_ms` under `settings` (kinds without one are absent)."""
    out: dict[str, int] = {}
    for name, kind in kinds.items():
        overhang = kind.epoch_overhang_ms(settings.kind_section(name))
        if overhang:
            out[name] = overhang
    return out


class KindBase:
    """Defaults for the optional parts of `Kind`: stateless, no entropy, no epoch overhang, no
    external or chain inputs.

    A kind subclasses this and sets `name`, `reasons`, `settings_model` and
    `payload_schemas`, and implements `validate_payload`, `compute`, `device` and
    `simulation`.
    """

    def entropy_window_seconds(self, section: Any) -> int | None:
        return None

    def epoch_overhang_ms(self, section: Any) -> int:
        return 0

    def initial_state(self, section: Any) -> bytes | None:
        return None

    def external_inputs(self, section: Any) -> Mapping[str, bytes]:
        return {}

    def chain_inputs(self, section: Any, view: ChainView) -> Mapping[str, bytes]:
        return {}


__all__ = [
    "ChainInputsKind",
    "ChainView",
    "DeviceBehaviour",
    "Explanation",
    "Kind",
    "KindBase",
    "KindJob",
    "KindResult",
    "LineShardedKind",
    "Rule",
    "ShardLines",
    "ShardPart",
    "ShardedKind",
    "SimDevice",
    "SimHour",
    "SimModel",
    "SimSpec",
    "kind_overhangs_ms",
]
