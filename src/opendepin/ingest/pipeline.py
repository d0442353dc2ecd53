"""The ingest pipeline: checks a batch of untrusted reports and durably appends the good ones.

Checks run in the order `ingest.checks.INGEST_ORDER` fixes (the list reconciliation derives
its own from), each on the survivors of the previous one:

```
decode (codec.from_json_fast) → network / chain id → device registered and active (RegistryMirror)
  → signature (check_signatures, one batch call) → freshness (check_time) → epoch still open
  (check_epoch_open) → replay (SequenceTracker) → payload (PayloadRegistry)
  → durable append (ONE transaction) → outcome
```

A rejection names a stable reason (`RejectReason`, or `IngestReason` for `epoch_closed` /
`epoch_sealed`) and changes nothing.

**Every check that reads this oracle's clock happens here and only here.** Freshness
(`stale` / `future`) and lateness (`epoch_closed`: the ingest clock is past the report's
epoch end plus `network.report_grace_seconds`) decide this oracle's *acceptance*; the sealed
inputs then hold only the device-signed bytes, so verification is a pure function of what
devices signed and two oracles that accepted the same reports seal byte-identical files.
The receive time is kept in the report log for operations only (`LogEntry.received_ms`). The replay check does not advance the tracker: a report's sequence
number is recorded only after the append committed, so a report rejected later (bad payload,
sealed epoch, database error) never burns its sequence number and the device may resend it.
Within a batch a device's sequence numbers must still strictly increase. The database's
unique (device, seq) key is the last word on replays (several ingest processes, restarts).

The stateful part (replay → payload → append → advance) runs under one lock per pipeline;
the rest runs outside it. The stateless, CPU-heavy part — decoding, the network and chain,
the signature, the payload and the log line of each report (`ingest.workers.prepare_reports`)
— runs on `ingest.verify_workers` worker processes (`ingest.workers`; default one per core),
each batch split between the idle ones. What needs this process's state stays here: the
registry lookup, the clock checks, the replay check, the append. Each check is a pure
function of the report, so computing some of them early, elsewhere, or for a report an
earlier check already refused changes no outcome: this process applies the verdicts in
`INGEST_ORDER`, and the first failing one names the reason. A worker only skips the
signature of a report whose device the mirror does not list as active (the registry check
decides first); should the mirror change meanwhile, the signature is checked here.

`IngestPipeline.process_reference` is the same pipeline written check by check, the way this
docstring reads (decode everything, `run_checks` of the unlocked checks, then the locked
part); `process` must give its outcomes and store its rows, and the tests compare the two on
arbitrary batches.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from opendepin.errors import InvalidReport
from opendepin.ingest.checks import (
    INGEST_ORDER,
    Check,
    CheckContext,
    Problem,
    registry_problem,
    run_checks,
)
from opendepin.ingest.reasons import IngestReason
from opendepin.ingest.registry import RegistryMirror
from opendepin.ingest.workers import (
    Prepared,
    SignatureWorkers,
    default_worker_count,
    prepare_reports,
    shared_workers,
)
from opendepin.network.clock import EpochClock
from opendepin.network.settings import Settings
from opendepin.proofs.kind import Kind, kind_overhangs_ms
from opendepin.records import DeviceRecord
from opendepin.reports import codec
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import Rejection, RejectReason
from opendepin.reports.verify import (
    PayloadRegistry,
    SequenceTracker,
    check_signatures,
    check_time_of,
)
from opendepin.store import LogEntry, Store
from opendepin.types import DeviceId, Epoch, ProofKind

MS_PER_SECOND = 1_000
UNLOCKED_CHECKS = INGEST_ORDER[INGEST_ORDER.index(Check.NETWORK) : INGEST_ORDER.index(Check.REPLAY)]
"""network → registry → signature → freshness → epoch open: checked outside the lock; replay and
payload follow under it (`ingest.checks.INGEST_ORDER`)."""

Clock = Callable[[], int]
"""Returns the ingest clock in Unix milliseconds."""


def system_clock_ms() -> int:
    """Wall clock, Unix milliseconds."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one report of a batch."""

    index: int
    """Position in the request."""
    device: str | None
    """Device id as sent (None if it could not be read)."""
    seq: int | None
    """Sequence number as sent (None if it could not be read)."""
    reason: StrEnum | None = None
    """None when accepted; otherwise a RejectReason or IngestReason."""
    message: str = ""
    """Human explanation of a rejection."""

    @property
    def accepted(self) -> bool:
        return self.reason is None


def payload_registry(kinds: Mapping[str, Kind]) -> PayloadRegistry:
    """Payload validators of `kinds` (ingest and reconciliation check payloads with these)."""
    registry = PayloadRegistry()
    for name, kind in sorted(kinds.items()):
        registry.register(name, kind.validate_payload)
    return registry


def default_payload_registry(settings: Settings | None = None) -> PayloadRegistry:
    """Payload validators of the kinds `settings` pays (every installed kind if None)."""
    from opendepin.proofs.registry import installed_kinds, kinds_for

    return payload_registry(kinds_for(settings) if settings is not None else installed_kinds())


def epoch_overhangs_ms(settings: Settings) -> dict[str, int]:
    """Kind -> how far past its epoch's end its reports' timestamps may lie, for the kinds
    `settings` pays (`Kind.epoch_overhang_ms`; the freshness check reads it)."""
    from opendepin.proofs.registry import kinds_for

    return kind_overhangs_ms(kinds_for(settings), settings)


def epoch_close_ms(epoch: int, settings: Settings) -> int:
    """Unix ms from which ingest refuses reports for `epoch`: its end plus the report grace."""
    return settings.network.ingest_close_unix(epoch) * MS_PER_SECOND


def check_epoch_open(report: Report, now_ms: int, settings: Settings) -> tuple[StrEnum, str] | None:
    """EPOCH_CLOSED if the ingest clock `now_ms` is at or past the report's epoch close."""
    return epoch_open_problem(report.epoch, now_ms, settings)


def epoch_open_problem(epoch: int, now_ms: int, settings: Settings) -> tuple[StrEnum, str] | None:
    """`check_epoch_open` of a report for `epoch`."""
    close_ms = epoch_close_ms(epoch, settings)
    if now_ms >= close_ms:
        return (
            IngestReason.EPOCH_CLOSED,
            f"epoch {epoch} closed for reports at {close_ms} ms (its end + "
            f"{settings.network.report_grace_seconds} s grace); the ingest clock is {now_ms} ms",
        )
    return None


def signature_workers(settings: Settings) -> SignatureWorkers | None:
    """The worker set `settings.ingest.verify_workers` asks for (shared within the process),
    or None to verify in the request's thread."""
    count = settings.ingest.verify_workers
    if count is None:
        count = default_worker_count()
    return shared_workers(count) if count > 0 else None


def _peek(item: Any) -> tuple[str | None, int | None]:
    if type(item) is not dict:
        return None, None
    device = item.get("device")
    seq = item.get("seq")
    return (
        device if type(device) is str else None,
        seq if type(seq) is int else None,
    )


def _worth_verifying(item: Any, lookup: Callable[[str], DeviceRecord | None]) -> bool:
    """Whether the registry check may pass for `item`: a dict naming a device the mirror
    lists as active. Only spares the signature check of the others; never decides a verdict."""
    if type(item) is not dict:
        return False
    device = item.get("device")
    if type(device) is not str:
        return False
    record = lookup(device)
    return record is not None and record.active


_Survivor = tuple[int, DeviceId, int, Epoch, ProofKind, Rejection | bool, bytes]
"""A report past the unlocked checks: (index, device, seq, epoch, kind, payload verdict as in
`Prepared`, wire)."""


class IngestPipeline:
    """Checks and stores batches of reports for one network; safe to call from many threads."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: RegistryMirror,
        clock: Clock | None = None,
        payload_registry: PayloadRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.clock: Clock = clock or system_clock_ms
        self.payloads = payload_registry if payload_registry is not None else default_payload_registry(settings)
        self.sequences = SequenceTracker(store.reports.last_seqs())
        self.epoch_overhang_ms = epoch_overhangs_ms(settings)
        self.workers: SignatureWorkers | None = signature_workers(settings)
        """Where signatures are verified (None: in the request's thread)."""
        self._lock = threading.Lock()

    def start_workers(self, wait: bool = True) -> None:
        """Start the signature workers now (else: on the first batch large enough to use
        them); with `wait`, until each has answered."""
        if self.workers is not None:
            self.workers.start(wait=wait, payloads=self.payloads)

    def process(self, items: Sequence[Any]) -> list[Outcome]:
        """Check every item (a decoded JSON value) and append the accepted reports.

        The outcomes and the stored rows are those of `process_reference`: the stateless
        checks come from `prepare_reports` (on the workers), the others are applied here in
        `INGEST_ORDER`, each verdict by the reference's own function where a report fails."""
        net = self.settings.network
        now_ms = self.clock()
        lookup = self.registry.get
        verify = [_worth_verifying(item, lookup) for item in items]
        prepared: list[Prepared]
        if self.workers is None:
            prepared = prepare_reports(items, net.network_id, net.chain_id, verify, self.payloads)
        else:
            prepared = self.workers.prepare(items, net.network_id, net.chain_id, verify, self.payloads)

        problems: dict[int, Problem] = {}
        survivors: list[_Survivor] = []
        lowest_ms = now_ms - net.report_max_age_seconds * MS_PER_SECOND
        highest_ms = now_ms + net.report_max_future_seconds * MS_PER_SECOND
        clock = EpochClock(net.genesis_unix, net.epoch_seconds)
        windows: dict[tuple[int, str], tuple[int, int]] = {}
        closed: dict[int, Problem | None] = {}
        overhangs = self.epoch_overhang_ms
        for i, p in enumerate(prepared):
            if isinstance(p, Rejection):  # Check.DECODE
                problems[i] = (p.reason, p.message)
                continue
            device, seq, epoch, kind, ts, network, signature, payload, wire = p
            if network is not None:  # Check.NETWORK
                problems[i] = (network.reason, network.message)
                continue
            record = lookup(device)  # Check.REGISTRY
            if record is None or not record.active:
                problem = registry_problem(device, record, CheckContext.registry_name)
                assert problem is not None
                problems[i] = problem
                continue
            if signature is False:  # Check.SIGNATURE, not run: the mirror changed meanwhile
                report = codec.from_json_fast(items[i])
                (rejection,) = check_signatures([report])
                signature = True if rejection is None else rejection
                if rejection is None:
                    wire = codec.dumps(report).encode("utf-8")
            if isinstance(signature, Rejection):
                problems[i] = (signature.reason, signature.message)
                continue
            window = windows.get((epoch, kind))  # Check.FRESHNESS
            if window is None:
                window = windows[(epoch, kind)] = clock.window_ms(epoch, overhangs.get(kind, 0))
            if not (lowest_ms <= ts <= highest_ms and window[0] <= ts < window[1]):
                late = check_time_of(
                    ts,
                    epoch,
                    now_ms,
                    net.report_max_age_seconds,
                    net.report_max_future_seconds,
                    net.epoch_seconds,
                    net.genesis_unix,
                    overhangs.get(kind, 0),
                )
                if late is not None:
                    problems[i] = (late.reason, late.message)
                    continue
            if epoch not in closed:  # Check.EPOCH_OPEN
                closed[epoch] = epoch_open_problem(epoch, now_ms, self.settings)
            problem = closed[epoch]
            if problem is not None:
                problems[i] = problem
                continue
            assert wire is not None
            survivors.append((i, device, seq, epoch, kind, payload, wire))

        with self._lock:
            batch_last: dict[str, int] = {}
            to_store: list[_Survivor] = []
            tracker = self.sequences
            for survivor in survivors:
                i, device, seq, epoch, kind, payload, wire = survivor
                key = device.lower()
                rej = tracker.check_seq(device, seq)  # Check.REPLAY
                if rej is None and key in batch_last and seq <= batch_last[key]:
                    rej = Rejection(
                        RejectReason.REPLAYED,
                        f"seq {seq} of {device} is not above seq "
                        f"{batch_last[key]} earlier in this batch",
                    )
                if rej is None:  # Check.PAYLOAD, the last of INGEST_ORDER
                    if payload is False:  # not checked on a worker
                        payload = self.payloads.check(codec.from_json_fast(items[i])) or True
                    if isinstance(payload, Rejection):
                        rej = payload
                if rej is None:
                    batch_last[key] = seq
                    to_store.append(survivor)
                else:
                    problems[i] = (rej.reason, rej.message)
            entries = [
                LogEntry(device=d, seq=q, epoch=e, kind=k, received_ms=now_ms, wire=w)
                for _, d, q, e, k, _, w in to_store
            ]
            result = self.store.reports.append(entries)
            for j in result.inserted:
                tracker.advance_seq(entries[j].device, entries[j].seq)
            for j in result.sealed:
                problems[to_store[j][0]] = (
                    IngestReason.EPOCH_SEALED,
                    f"epoch {entries[j].epoch} is sealed; its inputs are final",
                )
            for j in result.replayed:
                problems[to_store[j][0]] = (
                    RejectReason.REPLAYED,
                    f"seq {entries[j].seq} of {entries[j].device} is already in the report log",
                )

        outcomes: list[Outcome] = []
        for i, p in enumerate(prepared):
            if isinstance(p, Rejection):
                device_sent, seq_sent = _peek(items[i])
            else:
                device_sent, seq_sent = p[0], p[1]
            problem = problems.get(i)
            if problem is None:
                outcomes.append(Outcome(i, device_sent, seq_sent))
            else:
                outcomes.append(Outcome(i, device_sent, seq_sent, problem[0], problem[1]))
        return outcomes

    def process_reference(self, items: Sequence[Any]) -> list[Outcome]:
        """`process`, check by check as the module docstring reads: what `process` must do
        (the tests compare the two). Every item is decoded here, then `run_checks` applies
        the unlocked checks (signatures on the workers), then the locked part."""
        net = self.settings.network
        now_ms = self.clock()
        n = len(items)
        rejections: list[Rejection | None] = [None] * n
        reports: dict[int, Report] = {}

        for i, item in enumerate(items):  # Check.DECODE
            try:
                reports[i] = codec.from_json_fast(item)
            except InvalidReport as exc:
                rejections[i] = Rejection(RejectReason.MALFORMED, exc.message)

        other: dict[int, tuple[StrEnum, str]] = {}
        pending = sorted(reports)
        ctx = CheckContext(
            network_id=net.network_id,
            chain_id=net.chain_id,
            registry=self.registry.get,
            now_ms=now_ms,
            max_age_s=net.report_max_age_seconds,
            max_future_s=net.report_max_future_seconds,
            epoch_seconds=net.epoch_seconds,
            genesis_unix=net.genesis_unix,
            epoch_open=lambda r: check_epoch_open(r, now_ms, self.settings),
            epoch_overhang_ms=self.epoch_overhang_ms,
            signatures=None if self.workers is None else self.workers.run,
        )
        problems = run_checks([reports[i] for i in pending], UNLOCKED_CHECKS, ctx)
        survivors: list[int] = []
        for i, problem in zip(pending, problems, strict=True):
            if problem is None:
                survivors.append(i)
            else:
                other[i] = problem

        with self._lock:
            batch_last: dict[str, int] = {}
            to_store: list[int] = []
            for i in survivors:
                report = reports[i]
                key = report.device.lower()
                rej = self.sequences.check(report)
                if rej is None and key in batch_last and report.seq <= batch_last[key]:
                    rej = Rejection(
                        RejectReason.REPLAYED,
                        f"seq {report.seq} of {report.device} is not above seq "
                        f"{batch_last[key]} earlier in this batch",
                    )
                if rej is None:  # Check.PAYLOAD, the last of INGEST_ORDER
                    rej = self.payloads.check(report)
                if rej is None:
                    batch_last[key] = report.seq
                    to_store.append(i)
                else:
                    rejections[i] = rej
            entries = [LogEntry.of(reports[i], received_ms=now_ms) for i in to_store]
            result = self.store.reports.append(entries)
            for j in result.inserted:
                self.sequences.advance(reports[to_store[j]])
            for j in result.sealed:
                i = to_store[j]
                other[i] = (
                    IngestReason.EPOCH_SEALED,
                    f"epoch {entries[j].epoch} is sealed; its inputs are final",
                )
            for j in result.replayed:
                i = to_store[j]
                other[i] = (
                    RejectReason.REPLAYED,
                    f"seq {entries[j].seq} of {entries[j].device} is already in the report log",
                )

        outcomes: list[Outcome] = []
        for i, item in enumerate(items):
            decoded = reports.get(i)
            if decoded is not None:
                device: str | None = decoded.device
                seq: int | None = decoded.seq
            else:
                device, seq = _peek(item)
            rej = rejections[i]
            if rej is not None:
                outcomes.append(Outcome(i, device, seq, rej.reason, rej.message))
            elif i in other:
                reason, message = other[i]
                outcomes.append(Outcome(i, device, seq, reason, message))
            else:
                outcomes.append(Outcome(i, device, seq))
        return outcomes
