"""Storage proofs: a node still holds the bytes it was paid to hold.

Placers (the gateway, an uploader, the repair worker) sign placements — piece id, node, size,
Merkle root, term — and the node files each one it accepted as a `storage` report. Per audit
window, chain entropy challenges a random share of every node's pieces
(`challenge.is_challenged`) on one leaf each; the node answers with the leaf and its Merkle
path (`payload.ProofPayload`), after Sia's storage proofs. Late answers are *contained*
(Storj) until a deadline; every outcome updates the node's Storj beta reputation
(`reputation`), which disqualifies nodes that lose data. Shares pay audited byte-windows
weighted by the score, with Storj-style held-back earnings for young nodes (`scorer`).

Layout (as every kind): `kind` (the `Kind` object, `KIND`), `settings`, `reasons`,
`payload`, `verifier` (ordered rules), `scorer`, `reputation`, `state` (across epochs),
`challenge` (which pieces and leaves a window audits).
"""

from __future__ import annotations

from opendepin.proofs.storage.kind import KIND, RULES, StorageKind
from opendepin.proofs.storage.payload import (
    PlacementPayload,
    ProofPayload,
    RemovalPayload,
    parse_payload,
    placement_payload,
    proof_payload,
    removal_payload,
    validate_payload,
)
from opendepin.proofs.storage.reasons import StorageReason
from opendepin.proofs.storage.settings import StorageSection, storage_section
from opendepin.proofs.storage.state import StorageState, parse_state

STORAGE = KIND
"""The storage kind (same object as `KIND`)."""

__all__ = [
    "KIND",
    "RULES",
    "STORAGE",
    "PlacementPayload",
    "ProofPayload",
    "RemovalPayload",
    "StorageKind",
    "StorageReason",
    "StorageSection",
    "StorageState",
    "parse_payload",
    "parse_state",
    "placement_payload",
    "proof_payload",
    "removal_payload",
    "storage_section",
    "validate_payload",
]
