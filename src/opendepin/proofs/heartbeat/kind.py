"""The heartbeat kind as the registry sees it: one object declaring everything about it.

```
payload   {"lat_e7", "lon_e7", "accuracy_m"?,            payload.validate_payload
           "challenge_block"?, "challenge_hash"?}
rules     verifier.verify (ordered, HeartbeatReason)     settings  [kinds.heartbeat] / [heartbeat]
shares    trusted quarter-hours, capped per cell/owner   state     none (stateless)
explain   hours, trust, distance, caps, every reason     device    a fixed position (agent.toml)
entropy   one block per hour_seconds when liveness is on (heartbeat.liveness_window_seconds > 0)
sim       population.Population (honest, wrong_location, replayer, forger, flaky)
```
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from opendepin.chain.blocks import last_block_at_or_before
from opendepin.errors import ChainError, ConfigError, StageError
from opendepin.proofs.heartbeat.lines import compute_lines
from opendepin.proofs.heartbeat.payload import validate_payload
from opendepin.proofs.heartbeat.scorer import DeviceTally, settle, tally
from opendepin.proofs.heartbeat.settings import HeartbeatSection
from opendepin.proofs.heartbeat.simulation import Population
from opendepin.proofs.heartbeat.verifier import HEARTBEAT_KIND, HeartbeatReason, assess_all
from opendepin.proofs.kind import (
    DeviceBehaviour,
    Explanation,
    KindBase,
    KindJob,
    KindResult,
    Rule,
    ShardLines,
    ShardPart,
    SimDevice,
    SimHour,
    SimModel,
    SimSpec,
)
from opendepin.records import IngestedReport
from opendepin.reports.envelope import Report
from opendepin.types import DeviceId, ProofKind

if TYPE_CHECKING:
    from opendepin.agent.config import AgentConfig
    from opendepin.chain.backend import Chain

log = logging.getLogger("opendepin.agent")

PAYLOAD_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["lat_e7", "lon_e7"],
    "properties": {
        "lat_e7": {"type": "integer", "minimum": -900_000_000, "maximum": 900_000_000},
        "lon_e7": {"type": "integer", "minimum": -1_800_000_000, "maximum": 1_800_000_000},
        "accuracy_m": {"type": "integer", "minimum": 0, "maximum": 100_000},
        "challenge_block": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "challenge_hash": {"type": "string", "pattern": "^0x[0-9a-f]{64}$"},
    },
    "dependentRequired": {
        "challenge_block": ["challenge_hash"],
        "challenge_hash": ["challenge_block"],
    },
}


RULES: Final = (
    Rule("report_kind", ("wrong_report_kind",), "the report is a heartbeat"),
    Rule("registered", ("unknown_device",), "the device is in the registry at the close block"),
    Rule("active", ("inactive_device",), "and not deactivated"),
    Rule("device_kind", ("wrong_device_kind",), "it was registered as a heartbeat device"),
    Rule("location_asserted", ("location_not_asserted",), "it asserted a valid H3 cell"),
    Rule("payload", ("malformed_payload",), "the payload is well formed"),
    Rule("in_epoch", ("wrong_epoch",), "its timestamp lies inside its epoch"),
    Rule("unique_seq", ("duplicate",), "no earlier report in the input has the same (device, seq)"),
    Rule(
        "liveness",
        ("bad_challenge", "stale_challenge"),
        "names an epoch entropy block with its hash, signed within liveness_window_seconds after it",
    ),
    Rule("location_trust", ("location_untrusted",), "within partial_trust_meters of the asserted cell"),
    Rule("uptime", ("insufficient_uptime",), "at least min_online_hours distinct online hours", "device"),
    Rule("cell_cap", ("cell_cap",), "among max_devices_per_cell kept in its cap_resolution cell", "device"),
    Rule("owner_cap", ("owner_cap",), "among max_devices_per_owner kept for its owner", "device"),
)
"""The heartbeat rules in order (`verifier` implements them)."""


def current_challenge(chain: Chain, window_start_unix: int) -> tuple[int, bytes]:
    """(number, hash) of the entropy block of the window starting at `window_start_unix`: the
    last block at or before that time, as the device's chain connection sees it now."""
    number = last_block_at_or_before(chain, window_start_unix, chain.block_number())
    return number, chain.block_hash(number)


class FixedPosition:
    """A stationary device: every heartbeat carries the position configured in agent.toml.

    When the network asks for liveness (agent.toml `entropy_window_seconds`, copied from the
    network at `depin agent init`), each heartbeat also names the current window's entropy
    block and its hash, read from the device's chain connection (`chain`, default an
    `RpcChain` at agent.toml's `rpc_url`, opened on first use) — once per window.
    """

    def __init__(self, config: AgentConfig, chain: Chain | None = None) -> None:
        if config.lat_e7 is None or config.lon_e7 is None:
            raise ConfigError("no position: set lat_e7/lon_e7 in agent.toml (depin agent init --lat --lon)")
        self.config = config
        self.payload: dict[str, Any] = {"lat_e7": config.lat_e7, "lon_e7": config.lon_e7}
        if config.accuracy_m is not None:
            self.payload["accuracy_m"] = config.accuracy_m
        self._chain = chain
        self._challenge: tuple[int, tuple[int, bytes]] | None = None

    def challenge(self, timestamp_ms: int) -> tuple[int, bytes] | None:
        """The liveness challenge to sign at `timestamp_ms` (None when the network has none)."""
        window = self.config.entropy_window_seconds
        if window is None:
            return None
        from opendepin.agent.device import entropy_window_start_unix  # the agent's clock maths

        start = entropy_window_start_unix(
            timestamp_ms, self.config.genesis_unix, self.config.epoch_seconds, window
        )
        if self._challenge is None or self._challenge[0] != start:
            try:
                if self._chain is None:
                    from opendepin.chain.rpc import RpcChain  # lazily: web3 is slow to import

                    self._chain = RpcChain(self.config.rpc_url)
                self._challenge = (start, current_challenge(self._chain, start))
            except ChainError as exc:
                # Keep beating: the oracles will say `bad_challenge`, which names the problem.
                log.warning("no liveness challenge (chain at %s): %s", self.config.rpc_url, exc)
                return None
        return self._challenge[1]

    def payloads(self, timestamp_ms: int) -> list[dict[str, Any]]:
        payload = dict(self.payload)
        challenge = self.challenge(timestamp_ms)
        if challenge is not None:
            payload["challenge_block"] = challenge[0]
            payload["challenge_hash"] = "0x" + challenge[1].hex()
        return [payload]


class PopulationModel:
    """`Population` as a `SimModel`: one report an hour per device, plus the cheats' extras."""

    def __init__(self, spec: SimSpec) -> None:
        self.population = Population(spec.seed, spec.count, spec.owners)
        self.network_id = spec.settings.network.network_id
        self.chain_id = spec.settings.network.chain_id
        section = spec.settings.kind_section(HEARTBEAT_KIND)
        assert isinstance(section, HeartbeatSection)
        self.liveness_window_seconds = section.liveness_window_seconds
        self._devices = [
            SimDevice(d.key, d.owner, d.cell, d.behaviour.value) for d in self.population.devices
        ]

    @property
    def devices(self) -> Sequence[SimDevice]:
        return self._devices

    def hour_reports(self, hour: SimHour) -> list[Report]:
        return list(
            self.population.hour_reports(
                network_id=self.network_id,
                chain_id=self.chain_id,
                epoch=hour.epoch,
                hour=hour.hour,
                epoch_start_unix=hour.epoch_start_unix,
                **self._challenge(hour),
            )
        )

    def _challenge(self, hour: SimHour) -> dict[str, Any]:
        """The hour's entropy block for the devices to sign, when the network asks for it."""
        if self.liveness_window_seconds == 0:
            return {}
        return {
            "entropy_block": hour.entropy_block,
            "entropy": hour.entropy,
            # half the window: room for an entropy block mined a little before the hour
            "send_within_seconds": self.liveness_window_seconds // 2,
        }


class HeartbeatKind(KindBase):
    """Heartbeat / uptime: a device is online, and where it says it is."""

    name: ProofKind = HEARTBEAT_KIND
    reasons: type[StrEnum] = HeartbeatReason
    rules: Sequence[Rule] = RULES
    settings_model: type[BaseModel] = HeartbeatSection
    payload_schemas: Mapping[str, Mapping[str, Any]] = {"heartbeat": PAYLOAD_SCHEMA}

    def validate_payload(self, payload: dict[str, Any]) -> None:
        validate_payload(payload)

    def entropy_window_seconds(self, section: Any) -> int | None:
        """One entropy block per `hour_seconds` when the liveness challenge is on."""
        assert isinstance(section, HeartbeatSection)
        return section.hour_seconds if section.liveness_window_seconds > 0 else None

    def compute(self, job: KindJob) -> KindResult:
        part = self.compute_shard(job)
        return replace(self.combine(job, [part.partial]), verdicts=part.verdicts)

    def compute_shard(self, job: KindJob) -> ShardPart:
        """Rules and per-device tallies of one shard of devices (everything but the caps)."""
        assessed = assess_all(job.reports, job.snapshot, job.settings)
        verdicts = tuple(a.verdict for a in assessed)
        payloads = [a.payload for a in assessed]
        locations = [a.location for a in assessed]
        return ShardPart(
            verdicts, tally(job.reports, verdicts, job.snapshot, job.settings, payloads, locations)
        )

    def compute_shard_lines(
        self, job: KindJob, lines: Sequence[bytes], decode: Callable[[int], IngestedReport]
    ) -> ShardLines:
        """`compute_shard` straight from sealed lines (`lines.compute_lines`)."""
        return compute_lines(lines, job.snapshot, job.settings, decode)

    def combine(self, job: KindJob, partials: Sequence[Any]) -> KindResult:
        """The caps over every shard's tallies, then shares and explanations."""
        tallies: dict[DeviceId, DeviceTally] = {}
        for partial in partials:
            if not isinstance(partial, dict):
                raise StageError(f"heartbeat: a shard returned {type(partial).__name__}, not tallies")
            overlap = tallies.keys() & partial.keys()
            if overlap:
                raise StageError(f"heartbeat: device {min(overlap)} appears in two shards")
            tallies.update(partial)
        explained = settle(tallies, job.snapshot, job.settings)
        explanations = {
            device: Explanation(
                device=device,
                shares=e.share,
                reasons=e.reasons,
                invalid=dict(e.invalid),
                details={
                    "heartbeats": e.heartbeats,
                    "hours": e.hours,
                    "trusted_quarter_hours": e.trusted_quarter_hours,
                    "min_trust_quarters": e.min_trust_quarters,
                    "max_distance_m": e.max_distance_m,
                    **({"capped": e.capped.to_obj()} if e.capped is not None else {}),
                },
            )
            for device, e in explained.items()
        }
        shares = {device: e.share for device, e in explained.items() if e.share > 0}
        return KindResult(verdicts=(), shares=shares, explanations=explanations)

    def device(self, config: AgentConfig) -> DeviceBehaviour:
        return FixedPosition(config)

    def simulation(self, spec: SimSpec) -> SimModel:
        return PopulationModel(spec)


KIND: Final = HeartbeatKind()
"""The heartbeat kind (entry point `opendepin.proof_kinds: heartbeat`)."""
