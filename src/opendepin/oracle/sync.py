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
refuses its reports. Which reports an epoch seals is settled by input agreement
(`oracle.agreement`, `docs/agreement.md`): the oracles agree on a set of report batches, and
the seal stage imports their lines with `import_offered` — the same checks ingest runs,
except the ones that read an oracle's clock (freshness, lateness): network and chain id,
device registered and active in the registry at the epoch's close block, signature, payload
(the network's proof modules), timestamp inside the named epoch, and the unique (device, seq)
key of the report log — a version of a key this oracle already holds is compared by signed
digest (see Equivocation below). A forged, altered or foreign report is skipped and counted
by reason; it never reaches the log. `reconcile` is the same import fed by a one-shot pull of
peers' exports (`/reports`, `/conflicts`): what the pipeline did before agreement, kept for
pulling a peer's set by hand; a single pull lets a faulty peer show a report to only some
oracles, which agreement rules out.

Equivocation. The log is unique on (device, seq), so a device that signs two DIFFERENT
reports with the same (device, seq) and sends version a to oracle A and version b to B
would make each oracle keep the version it got first and refuse the other: the sealed
inputs differ, no M oracles sign the same claim, and one registered device stalls the
network's rewards. Reconciliation closes that:

```
GET /v1/epochs/{epoch}/conflicts   the OTHER versions this oracle learned of (report_conflicts),
                                   same format and 409 rule as /reports
```

Rule. When a peer offers a report whose key this oracle holds (or another peer offered in
the same round) but whose EIP-712 digest differs — both signatures valid, both passing the
checks above — the device has provably double-signed. The new version goes into
`store.conflicts` (the logged row is never replaced), and sealing leaves out EVERY report of
that device for the epoch and publishes the evidence (`inputs/equivocations_v1.json`: each
(device, seq) with all known versions). A device that double-signs earns nothing that epoch.
Picking one version (say the lower hash) would still let the device choose what counts — it
signs versions until one hashes low — and excluding a provably double-signing participant is
what other networks do (Ethereum slashes double proposals/votes, Tendermint's evidence
module jails double-signers). Versions with the same digest but other bytes (the device signed
the same report again with another nonce) are the same statement, not evidence; they are
recorded and served like conflicts, and sealing seals the smallest encoding, so that cannot
split the oracles either. Only the key holder can make a second valid version at all
(high-s twins are refused), so nobody else can get a device excluded.

Fixed point. Let V be the set of valid versions accepted by ANY oracle's ingest for a key;
ingest is closed everywhere before anyone seals, so V is fixed then. Every version an
oracle holds, in its log or its conflict table, comes from V. What an oracle excludes and
publishes depends only on the set of versions it knows, never on which it logged first or
on the order it pulls peers. In one round an oracle pulls every peer's log AND conflict
table, so it knows all of V as soon as every oracle that ingested a version is reachable
(or some reachable peer learned that version earlier and serves it as a conflict). Then all
oracles know V after one round each, in any order, and seal byte-identical inputs. If a
version sits only with oracles that some oracle cannot reach, that oracle may seal without
the exclusion, or with a smaller evidence file: like a missed report, the epoch then settles
only if M oracles still seal the same inputs.

Across epochs. The log is unique on (device, seq) over ALL epochs, so a device can also sign
seq s for epoch e (version a, to A) and for e+1 (version b, to B before B imported a). Two
valid versions of one key for epochs e < f are evidence too, and the LATER epoch f takes
the exclusion; e keeps its version as an ordinary input. An oracle whose log holds the f
version files the e version in `report_conflicts` while reconciling e and seals it with e's
inputs as if logged (`store.sealing`, "adopted"); while reconciling f it files the earlier
version under f as well, and every oracle that knows both excludes the device from f and
publishes both in f's evidence. `/conflicts` for an epoch therefore serves, besides other
versions of the epoch, the earlier epochs' versions of its keys (`ConflictLog.relevant`),
and reconciliation accepts versions of earlier epochs (checked against their own epoch's
window) for keys that have a version of the reconciled epoch; a later epoch's is refused.

Why not exclude the device from e as well: an oracle may seal e before b even exists — f's
ingest is open while e is reconciled, and an oracle that has not imported a yet accepts b —
and a sealed epoch never changes. Excluding from e would let the device split e by timing:
a to oracles 0 and 1, and once they sealed e, b to oracles 2 and 3 before they reconcile e;
2-2 with M = 3 stalls e. With the rule, what an oracle seals for e depends only on the
versions FOR e, which are fixed once e's ingest closes everywhere, so the fixed-point
argument above holds for e unchanged, whoever learns of b when. The versions for epochs up
to f are likewise fixed once f's ingest closes, and an oracle learns them: the f versions
from every reachable peer's /reports and /conflicts as above, the earlier versions in their
own epoch's round (imported into the log, or filed if the log already holds the f version)
or from a reachable peer's /conflicts f that knows both. Where they still diverge: an
oracle that could not reach a's holders while reconciling e seals e without a (a missed
report, as above) and, if in f's round it again reaches no peer that knows both versions
(a's holders have not reconciled f yet, and none of b's holders learned a), it also seals f
with the device included while the others exclude it — the missed report then costs two
epochs instead of one. And an oracle that reconciles a later epoch before sealing an
earlier one (the runner does not) may learn versions for the earlier epoch that it files
only under the later one. A device gains nothing from the split: a earns like any report
in e, and the device earns nothing in f. Seqs only ever increase, so an honest device never
signs one twice; one that lost its counter and re-signs an old seq is refused as a replay
wherever the seq is held, and where it is not, it has equivocated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Final

import httpx
from fastapi import APIRouter, Query, Request, Response

from opendepin.chain.accounts import AccountLike
from opendepin.errors import InvalidReport, PeerError
from opendepin.http.client import iter_lines_bounded
from opendepin.http.peerauth import (
    HEADER_ORACLE,
    NOT_AN_ORACLE,
    OPENAPI_PARAMETERS,
    refuse_unless_signed,
    signed_headers,
)
from opendepin.http.problems import (
    INVALID_REQUEST,
    ProblemType,
    openapi_responses,
    problem_response,
)
from opendepin.http.ratelimit import RateLimiter
from opendepin.ingest.checks import (
    RECONCILE_ORDER,
    CheckContext,
    registry_problem,
    run_checks,
)
from opendepin.ingest.pipeline import payload_registry
from opendepin.network.settings import Settings
from opendepin.proofs.kind import Kind, kind_overhangs_ms
from opendepin.records import DeviceRecord
from opendepin.reports import codec
from opendepin.reports.eip712 import report_digest
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import RejectReason
from opendepin.reports.verify import check_signatures
from opendepin.store import LogEntry, LogLine, Store
from opendepin.types import DeviceId, Epoch

log = logging.getLogger(__name__)

EPOCH_REPORTS_PATH = "/v1/epochs/{epoch}/reports"
EPOCH_CONFLICTS_PATH = "/v1/epochs/{epoch}/conflicts"
NDJSON_MEDIA_TYPE = "application/x-ndjson"
MS_PER_SECOND = 1_000


class ImportReason(StrEnum):
    """Why a report a peer offered was not imported, beyond `RejectReason` (stable values)."""

    OTHER_EPOCH = "other_epoch"
    """The report names a later epoch than the one being reconciled, or an earlier one without
    being another version of a key this epoch has (then it is not this epoch's evidence)."""
    LOGGED_VERSION_INVALID = "logged_version_invalid"
    """A peer's version conflicts with ours, but ours fails the signature check (not evidence)."""


MAX_PEER_LINE_BYTES: Final = 1 << 20
"""Longest line (one signed report) accepted from a peer's report set."""
MAX_NEW_BYTES_PER_PEER: Final = 256 << 20
"""Most bytes of reports new to this oracle kept from one peer per reconciliation (what a peer
offers that this oracle already holds costs nothing: it is compared and dropped)."""
PEER_DEADLINE_SECONDS: Final = 120.0
"""Total time one peer gets to serve one epoch's report set (and again its conflicts)."""


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
    conflicts: int = 0
    """Other versions of held keys newly recorded (evidence, or re-signed copies)."""


def epoch_report_lines(
    store: Store, epoch: int, after: PageCursor | None = None, limit: int | None = None
) -> Iterable[bytes]:
    """This oracle's accepted wire lines of `epoch`, by kind then (device, seq), each + newline;
    only those after `after` and at most `limit` of them when paging."""
    left = limit
    for kind in store.reports.kinds(epoch):
        if after is not None and kind < after.kind:
            continue
        key = (after.device, after.seq) if after is not None and kind == after.kind else None
        for wire in store.reports.iter_epoch_wire(epoch, kind, after=key, limit=left):
            yield wire + b"\n"
            if left is not None:
                left -= 1
        if left is not None and left <= 0:
            return


def epoch_conflict_lines(store: Store, epoch: int) -> Iterable[bytes]:
    """The versions this oracle knows that count for `epoch` besides its logged rows of the
    epoch (`ConflictLog.relevant`: other versions, and earlier epochs' versions of its keys),
    by (device, seq, wire), each + newline."""
    for entry in store.conflicts.relevant(epoch):
        yield entry.wire + b"\n"


@dataclass(frozen=True, slots=True)
class PageCursor:
    """Where a page of an epoch's report set ends: the last (kind, device, seq) served."""

    kind: str
    device: str
    seq: int

    def to_param(self) -> str:
        return f"{self.kind}/{self.device}/{self.seq}"

    @classmethod
    def parse(cls, text: str) -> PageCursor | None:
        """The cursor in `text`, or None if it is not one (total)."""
        parts = text.split("/")
        if len(parts) != 3 or not parts[2].isdigit() or len(text) > 200:
            return None
        return cls(parts[0], parts[1], int(parts[2]))


EPOCH_OPEN = ProblemType("epoch_open", "epoch_open", 409, "oracle")
"""An epoch's report set is asked for before its ingest closed."""
BUSY = ProblemType("busy", "busy", 429, "oracle")
"""Too many report-set exports at once; retry shortly."""
BAD_CURSOR = ProblemType("bad_cursor", "bad_cursor", 422, "oracle")
PAGE_LINES: Final = 20_000
"""Reports per page of `GET /v1/epochs/{e}/reports` (the default and the most one page holds)."""
MAX_CONCURRENT_EXPORTS: Final = 2
"""Report-set pages served at the same time; more get 429 (each streams from the store)."""
EXPORT_PAGES_PER_SECOND: Final = 5.0
"""Export requests (report pages and conflict lists) one caller may make per second, after a
burst of `EXPORT_BURST`; more get 429 with Retry-After. A whole 2.4 M-report epoch is 120
pages: 24 s for one peer, while a peer asking in a loop cannot hog the store."""
EXPORT_BURST: Final = 20


def ndjson_response(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI 200 entry of a route answering wire report lines (`application/x-ndjson`).

    OpenAPI 3.1 cannot give a schema per line, so the body is a string and the description
    names the line schema (`WireReport`, the body schema of `POST /v1/reports`).
    """
    return {
        200: {
            "description": description,
            "content": {
                NDJSON_MEDIA_TYPE: {
                    "schema": {
                        "type": "string",
                        "description": "Wire reports (see the WireReport schema), one compact JSON "
                        "object per line, each line ending in a newline; empty when there are none.",
                    }
                }
            },
        }
    }


_EXPORT_PROBLEMS = (NOT_AN_ORACLE, EPOCH_OPEN, INVALID_REQUEST)
REPORTS_RESPONSES: Final = {
    **ndjson_response("One page of the epoch's accepted reports, by kind, device, seq."),
    **openapi_responses(*_EXPORT_PROBLEMS, BAD_CURSOR, BUSY),
}
REPORTS_RESPONSES[429]["headers"] = {
    "Retry-After": {"description": "Seconds to wait before asking again.", "schema": {"type": "integer"}}
}
CONFLICTS_RESPONSES: Final = {
    **ndjson_response("The other versions of the epoch's keys this oracle knows, by device, seq, bytes."),
    **openapi_responses(*_EXPORT_PROBLEMS, BUSY),
}
CONFLICTS_RESPONSES[429]["headers"] = REPORTS_RESPONSES[429]["headers"]


def reports_router(
    store: Store,
    ingest_closed: Callable[[int], bool],
    ingest_close_unix: Callable[[int], int],
    oracles: Callable[[], Collection[str]] | None = None,
) -> APIRouter:
    """`GET /v1/epochs/{epoch}/reports` and `/conflicts` over `store`, once an epoch's ingest
    has closed (`ingest_closed`, by the chain's clock; `ingest_close_unix` says when).

    Report sets are paged (`?limit=` up to `PAGE_LINES`, `?after=` the last line's
    `kind/device/seq`), at most `MAX_CONCURRENT_EXPORTS` pages built at a time, at most
    `EXPORT_PAGES_PER_SECOND` export requests per caller (a token bucket), and — when `oracles` is given — only for requests signed by one of them (`http.peerauth`).
    """
    router = APIRouter(tags=["oracle"])
    exports = threading.BoundedSemaphore(MAX_CONCURRENT_EXPORTS)
    per_caller = RateLimiter(EXPORT_PAGES_PER_SECOND, EXPORT_BURST)
    signed_by_an_oracle = {"parameters": OPENAPI_PARAMETERS} if oracles is not None else None

    def refuse(request: Request, epoch: int) -> Response | None:
        unsigned = refuse_unless_signed(request, oracles)
        if unsigned is not None:
            return unsigned
        # The claimed oracle is verified above when routes are signed; else the client host.
        caller = request.headers.get(HEADER_ORACLE, "").lower() if oracles is not None else ""
        wait = per_caller.take(caller or (request.client.host if request.client else "?"))
        if wait is not None:
            return problem_response(
                BUSY,
                f"at most {EXPORT_PAGES_PER_SECOND:g} export requests per second per caller",
                headers={"Retry-After": str(wait)},
            )
        if epoch >= 0 and ingest_closed(epoch):
            return None
        return problem_response(
            EPOCH_OPEN,
            f"epoch {epoch} is still open for reports until "
            f"{ingest_close_unix(epoch)} (chain time); its report set is not final",
        )

    @router.get(
        EPOCH_REPORTS_PATH,
        summary="A closed epoch's accepted reports, paged (oracles only)",
        response_model=None,
        response_class=Response,
        responses=REPORTS_RESPONSES,
        openapi_extra=signed_by_an_oracle,
    )
    def get_epoch_reports(
        request: Request,
        epoch: int,
        limit: Annotated[int, Query(description=f"Lines per page; at most (and by default) {PAGE_LINES}.")] = PAGE_LINES,
        after: Annotated[str, Query(description="kind/device/seq of the last line of the previous page.")] = "",
    ) -> Response:
        problem = refuse(request, epoch)
        if problem is not None:
            return problem
        cursor = PageCursor.parse(after) if after else None
        if after and cursor is None:
            return problem_response(BAD_CURSOR, "after is kind/device/seq of the last line received")
        if not exports.acquire(blocking=False):
            return problem_response(BUSY, "too many report-set exports right now", headers={"Retry-After": "1"})
        try:  # one page at a time: memory is bounded by PAGE_LINES × MAX_CONCURRENT_EXPORTS
            page = b"".join(epoch_report_lines(store, epoch, cursor, max(1, min(limit, PAGE_LINES))))
        finally:
            exports.release()
        return Response(page, media_type=NDJSON_MEDIA_TYPE)

    @router.get(
        EPOCH_CONFLICTS_PATH,
        summary="Other versions of a closed epoch's reports: equivocation evidence (oracles only)",
        response_model=None,
        response_class=Response,
        responses=CONFLICTS_RESPONSES,
        openapi_extra=signed_by_an_oracle,
    )
    def get_epoch_conflicts(request: Request, epoch: int) -> Response:
        problem = refuse(request, epoch)
        if problem is not None:
            return problem
        return Response(b"".join(epoch_conflict_lines(store, epoch)), media_type=NDJSON_MEDIA_TYPE)

    return router


def _in_epoch(
    report: Report, epoch: int, settings: Settings, overhang_ms: Mapping[str, int]
) -> tuple[StrEnum, str] | None:
    """OTHER_EPOCH for a later epoch; WRONG_EPOCH for a timestamp outside the report's epoch,
    extended past its end by the kind's `Kind.epoch_overhang_ms`, as ingest's freshness check."""
    net = settings.network
    if report.epoch > epoch:
        return ImportReason.OTHER_EPOCH, f"report is for epoch {report.epoch}, after {epoch}"
    start_ms, end_ms = net.epoch_window_ms(report.epoch, overhang_ms.get(report.kind, 0))
    if not start_ms <= report.timestamp_ms < end_ms:
        return RejectReason.WRONG_EPOCH, f"timestamp {report.timestamp_ms} outside epoch {report.epoch}"
    return None


def check_offered(
    reports: Sequence[Report],
    epoch: int,
    settings: Settings,
    devices: Mapping[DeviceId, DeviceRecord],
    modules: Mapping[str, Kind],
) -> list[tuple[str, str] | None]:
    """Ingest's checks minus the clock ones (`ingest.checks.RECONCILE_ORDER`), per report:
    None (importable) or (reason, message)."""
    net = settings.network
    overhang_ms = kind_overhangs_ms(modules, settings)
    ctx = CheckContext(
        network_id=net.network_id,
        chain_id=net.chain_id,
        registry=lambda d: devices.get(DeviceId(d)),
        registry_name="the registry at the close block",
        payloads=payload_registry(modules),
        in_epoch=lambda r: _in_epoch(r, epoch, settings, overhang_ms),
    )
    return [
        None if p is None else (str(p[0]), p[1])
        for p in run_checks(reports, RECONCILE_ORDER, ctx)
    ]


_Key = tuple[str, int]



def _wire(report: Report) -> bytes:
    return codec.dumps(report).encode("utf-8")


def reconcile(
    *,
    epoch: int,
    store: Store,
    settings: Settings,
    peers: Sequence[str],
    http: httpx.Client,
    devices: Callable[[], Mapping[DeviceId, DeviceRecord]],
    modules: Mapping[str, Kind],
    clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    signer: AccountLike | None = None,
) -> ReconcileResult:
    """Pull every peer's reports and conflicts for the closed `epoch`; import and record.

    Reports this oracle lacks are imported after the checks; versions that conflict with a
    logged report (or with each other) are recorded in `store.conflicts` as equivocation
    evidence (see the module docstring). `devices` returns the registry at the epoch's
    close block (called only if a peer offers something new). Idempotent.
    """
    sources = ((peer, (line for line, _ in _peer_lines(http, peer.rstrip("/"), epoch, signer))) for peer in peers)
    return import_offered(
        epoch=epoch, store=store, settings=settings, sources=sources, devices=devices, modules=modules,
        clock_ms=clock_ms,
    ).result


@dataclass(frozen=True, slots=True)
class Imported:
    """What `import_offered` did, and which lines of the epoch passed every check."""

    result: ReconcileResult
    allowed: frozenset[str]
    """sha256 hex of every wire encoding of the epoch that was offered and passes the checks
    against the registry at the close block — what sealing from agreed batches keeps."""


def import_offered(
    *,
    epoch: int,
    store: Store,
    settings: Settings,
    sources: Iterable[tuple[str, Iterable[bytes]]],
    devices: Callable[[], Mapping[DeviceId, DeviceRecord]],
    modules: Mapping[str, Kind],
    clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    logged: Sequence[LogLine] | None = None,
) -> Imported:
    """Import what `sources` (name, offered wire lines) hold that this oracle lacks; record
    conflicts. `logged` is this oracle's log of the epoch (`ReportLog.epoch_lines`) if the
    caller read it just before (the seal stage seals from the same read); else it is read here.

    A source that raises PeerError mid-way is skipped from there on. Each distinct line is
    judged once, however many sources hold it. Lines this oracle holds byte for byte are not
    decoded or imported again but still checked against the registry at the close block: a
    device deactivated before the close must not be sealed by the oracles that logged its
    reports and left out by those that import them.
    """
    if logged is None:
        logged = store.reports.epoch_lines(epoch)
    sha256 = hashlib.sha256
    stored: dict[_Key, bytes] = {(e.device, e.seq): sha256(e.wire).digest() for e in logged}
    by_digest = {digest: key for key, digest in stored.items()}
    offered_versions: dict[_Key, dict[bytes, Report]] = {}
    held: set[_Key] = set()
    seen: set[bytes] = set()
    refused: Counter[str] = Counter()
    skipped: list[str] = []
    offered = 0
    for name, lines in sources:
        kept_bytes = 0
        try:
            for line in lines:
                offered += 1
                line_sha = hashlib.sha256(line).digest()
                if line_sha in seen:
                    continue  # the same bytes again (another batch holds it too): judged once
                seen.add(line_sha)
                if line_sha in by_digest:
                    held.add(by_digest[line_sha])  # the version we hold, byte for byte: no decode
                    continue
                try:
                    report = codec.loads(line)
                except InvalidReport:
                    refused[RejectReason.MALFORMED] += 1
                    continue
                key = (str(report.device), report.seq)
                have = stored.get(key)
                wire = _wire(report)
                if have is None or hashlib.sha256(wire).digest() != have:
                    known = offered_versions.setdefault(key, {})
                    if wire not in known:
                        kept_bytes += len(wire)
                        if kept_bytes > MAX_NEW_BYTES_PER_PEER:
                            raise PeerError(f"{name} offered more than {MAX_NEW_BYTES_PER_PEER} bytes of new reports")
                        known[wire] = report
                else:
                    held.add(key)  # our version in another encoding
        except PeerError as exc:
            log.warning("epoch %d: %s skipped for (the rest of) reconciliation: %s", epoch, name, exc)
            skipped.append(name)
    allowed: set[str] = set()
    if held:
        # Network, signature, epoch window and payload of these bytes were checked when this
        # oracle accepted them, and depend on the bytes alone; the registry may have changed
        # since, so that check runs again, at the close block, exactly as `check_registry` does
        # for an importer.
        registry = devices()
        where = "the registry at the close block"
        for key in sorted(held):
            registry_refusal = registry_problem(key[0], registry.get(DeviceId(key[0])), where)
            if registry_refusal is None:
                allowed.add(stored[key].hex())
            else:
                refused[str(registry_refusal[0])] += 1
    imported = 0
    conflicts: list[LogEntry] = []
    if offered_versions:
        keys = sorted(offered_versions)
        # A key we hold for ANOTHER epoch: the device signed this seq for two epochs.
        elsewhere = store.reports.get_many(k for k in keys if k not in stored)
        checking = [r for k in keys for _, r in sorted(offered_versions[k].items())]
        verdicts = check_offered(checking, epoch, settings, devices(), modules)
        valid: dict[_Key, list[Report]] = {}
        for report, problem in zip(checking, verdicts, strict=True):
            if problem is None:
                valid.setdefault((str(report.device), report.seq), []).append(report)
                allowed.add(hashlib.sha256(_wire(report)).hexdigest())
            else:
                refused[str(problem[0])] += 1
                log.warning(
                    "epoch %d: not importing %s/%d from a peer: %s (%s)",
                    epoch, report.device, report.seq, problem[0], problem[1],
                )
        now_ms = clock_ms()
        entries: list[LogEntry] = []
        for key in keys:
            versions = sorted(valid.get(key, ()), key=_wire)
            if not versions:
                continue
            other = elsewhere.get(key)
            if key not in stored and not any(v.epoch == epoch for v in versions):
                # Only versions of earlier epochs, for a key with no version of this one: not
                # this epoch's evidence (that epoch was reconciled with its own versions).
                refused[ImportReason.OTHER_EPOCH] += len(versions)
                continue
            if key in stored or (other is not None and other.epoch < epoch):
                # Our logged version is this epoch's, or an earlier epoch's (then it is
                # evidence here): it must verify, or the others prove nothing.
                ours: Report | None = _logged_if_valid(store, key, epoch, refused)
                others = versions if ours is not None else []
            elif other is not None:  # we logged the device's version for a LATER epoch
                ours, others = codec.loads(other.wire), versions
            else:  # we hold no version: import one of this epoch, record the others
                first = next(v for v in versions if v.epoch == epoch)
                entries.append(LogEntry.of(first, received_ms=now_ms))
                ours, others = first, [v for v in versions if v is not first]
            own_digest = report_digest(ours) if ours is not None else b""
            for version in others:
                if report_digest(version) != own_digest:
                    log.warning(
                        "epoch %d: device %s signed two different reports with seq %d (epochs %d, %d)",
                        epoch, *key, version.epoch, ours.epoch if ours is not None else epoch,
                    )
                conflicts.append(dataclasses.replace(LogEntry.of(version, received_ms=now_ms), epoch=Epoch(epoch)))
        imported = len(store.reports.append(entries).inserted) if entries else 0
    recorded = store.conflicts.add(conflicts).inserted if conflicts else 0
    result = ReconcileResult(
        epoch=epoch,
        imported=imported,
        offered=offered,
        skipped_peers=tuple(skipped),
        refused=dict(sorted(refused.items())),
        conflicts=recorded,
    )
    return Imported(result, frozenset(allowed))


def decoded(lines: Iterable[bytes]) -> Iterator[tuple[bytes, Report | None]]:
    """Each line with its report, or None where it does not decode."""
    for line in lines:
        try:
            yield line, codec.loads(line)
        except InvalidReport:
            yield line, None


def _peer_lines(
    http: httpx.Client, base: str, epoch: int, signer: AccountLike | None
) -> Iterator[tuple[bytes, Report | None]]:
    """A peer's report set page by page, then its conflicts, each line decoded once (None:
    undecodable, refused by the caller); PeerError on any misbehaviour."""

    def get(path: str, missing_ok: bool = False) -> Iterator[tuple[bytes, Report | None]]:
        url = base + path
        headers = signed_headers(signer, "GET", url) if signer is not None else None
        return decoded(
            iter_lines_bounded(
                http, url, max_line_bytes=MAX_PEER_LINE_BYTES, deadline_seconds=PEER_DEADLINE_SECONDS,
                missing_ok=missing_ok, headers=headers,
            )
        )

    cursor: PageCursor | None = None
    while True:
        query = f"?limit={PAGE_LINES}" + (f"&after={cursor.to_param()}" if cursor is not None else "")
        count = 0
        for line, report in get(EPOCH_REPORTS_PATH.format(epoch=epoch) + query):
            count += 1
            if count > PAGE_LINES:
                raise PeerError(f"{base} served more than a page of {PAGE_LINES} reports")
            if report is not None:
                following = PageCursor(str(report.kind), str(report.device), report.seq)
                if cursor is not None and (following.kind, following.device, following.seq) <= (
                    cursor.kind, cursor.device, cursor.seq
                ):
                    raise PeerError(f"{base} went backwards in its report set")
                cursor = following
            yield line, report
        if count < PAGE_LINES:
            break
    yield from get(EPOCH_CONFLICTS_PATH.format(epoch=epoch), missing_ok=True)


def _logged_if_valid(store: Store, key: _Key, epoch: int, refused: Counter[str]) -> Report | None:
    """Our logged version of `key`, or None if its signature does not verify (no evidence then)."""
    logged = store.reports.get(*key)
    if logged is None:  # pragma: no cover - `stored` was read from the log moments ago
        return None
    ours = codec.loads(logged.wire)
    sig = check_signatures([ours])[0]
    if sig is not None:  # our own row does not verify: it proves nothing about the device
        refused[ImportReason.LOGGED_VERSION_INVALID] += 1
        log.warning("epoch %d: logged %s/%d fails its signature check (%s)", epoch, *key, sig.reason)
        return None
    return ours


__all__ = [
    "EPOCH_CONFLICTS_PATH",
    "EPOCH_REPORTS_PATH",
    "ImportReason",
    "Imported",
    "ReconcileResult",
    "check_offered",
    "decoded",
    "epoch_conflict_lines",
    "epoch_report_lines",
    "import_offered",
    "reconcile",
    "reports_router",
]
