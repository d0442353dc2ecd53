"""Storage verification: ordered rules per payload type, and the epoch's audit challenges.

Every sealed report first passes the shared rules (`opendepin.proofs.rules`), then the rules
of its payload type; the first failing rule decides its verdict.

| # | rule | applies to | reason |
|---|------|------------|--------|
| 1 | report_kind — the report is a storage report | all | `wrong_report_kind` |
| 2 | registered — the node is in the registry at the close block | all | `unknown_device` |
| 3 | active — and not deactivated | all | `inactive_device` |
| 4 | device_kind — registered as a storage node | all | `wrong_device_kind` |
| 5 | payload — well formed (`payload.parse_payload`) | all | `malformed_payload` |
| 6 | in_epoch — timestamp in its epoch, up to `proof_grace_seconds` past its end | all | `wrong_epoch` |
| 7 | unique_seq — no earlier report with the same (device, seq) | all | `duplicate` |
| 8 | network — the placement is for this network and chain id | placement | `storage_wrong_network` |
| 9 | node — the placement names the reporting node | placement | `storage_wrong_node` |
| 10 | placer_signature — signed by the placer it names | placement | `bad_placer_signature` |
| 11 | placer_authorised — the placer is in `[storage] placers` | placement | `unauthorised_placer` |
| 12 | term — ends after it starts, at most `max_term_seconds`, not ended when filed | placement | `bad_term` |
| 13 | size — at most `max_piece_bytes` | placement | `piece_too_large` |
| 14 | new_piece — the piece id is not placed yet (state, or earlier this epoch) | placement | `duplicate_piece` |
| 15 | order — a DELETE order for this network and node, signed by an authorised placer, filed before it expired | removal | `bad_order` |
| 16 | removable_piece — an active placement of this node, placed before the removal | removal | `unknown_piece` |
| 17 | held_piece — an active placement of this node | proof | `unknown_piece` |
| 18 | not_disqualified — the node was not disqualified before the epoch | proof | `node_disqualified` |
| 19 | block — an audit window's entropy block of the epoch, or a pending challenge's | proof | `bad_block` |
| 20 | in_term — the window starts inside the term, before any removal | proof | `expired_term` |
| 21 | challenged — the piece was drawn in that window and placed before it began | proof | `not_challenged` |
| 22 | first_answer — the challenge was not answered before | proof | `duplicate_proof` |
| 23 | leaf — the challenged leaf index | proof | `wrong_leaf` |
| 24 | timing — signed after the block and by the containment deadline | proof | `early_proof`, `late` |
| 25 | path_shape — leaf and path lengths fit the piece and index | proof | `bad_path` |
| 26 | root — the hashes reach the sealed root | proof | `wrong_root` |

Placements are judged first (in sealed order), then removals, then proofs, so a node's
reports need not be sealed in the order it signed them. `duplicate_proof` is checked before
the proof's content: a challenge is answered once, by the first proof in sealed order, and
anything later for it — right or wrong — is a duplicate that changes nothing.

**Windows and challenges.** The epoch is cut into `audit_window_seconds` windows from its
start. A window's entropy block is the last block at or before its start (found among
`snapshot.entropy_blocks`: the one with the highest number whose time is at or before it —
the snapshot may hold other kinds' blocks too). A block already used by an earlier window, or
by a pending challenge, is not fresh: that window has no challenges (this only happens when
no block was mined for a whole window). In a window with a block, every piece auditable at
the window's start (`PlacementRecord.auditable_at`) of a node not disqualified before the
epoch is challenged when `challenge.is_challenged(block hash, piece, audit_probability_ppm)`,
on leaf `challenge.challenged_leaf(block hash, piece, leaves)`.

**Outcomes.** A proof passing every rule is a *pass* when signed by window end +
`proof_grace_seconds`, else a *contained pass*. A proof failing `wrong_leaf`, `late`,
`bad_path` or `wrong_root` fails its challenge (`FAILED_PROOF_REASONS`). Challenges with no
answer at the epoch's end are the scorer's: pending, or `missing` once their deadline passed.
A challenge of a piece removed before it was answered is void (the placer ordered the delete).
`verify` is a pure function of its arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from opendepin.network.settings import Settings
from opendepin.proofs import rules
from opendepin.proofs.rules import Invalid
from opendepin.proofs.storage.challenge import challenged_leaf, is_challenged
from opendepin.proofs.storage.payload import (
    PlacementPayload,
    ProofPayload,
    RemovalPayload,
    StoragePayload,
    parse_payload,
)
from opendepin.proofs.storage.reasons import FAILED_PROOF_REASONS, StorageReason
from opendepin.proofs.storage.settings import StorageSection
from opendepin.proofs.storage.state import Challenge, PlacementRecord, StorageState
from opendepin.records import ChainSnapshot, EntropyBlock, IngestedReport, Verdict
from opendepin.reports.envelope import Report
from opendepin.storage import merkle
from opendepin.storage.orders import Action
from opendepin.types import DeviceId, Epoch, ProofKind

STORAGE_KIND = ProofKind("storage")
MS_PER_SECOND = 1_000
R = StorageReason


@dataclass(frozen=True, slots=True)
class Window:
    """One audit window of the epoch."""

    start_ms: int
    end_ms: int
    block: EntropyBlock | None
    """Its fresh entropy block (None: no block, or one an earlier window already used)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one challenge ended."""

    challenge: Challenge
    result: Literal["pass", "contained", "fail", "missing"]
    reason: str | None = None
    """The failing rule's reason (fail) or `missing`."""

    @property
    def success(self) -> bool:
        return self.result in ("pass", "contained")


@dataclass
class Audit:
    """What verification learnt about the epoch, for the scorer."""

    windows: list[Window]
    placements: dict[bytes, PlacementRecord]
    """Every known piece after the epoch's placements and removals."""
    challenges: dict[tuple[int, bytes], Challenge] = field(default_factory=dict)
    """This epoch's challenges and the pending ones carried in, by (window start, piece)."""
    outcomes: dict[tuple[int, bytes], Outcome] = field(default_factory=dict)
    """Challenges answered by a proof this epoch."""
    placed_by: dict[DeviceId, int] = field(default_factory=dict)
    """Valid placements this epoch per node."""
    disqualified: frozenset[DeviceId] = frozenset()
    """Nodes disqualified before the epoch."""
    pending: dict[tuple[int, bytes], Challenge] = field(default_factory=dict)
    """The pending challenges carried in from the state, by (block, piece)."""


def entropy_block_at(blocks: Sequence[EntropyBlock], start_ms: int) -> EntropyBlock | None:
    """The last block at or before `start_ms` among `blocks` (sorted by number); None if none."""
    best: EntropyBlock | None = None
    for block in blocks:
        if block.timestamp * MS_PER_SECOND <= start_ms:
            best = block
    if best is None and blocks and blocks[0].number == 0:
        return blocks[
            0
        ]  # the chain's first block serves windows before it (as the oracle reads it)
    return best


def epoch_windows(
    epoch: int, snapshot: ChainSnapshot, settings: Settings, section: StorageSection, used: set[int]
) -> list[Window]:
    """The epoch's audit windows with their fresh entropy blocks (`used`: blocks of pending
    challenges, which are not fresh)."""
    start, end = settings.network.epoch_window_ms(epoch)
    step = section.audit_window_ms
    blocks = sorted(snapshot.entropy_blocks.values(), key=lambda b: b.number)
    taken = set(used)
    out: list[Window] = []
    for w_start in range(start, end, step):
        block = entropy_block_at(blocks, w_start)
        if block is not None and block.number in taken:
            block = None
        if block is not None:
            taken.add(block.number)
        out.append(Window(w_start, w_start + step, block))
    return out


def _deadline(window_end_ms: int, section: StorageSection) -> int:
    return window_end_ms + section.containment_windows * section.audit_window_ms


def draw_challenges(audit: Audit, section: StorageSection) -> None:
    """Add every challenge of the epoch's windows to `audit.challenges`."""
    ppm = section.audit_probability_ppm
    pieces = sorted(audit.placements.items())
    for window in audit.windows:
        block = window.block
        if block is None:
            continue
        for piece, record in pieces:
            if record.node in audit.disqualified or not record.auditable_at(window.start_ms):
                continue
            if not is_challenged(block.hash, piece, ppm):
                continue
            leaf = challenged_leaf(block.hash, piece, merkle.leaf_count(record.size))
            audit.challenges[(window.start_ms, piece)] = Challenge(
                record.node, piece, block.number, block.hash, window.start_ms, window.end_ms, leaf,
                _deadline(window.end_ms, section),
            )  # fmt: skip


# ---- placement and removal rules ---------------------------------------------------------


def verify_placement(
    report: Report,
    payload: PlacementPayload,
    audit: Audit,
    settings: Settings,
    section: StorageSection,
) -> Invalid | None:
    """Rules 8-14; a valid placement is added to `audit.placements`."""
    p = payload.placement
    net = settings.network
    if p.network != net.network_id or p.chain_id != net.chain_id:
        return Invalid(R.WRONG_NETWORK, f"placement is for {p.network[:64]!r}/{p.chain_id}")
    if p.node != report.device:
        return Invalid(R.WRONG_NODE, f"placement is for node {p.node}")
    if p.signer() != p.placer:
        return Invalid(R.BAD_PLACER_SIGNATURE, f"placement is not signed by {p.placer}")
    if p.placer not in section.placer_set:
        return Invalid(R.UNAUTHORISED_PLACER, f"{p.placer} is not an authorised placer")
    if p.term_end_ms <= p.term_start_ms:
        return Invalid(R.BAD_TERM, f"term [{p.term_start_ms}, {p.term_end_ms}) ms is empty")
    if p.term_end_ms - p.term_start_ms > section.max_term_seconds * MS_PER_SECOND:
        return Invalid(R.BAD_TERM, f"term is longer than {section.max_term_seconds} s")
    if p.term_end_ms <= report.timestamp_ms:
        return Invalid(R.BAD_TERM, f"term ended at {p.term_end_ms} ms, before the report")
    if p.size > section.max_piece_bytes:
        return Invalid(R.TOO_LARGE, f"{p.size} B is more than {section.max_piece_bytes} B")
    if p.piece in audit.placements:
        return Invalid(R.DUPLICATE_PIECE, f"piece {p.piece.hex()} is already placed")
    audit.placements[p.piece] = PlacementRecord(
        p.node, p.placer, p.size, p.root, p.term_start_ms, p.term_end_ms, report.timestamp_ms
    )
    audit.placed_by[p.node] = audit.placed_by.get(p.node, 0) + 1
    return None


def verify_removal(
    report: Report,
    payload: RemovalPayload,
    audit: Audit,
    settings: Settings,
    section: StorageSection,
) -> Invalid | None:
    """Rules 15-16; a valid removal marks the piece removed at the report's timestamp."""
    o = payload.order
    net = settings.network
    if o.action is not Action.DELETE:
        return Invalid(R.BAD_ORDER, f"the order allows {o.action.name.lower()}, not delete")
    if o.network != net.network_id or o.chain_id != net.chain_id:
        return Invalid(R.BAD_ORDER, f"the order is for {o.network[:64]!r}/{o.chain_id}")
    if o.node != report.device:
        return Invalid(R.BAD_ORDER, f"the order is for node {o.node}")
    if o.signer() != o.placer:
        return Invalid(R.BAD_ORDER, f"the order is not signed by {o.placer}")
    if o.placer not in section.placer_set:
        return Invalid(R.BAD_ORDER, f"{o.placer} is not an authorised placer")
    if report.timestamp_ms > o.expires_ms:
        return Invalid(R.BAD_ORDER, f"the order expired at {o.expires_ms} ms")
    record = audit.placements.get(o.piece)
    if record is None or record.node != report.device:
        return Invalid(R.UNKNOWN_PIECE, f"piece {o.piece.hex()} is not placed on this node")
    if record.removed_ms is not None:
        return Invalid(R.UNKNOWN_PIECE, f"piece {o.piece.hex()} was already removed")
    if report.timestamp_ms < record.placed_ms:
        return Invalid(R.UNKNOWN_PIECE, f"piece {o.piece.hex()} was placed after the removal")
    audit.placements[o.piece] = replace(record, removed_ms=report.timestamp_ms)
    return None


# ---- proof rules ------------------------------------------------------------------------


def find_challenge(
    report: Report, p: ProofPayload, audit: Audit, by_block: dict[int, Window]
) -> Challenge | Invalid:
    """Rules 17-21: the challenge a proof answers."""
    record = audit.placements.get(p.piece)
    if record is None or record.node != report.device:
        return Invalid(R.UNKNOWN_PIECE, f"piece {p.piece.hex()} is not placed on this node")
    if report.device in audit.disqualified:
        return Invalid(R.NODE_DISQUALIFIED, f"{report.device} was disqualified before this epoch")
    window = by_block.get(p.block)
    if window is None:
        carried = audit.pending.get((p.block, p.piece))
        if carried is not None:
            return carried
        return Invalid(
            R.BAD_BLOCK, f"block {p.block} is no audit window's entropy block of this piece"
        )
    start = window.start_ms
    if not (record.term_start_ms <= start < record.term_end_ms) or (
        record.removed_ms is not None and record.removed_ms <= start
    ):
        return Invalid(R.EXPIRED_TERM, f"the window at {start} ms is outside the piece's term")
    challenge = audit.challenges.get((start, p.piece))
    if challenge is None or record.placed_ms > start:
        return Invalid(
            R.NOT_CHALLENGED,
            f"piece {p.piece.hex()} was not challenged in the window at {start} ms",
        )
    return challenge


def judge_proof(
    report: Report,
    p: ProofPayload,
    challenge: Challenge,
    record: PlacementRecord,
    block_time_ms: int | None,
) -> Invalid | None:
    """Rules 23-26 on the proof's content."""
    if p.leaf_index != challenge.leaf_index:
        return Invalid(
            R.WRONG_LEAF, f"proved leaf {p.leaf_index}, challenged leaf {challenge.leaf_index}"
        )
    ts = report.timestamp_ms
    if block_time_ms is not None and ts < block_time_ms:
        return Invalid(
            R.EARLY_PROOF, f"signed at {ts} ms, before its entropy block ({block_time_ms} ms)"
        )
    if ts > challenge.deadline_ms:
        return Invalid(R.LATE, f"signed at {ts} ms, after the deadline {challenge.deadline_ms} ms")
    leaves = merkle.leaf_count(record.size)
    expected_leaf = (
        min(merkle.LEAF_SIZE, record.size - p.leaf_index * merkle.LEAF_SIZE) if record.size else 0
    )
    expected_path = merkle.path_length(leaves, p.leaf_index)
    if len(p.leaf) != expected_leaf or len(p.path) != expected_path:
        return Invalid(
            R.BAD_PATH,
            f"leaf of {len(p.leaf)} B and path of {len(p.path)} hashes; leaf {p.leaf_index} of this "
            f"piece has {expected_leaf} B and {expected_path} hashes",
        )
    if not merkle.verify_proof(record.root, record.size, p.leaf_index, p.leaf, p.path):
        return Invalid(R.WRONG_ROOT, "the proof does not reach the piece's sealed root")
    return None


def verify_proof(
    report: Report,
    p: ProofPayload,
    audit: Audit,
    by_block: dict[int, Window],
    section: StorageSection,
) -> Invalid | None:
    """Rules 17-26; records the challenge's outcome in `audit.outcomes`."""
    challenge = find_challenge(report, p, audit, by_block)
    if isinstance(challenge, Invalid):
        return challenge
    if challenge.key in audit.outcomes:
        return Invalid(R.DUPLICATE_PROOF, f"the challenge of block {p.block} was already answered")
    window = by_block.get(p.block)
    block_time = (
        window.block.timestamp * MS_PER_SECOND if window is not None and window.block else None
    )
    bad = judge_proof(report, p, challenge, audit.placements[p.piece], block_time)
    if bad is not None:
        if bad.reason in FAILED_PROOF_REASONS:
            audit.outcomes[challenge.key] = Outcome(challenge, "fail", str(bad.reason))
        return bad
    on_time = report.timestamp_ms <= challenge.window_end_ms + section.proof_grace_ms
    audit.outcomes[challenge.key] = Outcome(challenge, "pass" if on_time else "contained")
    return None


# ---- the epoch ----------------------------------------------------------------------------


def shared_rules(
    report: Report,
    snapshot: ChainSnapshot,
    settings: Settings,
    section: StorageSection,
    seen: set[tuple[DeviceId, int]],
) -> StoragePayload | Invalid:
    """Rules 1-7 (and the payload)."""
    record = rules.device_rules(report, snapshot, STORAGE_KIND, StorageReason)
    if isinstance(record, Invalid):
        return record
    try:
        payload = parse_payload(report.payload_obj())
    except (ValueError, RecursionError) as exc:
        return Invalid(R.MALFORMED_PAYLOAD, str(exc)[:500])
    overhang = section.proof_grace_ms
    bad = rules.in_epoch(report, settings.network, StorageReason, overhang) or rules.unique_seq(
        report, seen, StorageReason
    )
    return bad or payload


def verify(
    epoch: Epoch,
    reports: Sequence[IngestedReport],
    snapshot: ChainSnapshot,
    settings: Settings,
    section: StorageSection,
    state: StorageState,
) -> tuple[list[Verdict], Audit]:
    """One verdict per report (in input order) and the epoch's audit (see the module docstring)."""
    disqualified = frozenset(n for n, s in state.nodes.items() if s.disqualified_epoch is not None)
    pending = {c.key: c for c in state.pending if c.node not in disqualified}
    audit = Audit(
        windows=epoch_windows(
            epoch, snapshot, settings, section, {c.block for c in pending.values()}
        ),
        placements=dict(state.placements),
        challenges=dict(pending),
        disqualified=disqualified,
        pending={(c.block, c.piece): c for c in pending.values()},
    )
    seen: set[tuple[DeviceId, int]] = set()
    results: list[Invalid | None] = []
    parsed: list[StoragePayload | None] = []
    for ingested in reports:
        outcome = shared_rules(ingested.report, snapshot, settings, section, seen)
        results.append(outcome if isinstance(outcome, Invalid) else None)
        parsed.append(None if isinstance(outcome, Invalid) else outcome)
    for i, payload in enumerate(parsed):
        if isinstance(payload, PlacementPayload):
            results[i] = verify_placement(reports[i].report, payload, audit, settings, section)
    for i, payload in enumerate(parsed):
        if isinstance(payload, RemovalPayload):
            results[i] = verify_removal(reports[i].report, payload, audit, settings, section)
    draw_challenges(audit, section)
    by_block = {w.block.number: w for w in audit.windows if w.block is not None}
    for i, payload in enumerate(parsed):
        if isinstance(payload, ProofPayload):
            results[i] = verify_proof(reports[i].report, payload, audit, by_block, section)
    verdicts = [
        Verdict(r.report.device, r.report.seq, bad.reason, bad.details)
        if bad is not None
        else Verdict(r.report.device, r.report.seq)
        for r, bad in zip(reports, results, strict=True)
    ]
    return verdicts, audit
