"""The coverage kind as the registry sees it: Proof-of-Coverage in one declared unit.

```
payloads   beacon / witness (payload.parse_payload)       settings  [kinds.coverage] / [coverage]
rules      verifier.verify_batch (ordered, CoverageReason) entropy   one block per entropy window
shares     units × hex density scale (epoch, scorer)      inputs    kinds/coverage/denylist_v1.json
state      kinds/coverage/state_v1.json: CoverageHistory  device    needs a radio (CoverageAgent)
sim        simulation.CoverageFleet (honest, spoofers, a witness ring)
```

**State.** The rules look back further than one epoch (reciprocity 48 h, hex density 60 h,
the beacon interval), so the kind carries a `CoverageHistory` across epochs: the state before
epoch e is `coverage_state_v1 {history}`; `compute` returns the state after it,
`history.updated(activity(e)).pruned(start(e+1) − longest look-back)`, which the oracle hands
to epoch e+1 byte for byte (`Kind` docstring). An auditor holding both directories checks the
chain of states.

**Denylist.** The network's signed denylist (`denylist_path`, signatures checked against
`denylist_signers`) is an external input, frozen into the epoch directory at the snapshot;
an epoch without one is judged against the empty denylist (version 0).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from opendepin import jsonlimits
from opendepin.canonical import canonical_json
from opendepin.errors import ConfigError, InputError
from opendepin.proofs.coverage.denylist import DENYLIST_FILENAME, Denylist, parse_denylist
from opendepin.proofs.coverage.epoch import CoverageResult, DeviceExplanation, verify_epoch
from opendepin.proofs.coverage.history import CoverageHistory
from opendepin.proofs.coverage.params import COVERAGE_KIND, MS_PER_SECOND, CoverageParams
from opendepin.proofs.coverage.payload import (
    BEACON_DATA_BYTES,
    BEACON_SECRET_BYTES,
    MAX_COUNTER,
    MAX_FREQUENCY_HZ,
    MAX_LEVEL_CDB,
    parse_payload,
)
from opendepin.proofs.coverage.reasons import CoverageReason
from opendepin.proofs.coverage.settings import CoverageSection
from opendepin.proofs.coverage.simulation import SECONDS_PER_HOUR, CoverageFleet
from opendepin.proofs.kind import (
    DeviceBehaviour,
    Explanation,
    KindBase,
    KindJob,
    KindResult,
    Rule,
    SimDevice,
    SimHour,
    SimModel,
    SimSpec,
)
from opendepin.reports.envelope import Report
from opendepin.types import DeviceId, ProofKind

if TYPE_CHECKING:
    from opendepin.agent.config import AgentConfig

STATE_FORMAT: Final = "coverage_state_v1"
"""Format of the coverage kind's state file."""
DENYLIST_FILE: Final = DENYLIST_FILENAME
"""External input (when the network has a denylist): the signed denylist the epoch is judged by."""

_NON_NEGATIVE: Final = {"type": "integer", "minimum": 0}
_COUNTER: Final = {"type": "integer", "minimum": 0, "maximum": MAX_COUNTER}
_FREQUENCY: Final = {"type": "integer", "minimum": 1, "maximum": MAX_FREQUENCY_HZ}
_LEVEL: Final = {"type": "integer", "minimum": -MAX_LEVEL_CDB, "maximum": MAX_LEVEL_CDB}
_DATA: Final = {"type": "string", "pattern": f"^0x[0-9a-f]{{{2 * BEACON_DATA_BYTES}}}$"}
_SECRET: Final = {"type": "string", "pattern": f"^0x[0-9a-f]{{{2 * BEACON_SECRET_BYTES}}}$"}
_REGION: Final = {"type": "string", "maxLength": 16}
BEACON_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "description": "A beacon: data derived from a chain entropy block and a per-beacon secret, "
    "revealed here (docs/coverage.md).",
    "additionalProperties": False,
    "required": ["type", "counter", "data", "entropy_block", "frequency_hz", "tx_power_cdbm",
                 "antenna_gain_cdbi", "region", "secret"],
    "properties": {
        "type": {"const": "beacon"}, "counter": _COUNTER, "data": _DATA, "entropy_block": _NON_NEGATIVE,
        "frequency_hz": _FREQUENCY, "tx_power_cdbm": _LEVEL, "antenna_gain_cdbi": _LEVEL, "region": _REGION,
        "secret": _SECRET,
    },
}
WITNESS_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "description": "A witness: this device heard another's beacon.",
    "additionalProperties": False,
    "required": ["type", "beaconer", "data", "rssi_cdbm", "snr_cdb", "frequency_hz", "received_ms",
                 "antenna_gain_cdbi", "region"],
    "properties": {
        "type": {"const": "witness"}, "beaconer": {"type": "string"}, "data": _DATA,
        "rssi_cdbm": _LEVEL, "snr_cdb": _LEVEL, "frequency_hz": _FREQUENCY, "received_ms": _NON_NEGATIVE,
        "antenna_gain_cdbi": _LEVEL, "region": _REGION,
    },
}


RULES: Final = (
    Rule("payload", ("wrong_report_kind", "malformed_payload"), "a coverage report with a valid beacon or witness payload"),
    Rule("device", ("unknown_device", "inactive_device", "wrong_device_kind"), "registered, active, for coverage"),
    Rule("location_asserted", ("location_not_asserted",), "it asserted a valid H3 cell"),
    Rule("key_not_denied", ("denied",), "its key is not on the denylist"),
    Rule("entropy_window", ("entropy_expired",), "signed (beacon) inside the epoch, or heard (witness) inside it or up to max_witness_lag_ms after"),
    Rule("entropy_known", ("bad_entropy",), "names one of the epoch's entropy blocks", "beacon"),
    Rule("entropy_fresh", ("entropy_expired",), "sent within entropy_window_seconds of its block", "beacon"),
    Rule("not_duplicate", ("duplicate",), "not a repeat (beacon counter; witness of one beacon)"),
    Rule("interval", ("irregular_interval",), "at most one beacon per beacon_interval_seconds", "beacon"),
    Rule("packet", ("invalid_packet",), "the data regenerates from entropy and the revealed secret", "beacon"),
    Rule("not_self", ("self_witness",), "not its own beacon", "witness"),
    Rule("region_accepted", ("unknown_region",), "its region is a known plan the network accepts (coverage.regions)"),
    Rule("on_channel", ("off_channel",), "frequency within channel_tolerance_hz of one of its region's uplink channels"),
    Rule("eirp", ("eirp_exceeded",), "tx power + antenna gain within the region's maximum EIRP + eirp_margin_cdb", "beacon"),
    Rule("sensitivity", ("below_sensitivity",), "RSSI not below the region's receiver sensitivity", "witness"),
    Rule("snr_floor", ("snr_below_floor",), "SNR not below LoRa's demodulation floor", "witness"),
    Rule("snr_consistent", ("snr_inconsistent",), "SNR fits RSSI − noise floor (saturating) within the SNR margins", "witness"),
    Rule("beacon_found", ("unknown_beacon", "invalid_packet"), "the beacon was reported and matches", "witness"),
    Rule("edge_not_denied", ("denied_edge",), "the (beaconer, witness) pair is not denied", "witness"),
    Rule("not_same_owner", ("same_owner_witness",), "the witness and the beaconer have different owners", "witness"),
    Rule("beacon_valid", ("invalid_beacon",), "the beacon heard is valid", "witness"),
    Rule("lag", ("too_late",), "heard within max_witness_lag_ms of the beacon", "witness"),
    Rule("frequency", ("invalid_frequency",), "within max_frequency_diff_hz", "witness"),
    Rule("region", ("invalid_region",), "same region", "witness"),
    Rule("not_too_close", ("below_min_distance",), "H3 grid distance at least min_grid_distance", "witness"),
    Rule("not_too_far", ("max_distance_exceeded",), "at most max_distance_m apart", "witness"),
    Rule("rssi", ("bad_rssi",), "no louder than free-space path loss allows", "witness"),
    Rule("beaconer_reciprocity", ("gateway_no_valid_witnesses",), "the beaconer witnessed validly lately", "beacon"),
    Rule("witness_reciprocity", ("gateway_no_valid_beacons",), "the witness beaconed validly lately", "witness"),
    Rule("location_corroborated", ("location_contradicted",), "independent witnesses' RSSI fits the asserted cell (trust.py)", "device"),
    Rule("not_closed_cluster", ("closed_cluster",), "its witness graph reaches the rest of the network", "device"),
    Rule("own_receiver", ("shared_receiver",), "its receptions are not another key's", "device"),
    Rule("reciprocal_links", ("asymmetric_links",), "its links lose the same both ways (claimed power, gain, receptions)", "device"),
    Rule("established", ("establishing",), "past its first establishment_epochs epochs", "device"),
)
"""The coverage rules in order (`verifier` implements them; docs/coverage.md explains them)."""


def lookback_seconds(section: CoverageSection) -> int:
    """Longest window any coverage rule looks back over (older history is dropped)."""
    return max(
        section.reciprocity_window_seconds, section.density_window_seconds, section.beacon_interval_seconds
    )


def state_to_bytes(history: CoverageHistory) -> bytes:
    """Canonical `coverage_state_v1` bytes."""
    return canonical_json({"format": STATE_FORMAT, "history": history.to_obj()})


def state_from_bytes(data: bytes | None) -> CoverageHistory:
    """The history in a `coverage_state_v1` file (empty for None); InputError if malformed."""
    if data is None:
        return CoverageHistory()
    try:
        obj = jsonlimits.loads(data)
        if not isinstance(obj, dict) or obj.get("format") != STATE_FORMAT:
            raise ValueError(f"not a {STATE_FORMAT} file")
        return CoverageHistory.from_obj(obj["history"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"coverage state: {exc}") from exc


def denylist_from_inputs(inputs: Mapping[str, bytes], section: CoverageSection) -> Denylist:
    """The frozen denylist (signatures re-checked), or the empty one when none was frozen."""
    data = inputs.get(DENYLIST_FILE)
    if data is None:
        return Denylist()
    try:
        obj = jsonlimits.loads(data)
    except ValueError as exc:
        raise InputError(f"{DENYLIST_FILE}: cannot read JSON: {exc}") from exc
    return parse_denylist(obj, section.denylist_signers, section.denylist_threshold)


def explanation_of(e: DeviceExplanation) -> Explanation:
    """The published form of a coverage device explanation."""
    counts = Counter(n.reason.value for n in e.invalid)
    details = {k: v for k, v in e.to_obj().items() if k not in ("device", "shares", "invalid")}
    details["invalid_reports"] = [{"seq": n.seq, "reason": n.reason.value, "details": n.details} for n in e.invalid]
    reasons = set(counts) | {p.reason.value for p in e.penalties if p.factor < 1}
    return Explanation(
        device=e.device, shares=e.shares, reasons=tuple(sorted(reasons)), invalid=dict(counts), details=details
    )


class RadioRequired:
    """`depin agent run` cannot be a coverage device: beacons and witnesses need a radio."""

    def __init__(self, config: AgentConfig) -> None:
        raise ConfigError(
            "coverage devices need a LoRa radio and chain entropy: run them with "
            "opendepin.proofs.coverage.CoverageAgent and a Radio implementation, not `depin agent run`"
        )

    def payloads(self, timestamp_ms: int) -> list[dict[str, Any]]:  # pragma: no cover - never built
        return []


class FleetModel:
    """`CoverageFleet` as a `SimModel`: beacons of the devices due this hour, then witnesses."""

    def __init__(self, spec: SimSpec, section: CoverageSection) -> None:
        net = spec.settings.network
        self.genesis_unix = net.genesis_unix
        self.fleet = CoverageFleet(
            spec.seed,
            spec.count,
            spec.owners,
            network_id=net.network_id,
            chain_id=net.chain_id,
            beacon_interval_seconds=section.beacon_interval_seconds,
        )
        self._devices = [
            SimDevice(d.layout.key, d.owner, d.layout.asserted_cell, f"coverage_{d.role.value}")
            for d in self.fleet.devices
        ]

    @property
    def devices(self) -> Sequence[SimDevice]:
        return self._devices

    def hour_reports(self, hour: SimHour) -> list[Report]:
        return self.fleet.hour_reports(
            epoch=hour.epoch,
            hour_index=(hour.hour_start_unix - self.genesis_unix) // SECONDS_PER_HOUR,
            hour_start_unix=hour.hour_start_unix,
            entropy_block=hour.entropy_block,
            entropy=hour.entropy,
        )


class CoverageKind(KindBase):
    """Wireless Proof-of-Coverage (after Helium IoT)."""

    name: ProofKind = COVERAGE_KIND
    reasons: type[StrEnum] = CoverageReason
    rules: Sequence[Rule] = RULES
    settings_model: type[BaseModel] = CoverageSection
    payload_schemas: Mapping[str, Mapping[str, Any]] = {"beacon": BEACON_SCHEMA, "witness": WITNESS_SCHEMA}

    def validate_payload(self, payload: dict[str, Any]) -> None:
        parse_payload(payload)

    def entropy_window_seconds(self, section: Any) -> int | None:
        assert isinstance(section, CoverageSection)
        return section.entropy_window_seconds

    def epoch_overhang_ms(self, section: Any) -> int:
        """`max_witness_lag_ms`: a witness belongs to its beacon's epoch, so one of a beacon sent
        in the epoch's last moments is signed for a time up to the lag after the epoch's end.
        (Beacons themselves must still lie inside the epoch: `verify_beacon_entropy_window`.)"""
        assert isinstance(section, CoverageSection)
        return section.max_witness_lag_ms

    def initial_state(self, section: Any) -> bytes | None:
        return state_to_bytes(CoverageHistory())

    def external_inputs(self, section: Any) -> Mapping[str, bytes]:
        assert isinstance(section, CoverageSection)
        if not section.denylist_path:
            return {}
        path = Path(section.denylist_path)
        if not path.is_file():
            return {}
        try:
            obj = jsonlimits.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read denylist {path}: {exc}") from exc
        parse_denylist(obj, section.denylist_signers, section.denylist_threshold)
        return {DENYLIST_FILE: canonical_json(obj)}

    def evaluate(self, job: KindJob) -> CoverageResult:
        """The full coverage result (selected witnesses, activity …) of one epoch."""
        section = job.section
        assert isinstance(section, CoverageSection)
        params = CoverageParams(coverage=section, network=job.settings.network)
        return verify_epoch(
            job.reports,
            job.snapshot,
            params,
            state_from_bytes(job.state),
            denylist_from_inputs(job.inputs, section),
        )

    def compute(self, job: KindJob) -> KindResult:
        section = job.section
        assert isinstance(section, CoverageSection)
        result = self.evaluate(job)
        cutoff_ms = (job.settings.network.epoch_end_unix(job.epoch) - lookback_seconds(section)) * MS_PER_SECOND
        after = state_from_bytes(job.state).updated(result.activity).pruned(cutoff_ms)
        explanations: dict[DeviceId, Explanation] = {
            d: explanation_of(e) for d, e in sorted(result.explanations.items())
        }
        return KindResult(
            verdicts=result.verdicts,
            shares=dict(result.shares),
            explanations=explanations,
            next_state=state_to_bytes(after),
            notes={"denylist_version": result.denylist_version},
        )

    def device(self, config: AgentConfig) -> DeviceBehaviour:
        return RadioRequired(config)

    def simulation(self, spec: SimSpec) -> SimModel:
        section = spec.settings.kind_section(COVERAGE_KIND)
        assert isinstance(section, CoverageSection)
        return FleetModel(spec, section)


KIND: Final = CoverageKind()
"""The coverage kind (entry point `opendepin.proof_kinds: coverage`)."""
