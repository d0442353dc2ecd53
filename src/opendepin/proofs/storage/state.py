"""What the storage kind carries from one epoch to the next (`kinds/storage/state_v1.json`).

```
{"format": "storage_state_v1",
 "placements": {<piece hex>: {"node", "placer", "size", "root", "term_start_ms", "term_end_ms",
                              "placed_ms", "removed_ms" (null while held)}},
 "nodes":      {<address>: {"alpha", "beta", "passed", "failed", "first_epoch",
                            "held", "disqualified_epoch" (null unless disqualified)}},
 "pending":    [{"node", "piece", "block", "hash", "window_start_ms", "window_end_ms",
                 "leaf_index", "deadline_ms"}, ...]}
```

- *placements*: every piece the oracles know, active or removed, until its term has ended
  (then it can no longer be audited, and a replayed placement for it is `bad_term`), kept
  longer only while a challenge of it is pending;
- *nodes*: reputation (α, β in `reputation.SCALE` units), audit counters, the epoch of the
  first valid placement (a node's age for held-back earnings), the held-back balance (in
  shares), and the epoch it was disqualified in;
- *pending*: challenges not answered by the end of the epoch whose containment deadline has
  not passed (sorted by window start, then piece).

The bytes are canonical JSON (sorted keys), so two oracles write identical files. The parser
is total: anything else is a `ValueError` with a message (the kind turns it into
`InputError`: the oracle wrote this file itself, so a malformed one is corruption, not a
device's fault). Every number is bounded so no value in a well-formed state can make compute
fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from opendepin import jsonlimits
from opendepin.canonical import canonical_json
from opendepin.identity.address import checksum
from opendepin.types import DeviceId

STATE_FORMAT: Final = "storage_state_v1"
UINT63: Final = 2**63
MAX_FIXED: Final = 2**160
"""α, β and held balances are below this (far above any reachable value)."""
MAX_STATE_BYTES: Final = 1 << 30


@dataclass(frozen=True, slots=True)
class PlacementRecord:
    """A piece the oracles audit: whose it is, what it commits to, and when it counts."""

    node: DeviceId
    placer: DeviceId
    size: int
    root: bytes
    term_start_ms: int
    term_end_ms: int
    placed_ms: int
    """Timestamp of the node's placement report: audited from the first window starting at or after it."""
    removed_ms: int | None = None
    """Timestamp of its removal report; not audited in windows starting at or after it."""

    def auditable_at(self, window_start_ms: int) -> bool:
        """Is the piece audited in the window starting at `window_start_ms`?"""
        return (
            self.placed_ms <= window_start_ms
            and self.term_start_ms <= window_start_ms < self.term_end_ms
            and (self.removed_ms is None or window_start_ms < self.removed_ms)
        )

    def to_obj(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "placer": self.placer,
            "size": self.size,
            "root": self.root.hex(),
            "term_start_ms": self.term_start_ms,
            "term_end_ms": self.term_end_ms,
            "placed_ms": self.placed_ms,
            "removed_ms": self.removed_ms,
        }


@dataclass(frozen=True, slots=True)
class NodeState:
    """One node's standing across epochs."""

    alpha: int
    beta: int = 0
    passed: int = 0
    failed: int = 0
    first_epoch: int | None = None
    """Epoch of its first valid placement (None: none yet)."""
    held: int = 0
    """Held-back shares not yet released."""
    disqualified_epoch: int | None = None

    def to_obj(self) -> dict[str, Any]:
        return {
            "alpha": self.alpha,
            "beta": self.beta,
            "passed": self.passed,
            "failed": self.failed,
            "first_epoch": self.first_epoch,
            "held": self.held,
            "disqualified_epoch": self.disqualified_epoch,
        }


@dataclass(frozen=True, slots=True)
class Challenge:
    """One audit challenge: prove leaf `leaf_index` of `piece` for the window of `block`."""

    node: DeviceId
    piece: bytes
    block: int
    hash: bytes
    """The entropy block's hash (the challenge's randomness)."""
    window_start_ms: int
    window_end_ms: int
    leaf_index: int
    deadline_ms: int
    """Containment deadline: a proof signed later is `late`; unanswered by then it is `missing`."""

    @property
    def key(self) -> tuple[int, bytes]:
        return (self.window_start_ms, self.piece)

    def to_obj(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "piece": self.piece.hex(),
            "block": self.block,
            "hash": self.hash.hex(),
            "window_start_ms": self.window_start_ms,
            "window_end_ms": self.window_end_ms,
            "leaf_index": self.leaf_index,
            "deadline_ms": self.deadline_ms,
        }


@dataclass(frozen=True, slots=True)
class StorageState:
    """Everything the storage kind remembers between epochs."""

    placements: Mapping[bytes, PlacementRecord] = field(default_factory=dict)
    nodes: Mapping[DeviceId, NodeState] = field(default_factory=dict)
    pending: tuple[Challenge, ...] = ()

    def to_bytes(self) -> bytes:
        """Canonical `storage_state_v1` bytes."""
        return canonical_json(
            {
                "format": STATE_FORMAT,
                "placements": {p.hex(): r.to_obj() for p, r in sorted(self.placements.items())},
                "nodes": {n: s.to_obj() for n, s in sorted(self.nodes.items())},
                "pending": [c.to_obj() for c in sorted(self.pending, key=lambda c: c.key)],
            }
        )


# ---- parsing (total) -------------------------------------------------------------------------


def _int(obj: Mapping[str, Any], name: str, limit: int = UINT63, nullable: bool = False) -> Any:
    value = obj.get(name) if name in obj else _missing(name)
    if value is None and nullable:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < limit:
        raise ValueError(f"{name} must be an integer in [0, {limit})")
    return value


def _missing(name: str) -> Any:
    raise ValueError(f"missing {name}")


def _hex(obj: Mapping[str, Any], name: str, length: int) -> bytes:
    value = obj.get(name)
    if not isinstance(value, str) or len(value) != 2 * length:
        raise ValueError(f"{name} must be {length} bytes of hex")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{name} is not hex") from None


def _address(obj: Mapping[str, Any], name: str) -> DeviceId:
    value = obj.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an address")
    address = checksum(value)
    if address != value:
        raise ValueError(f"{name} must be checksummed")
    return address


def _object(value: Any, what: str, keys: frozenset[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be an object")
    if keys is not None and set(value) != keys:
        raise ValueError(f"{what} must have exactly the keys {', '.join(sorted(keys))}")
    return value


_PLACEMENT_KEYS = frozenset(PlacementRecord.__slots__)
_NODE_KEYS = frozenset(NodeState.__slots__)
_CHALLENGE_KEYS = frozenset(Challenge.__slots__)


def _placement(value: Any) -> PlacementRecord:
    obj = _object(value, "placement", _PLACEMENT_KEYS)
    record = PlacementRecord(
        node=_address(obj, "node"),
        placer=_address(obj, "placer"),
        size=_int(obj, "size"),
        root=_hex(obj, "root", 32),
        term_start_ms=_int(obj, "term_start_ms"),
        term_end_ms=_int(obj, "term_end_ms"),
        placed_ms=_int(obj, "placed_ms"),
        removed_ms=_int(obj, "removed_ms", nullable=True),
    )
    if record.term_end_ms <= record.term_start_ms:
        raise ValueError("placement term must end after it starts")
    return record


def _node(value: Any) -> NodeState:
    obj = _object(value, "node", _NODE_KEYS)
    state = NodeState(
        alpha=_int(obj, "alpha", MAX_FIXED),
        beta=_int(obj, "beta", MAX_FIXED),
        passed=_int(obj, "passed"),
        failed=_int(obj, "failed"),
        first_epoch=_int(obj, "first_epoch", nullable=True),
        held=_int(obj, "held", MAX_FIXED),
        disqualified_epoch=_int(obj, "disqualified_epoch", nullable=True),
    )
    if state.alpha + state.beta == 0:
        raise ValueError("node reputation needs alpha + beta > 0")
    return state


def _challenge(value: Any) -> Challenge:
    obj = _object(value, "pending challenge", _CHALLENGE_KEYS)
    return Challenge(
        node=_address(obj, "node"),
        piece=_hex(obj, "piece", 32),
        block=_int(obj, "block"),
        hash=_hex(obj, "hash", 32),
        window_start_ms=_int(obj, "window_start_ms"),
        window_end_ms=_int(obj, "window_end_ms"),
        leaf_index=_int(obj, "leaf_index"),
        deadline_ms=_int(obj, "deadline_ms"),
    )


def parse_state(data: bytes) -> StorageState:
    """The state in `storage_state_v1` bytes; ValueError (with a message) if it is not one."""
    if not isinstance(data, bytes) or len(data) > MAX_STATE_BYTES:
        raise ValueError("storage state must be at most 1 GiB of bytes")
    try:
        obj = jsonlimits.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"storage state is not JSON: {exc}") from None
    top = _object(obj, "storage state", frozenset({"format", "placements", "nodes", "pending"}))
    if top["format"] != STATE_FORMAT:
        raise ValueError(f"storage state format must be {STATE_FORMAT!r}")
    placements = {}
    for piece, record in _object(top["placements"], "placements").items():
        key = _hex({"piece": piece}, "piece", 32)
        if key.hex() != piece:
            raise ValueError("placement keys must be lower-case hex")
        placements[key] = _placement(record)
    nodes: dict[DeviceId, NodeState] = {}
    for node, value in _object(top["nodes"], "nodes").items():
        if _address({"node": node}, "node") != node:
            raise ValueError("node keys must be checksummed addresses")
        nodes[DeviceId(node)] = _node(value)
    if not isinstance(top["pending"], list):
        raise ValueError("pending must be a list")
    pending = tuple(_challenge(c) for c in top["pending"])
    if len({c.key for c in pending}) != len(pending):
        raise ValueError("pending challenges must be unique per (window, piece)")
    for c in pending:
        record = placements.get(c.piece)
        if record is None or record.node != c.node:
            raise ValueError(f"pending challenge of {c.piece.hex()} names no placement of {c.node}")
    return StorageState(placements, nodes, tuple(sorted(pending, key=lambda c: c.key)))


def initial_state_bytes() -> bytes:
    """The state before the first epoch: nothing placed, no nodes, nothing pending."""
    return StorageState().to_bytes()


__all__ = [
    "STATE_FORMAT",
    "Challenge",
    "NodeState",
    "PlacementRecord",
    "StorageState",
    "initial_state_bytes",
    "parse_state",
]
