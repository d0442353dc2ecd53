"""Storage rewards: audited byte-windows, weighted by reputation, with earnings held back.

**Settling the audits.** After verification (`verifier.verify`) every challenge of the epoch
and every pending one carried in has either an outcome from a proof (pass, contained pass,
fail) or none. One with none is *missing* (a failure) once its containment deadline lies
before the epoch's end (no later epoch may carry a proof signed by then), and otherwise stays
*pending* into the next state; one whose piece was removed is void. All outcomes settled this
epoch then update reputations (`reputation.updated`) in a fixed order — window start, then
piece id — so the result does not depend on report order. A node whose score reaches
`disqualify_at_ppm` is disqualified from that outcome on: later outcomes are not counted.

**Shares.** A node's *audited byte-windows* are, summed over the epoch's audit windows, the
bytes of its pieces auditable in that window — counted only for windows in which none of
its challenges failed, none was answered only in containment, and none is still pending at
the epoch's end. Its shares are `audited_byte_windows × score_ppm // 10⁶` (integer maths,
rounded down). A disqualified node, or one the registry does not list as an active storage
device at the close block, earns 0 (with a reason).

**Held-back earnings** (Storj's, chosen over collateral: a node needs no capital to join, and
leaving early or losing data costs what it had not yet been paid). A node's *age* is the
number of epochs since the epoch of its first valid placement. `held_back_bps[age]` of its
shares (0 past the end of the list) go to its held balance instead of being paid. When its
age reaches `held_back_release_epochs` the whole balance is added to that epoch's shares (its
first epoch at or past that age). Disqualification forfeits the balance (`held_back_forfeited`).
Held shares are *withheld* from the pool (`KindResult.withheld_shares`): they take their part
of this epoch's storage pool, which goes to nobody and stays unallocated (not minted), so a
young node really receives less than an old one for the same work, even when every node is
young. The balance is kept in shares, so its value when released is that of the releasing
epoch's pool (released shares are paid from that pool, beside the other nodes'); the module's
invariant is: paid + held_now = earned + released for every node.

Every device that reported, held pieces, or had challenges gets an explanation; every one
with zero shares gets at least one reason.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from opendepin.proofs.storage import reputation
from opendepin.proofs.storage.reasons import StorageReason
from opendepin.proofs.storage.reputation import Reputation
from opendepin.proofs.storage.settings import BPS, PPM, StorageSection
from opendepin.proofs.storage.state import Challenge, NodeState, StorageState
from opendepin.proofs.storage.verifier import STORAGE_KIND, Audit, Outcome
from opendepin.records import ChainSnapshot, IngestedReport, Verdict
from opendepin.types import DeviceId, Epoch

R = StorageReason


@dataclass(frozen=True, slots=True)
class NodeExplanation:
    """Why one node earned what it earned (published as the kind's explanation)."""

    device: DeviceId
    shares: int
    reasons: tuple[str, ...]
    invalid: Mapping[str, int]
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Settlement:
    """The scorer's result for one epoch."""

    shares: dict[DeviceId, int]
    explanations: dict[DeviceId, NodeExplanation]
    next_state: StorageState
    notes: dict[str, Any]


def hold_bps(age: int, section: StorageSection) -> int:
    """Basis points of an age-`age` node's shares that are held back."""
    if age >= section.held_back_release_epochs or age >= len(section.held_back_bps):
        return 0
    return section.held_back_bps[max(age, 0)]


def _rep(node: NodeState) -> Reputation:
    return Reputation(node.alpha, node.beta, node.passed, node.failed)


def _with_rep(node: NodeState, rep: Reputation) -> NodeState:
    return replace(node, alpha=rep.alpha, beta=rep.beta, passed=rep.passed, failed=rep.failed)


def settle_challenges(audit: Audit, epoch_end_ms: int) -> tuple[list[Outcome], list[Challenge]]:
    """(every outcome settled this epoch, sorted; the challenges still pending)."""
    settled = list(audit.outcomes.values())
    pending: list[Challenge] = []
    for key, challenge in audit.challenges.items():
        if key in audit.outcomes:
            continue
        record = audit.placements.get(challenge.piece)
        if record is None or record.removed_ms is not None:
            continue  # void: the placer ordered the piece deleted before it was answered
        if challenge.deadline_ms < epoch_end_ms:
            settled.append(Outcome(challenge, "missing", R.MISSING.value))
        else:
            pending.append(challenge)
    settled.sort(key=lambda o: o.challenge.key)
    pending.sort(key=lambda c: c.key)
    return settled, pending


def settle(
    epoch: Epoch,
    reports: Sequence[IngestedReport],
    verdicts: Sequence[Verdict],
    audit: Audit,
    snapshot: ChainSnapshot,
    epoch_end_ms: int,
    section: StorageSection,
    state: StorageState,
) -> Settlement:
    """Reputations, shares, held-back balances, explanations and the next state."""
    settled, pending = settle_challenges(audit, epoch_end_ms)
    nodes: dict[DeviceId, NodeState] = dict(state.nodes)
    fresh = reputation.initial(section)

    def node_of(device: DeviceId) -> NodeState:
        if device not in nodes:
            nodes[device] = NodeState(alpha=fresh.alpha, beta=fresh.beta)
        return nodes[device]

    for device in audit.placed_by:
        n = node_of(device)
        if n.first_epoch is None:
            nodes[device] = replace(n, first_epoch=int(epoch))

    counts: dict[DeviceId, Counter[str]] = {}
    first_window = audit.windows[0].start_ms if audit.windows else epoch_end_ms
    spoilt: set[tuple[DeviceId, int]] = set()
    """(node, window start) of this epoch's windows that do not count."""
    for outcome in settled:
        c = outcome.challenge
        counts.setdefault(c.node, Counter())[outcome.result] += 1
        if outcome.result != "pass" and c.window_start_ms >= first_window:
            spoilt.add((c.node, c.window_start_ms))
        n = node_of(c.node)
        if n.disqualified_epoch is not None:
            continue
        rep = reputation.updated(_rep(n), outcome.success, section)
        n = _with_rep(n, rep)
        if reputation.is_disqualifying(rep, section):
            n = replace(n, disqualified_epoch=int(epoch))
        nodes[c.node] = n
    for c in pending:
        counts.setdefault(c.node, Counter())["pending"] += 1
        if c.window_start_ms >= first_window:
            spoilt.add((c.node, c.window_start_ms))

    byte_windows: Counter[DeviceId] = Counter()
    held_pieces: dict[DeviceId, dict[bytes, int]] = {}
    for window in audit.windows:
        for piece, record in audit.placements.items():
            if record.node in audit.disqualified or not record.auditable_at(window.start_ms):
                continue
            held_pieces.setdefault(record.node, {})[piece] = record.size
            if (record.node, window.start_ms) not in spoilt:
                byte_windows[record.node] += record.size

    invalid: dict[DeviceId, Counter[str]] = {}
    for ingested, verdict in zip(reports, verdicts, strict=True):
        bucket = invalid.setdefault(ingested.report.device, Counter())
        if verdict.reason is not None:
            bucket[str(verdict.reason)] += 1

    devices = sorted(set(invalid) | set(held_pieces) | set(counts) | set(audit.placed_by))
    shares: dict[DeviceId, int] = {}
    explanations: dict[DeviceId, NodeExplanation] = {}
    withheld = 0
    for device in devices:
        known = device in nodes
        n = nodes.get(device) or NodeState(alpha=fresh.alpha, beta=fresh.beta)
        rep = _rep(n)
        reasons = set(invalid.get(device, Counter()))
        audits = counts.get(device, Counter())
        if audits["missing"]:
            reasons.add(R.MISSING.value)
        pieces = held_pieces.get(device, {})
        earned = byte_windows[device] * rep.score_ppm // PPM
        held_now = released = forfeited = 0
        registry = _registry_reason(snapshot, device)
        if n.disqualified_epoch is not None:
            reasons.add(R.DISQUALIFIED.value)
            earned = 0
            if n.held:
                forfeited = n.held
                reasons.add(R.HELD_BACK_FORFEITED.value)
                n = replace(n, held=0)
        elif registry is not None:
            reasons.add(registry)
            earned = 0
        else:
            age = int(epoch) - n.first_epoch if n.first_epoch is not None else 0
            held_now = earned * hold_bps(age, section) // BPS
            if age >= section.held_back_release_epochs and n.held:
                released = n.held
                n = replace(n, held=0)
            n = replace(n, held=n.held + held_now)
        paid = earned - held_now + released
        withheld += held_now
        if not pieces:
            reasons.add(R.NO_PIECES.value)
        elif byte_windows[device] == 0:
            reasons.add(R.NO_AUDITED_BYTES.value)
        if held_now:
            reasons.add(R.HELD_BACK.value)
        vetting = reputation.is_vetting(rep, section)
        if vetting:
            reasons.add(R.VETTING.value)
        if paid == 0 and not reasons:
            reasons.add(R.NO_AUDITED_BYTES.value)
        if known:  # a device that only sent invalid reports leaves no trace in the state
            nodes[device] = n
        if paid > 0:
            shares[device] = paid
        explanations[device] = NodeExplanation(
            device=device,
            shares=paid,
            reasons=tuple(sorted(reasons)),
            invalid=dict(sorted(invalid.get(device, Counter()).items())),
            details={
                "pieces": len(pieces),
                "bytes": sum(pieces.values()),
                "audits": {
                    k: audits[k] for k in ("pass", "contained", "fail", "missing", "pending")
                },
                "reputation": {"alpha": rep.alpha, "beta": rep.beta, "score_ppm": rep.score_ppm},
                "disqualified": n.disqualified_epoch,
                "vetting": vetting,
                "audited_byte_windows": byte_windows[device],
                "earned": earned,
                "held_back": held_now,
                "released": released,
                "forfeited": forfeited,
                "held_total": n.held,
            },
        )
    keep = {c.piece for c in pending}
    placements = {
        piece: record
        for piece, record in sorted(audit.placements.items())
        if record.term_end_ms > epoch_end_ms or piece in keep
    }
    notes = {
        "audit_windows": len(audit.windows),
        "windows_with_entropy": sum(1 for w in audit.windows if w.block is not None),
        "challenges_settled": len(settled),
        "challenges_pending": len(pending),
        "withheld_shares": withheld,
    }
    return Settlement(
        shares,
        explanations,
        StorageState(placements, dict(sorted(nodes.items())), tuple(pending)),
        notes,
    )


def _registry_reason(snapshot: ChainSnapshot, device: DeviceId) -> str | None:
    """Why the registry does not let `device` be paid as a storage node (None: it does)."""
    record = snapshot.devices.get(device)
    if record is None:
        return R.UNKNOWN_DEVICE.value
    if not record.active:
        return R.INACTIVE_DEVICE.value
    if record.kind != STORAGE_KIND:
        return R.WRONG_DEVICE_KIND.value
    return None
