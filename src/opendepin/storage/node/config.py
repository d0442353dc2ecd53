"""What a storage node needs to know: its directory, limits, network and audit parameters.

A node directory holds:

```
device.json    the node's device key (encrypted keystore; passphrase from an env variable)
agent.toml     written at first start with kind "storage", so `depin agent register --dir D`
               registers the node on chain exactly like any other device
node.db        SQLite: report sequence numbers, the spool of unsent reports, answered audits
orders.jsonl   the ledger of served orders (`ledger`)
pieces/        the pieces and their metadata (`store`)
tmp/           uploads in progress (emptied at every start)
```

The network side (network id, chain id, epoch clock, `[storage]` audit parameters and
authorised placers) comes from network.toml (`NodeConfig.from_settings`); the node side
(address, capacity, ingest and RPC URLs, extra placers for test networks) from the command
line. `NodeConfig` is frozen and holds plain values, so tests build one directly.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

from opendepin.errors import ConfigError
from opendepin.identity.address import checksum
from opendepin.network.settings import Settings
from opendepin.types import DeviceId

STORAGE_KIND: Final = "storage"
KEYSTORE_FILE: Final = "device.json"
AGENT_TOML: Final = "agent.toml"
STATE_DB: Final = "node.db"
LEDGER_FILE: Final = "orders.jsonl"
DEFAULT_PORT: Final = 7700
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_CAPACITY_BYTES: Final = 1 << 40
"""1 TiB unless `--capacity` says otherwise (the node never checks the disk's real size)."""
MAX_HEADER_BYTES: Final = 16 * 1024
"""Largest request head the HTTP parser accepts (orders are at most ~5.5 KiB in base64)."""

# `[storage]` defaults (common.md); used when the storage kind's settings model is not installed.
AUDIT_WINDOW_SECONDS: Final = 3_600
AUDIT_PROBABILITY_PPM: Final = 125_000
PROOF_GRACE_SECONDS: Final = 600
CONTAINMENT_WINDOWS: Final = 24
MAX_PIECE_BYTES: Final = 268_435_456
MAX_TERM_SECONDS: Final = 315_360_000


@dataclass(frozen=True, slots=True)
class AuditParams:
    """The `[storage]` values the node acts on."""

    audit_window_seconds: int = AUDIT_WINDOW_SECONDS
    """Length of one audit window; windows tile each epoch from its start."""
    audit_probability_ppm: int = AUDIT_PROBABILITY_PPM
    """Chance (parts per million) that a piece is challenged in a window."""
    proof_grace_seconds: int = PROOF_GRACE_SECONDS
    """A proof signed up to this long after its window's end is on time."""
    containment_windows: int = CONTAINMENT_WINDOWS
    """How many windows back a missed challenge can still be answered (late, contained)."""
    max_piece_bytes: int = MAX_PIECE_BYTES
    """Largest piece the network audits (and so the node accepts)."""
    max_term_seconds: int = MAX_TERM_SECONDS
    """Longest storage term a placement may ask for."""


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything `depin storage node` runs with."""

    directory: Path
    """The node directory (see the module docstring)."""
    network_id: str
    """Network every order, placement and report must name."""
    chain_id: int
    """EVM chain id of the network."""
    genesis_unix: int
    """Network genesis (audit windows are aligned to its epochs)."""
    epoch_seconds: int
    """Network epoch length."""
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    capacity_bytes: int = DEFAULT_CAPACITY_BYTES
    """Most piece bytes the node holds (uploads beyond it are refused with no_space)."""
    placers: frozenset[DeviceId] = frozenset()
    """Authorised placers: the network's `[storage] placers` plus `--placer` (empty: no upload
    is accepted, every order is refused as unauthorised_placer)."""
    ingest_urls: tuple[str, ...] = ()
    """Ingest nodes the node files its reports with (none: reports stay queued in node.db)."""
    rpc_url: str | None = None
    """JSON-RPC of the chain, for the audit windows' entropy blocks (None: no audits answered)."""
    audit: AuditParams = field(default_factory=AuditParams)
    max_header_bytes: int = MAX_HEADER_BYTES
    body_idle_timeout_seconds: float = 60.0
    """Longest wait for the next bytes of an upload (`body_timeout` after it)."""

    @classmethod
    def from_settings(cls, settings: Settings, directory: Path, **kw: Any) -> NodeConfig:
        """A node of `settings`' network; `placers` in `kw` extend the network's."""
        n = settings.network
        audit, network_placers = storage_params(settings)
        extra = frozenset(kw.pop("placers", ()) or ())
        return cls(
            directory=directory,
            network_id=n.network_id,
            chain_id=n.chain_id,
            genesis_unix=n.genesis_unix,
            epoch_seconds=n.epoch_seconds,
            placers=network_placers | extra,
            audit=audit,
            **kw,
        )

    def with_updates(self, **kw: Any) -> NodeConfig:
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    @property
    def pieces_dir(self) -> Path:
        return self.directory / "pieces"

    @property
    def tmp_dir(self) -> Path:
        return self.directory / "tmp"


def parse_placers(values: Iterable[str]) -> frozenset[DeviceId]:
    """Checksummed placer addresses; ConfigError naming a bad one."""
    out: set[DeviceId] = set()
    for value in values:
        try:
            out.add(DeviceId(checksum(value)))
        except ValueError as exc:
            raise ConfigError(f"placer {value!r} is not an address: {exc}") from None
    return frozenset(out)


def storage_params(settings: Settings) -> tuple[AuditParams, frozenset[DeviceId]]:
    """The `[storage]` section's audit parameters and placers (defaults when the storage kind's
    settings model is not installed: the node then accepts only `--placer` placers)."""
    try:
        section = settings.kind_section(STORAGE_KIND)
    except ConfigError:
        return AuditParams(), frozenset()
    defaults = AuditParams()
    values = {
        name: int(getattr(section, name, getattr(defaults, name)))
        for name in AuditParams.__dataclass_fields__
    }
    return AuditParams(**values), parse_placers(getattr(section, "placers", ()) or ())


__all__ = [
    "AuditParams",
    "NodeConfig",
    "parse_placers",
    "storage_params",
]
