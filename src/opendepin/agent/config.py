"""`agent.toml`: what a device agent needs to know, kept beside its keystore.

An agent directory holds exactly:

```
agent.toml      this configuration (no secrets)
device.json     the device keystore (encrypted; passphrase from an env variable or a prompt)
agent.db        SQLite: reserved sequence numbers and the spool of unsent reports
```

The network's epoch clock (`epoch_seconds`, `genesis_unix`) is copied from network.toml at
`depin agent init`, so the agent can label each report with its epoch offline.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from opendepin.errors import ConfigError
from opendepin.network.settings import Settings, toml_error_message

AGENT_TOML = "agent.toml"
KEYSTORE_FILE = "device.json"
STATE_DB = "agent.db"
DEFAULT_INGEST_URL = "http://127.0.0.1:8700"
DEFAULT_ORACLE_URL = "http://127.0.0.1:8800"
DEFAULT_INTERVAL_SECONDS = 3_600
"""One heartbeat an hour (Helium counts distinct hours)."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Contents of agent.toml."""

    network_id: str
    """Network every report is bound to."""
    chain_id: int
    """EVM chain id of the network's contracts."""
    kind: str
    """Proof kind this device reports (e.g. "heartbeat")."""
    key_type: str
    """"secp256k1" or "ed25519"."""
    epoch_seconds: int
    """Network epoch length, copied from network.toml."""
    genesis_unix: int
    """Network genesis, copied from network.toml."""
    ingest_url: str = DEFAULT_INGEST_URL
    """Base URL of an ingest node (`POST /v1/reports`)."""
    extra_ingest_urls: tuple[str, ...] = ()
    """Further ingest nodes that get every report too (each oracle runs its own ingest)."""
    oracle_url: str = DEFAULT_ORACLE_URL
    """Base URL of an oracle (`GET /v1/rewards/{account}`)."""
    rpc_url: str = "http://127.0.0.1:8545"
    """EVM JSON-RPC endpoint for register / claim."""
    registry_address: str = ""
    """DeviceRegistry contract address ("" until known)."""
    distributor_address: str = ""
    """RewardDistributor contract address ("" until known)."""
    owner: str = ""
    """Account that owns the device NFT (set by `depin agent register`); rewards go here."""
    interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    """Seconds between two reports in `depin agent run`."""
    lat_e7: int | None = None
    """Fixed position of a stationary device (heartbeat), degrees × 10**7."""
    lon_e7: int | None = None
    """Fixed position of a stationary device (heartbeat), degrees × 10**7."""
    accuracy_m: int | None = None
    """Accuracy to report with the fixed position, metres."""
    entropy_window_seconds: int | None = None
    """The kind's entropy window, copied from network.toml (`Kind.entropy_window_seconds`):
    set when each report must name the current window's chain entropy block (heartbeat with
    `liveness_window_seconds` > 0), which the device then reads from `rpc_url`."""

    @classmethod
    def from_settings(
        cls, settings: Settings, *, kind: str, key_type: str, **kw: Any
    ) -> AgentConfig:
        """A config for `settings`' network."""
        n = settings.network
        kw.setdefault("entropy_window_seconds", _entropy_window(settings, kind))
        return cls(
            network_id=n.network_id,
            chain_id=n.chain_id,
            kind=kind,
            key_type=key_type,
            epoch_seconds=n.epoch_seconds,
            genesis_unix=n.genesis_unix,
            rpc_url=settings.chain.rpc_url,
            ingest_url=f"http://{settings.ingest.host}:{settings.ingest.port}",
            **kw,
        )

    @property
    def all_ingest_urls(self) -> tuple[str, ...]:
        """`ingest_url` followed by `extra_ingest_urls` (duplicates dropped)."""
        return tuple(dict.fromkeys((self.ingest_url, *self.extra_ingest_urls)))

    def with_updates(self, **kw: Any) -> AgentConfig:
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


def _entropy_window(settings: Settings, kind: str) -> int | None:
    """The entropy window `kind` declares for `settings` (None for a kind that is not
    installed here: `depin agent init` has already refused those with a clear message)."""
    from opendepin.proofs.registry import get_kind

    try:
        found = get_kind(kind)
    except ConfigError:
        return None
    return found.entropy_window_seconds(settings.kind_section(kind))


def save_config(config: AgentConfig, agent_dir: Path) -> Path:
    """Write agent.toml (None values are left out; TOML has no null)."""
    path = agent_dir / AGENT_TOML
    data = {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in asdict(config).items()
        if v is not None
    }
    path.write_text(tomli_w.dumps(data))
    return path


def load_config(agent_dir: Path) -> AgentConfig:
    """Read agent.toml; ConfigError naming the file if it is missing or wrong."""
    path = agent_dir / AGENT_TOML
    if not path.is_file():
        raise ConfigError(f"{path} not found; run `depin agent init --dir {agent_dir}` first")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(toml_error_message(path, exc)) from exc
    known = {f.name for f in fields(AgentConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {', '.join(unknown)}")
    if isinstance(data.get("extra_ingest_urls"), list):
        data["extra_ingest_urls"] = tuple(str(u) for u in data["extra_ingest_urls"])
    try:
        return AgentConfig(**data)
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
