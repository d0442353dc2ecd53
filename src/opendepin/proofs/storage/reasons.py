"""Why a storage report (or a storage node) earns nothing: stable codes, shared ones reused.

Report level (a verdict's reason), by payload type:

- every report: the shared codes (`wrong_report_kind`, `unknown_device`, `inactive_device`,
  `wrong_device_kind`, `malformed_payload`, `wrong_epoch`, `duplicate`);
- placement: `wrong_network`, `wrong_node`, `bad_placer_signature`, `unauthorised_placer`,
  `bad_term`, `too_large`, `duplicate_piece`;
- removal: `bad_order`, `unknown_piece`;
- proof: `unknown_piece`, `node_disqualified`, `bad_block`, `expired_term`, `not_challenged`,
  `wrong_leaf`, `early_proof`, `late`, `bad_path`, `wrong_root`, `duplicate_proof`.

Device level (explanations only, never on a verdict): `missing`, `disqualified`,
`no_audited_bytes`, `no_pieces`, `held_back`, `held_back_forfeited`, `vetting`.

The codes are the storage kind's own (names prefixed where a bare word would be ambiguous
across kinds); `docs/reasons.md` should list what each means and what an operator can do.
"""

from __future__ import annotations

from enum import StrEnum

from opendepin.reasons import SharedReason


class StorageReason(StrEnum):
    """Why a storage report, or a storage node, earned nothing. Stable values."""

    WRONG_REPORT_KIND = SharedReason.WRONG_REPORT_KIND.value
    UNKNOWN_DEVICE = SharedReason.UNKNOWN_DEVICE.value
    INACTIVE_DEVICE = SharedReason.INACTIVE_DEVICE.value
    WRONG_DEVICE_KIND = SharedReason.WRONG_DEVICE_KIND.value
    MALFORMED_PAYLOAD = SharedReason.MALFORMED_PAYLOAD.value
    WRONG_EPOCH = SharedReason.WRONG_EPOCH.value
    DUPLICATE = SharedReason.DUPLICATE.value

    # -- placement ---------------------------------------------------------------------
    WRONG_NETWORK = "storage_wrong_network"
    """The placement (or order) is for another network or chain id."""
    WRONG_NODE = "storage_wrong_node"
    """The placement names another node than the report's device."""
    BAD_PLACER_SIGNATURE = "bad_placer_signature"
    """The placement is not signed by the placer it names."""
    UNAUTHORISED_PLACER = "unauthorised_placer"
    """The placer is not in `[storage] placers`."""
    BAD_TERM = "bad_term"
    """The term ends before it starts, is longer than `max_term_seconds`, or had ended when
    the node filed the placement."""
    TOO_LARGE = "piece_too_large"
    """The piece is larger than `max_piece_bytes`."""
    DUPLICATE_PIECE = "duplicate_piece"
    """The piece id is already placed (in the state, or earlier in the epoch)."""

    # -- removal -----------------------------------------------------------------------
    BAD_ORDER = "bad_order"
    """Not a DELETE order signed by an authorised placer for this node, network and time."""
    UNKNOWN_PIECE = "unknown_piece"
    """The piece is not an active placement of this node (never placed, another node's, or
    already removed)."""

    # -- proof -------------------------------------------------------------------------
    NODE_DISQUALIFIED = "node_disqualified"
    """The node was disqualified before the epoch; its proofs no longer count."""
    BAD_BLOCK = "bad_block"
    """The block is neither one of the epoch's audit-window entropy blocks nor that of a
    pending (contained) challenge of this piece."""
    EXPIRED_TERM = "expired_term"
    """The window's start is outside the piece's term, or the piece was removed by then."""
    NOT_CHALLENGED = "not_challenged"
    """The piece was not challenged in that window (not drawn, or placed after it began)."""
    WRONG_LEAF = "wrong_leaf"
    """The proof is for another leaf than the challenged one (a failed audit)."""
    EARLY_PROOF = "early_proof"
    """Signed before its entropy block existed: the timestamp cannot be true."""
    LATE = "late"
    """Signed after the challenge's containment deadline (a failed audit)."""
    BAD_PATH = "bad_path"
    """The leaf or the path has the wrong length for that piece and index (a failed audit)."""
    WRONG_ROOT = "wrong_root"
    """The hashes do not reach the sealed root: the node does not hold the data (a failed audit)."""
    DUPLICATE_PROOF = "duplicate_proof"
    """A second proof of a challenge already answered."""

    # -- device level ------------------------------------------------------------------
    MISSING = "missing"
    """A challenge was never answered before its containment deadline (a failed audit)."""
    DISQUALIFIED = "disqualified"
    """The node's reputation fell to `disqualify_at_ppm` or below; it earns nothing, for good."""
    NO_AUDITED_BYTES = "no_audited_bytes"
    """It held pieces, but no window of the epoch counted (a failure, a pending or a
    contained challenge in each)."""
    NO_PIECES = "no_pieces"
    """It held no auditable piece during the epoch."""
    HELD_BACK = "held_back"
    """Part of its earnings was held back (a young node; paid out at `held_back_release_epochs`)."""
    HELD_BACK_FORFEITED = "held_back_forfeited"
    """Its held-back balance was forfeited on disqualification."""
    VETTING = "vetting"
    """Still vetting: fewer than `vetting_audits` passed audits (placers limit its new pieces)."""


FAILED_PROOF_REASONS = frozenset(
    {StorageReason.WRONG_LEAF, StorageReason.LATE, StorageReason.BAD_PATH, StorageReason.WRONG_ROOT}
)
"""Invalid proofs of a challenged piece that fail the challenge (count against reputation)."""
