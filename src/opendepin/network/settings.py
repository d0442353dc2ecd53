"""Typed network settings.

A network is described by one `network.toml`; any value can be overridden by an environment
variable named `DEPIN_<SECTION>__<FIELD>` (for example `DEPIN_STORE__DATABASE_URL`). The
precedence is: explicit arguments > environment > network.toml > the defaults below.
Every default is named and documented here, and `depin config show` prints the effective
values so an operator never has to guess.

Sections own their parameters. Each proof kind owns its section too: a typed model the kind
declares (`Kind.settings_model`), read from `[kinds.<name>]` or from the kind's own top-level
table `[<name>]` of network.toml (both spellings mean the same; `[kinds.<name>]` wins a clash),
or from `DEPIN_KINDS__<NAME>__<FIELD>`. An unknown kind's table is a configuration error that
lists the installed kinds. `Settings.kind_section(name)` returns the typed section, with the
kind's defaults when the file says nothing.
"""

from __future__ import annotations

import json
import re
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from opendepin.errors import ConfigError
from opendepin.network.clock import EpochClock

ENV_PREFIX = "DEPIN_"
DEFAULT_CONFIG_FILE = "network.toml"
MAX_GENESIS_ALLOCATIONS = 256
"""Most accounts `chain.genesis_allocations` may name (each is one mint at deployment)."""


class Section(BaseModel):
    """Base of every settings section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSection(Section):
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
    agreement_round_seconds: int = Field(
        30,
        ge=1,
        le=3_600,
        description="Length of one round of oracle input agreement (docs/agreement.md): at most "
        "how long an oracle waits for a peer's record of a round before going on without it. "
        "Must exceed the skew between oracles' views of ingest close plus the time to fetch a "
        "report set; an epoch decides within (N - M + 1) rounds of ingest close.",
    )

    # -- the epoch clock (`network.clock`) ---------------------------------------------

    @cached_property
    def clock(self) -> EpochClock:
        """This network's epoch clock (built once: the section is frozen)."""
        return EpochClock(self.genesis_unix, self.epoch_seconds)

    def epoch_start_unix(self, epoch: int) -> int:
        """First second of `epoch`."""
        return self.clock.start_unix(epoch)

    def epoch_end_unix(self, epoch: int) -> int:
        """First second after `epoch` (the next epoch's start)."""
        return self.clock.end_unix(epoch)

    def epoch_window_ms(self, epoch: int, overhang_ms: int = 0) -> tuple[int, int]:
        """[start, end) of `epoch` in Unix milliseconds, the end extended by `overhang_ms`."""
        return self.clock.window_ms(epoch, overhang_ms)

    def ingest_close_unix(self, epoch: int) -> int:
        """From this second on, ingest refuses `epoch`'s reports and oracles may seal it."""
        return self.epoch_end_unix(epoch) + self.report_grace_seconds


class EmissionSection(Section):
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


class PoolsSection(Section):
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


class ChainSection(Section):
    """Where the contracts live."""

    backend: Literal["embedded", "rpc"] = Field("embedded")
    rpc_url: str = Field("http://127.0.0.1:8545")
    oracle_threshold: int = Field(2, ge=1, le=16, description="M of N oracle signatures.")
    timelock_delay_seconds: int = Field(0, ge=0, description="Governance timelock delay.")
    onboarding_fee: int = Field(10 * 10**18, ge=0, description="Tokens burned per registration.")
    location_fee: int = Field(1 * 10**18, ge=0, description="Tokens burned per location assertion.")
    location_cooldown_seconds: int = Field(3_600, ge=0)
    credit_price: int = Field(100_000, gt=0, description="Credits minted per whole token burned.")
    token_name: str = Field("opendepin", min_length=1, max_length=25, description="ERC-20 name.")
    token_symbol: str = Field("DPIN", min_length=1, max_length=5, description="ERC-20 symbol.")
    deployer_keystore: Path | None = Field(
        None, description="Keystore of the governance/deployer account (rpc deployments)."
    )
    passphrase_env: str = Field(
        "DEPIN_PASSPHRASE", description="Environment variable holding keystore passphrases."
    )
    genesis_allocations: dict[str, int] = Field(
        default_factory=dict,
        description="Account -> base units minted to it once, at deployment (a treasury, the "
        "first consumers and device owners). TOML integers stop at 2**63, so write amounts as "
        'decimal strings: { "0xACCOUNT" = "1000000000000000000000" }. Counted in the supply '
        "next to the rewards: supply = genesis + rewards minted - tokens burned.",
    )

    @model_validator(mode="after")
    def _check_genesis(self) -> ChainSection:
        """Addresses strict EIP-55 (stored checksummed), amounts positive, a bounded count."""
        from opendepin.identity.address import checksum

        if len(self.genesis_allocations) > MAX_GENESIS_ALLOCATIONS:
            raise ValueError(
                f"chain.genesis_allocations has {len(self.genesis_allocations)} accounts, at most "
                f"{MAX_GENESIS_ALLOCATIONS} (one mint transaction each)"
            )
        normal: dict[str, int] = {}
        for account, amount in self.genesis_allocations.items():
            try:
                address = str(checksum(account))
            except ValueError as exc:
                raise ValueError(f"chain.genesis_allocations: {exc}") from None
            if address in normal:
                raise ValueError(f"chain.genesis_allocations names {address} twice")
            if amount <= 0:
                raise ValueError(
                    f"chain.genesis_allocations[{address}] must be positive, got {amount}"
                )
            normal[address] = amount
        object.__setattr__(self, "genesis_allocations", normal)  # frozen: normalise in place
        return self

    @property
    def genesis_total(self) -> int:
        """Base units all genesis allocations mint together."""
        return sum(self.genesis_allocations.values())


class PricingSection(Section):
    """What storage costs consumers, in credits (see `opendepin.storage.pricing`).

    The defaults are Storj's list prices, $4 per TB-month stored and $7 per TB of egress,
    at a credit worth one micro-dollar ($0.000001; the default `chain.credit_price` of
    100,000 credits per token then values a token at $0.10). A GB is 10**9 bytes and a
    month 30 days, as Storj bills.
    """

    stored_gb_month_credits: int = Field(
        4_000, ge=0, description="Credits per GB (10**9 bytes) stored for a 30-day month."
    )
    egress_gb_credits: int = Field(
        7_000, ge=0, description="Credits per GB (10**9 bytes) downloaded (egress)."
    )


class StoreSection(Section):
    """Where reports, sealed files and the index database live."""

    data_dir: Path = Field(Path(".data"), description="Report log and published epoch files.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite (WAL) at <data_dir>/index.db."
    )


class IngestSection(Section):
    """HTTP ingest service."""

    host: str = Field("127.0.0.1")
    port: int = Field(8700, gt=0, lt=65_536)
    max_batch: int = Field(10_000, gt=0, description="Largest batch one request may carry.")
    max_body_bytes: int = Field(
        32 * 1024 * 1024, gt=0, description="Largest request body accepted, in bytes."
    )
    verify_workers: int | None = Field(
        None,
        ge=0,
        description="Worker processes that verify report signatures in parallel; "
        "None: one per core (none on a single core); 0: verify in the request's own thread.",
    )


class ComputeSection(Section):
    """Where an oracle computes an epoch's kinds (node-local: it never changes a result).

    A kind that splits by device (`proofs.kind.ShardedKind`) is computed in shards of about
    `shard_reports` reports once it has more than that many, on `executor`: `"processes"`
    (worker processes on this machine, `workers` of them, default one per core), `"inline"`
    (in the oracle's own process), or the address of a Dask scheduler (`tcp://host:8786`;
    needs the optional extra `opendepin[cluster]` here and on every worker).
    """

    executor: str = Field(
        "processes",
        min_length=1,
        description='"processes", "inline", or a Dask scheduler address (tcp://host:port).',
    )
    workers: int | None = Field(
        None, ge=1, description="Worker processes for the processes executor; None: one per core."
    )
    shard_reports: int = Field(
        100_000,
        ge=1,
        description="Reports per shard, about: a kind with more is split by device into shards.",
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
    pricing: PricingSection = PricingSection()
    store: StoreSection = StoreSection()
    ingest: IngestSection = IngestSection()
    compute: ComputeSection = ComputeSection()
    kinds: dict[str, SerializeAsAny[BaseModel]] = Field(
        default_factory=dict,
        description="Proof kind -> its settings section (see the module docstring).",
    )

    @model_validator(mode="before")
    @classmethod
    def _kind_sections(cls, data: Any) -> Any:
        """Gather `[<kind>]` and `[kinds.<kind>]` tables and validate each with its kind's model."""
        if not isinstance(data, dict):
            return data
        from opendepin.proofs.registry import installed_kinds

        installed = installed_kinds()
        own = set(cls.model_fields)
        out = {k: v for k, v in data.items() if k in own}
        raw: dict[str, Any] = {}
        for key, value in data.items():
            if key not in own:
                if key not in installed:
                    out[key] = value  # pydantic's extra="forbid" names it
                    continue
                raw[key] = value
        given = data.get("kinds") or {}
        if not isinstance(given, dict):
            raise ValueError("kinds must be a table of proof kind -> settings")
        for name, value in given.items():
            raw[name] = _merge(raw.get(name), value)
        sections: dict[str, BaseModel] = {}
        for name, value in sorted(raw.items()):
            kind = installed.get(name)
            if kind is None:
                known = ", ".join(installed) or "none"
                raise ValueError(
                    f"kinds.{name}: no proof kind {name!r} is installed (installed: {known})"
                )
            model = kind.settings_model
            sections[name] = (
                value if isinstance(value, model) else model.model_validate(value or {})
            )
        out["kinds"] = sections
        return out

    @model_validator(mode="after")
    def _overhangs_within_grace(self) -> Settings:
        """A paid kind's epoch overhang must fit in the report grace, or ingest closes an epoch
        before the kind's last reports of it (a proof of the last audit window, a witness of a
        last-second beacon) can arrive."""
        from opendepin.proofs.registry import installed_kinds

        installed = installed_kinds()
        grace_ms = self.network.report_grace_seconds * 1_000
        for name in sorted(self.pools.bps):
            kind = installed.get(name)
            if kind is None:
                continue
            overhang = kind.epoch_overhang_ms(self.kind_section(name))
            if overhang > grace_ms:
                raise ValueError(
                    f"{name}: reports may run {overhang} ms past their epoch's end, more than "
                    f"network.report_grace_seconds ({self.network.report_grace_seconds} s); raise the "
                    "grace or shorten the kind's overhang"
                )
        return self

    def kind_section(self, name: str) -> BaseModel:
        """The settings section of kind `name`: as configured, or the kind's defaults."""
        section = self.kinds.get(name)
        if section is not None:
            return section
        from opendepin.proofs.registry import get_kind

        model = get_kind(name).settings_model
        default = _DEFAULT_SECTIONS.get(model)
        if default is None:  # sections are frozen, so one default instance serves every caller
            default = _DEFAULT_SECTIONS[model] = model()
        return default

    def parameters(self) -> dict[str, Any]:
        """What affects an epoch's result, as plain JSON (the manifest's `parameters`).

        Every paid kind's section is included with its defaults filled in; kinds the network
        does not pay, and the node-local `store`, `ingest` and `compute` sections, are left out, so two
        oracles with different plugins installed still publish the same parameters.
        """
        dumped: dict[str, Any] = json.loads(
            self.model_dump_json(exclude={"store", "ingest", "compute", "kinds"})
        )
        from opendepin.proofs.registry import installed_kinds

        installed = installed_kinds()
        dumped["kinds"] = {
            name: json.loads(self.kind_section(name).model_dump_json())
            for name in sorted(self.pools.bps)
            if name in installed
        }
        return dumped

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


_DEFAULT_SECTIONS: dict[type[BaseModel], BaseModel] = {}
"""Kind settings model -> its default instance (kinds read their section once per report)."""


def _merge(base: Any, top: Any) -> Any:
    """`top` over `base` for two tables (plain dicts or section models)."""
    if base is None:
        return top
    if isinstance(base, BaseModel):
        base = base.model_dump()
    if isinstance(top, BaseModel):
        top = top.model_dump()
    if isinstance(base, dict) and isinstance(top, dict):
        return {**base, **top}
    return top


# The file to read is passed through this small mapping because pydantic-settings builds
# sources from class-level hooks; `load_settings` sets and clears it around construction.
_CONFIG_FILE_OVERRIDE: dict[str, Path] = {}


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Load settings from `path` (default: ./network.toml if present) plus the environment.

    Raises ConfigError with pydantic's explanation when a value is invalid or unknown, and
    with the file, line and column when the file is not valid TOML (or cannot be read).
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
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(toml_error_message(path, exc)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    finally:
        _CONFIG_FILE_OVERRIDE.clear()


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_TOML_AT_END = " (at end of document)"


def toml_error_message(path: Path | None, exc: tomllib.TOMLDecodeError) -> str:
    """One line: `<file>:<line>:<column>: invalid TOML: <what>` (tomllib's own words).

    tomllib (before Python 3.14) carries the position only inside its message, as
    "... (at line L, column C)" or "... (at end of document)".
    """
    message = str(exc)
    found = _TOML_POSITION.search(message)
    if found is not None:
        line, column = found.groups()
        return f"{path}:{line}:{column}: invalid TOML: {message[: found.start()]}"
    if message.endswith(_TOML_AT_END) and path is not None:
        text = path.read_text(encoding="utf-8")  # it was just parsed, so it reads
        last_line = text.rsplit("\n", 1)[-1]
        where = f"{text.count(chr(10)) + 1}:{len(last_line) + 1}"
        return f"{path}:{where}: invalid TOML: {message[: -len(_TOML_AT_END)]} (at end of file)"
    return f"{path}: invalid TOML: {message}"
