"""The storage kind as the registry sees it: one object declaring everything about it.

```
payloads  placement | proof | removal                     payload.parse_payload, PAYLOAD_SCHEMAS
rules     verifier.verify (ordered, StorageReason)        settings  [kinds.storage] / [storage]
shares    audited byte-windows × reputation score          state     state.StorageState (placements,
          minus held-back earnings (scorer)                          reputations, pending challenges)
explain   pieces, bytes, audits, reputation, held back    device    none: `depin storage node`
entropy   one block per audit_window_seconds              overhang  proof_grace_seconds past the epoch
```

`compute` is pure: the state before the epoch, the sealed reports and the snapshot in; the
verdicts, shares, explanations and the state after the epoch out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from opendepin.errors import ConfigError, InputError
from opendepin.proofs.kind import (
    DeviceBehaviour,
    Explanation,
    KindBase,
    KindJob,
    KindResult,
    Rule,
    SimModel,
    SimSpec,
)
from opendepin.proofs.storage.payload import PAYLOAD_SCHEMAS, validate_payload
from opendepin.proofs.storage.reasons import StorageReason
from opendepin.proofs.storage.scorer import settle
from opendepin.proofs.storage.settings import StorageSection
from opendepin.proofs.storage.state import StorageState, initial_state_bytes, parse_state
from opendepin.proofs.storage.verifier import STORAGE_KIND, verify
from opendepin.types import ProofKind

if TYPE_CHECKING:
    from opendepin.agent.config import AgentConfig

RULES: Final = (
    Rule("report_kind", ("wrong_report_kind",), "the report is a storage report"),
    Rule("registered", ("unknown_device",), "the node is in the registry at the close block"),
    Rule("active", ("inactive_device",), "and not deactivated"),
    Rule("device_kind", ("wrong_device_kind",), "it was registered as a storage node"),
    Rule(
        "payload",
        ("malformed_payload",),
        "the payload is a well-formed placement, proof or removal",
    ),
    Rule(
        "in_epoch",
        ("wrong_epoch",),
        "its timestamp lies in its epoch, up to proof_grace_seconds past its end",
    ),
    Rule("unique_seq", ("duplicate",), "no earlier report in the input has the same (device, seq)"),
    Rule(
        "network",
        ("storage_wrong_network",),
        "the placement is for this network and chain",
        "placement",
    ),
    Rule("node", ("storage_wrong_node",), "the placement names the reporting node", "placement"),
    Rule(
        "placer_signature", ("bad_placer_signature",), "signed by the placer it names", "placement"
    ),
    Rule(
        "placer_authorised",
        ("unauthorised_placer",),
        "the placer is in [storage] placers",
        "placement",
    ),
    Rule(
        "term",
        ("bad_term",),
        "a non-empty term of at most max_term_seconds, not over when filed",
        "placement",
    ),
    Rule("size", ("piece_too_large",), "the piece is at most max_piece_bytes", "placement"),
    Rule("new_piece", ("duplicate_piece",), "the piece id is not placed already", "placement"),
    Rule(
        "order",
        ("bad_order",),
        "a DELETE order from an authorised placer for this node, unexpired",
        "removal",
    ),
    Rule(
        "removable_piece",
        ("unknown_piece",),
        "an active placement of this node, placed before",
        "removal",
    ),
    Rule("held_piece", ("unknown_piece",), "an active placement of this node", "proof"),
    Rule(
        "not_disqualified",
        ("node_disqualified",),
        "the node was not disqualified before the epoch",
        "proof",
    ),
    Rule(
        "block",
        ("bad_block",),
        "an audit window's entropy block, or a pending challenge's",
        "proof",
    ),
    Rule(
        "in_term",
        ("expired_term",),
        "the window starts inside the piece's term, before its removal",
        "proof",
    ),
    Rule("challenged", ("not_challenged",), "the piece was challenged in that window", "proof"),
    Rule("first_answer", ("duplicate_proof",), "the challenge was not answered already", "proof"),
    Rule("leaf", ("wrong_leaf",), "the challenged leaf", "proof"),
    Rule(
        "timing",
        ("early_proof", "late"),
        "signed after the block, by the containment deadline",
        "proof",
    ),
    Rule("path_shape", ("bad_path",), "leaf and path lengths fit the piece and index", "proof"),
    Rule("root", ("wrong_root",), "the hashes reach the piece's sealed root", "proof"),
    Rule(
        "answered", ("missing",), "every challenge answered by its containment deadline", "device"
    ),
    Rule(
        "reputation",
        ("disqualified", "held_back_forfeited"),
        "score above disqualify_at_ppm",
        "device",
    ),
    Rule(
        "audited_bytes",
        ("no_pieces", "no_audited_bytes"),
        "pieces held in windows that counted",
        "device",
    ),
    Rule("held_back", ("held_back",), "young nodes' earnings are partly held back", "device"),
    Rule("vetting", ("vetting",), "fewer than vetting_audits passed audits", "device"),
)
"""The storage rules in order (`verifier` implements the report rules, `scorer` the device ones)."""


def load_state(data: bytes | None) -> StorageState:
    """The state in `data` (None: the initial state); InputError if it is malformed."""
    if data is None:
        return StorageState()
    try:
        return parse_state(data)
    except ValueError as exc:
        raise InputError(f"storage state: {exc}") from exc


class StorageKind(KindBase):
    """Storage: a node still holds the bytes it was paid to hold."""

    name: ProofKind = STORAGE_KIND
    reasons: type[StrEnum] = StorageReason
    rules: Sequence[Rule] = RULES
    settings_model: type[BaseModel] = StorageSection
    payload_schemas: Mapping[str, Mapping[str, Any]] = PAYLOAD_SCHEMAS

    def validate_payload(self, payload: dict[str, Any]) -> None:
        validate_payload(payload)

    def entropy_window_seconds(self, section: Any) -> int | None:
        """One entropy block per audit window."""
        assert isinstance(section, StorageSection)
        return section.audit_window_seconds

    def epoch_overhang_ms(self, section: Any) -> int:
        """A proof for the epoch's last window may be signed up to proof_grace_seconds after
        the epoch (it must stay within network.report_grace_seconds:
        `settings.check_against_network`)."""
        assert isinstance(section, StorageSection)
        return section.proof_grace_ms

    def initial_state(self, section: Any) -> bytes | None:
        return initial_state_bytes()

    def compute(self, job: KindJob) -> KindResult:
        section = job.section
        assert isinstance(section, StorageSection)
        state = load_state(job.state)
        verdicts, audit = verify(job.epoch, job.reports, job.snapshot, job.settings, section, state)
        _, epoch_end_ms = job.settings.network.epoch_window_ms(job.epoch)
        result = settle(
            job.epoch, job.reports, verdicts, audit, job.snapshot, epoch_end_ms, section, state
        )
        explanations = {
            device: Explanation(device, e.shares, e.reasons, e.invalid, e.details)
            for device, e in result.explanations.items()
        }
        return KindResult(
            verdicts=tuple(verdicts),
            shares=result.shares,
            explanations=explanations,
            next_state=result.next_state.to_bytes(),
            notes=result.notes,
            withheld_shares=int(result.notes["withheld_shares"]),
        )

    def device(self, config: AgentConfig) -> DeviceBehaviour:
        raise ConfigError("storage nodes run as `depin storage node`")

    def simulation(self, spec: SimSpec) -> SimModel:
        try:
            from opendepin.proofs.storage.simulation import StorageSimulation  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise ConfigError(
                f"the storage kind's simulation model is not installed: {exc}"
            ) from exc
        model: SimModel = StorageSimulation(spec)
        return model


KIND: Final = StorageKind()
"""The storage kind (entry point `opendepin.proof_kinds: storage`)."""
