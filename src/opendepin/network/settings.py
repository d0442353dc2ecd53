"""Typed network settings.

A network is described by one `network.toml`; any value can be overridden by an environment
variable named `DEPIN_<SECTION>__<FIELD>` (for example `DEPIN_STORE__DATABASE_URL`). The
precedence is: explicit arguments > environment > network.toml > the defaults below.
Every default is named and documented here, and `depin config show` prints the effective
values so an operator never has to guess.

Sections own their parameters: each proof kind has its own section, so adding a kind adds a
section and touches no other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from opendepin.errors import ConfigError

ENV_PREFIX = "DEPIN_"
DEFAULT_CONFIG_FILE = "network.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSection(_Section):
    """Identity of the network and its clock."""

    network_id: str = Field("opendepin-dev", description="Name every report and root is bound to.")
    chain_id: int = Field(31337, description="EVM chain id the contracts live on.")
    epoch_seconds: int = Field(86_400, gt=0, description="Length of one reward epoch.")
    genesis_unix: int = Field(1_767_225_600, description="Unix time at which epoch 0 starts.")
    report_max_age_seconds: int = Field(
        7_200, gt=0, description="Reports older than this (vs. the ingest clock) are stale."
    )
    report_max_future_seconds: int = Field(
        300, ge=0, description="Reports stamped further in the future than this are rejected."
    )
    report_grace_seconds: int = Field(
        600,
        ge=0,
        description="Ingest accepts a report for epoch e until e's end plus this (by the ingest "
        "clock); oracles seal e only once the chain's clock is past it.",
    )

    # -- the epoch clock: the one place epoch boundaries are computed -----------------

    def epoch_start_unix(self, epoch: int) -> int:
        """First second of `epoch`."""
        return self.genesis_unix + epoch * self.epoch_seconds

    def epoch_end_unix(self, epoch: int) -> int:
        """First second after `epoch` (the next epoch's start)."""
        return self.epoch_start_unix(epoch + 1)

    def epoch_window_ms(self, epoch: int) -> tuple[int, int]:
        """[start, end) of `epoch` in Unix milliseconds."""
        return self.epoch_start_unix(epoch) * 1_000, self.epoch_end_unix(epoch) * 1_000

    def ingest_close_unix(self, epoch: int) -> int:
        """From this second on, ingest refuses `epoch`'s reports and oracles may seal it."""
        return self.epoch_end_unix(epoch) + self.report_grace_seconds


class EmissionSection(_Section):
    """How many tokens each epoch mints, in whole base units."""

    per_epoch: int = Field(40_000 * 10**18, ge=0, description="Emission of epoch 0, base units.")
    schedule: Literal["halving", "exponential"] = Field("halving")
    halving_epochs: int = Field(730, gt=0, description="Halve every K epochs (schedule=halving).")
    decay_ppm_per_epoch: int = Field(
        950, ge=0, lt=1_000_000, description="Per-epoch decay in parts per million (exponential)."
    )
    supply_cap: int | None = Field(
        10_000_000_000 * 10**18,
        ge=0,
        description="Cap on all emission ever, base units; None = no cap.",
    )


class PoolsSection(_Section):
    """Split of each epoch's emission by proof kind, in basis points (sum <= 10,000)."""

    bps: dict[str, int] = Field(
        default_factory=lambda: {"heartbeat": 4_000, "coverage": 6_000},
        description="proof kind -> basis points of the epoch's emission.",
    )

    @model_validator(mode="after")
    def _check_bps(self) -> PoolsSection:
        if any(value < 0 for value in self.bps.values()):
            raise ValueError("pools.bps values must be >= 0")
        if sum(self.bps.values()) > 10_000:
            raise ValueError("pools.bps must sum to at most 10_000 basis points")
        return self


class ChainSection(_Section):
    """Where the contracts live."""

    backend: Literal["embedded", "rpc"] = Field("embedded")
    rpc_url: str = Field("http://127.0.0.1:8545")
    oracle_threshold: int = Field(2, ge=1, le=16, description="M of N oracle signatures.")
    timelock_delay_seconds: int = Field(0, ge=0, description="Governance timelock delay.")
    onboarding_fee: int = Field(10 * 10**18, ge=0, description="Tokens burned per registration.")
    location_fee: int = Field(1 * 10**18, ge=0, description="Tokens burned per location assertion.")
    location_cooldown_seconds: int = Field(3_600, ge=0)
    credit_price: int = Field(
        100_000, gt=0, description="Credits minted per whole token burned."
    )
    token_name: str = Field("opendepin", min_length=1, max_length=25, description="ERC-20 name.")
    token_symbol: str = Field("DPIN", min_length=1, max_length=5, description="ERC-20 symbol.")
    deployer_keystore: Path | None = Field(
        None, description="Keystore of the governance/deployer account (rpc deployments)."
    )
    passphrase_env: str = Field(
        "DEPIN_PASSPHRASE", description="Environment variable holding keystore passphrases."
    )


class StoreSection(_Section):
    """Where reports, sealed files and the index database live."""

    data_dir: Path = Field(Path(".data"), description="Report log and published epoch files.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite (WAL) at <data_dir>/index.db."
    )


class IngestSection(_Section):
    """HTTP ingest service."""

    host: str = Field("127.0.0.1")
    port: int = Field(8700, gt=0, lt=65_536)
    max_batch: int = Field(10_000, gt=0, description="Largest batch one request may carry.")
    max_body_bytes: int = Field(
        32 * 1024 * 1024, gt=0, description="Largest request body accepted, in bytes."
    )


class HeartbeatSection(_Section):
    """Heartbeat / uptime proof (after Helium Mobile's rules; see `proofs.heartbeat`)."""

    min_online_hours: int = Field(
        12, ge=0, description="Distinct online hours (buckets) an epoch needs for any reward."
    )
    full_trust_meters: int = Field(
        300, gt=0, description="Location trust 1.0 within this distance of the asserted cell."
    )
    partial_trust_meters: int = Field(
        400, gt=0, description="Location trust 0.25 up to this distance; 0 beyond."
    )
    hour_seconds: int = Field(
        3_600,
        gt=0,
        description="Length of one uptime bucket ('hour'); shorten only for simulated clocks.",
    )

    @model_validator(mode="after")
    def _check_thresholds(self) -> HeartbeatSection:
        if self.partial_trust_meters < self.full_trust_meters:
            raise ValueError("heartbeat.partial_trust_meters must be >= full_trust_meters")
        return self


class CoverageSection(_Section):
    """Wireless Proof-of-Coverage (after Helium IoT's beacon/witness rules; see docs/coverage.md).

    Radio quantities are integers: power in centi-dBm, gains and margins in centi-dB,
    frequencies in Hz, times in milliseconds or seconds as the name says.
    """

    beacon_interval_seconds: int = Field(
        21_600, ge=0, description="At most one beacon per device per this many seconds."
    )
    entropy_window_seconds: int = Field(
        3_600,
        gt=0,
        description="A beacon must be sent within this long after its entropy block's time; "
        "the epoch has one entropy block per window (the last block at or before the window's start).",
    )
    max_witness_lag_ms: int = Field(
        4_000, ge=0, description="A witness heard more than this after the beacon is too late."
    )
    max_frequency_diff_hz: int = Field(
        100_000, ge=0, description="Largest witness/beacon frequency difference."
    )
    min_grid_distance: int = Field(
        8, ge=0, description="Witness and beaconer parent cells must be at least this many cells apart."
    )
    grid_distance_resolution: int = Field(
        11, ge=0, le=15, description="H3 resolution of the parent cells `min_grid_distance` counts."
    )
    max_distance_m: int = Field(100_000, gt=0, description="Witnesses further away are invalid.")
    rssi_margin_cdb: int = Field(
        500, ge=0, description="Slack over the free-space RSSI bound before a witness is too loud."
    )
    max_tx_power_cdbm: int = Field(
        3_000, description="Claimed transmit power is capped at this for the RSSI bound."
    )
    max_antenna_gain_cdbi: int = Field(
        1_200, ge=0, description="Claimed antenna gains are capped at this for the RSSI bound."
    )
    reciprocity_window_seconds: int = Field(
        172_800, ge=0, description="Beaconers/witnesses need valid activity in this window (48 h)."
    )
    max_witnesses_per_beacon: int = Field(
        14, ge=1, description="Valid witnesses rewarded per beacon, chosen from entropy."
    )
    witness_redundancy: int = Field(4, ge=1, description="Witness count at which units saturate.")
    witness_decay_ppm: int = Field(
        800_000, gt=0, lt=1_000_000, description="Decay of extra witnesses' value (0.8)."
    )
    beaconer_units_cap: int = Field(2, ge=1, description="Most units one beacon can earn.")
    density_resolutions: dict[int, tuple[int, int, int]] = Field(
        default_factory=lambda: {
            4: (2, 500, 1_000),
            5: (4, 100, 200),
            6: (4, 25, 50),
            7: (4, 5, 10),
            8: (2, 1, 1),
            9: (2, 1, 1),
            10: (2, 1, 1),
        },
        description="H3 resolution -> (neighbours, target, max) for hex density scaling.",
    )
    density_window_seconds: int = Field(
        216_000, ge=0, description="A device counts for hex density if active in this window (60 h)."
    )
    unknown_hex_scale_ppm: int = Field(
        200_000, gt=0, le=1_000_000, description="Density scale of a device with no active hex."
    )
    denylist_signers: list[str] = Field(
        default_factory=list, description="Addresses whose signatures a denylist file needs."
    )
    denylist_threshold: int = Field(1, ge=1, description="Signatures a denylist file needs.")
    denylist_path: str = Field(
        "", description="The network's signed denylist_v1.json the oracle loads (empty or absent: none, version 0)."
    )


class Settings(BaseSettings):
    """Effective settings of one network, node or tool invocation."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    network: NetworkSection = NetworkSection()
    emission: EmissionSection = EmissionSection()
    pools: PoolsSection = PoolsSection()
    chain: ChainSection = ChainSection()
    store: StoreSection = StoreSection()
    ingest: IngestSection = IngestSection()
    heartbeat: HeartbeatSection = HeartbeatSection()
    coverage: CoverageSection = CoverageSection()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _CONFIG_FILE_OVERRIDE.get("path")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


# The file to read is passed through this small mapping because pydantic-settings builds
# sources from class-level hooks; `load_settings` sets and clears it around construction.
_CONFIG_FILE_OVERRIDE: dict[str, Path] = {}


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from `path` (default: ./network.toml if present) plus the environment.

    Raises ConfigError with pydantic's explanation when a value is invalid or unknown.
    """
    if path is None:
        candidate = Path(DEFAULT_CONFIG_FILE)
        path = candidate if candidate.is_file() else None
    elif not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        if path is not None:
            _CONFIG_FILE_OVERRIDE["path"] = path
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
    finally:
        _CONFIG_FILE_OVERRIDE.clear()
