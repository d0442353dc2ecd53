"""Talking to an ingest node: one `POST /v1/reports` per batch, classified outcomes.

The ingest answers a batch with one result per report (`accepted`, or `rejected` with a
stable `RejectReason`). The sender turns an exchange into one of:

- per-report **accepted** / **rejected** — definitive: the agent drops those reports from
  its spool (a rejected report can never become acceptable: it is signed and immutable);
- **unavailable** — connection error, timeout, 5xx, 408 or 429: nothing was decided, the
  whole batch stays queued and the agent backs off;
- **refused** — any other 4xx (a problem+json saying the *request* is malformed or too
  large). Also not a verdict on the reports; they stay queued and the agent backs off, and
  on 413 it halves its batch size. Dropping data on a protocol mismatch would lose reports
  silently, so the agent never does.

The `httpx.AsyncClient` is injected: one client (connection pool) can serve many simulated
agents, and tests pass `httpx.ASGITransport` around a real FastAPI app.

**Several oracles.** Each oracle of a network runs its own ingest and computes the epoch
from its own report log, so M oracles agree on a root only if they hold the *same* signed
reports. `FanoutSender` posts every batch to every configured ingest and merges the answers:
the exchange fails (and is retried against all of them) if any ingest is unavailable; an
ingest that already stored a report answers `replayed` on such a retry, which counts as
delivered; a report is accepted when every ingest stored it, and rejected (with the first
ingest's reason other than `replayed`) otherwise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from opendepin import jsonlimits
from opendepin.reports import codec
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import RejectReason

REPORTS_PATH = "/v1/reports"
RETRYABLE_STATUS = frozenset({408, 425, 429})
"""4xx statuses that mean "try again later", not "your request is wrong"."""
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Rejected:
    """A report the ingest rejected for good."""

    seq: int
    reason: str
    """The ingest's `RejectReason` value."""
    message: str


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What one batch POST decided."""

    accepted: tuple[int, ...] = ()
    """Sequence numbers stored by the ingest."""
    rejected: tuple[Rejected, ...] = ()
    """Reports rejected with a reason."""
    undecided: tuple[int, ...] = ()
    """Reports the response did not mention (stay queued)."""
    failure: str | None = None
    """Set when the exchange decided nothing (unavailable or refused)."""
    status: int | None = None
    """HTTP status, if a response arrived."""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None


class ReportSender(Protocol):
    """Anything that delivers a batch of reports and classifies the answer."""

    async def send(self, reports: Sequence[Report]) -> SendOutcome:
        """POST `reports` and classify the answer (never raises for HTTP trouble)."""
        ...


class IngestSender:
    """Posts batches of signed reports to `{base_url}/v1/reports`."""

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._url = self.base_url + REPORTS_PATH
        self._client = client or httpx.AsyncClient(timeout=timeout_seconds)

    @property
    def client(self) -> httpx.AsyncClient:
        return self._client

    async def send(self, reports: Sequence[Report]) -> SendOutcome:
        """POST `reports` as one batch and classify the answer (never raises for HTTP trouble)."""
        body = b'{"reports":[' + b",".join(codec.dumps(r).encode() for r in reports) + b"]}"
        try:
            response = await self._client.post(
                self._url, content=body, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError as exc:
            return SendOutcome(failure=f"unavailable: {type(exc).__name__}: {exc}")
        status = response.status_code
        if status >= 500 or status in RETRYABLE_STATUS:
            return SendOutcome(failure=f"unavailable: HTTP {status}", status=status)
        if status >= 400:
            return SendOutcome(
                failure=f"refused: HTTP {status}: {_detail(response)}", status=status
            )
        try:
            return _classify(reports, jsonlimits.loads(response.content), status)
        except (ValueError, KeyError, TypeError) as exc:
            return SendOutcome(failure=f"refused: unreadable response: {exc}", status=status)


def _detail(response: httpx.Response) -> str:
    try:
        data = jsonlimits.loads(response.content)
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        return str(data.get("detail") or data.get("title") or data)[:200]
    return str(data)[:200]


def _classify(reports: Sequence[Report], data: Any, status: int) -> SendOutcome:
    """Map the ingest's per-report results (matched by `index`) onto sequence numbers."""
    results = data["results"] if isinstance(data, dict) else data
    if not isinstance(results, list):
        raise TypeError("expected a list of per-report results")
    accepted: list[int] = []
    rejected: list[Rejected] = []
    decided: set[int] = set()
    for item in results:
        index = int(item["index"])
        if not 0 <= index < len(reports) or index in decided:
            raise ValueError(f"result index {index} out of range or repeated")
        decided.add(index)
        seq = reports[index].seq
        if item["status"] == "accepted":
            accepted.append(seq)
        elif item["status"] == "rejected":
            rejected.append(Rejected(seq, str(item.get("reason")), str(item.get("message", ""))))
        else:
            raise ValueError(f"unknown status {item['status']!r}")
    undecided = tuple(r.seq for i, r in enumerate(reports) if i not in decided)
    return SendOutcome(tuple(accepted), tuple(rejected), undecided, status=status)


class FanoutSender:
    """Posts every batch to several ingest nodes (one per oracle) and merges the answers."""

    def __init__(self, senders: Sequence[IngestSender]) -> None:
        if not senders:
            raise ValueError("FanoutSender needs at least one ingest")
        self.senders = tuple(senders)

    async def send(self, reports: Sequence[Report]) -> SendOutcome:
        """POST `reports` to every ingest concurrently; see the module docstring for the merge."""
        outcomes = await asyncio.gather(*(s.send(reports) for s in self.senders))
        for sender, outcome in zip(self.senders, outcomes, strict=True):
            if not outcome.ok:
                return SendOutcome(
                    failure=f"{sender.base_url}: {outcome.failure}", status=outcome.status
                )
        return _merge([(s.base_url, o) for s, o in zip(self.senders, outcomes, strict=True)])


def _merge(answers: Sequence[tuple[str, SendOutcome]]) -> SendOutcome:
    """One outcome per report over all ingests (all of which answered)."""
    stored: dict[int, int] = {}
    refusals: dict[int, list[tuple[str, Rejected]]] = {}
    undecided: set[int] = set()
    seqs: list[int] = []
    for url, outcome in answers:
        for seq in outcome.accepted:
            stored[seq] = stored.get(seq, 0) + 1
        for rej in outcome.rejected:
            refusals.setdefault(rej.seq, []).append((url, rej))
        undecided.update(outcome.undecided)
        for seq in (*outcome.accepted, *(r.seq for r in outcome.rejected), *outcome.undecided):
            if seq not in seqs:
                seqs.append(seq)
    accepted: list[int] = []
    rejected: list[Rejected] = []
    n = len(answers)
    for seq in seqs:
        if seq in undecided:
            continue
        hard = [(u, r) for u, r in refusals.get(seq, []) if r.reason != RejectReason.REPLAYED.value]
        if not hard and stored.get(seq, 0) > 0:
            accepted.append(seq)  # stored now by some, earlier (replayed) by the rest
        elif hard:
            url, first = hard[0]
            rejected.append(
                Rejected(
                    seq,
                    first.reason,
                    f"{url}: {first.message} (stored by {stored.get(seq, 0)} of {n} ingests)",
                )
            )
        else:
            rejected.append(refusals[seq][0][1])  # replayed everywhere: a genuine replay
    return SendOutcome(tuple(accepted), tuple(rejected), tuple(sorted(undecided)))
