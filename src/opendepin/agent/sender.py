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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from opendepin.reports import codec
from opendepin.reports.envelope import Report

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


class IngestSender:
    """Posts batches of signed reports to `{base_url}/v1/reports`."""

    def __init__(
        self,
        base_url: str,
        client: httpx.AsyncClient | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._url = base_url.rstrip("/") + REPORTS_PATH
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
            return _classify(reports, response.json(), status)
        except (ValueError, KeyError, TypeError) as exc:
            return SendOutcome(failure=f"refused: unreadable response: {exc}", status=status)


def _detail(response: httpx.Response) -> str:
    try:
        data = response.json()
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
