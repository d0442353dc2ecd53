"""The pure part of an epoch: sealed reports + chain snapshot + settings → rewards.

```
per kind:  reports + state + frozen inputs ── Kind.compute ──▶ verdicts, shares, explanations, next state
emission(epoch) ── pools (basis points per kind) ──▶ pool per kind
per kind:  unused part of a pool (KindResult.pool_unused) ──▶ the other paid kinds, by bps
per kind:  allocate(pool − unused + inflow, shares) ──▶ amount per device (round down) + remainder
per device: amount ──▶ its owner at the close block (snapshot.devices[d].owner)
previous cumulative totals + this epoch's owner amounts ──▶ new cumulative totals (never decrease)
```

Everything here is a function of its arguments: no clock, no randomness, no dependence on
the order of mappings (every iteration is over sorted keys). Money is integers.

Exclusions: a device can be left out of an epoch's sealed inputs altogether — today only for
equivocation (it signed two different reports with one (device, seq); see `oracle.sync`).
Its reports never reach a verifier, so it earns nothing; `exclusion_verdicts` turns the
sealed evidence into invalid verdicts with the shared reason `equivocated`, which become
part of the kind's outcome (`KindOutcome.excluded`, counted, published in `verdicts_v1.json`
and explained in `explanations_v1.json`), so an operator sees why the device went unpaid.

Unused pools: a kind may leave part of its pool unused (the usage pool pays at most the
token value of the credits consumers burnt). `unused_pool_flows` hands that part to the other
paid kinds in proportion to their basis points (integers, rounding down, the remainder
unallocated); both sides record it in their notes (`pool_unused`, `pool_unused_to`,
`pool_unused_unallocated`; `pool_inflow`), published in `verdicts_v1.json`, and `depin audit`
recomputes it with everything else. A kind that uses its whole pool (every kind but usage)
changes nothing: no note, no flow.

Everything published comes out of this one function: verdicts, explanations, kind states
and rewards (`publish.render_outputs` only formats them).

Invariant (checked by `compute_epoch` before it returns, and by a property test):
`sum(owner amounts) + unallocated == emission`, where `unallocated` gathers what the pools
split leaves (basis points summing below 10,000, or a kind with no valid work), allocation
rounding remainders, and amounts for devices without a registry owner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opendepin.errors import InvalidReport, StageError
from opendepin.network.settings import Settings
from opendepin.oracle.shards import ShardedKindResult
from opendepin.proofs.kind import Explanation, Kind, KindJob, KindResult
from opendepin.reasons import SharedReason
from opendepin.records import ChainSnapshot, IngestedReport, Verdict
from opendepin.reports import codec
from opendepin.rewards.emission import EmissionSchedule
from opendepin.rewards.pools import CumulativeLedger, Pools, allocate
from opendepin.store.sealing import EQUIVOCATIONS_FILE, INPUTS_DIR, Equivocation
from opendepin.types import Address, DeviceId, Epoch, ProofKind


def exclusion_verdicts(
    epoch: int, equivocations: Sequence[Equivocation]
) -> dict[ProofKind, list[Verdict]]:
    """Per kind, one invalid verdict per equivocated (device, seq) (kinds of its versions)."""
    out: dict[ProofKind, list[Verdict]] = {}
    for e in sorted(equivocations, key=lambda e: (str(e.device), e.seq)):
        kinds: set[ProofKind] = set()
        for wire in e.versions:
            try:
                kinds.add(codec.loads(wire).kind)
            except InvalidReport:
                continue
        details = (
            f"signed {len(e.versions)} different reports with seq {e.seq}; every report of this "
            f"device in epoch {epoch} is excluded (evidence: {INPUTS_DIR}/{EQUIVOCATIONS_FILE})"
        )
        for kind in sorted(kinds):
            out.setdefault(kind, []).append(
                Verdict(e.device, e.seq, SharedReason.EQUIVOCATED, details)
            )
    return out


@dataclass(frozen=True, slots=True)
class KindOutcome:
    """What one proof kind produced in one epoch."""

    kind: ProofKind
    """The proof kind."""
    verdicts: tuple[Verdict, ...]
    """One verdict per sealed report, in sealed order."""
    shares: Mapping[DeviceId, int]
    """Non-negative shares of this kind's pool per device (kind-defined scale)."""
    pool: int
    """Base units this kind's pool received from the epoch's emission."""
    amounts: Mapping[DeviceId, int]
    """Base units per device (zero-share devices omitted)."""
    unallocated: int
    """What rounding (or an empty share set) left of `pool`."""
    explanations: Mapping[DeviceId, Explanation] = field(default_factory=dict)
    """Per device: shares and why it earned less (excluded devices included)."""
    excluded: tuple[Verdict, ...] = ()
    """Invalid verdicts of devices left out of the sealed inputs (`equivocated`)."""
    next_state: bytes | None = None
    """The kind's state after the epoch (stateful kinds)."""
    notes: Mapping[str, Any] = field(default_factory=dict)
    """Kind-level facts published with the verdicts (e.g. a denylist version); with the
    unused-pool flow when there is one (`UnusedFlow.notes`, `pool_inflow`)."""
    pool_unused: int = 0
    """Base units of `pool` the kind did not use (`KindResult.pool_unused`), given away."""
    pool_inflow: Mapping[ProofKind, int] = field(default_factory=dict)
    """Base units received from other kinds' unused pools, by giving kind; the kind's
    amounts divide `pool - pool_unused + sum(pool_inflow)`."""
    valid_unlisted: int = 0
    """Valid verdicts not spelled out in `verdicts` (a kind computed in shards lists only its
    invalid verdicts and counts the valid ones: `oracle.shards`)."""


@dataclass(frozen=True, slots=True)
class UnusedFlow:
    """Where one kind's unused pool went."""

    unused: int
    """Base units the kind did not use."""
    to: Mapping[ProofKind, int]
    """Base units per receiving kind (in proportion to its basis points, rounded down)."""
    remainder: int
    """What rounding (or no receiver) left: unallocated this epoch."""

    def notes(self) -> dict[str, Any]:
        """The giver's published notes: how much was unused and where it went."""
        return {
            "pool_unused": self.unused,
            "pool_unused_to": dict(sorted(self.to.items())),
            "pool_unused_unallocated": self.remainder,
        }


def unused_pool_flows(
    unused: Mapping[ProofKind, int], bps: Mapping[ProofKind, int]
) -> dict[ProofKind, UnusedFlow]:
    """Per kind with an unused pool part: its split among the *receivers* — the other kinds
    computed this epoch with positive basis points that leave nothing unused themselves (so
    nothing flows in a circle) — `unused * bps_k // sum(receivers' bps)`, remainder unallocated.
    Helium's data-transfer pool works the same way: what usage does not claim goes to the
    proof-of-coverage pools."""
    receivers = {k: b for k, b in sorted(bps.items()) if b > 0 and unused.get(k, 0) == 0}
    total = sum(receivers.values())
    out: dict[ProofKind, UnusedFlow] = {}
    for giver, amount in sorted(unused.items()):
        if amount <= 0:
            continue
        to = {k: amount * b // total for k, b in receivers.items()} if total else {}
        to = {k: a for k, a in to.items() if a > 0}
        out[giver] = UnusedFlow(amount, to, amount - sum(to.values()))
    return out


@dataclass(frozen=True, slots=True)
class EpochComputation:
    """The complete, deterministic result of one epoch's reward computation."""

    epoch: Epoch
    """Epoch number."""
    emission: int
    """This epoch's emission, base units."""
    kinds: Mapping[ProofKind, KindOutcome]
    """Per proof kind outcome."""
    owner_amounts: Mapping[Address, int]
    """This epoch's amount per owner (positive amounts only)."""
    cumulative: Mapping[Address, int]
    """Cumulative amount per owner after this epoch (what the tree commits to)."""
    unallocated: int
    """Emission not paid to anyone this epoch (see the module invariant)."""
    rejected_by_reason: Mapping[str, int] = field(default_factory=dict)
    """Invalid verdicts counted by reason value."""

    @property
    def cumulative_total(self) -> int:
        return sum(self.cumulative.values())

    def device_owner_rows(
        self, snapshot: ChainSnapshot
    ) -> dict[Address, list[tuple[DeviceId, ProofKind, int, int]]]:
        """Per owner: (device, kind, shares, amount) rows, sorted, for the reward file."""
        rows: dict[Address, list[tuple[DeviceId, ProofKind, int, int]]] = {}
        for kind in sorted(self.kinds):
            outcome = self.kinds[kind]
            for device in sorted(outcome.shares):
                record = snapshot.devices.get(device)
                if record is None:
                    continue
                rows.setdefault(record.owner, []).append(
                    (device, kind, outcome.shares[device], outcome.amounts.get(device, 0))
                )
        for owner_rows in rows.values():
            owner_rows.sort()
        return rows


def kind_pool(epoch: Epoch, settings: Settings, kind: str) -> int:
    """Base units of `kind`'s pool in `epoch` (before any unused-pool flow)."""
    emission = EmissionSchedule.from_settings(settings.emission).emission(epoch)
    return Pools.from_settings(settings.pools).split(emission).amounts.get(ProofKind(kind), 0)


def kind_job(
    epoch: Epoch,
    kind: str,
    module: Kind,
    reports: Sequence[IngestedReport],
    snapshot: ChainSnapshot,
    settings: Settings,
    pool: int,
    states: Mapping[str, bytes | None] | None = None,
    kind_inputs: Mapping[str, Mapping[str, bytes]] | None = None,
) -> KindJob:
    """The `KindJob` of one kind (its state: as given in `states`, else its initial state)."""
    section = settings.kind_section(kind)
    return KindJob(
        epoch=epoch,
        reports=reports,
        snapshot=snapshot,
        settings=settings,
        section=section,
        state=(states or {}).get(kind, module.initial_state(section)),
        inputs=(kind_inputs or {}).get(kind, {}),
        pool=pool,
    )


def _check_result(kind: ProofKind, result: KindResult, pool: int) -> None:
    """StageError when a kind's result breaks the `KindResult` contract on withheld shares or
    its unused pool."""
    if type(result.withheld_shares) is not int or result.withheld_shares < 0:
        raise StageError(f"{kind}: compute withheld {result.withheld_shares!r} shares")
    if type(result.pool_unused) is not int or not 0 <= result.pool_unused <= pool:
        raise StageError(f"{kind}: compute left {result.pool_unused!r} of its pool {pool} unused")


def compute_epoch(
    epoch: Epoch,
    reports: Mapping[str, Sequence[IngestedReport]],
    snapshot: ChainSnapshot,
    settings: Settings,
    modules: Mapping[str, Kind],
    previous: Mapping[Address, int],
    *,
    states: Mapping[str, bytes | None] | None = None,
    kind_inputs: Mapping[str, Mapping[str, bytes]] | None = None,
    equivocations: Sequence[Equivocation] = (),
    sharded: Mapping[str, ShardedKindResult] | None = None,
) -> EpochComputation:
    """Verify, score, explain and reward one epoch. Pure; see the module docstring.

    `reports` holds the sealed reports per kind; a kind with a pool but no reports still
    gets an (empty) outcome so its pool is visibly unallocated. `states` and `kind_inputs`
    are each kind's state before the epoch and frozen external inputs (a stateful kind
    missing from `states` starts from its initial state). Raises StageError when sealed
    reports name a kind no module handles.
    """
    excluded_by_kind = exclusion_verdicts(epoch, equivocations)
    unknown = sorted(set(reports) - set(modules))
    if unknown:
        raise StageError(f"epoch {epoch}: sealed reports of unhandled kinds {unknown}")
    emission = EmissionSchedule.from_settings(settings.emission).emission(epoch)
    split = Pools.from_settings(settings.pools).split(emission)
    pools = split.amounts
    kinds: dict[ProofKind, KindOutcome] = {}
    rejected: Counter[str] = Counter()
    owner_amounts: dict[Address, int] = {}
    unallocated = split.unallocated
    computed: dict[ProofKind, KindResult] = {}
    listed: dict[ProofKind, tuple[tuple[Verdict, ...], int]] = {}
    unknown_sharded = sorted(set(sharded or {}) - set(modules))
    if unknown_sharded:
        raise StageError(f"epoch {epoch}: sharded results of unhandled kinds {unknown_sharded}")
    for kind_name in sorted(set(modules) | set(pools)):
        kind = ProofKind(kind_name)
        module = modules.get(kind)
        pool = pools.get(kind, 0)
        if module is None:
            unallocated += pool
            continue
        done = (sharded or {}).get(kind)
        if done is not None:
            _check_result(kind, done.result, pool)
            if done.result.verdicts or len(done.invalid) + done.valid != done.reports:
                raise StageError(f"{kind}: sharded verdicts do not cover its {done.reports} reports")
            computed[kind] = done.result
            listed[kind] = (done.invalid, done.valid)
            continue
        kind_reports = list(reports.get(kind, ()))
        job = kind_job(epoch, kind, module, kind_reports, snapshot, settings, pool, states, kind_inputs)
        result = module.compute(job)
        if len(result.verdicts) != len(kind_reports):
            raise StageError(
                f"{kind}: compute returned {len(result.verdicts)} verdicts for {len(kind_reports)} reports"
            )
        _check_result(kind, result, pool)
        computed[kind] = result
        listed[kind] = (tuple(result.verdicts), 0)
    flows = unused_pool_flows(
        {k: r.pool_unused for k, r in computed.items()},
        {k: settings.pools.bps.get(k, 0) for k in computed},
    )
    unallocated += sum(f.remainder for f in flows.values())
    for kind, result in computed.items():
        pool = pools.get(kind, 0)
        verdicts, valid_unlisted = listed[kind]
        shares = {d: s for d, s in result.shares.items() if s > 0}
        excluded = tuple(excluded_by_kind.get(kind, ()))
        for v in (*verdicts, *excluded):
            if v.reason is not None:
                rejected[str(v.reason)] += 1
        explanations = dict(result.explanations)
        for v in excluded:
            if v.device not in explanations:
                explanations[v.device] = Explanation(v.device, 0, (str(v.reason),), {})
        inflow = {giver: f.to[kind] for giver, f in flows.items() if f.to.get(kind)}
        allocation = allocate(
            pool - result.pool_unused + sum(inflow.values()), shares, result.withheld_shares
        )
        amounts = {d: a for d, a in allocation.amounts.items() if a > 0}
        notes = dict(result.notes)
        if kind in flows:
            notes.update(flows[kind].notes())
        if inflow:
            notes["pool_inflow"] = dict(sorted(inflow.items()))
        kinds[kind] = KindOutcome(
            kind=kind,
            verdicts=tuple(verdicts),
            shares=dict(sorted(shares.items())),
            pool=pool,
            amounts=dict(sorted(amounts.items())),
            unallocated=allocation.unallocated,
            explanations=dict(sorted(explanations.items())),
            excluded=excluded,
            next_state=result.next_state,
            notes=notes,
            pool_unused=result.pool_unused,
            pool_inflow=dict(sorted(inflow.items())),
            valid_unlisted=valid_unlisted,
        )
        unallocated += allocation.unallocated
        for device in sorted(amounts):
            record = snapshot.devices.get(device)
            if record is None:
                unallocated += amounts[device]
                continue
            owner_amounts[record.owner] = owner_amounts.get(record.owner, 0) + amounts[device]
    if sum(owner_amounts.values()) + unallocated != emission:
        raise StageError(f"epoch {epoch}: amounts do not add up to the emission")  # a bug
    ledger = CumulativeLedger({str(a): v for a, v in previous.items()})
    ledger.apply(epoch, {str(a): v for a, v in owner_amounts.items()})
    return EpochComputation(
        epoch=epoch,
        emission=emission,
        kinds=kinds,
        owner_amounts=dict(sorted(owner_amounts.items())),
        cumulative={Address(a): v for a, v in ledger.entries()},
        unallocated=unallocated,
        rejected_by_reason=dict(sorted(rejected.items())),
    )
