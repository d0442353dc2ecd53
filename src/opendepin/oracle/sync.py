"""Reconciling report sets between oracles before an epoch is sealed.

Devices send every report to every oracle's ingest, but a report can still reach only some
of them (an outage, a restart, a dropped connection). Reports are self-authenticating — the
device signed them — so oracles can hand them to each other without trusting each other:

```
GET /v1/epochs/{epoch}/reports   this oracle's accepted wire lines for a CLOSED epoch
                                 (application/x-ndjson, one report per line, sorted by kind,
                                 device, seq); 409 problem+json while the epoch is still open
```

An epoch is closed once the chain's clock is past its end plus
`network.report_grace_seconds` (`EpochRunner.ingest_closed`), the point after which ingest
refuses its reports. The runner's seal stage first calls `reconcile`: it pulls every
configured peer's list and imports the reports it lacks after the same checks ingest runs,
except the ones that read an oracle's clock (freshness, lateness) — network and chain id,
device registered and active in the registry at the epoch's close block, signature, payload
(the network's proof modules), timestamp inside the named epoch, and the unique
(device, seq) key of the report log. Only then does it seal. A forged, altered or foreign
report a peer offers is skipped and counted by reason; it never reaches the log.

A peer that is down (or answers with an error) is skipped and logged. The sets may then
differ — a report only that peer holds is not imported — and the epoch settles only if M
oracles still seal the same inputs and so sign the same claim. The pull is one round: a
report reaches an oracle if any reachable peer held it when that oracle sealed, which, with
ingest closed everywhere by then, is the union of the reachable oracles' sets. It assumes
ingest clocks roughly follow the chain's clock (a peer whose ingest still accepts the epoch
after the chain closed it can acquire reports the others already missed).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

import httpx
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from opendepin.errors import InvalidReport
from opendepin.network.settings import Settings
from opendepin.proofs.base import DeviceRecord, ProofModule
from opendepin.reports import codec
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import Rejection, RejectReason
from opendepin.reports.verify import check_network, check_signatures
from opendepin.store import LogEntry, Store
from opendepin.types import DeviceId

if TYPE_CHECKING:
    from opendepin.oracle.runner import EpochRunner

log = logging.getLogger(__name__)

EPOCH_REPORTS_PATH = "/v1/epochs/{epoch}/reports"
NDJSON_MEDIA_TYPE = "application/x-ndjson"
MS_PER_SECOND = 1_000


class ImportReason(StrEnum):
    """Why a report a peer offered was not imported, beyond `RejectReason` (stable values)."""

    OTHER_EPOCH = "other_epoch"
    """The report names another epoch than the one being reconciled."""


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What one `reconcile` call did."""

    epoch: int
    imported: int = 0
    """Reports new to this oracle, checked and appended to its log."""
    offered: int = 0
    """Lines the reachable peers served in total."""
    skipped_peers: tuple[str, ...] = ()
    """Peers that were down or answered with an error."""
    refused: Mapping[str, int] = field(default_factory=dict)
    """Reason -> offered reports that failed a check (never imported)."""


def epoch_report_lines(store: Store, epoch: int) -> Iterable[bytes]:
    """This oracle's accepted wire lines of `epoch`, by kind then (device, seq), each + newline."""
    for kind in store.reports.kinds(epoch):
        for entry in store.reports.iter_epoch(epoch, kind):
            yield entry.wire + b"\n"


def reports_router(runner: EpochRunner) -> APIRouter:
    """`GET /v1/epochs/{epoch}/reports` over the runner's report log."""
    router = APIRouter(tags=["oracle"])

    @router.get(EPOCH_REPORTS_PATH, response_model=None)
    def get_epoch_reports(epoch: int) -> Response:
        if epoch < 0 or not runner.ingest_closed(epoch):
            return JSONResponse(
                {
                    "type": "urn:opendepin:oracle:epoch_open",
                    "title": "epoch_open",
                    "status": 409,
                    "detail": f"epoch {epoch} is still open for reports until "
                    f"{runner.ingest_close_unix(epoch)} (chain time); its report set is not final",
                },
                status_code=409,
                media_type="application/problem+json",
            )
        return Response(b"".join(epoch_report_lines(runner.store, epoch)), media_type=NDJSON_MEDIA_TYPE)

    return router


def _in_epoch(report: Report, epoch: int, settings: Settings) -> tuple[str, str] | None:
    net = settings.network
    if report.epoch != epoch:
        return ImportReason.OTHER_EPOCH, f"report is for epoch {report.epoch}, not {epoch}"
    start_ms, end_ms = net.epoch_window_ms(epoch)
    if not start_ms <= report.timestamp_ms < end_ms:
        return RejectReason.WRONG_EPOCH, f"timestamp {report.timestamp_ms} outside epoch {epoch}"
    return None


def check_offered(
    reports: Sequence[Report],
    epoch: int,
    settings: Settings,
    devices: Mapping[DeviceId, DeviceRecord],
    modules: Mapping[str, ProofModule],
) -> list[tuple[str, str] | None]:
    """Ingest's checks minus the clock ones, per report: None (importable) or (reason, message)."""
    net = settings.network
    out: list[tuple[str, str] | None] = [None] * len(reports)
    pending: list[int] = []
    for i, r in enumerate(reports):
        rej: Rejection | None = check_network(r, net.network_id, net.chain_id)
        problem: tuple[str, str] | None = (rej.reason, rej.message) if rej is not None else None
        if problem is None:
            rec = devices.get(r.device)
            if rec is None:
                problem = RejectReason.UNKNOWN_DEVICE, f"{r.device} is not in the registry at the close block"
            elif not rec.active:
                problem = RejectReason.INACTIVE_DEVICE, f"{r.device} is deactivated at the close block"
        if problem is None:
            problem = _in_epoch(r, epoch, settings)
        if problem is None:
            module = modules.get(r.kind)
            if module is None:
                problem = RejectReason.UNKNOWN_KIND, f"kind {r.kind!r} is not configured"
            else:
                try:
                    module.validate_payload(r.payload_obj())
                except ValueError as exc:
                    problem = RejectReason.MALFORMED_PAYLOAD, f"{r.kind} payload: {exc}"
        if problem is None:
            pending.append(i)
        else:
            out[i] = problem
    for i, sig in zip(pending, check_signatures([reports[i] for i in pending]), strict=True):
        if sig is not None:
            out[i] = (sig.reason, sig.message)
    return out


def _fetch(http: httpx.Client, peer: str, epoch: int) -> list[bytes]:
    resp = http.get(peer.rstrip("/") + EPOCH_REPORTS_PATH.format(epoch=epoch))
    resp.raise_for_status()
    return [line for line in resp.content.split(b"\n") if line]


def reconcile(
    *,
    epoch: int,
    store: Store,
    settings: Settings,
    peers: Sequence[str],
    http: httpx.Client,
    devices: Callable[[], Mapping[DeviceId, DeviceRecord]],
    modules: Mapping[str, ProofModule],
    clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
) -> ReconcileResult:
    """Pull every peer's report list for the closed `epoch` and import what passes the checks.

    `devices` returns the registry at the epoch's close block (called only if a peer offers
    a report this oracle lacks). Call before sealing; idempotent.
    """
    have = {
        (e.device, e.seq) for kind in store.reports.kinds(epoch) for e in store.reports.iter_epoch(epoch, kind)
    }
    candidates: dict[tuple[str, int], Report] = {}
    refused: Counter[str] = Counter()
    skipped: list[str] = []
    offered = 0
    for peer in peers:
        try:
            lines = _fetch(http, peer, epoch)
        except httpx.HTTPError as exc:
            log.warning("epoch %d: peer %s skipped for reconciliation: %s", epoch, peer, exc)
            skipped.append(peer)
            continue
        offered += len(lines)
        for line in lines:
            try:
                report = codec.loads(line)
            except InvalidReport:
                refused[RejectReason.MALFORMED] += 1
                continue
            key = (str(report.device), report.seq)
            if key not in have and key not in candidates:
                candidates[key] = report
    imported = 0
    if candidates:
        keys = sorted(candidates)
        reports = [candidates[k] for k in keys]
        verdicts = check_offered(reports, epoch, settings, devices(), modules)
        now_ms = clock_ms()
        entries = []
        for report, problem in zip(reports, verdicts, strict=True):
            if problem is None:
                entries.append(LogEntry.of(report, received_ms=now_ms))
            else:
                refused[str(problem[0])] += 1
                log.warning(
                    "epoch %d: not importing %s/%d from a peer: %s (%s)",
                    epoch, report.device, report.seq, problem[0], problem[1],
                )
        imported = len(store.reports.append(entries).inserted) if entries else 0
    return ReconcileResult(
        epoch=epoch,
        imported=imported,
        offered=offered,
        skipped_peers=tuple(skipped),
        refused=dict(sorted(refused.items())),
    )


__all__ = [
    "EPOCH_REPORTS_PATH",
    "ImportReason",
    "ReconcileResult",
    "check_offered",
    "epoch_report_lines",
    "reconcile",
    "reports_router",
]
