"""`DeviceAgent`: the software on a device that signs reports and gets them to the ingest.

```
payload ──build_report──▶ signed Report (seq from SequenceStore) ──enqueue──▶ Spool (SQLite)
                                                                                │ flush
                    ingest ◀── POST /v1/reports (batches, in seq order) ◀───────┘
                      │ accepted / rejected(reason) → removed from the spool
                      │ unavailable / refused       → kept; retry after Backoff (+ jitter)
```

Nothing is lost while the ingest is offline: a report is committed to the spool before the
first send attempt and leaves it only on a definitive answer (accepted, or rejected with a
reason, which is logged). Reports the ingest already stored but whose answer was lost come
back as `replayed` on the retry and are dropped then — the ingest has them.

Everything with side effects is injected — the key, the sender (and its httpx client), the
clock, the RNG for jitter, the state file — so `depin agent run`, the tests and `depin demo`
(hundreds of agents in one process on a simulated clock, with in-memory state) all run this
same code. Per report the cost is one signature plus one SQLite insert.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from opendepin.agent.backoff import MS_PER_SECOND, Backoff, Clock, SystemClock
from opendepin.agent.config import KEYSTORE_FILE, STATE_DB, AgentConfig, load_config
from opendepin.agent.sender import FanoutSender, IngestSender, Rejected, ReportSender
from opendepin.agent.state import DEFAULT_SEQ_BLOCK, SequenceStore, Spool, open_db
from opendepin.errors import ConfigError
from opendepin.identity import DeviceKey
from opendepin.network.clock import EpochClock
from opendepin.proofs.kind import DeviceBehaviour
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report
from opendepin.types import DeviceId

log = logging.getLogger("opendepin.agent")

DEFAULT_MAX_BATCH = 500
"""Reports per POST (the ingest accepts up to `ingest.max_batch`)."""
DEFAULT_BACKOFF = Backoff()
"""1 s doubling to 300 s, half jitter (see `agent.backoff`)."""
PayloadSource = Callable[[int], dict[str, Any]]
"""Produces the payload for a report signed at the given Unix ms."""
ENTROPY_BEAT_DELAY_SECONDS = 15
"""With an entropy window, `run` reports this long after each window's start: the window's
entropy block (the last at or before its start) has reached the device's node by then."""


def entropy_window_start_unix(now_ms: int, genesis_unix: int, epoch_seconds: int, window_seconds: int) -> int:
    """Start (Unix seconds) of the entropy window containing `now_ms`: windows tile each epoch
    from its start, as the oracle's snapshot reads them (`oracle.epoch_inputs`)."""
    clock = EpochClock(genesis_unix, epoch_seconds)
    epoch_start = clock.start_unix(clock.epoch_at_ms(now_ms))
    return epoch_start + (now_ms // MS_PER_SECOND - epoch_start) // window_seconds * window_seconds


def next_window_start_unix(now_ms: int, genesis_unix: int, epoch_seconds: int, window_seconds: int) -> int:
    """Start (Unix seconds) of the first entropy window after the one containing `now_ms` (an
    epoch's last window is cut at the epoch's end)."""
    clock = EpochClock(genesis_unix, epoch_seconds)
    epoch_end = clock.end_unix(clock.epoch_at_ms(now_ms))
    return min(entropy_window_start_unix(now_ms, genesis_unix, epoch_seconds, window_seconds) + window_seconds, epoch_end)


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one `flush` achieved."""

    accepted: int
    """Reports the ingest stored."""
    rejected: tuple[Rejected, ...]
    """Reports dropped because the ingest rejected them (with reasons)."""
    pending: int
    """Reports still queued afterwards."""
    failure: str | None = None
    """Why sending stopped early (ingest unavailable or refusing), if it did."""
    gave_up: bool = False
    """`run` stopped because sends failed `give_up_after` times in a row (reports stay queued)."""


def _sender_for(config: AgentConfig, client: httpx.AsyncClient | None) -> ReportSender:
    """One ingest, or every ingest of agent.toml (one per oracle) through a `FanoutSender`."""
    urls = config.all_ingest_urls
    if len(urls) == 1:
        return IngestSender(urls[0], client)
    return FanoutSender([IngestSender(url, client) for url in urls])


class DeviceAgent:
    """One device: its key, sequence numbers, spool, sender and clock."""

    def __init__(
        self,
        key: DeviceKey,
        config: AgentConfig,
        *,
        sender: ReportSender | None = None,
        state_path: Path | None = None,
        clock: Clock | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        rng: random.Random | None = None,
        payload_source: PayloadSource | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        seq_block: int = DEFAULT_SEQ_BLOCK,
    ) -> None:
        self.key = key
        self.config = config
        self.sender: ReportSender = sender or _sender_for(config, None)
        self.clock: Clock = clock or SystemClock()
        self.backoff = backoff
        self._rng = rng or random.Random()
        self._payload_source = payload_source
        self._behaviour: DeviceBehaviour | None = None
        self._db = open_db(state_path)
        self.sequences = SequenceStore(self._db, seq_block)
        self.spool = Spool(self._db)
        self.max_batch = max_batch
        self._failures = 0
        self._retry_at_ms = 0

    @classmethod
    def open(
        cls,
        agent_dir: Path,
        passphrase: str,
        *,
        client: httpx.AsyncClient | None = None,
        **kw: Any,
    ) -> DeviceAgent:
        """The agent of an initialised directory (`depin agent init`)."""
        from opendepin.identity.keystore import load_keystore  # eth_keyfile: only here

        config = load_config(agent_dir)
        key = load_keystore(agent_dir / KEYSTORE_FILE, passphrase)
        sender = _sender_for(config, client)
        return cls(key, config, sender=sender, state_path=agent_dir / STATE_DB, **kw)

    @property
    def device_id(self) -> DeviceId:
        return self.key.device_id

    @property
    def pending(self) -> int:
        """Reports queued and not yet decided by the ingest."""
        return len(self.spool)

    @property
    def retry_at_ms(self) -> int:
        """Earliest time the next send is attempted (0 when not backing off)."""
        return self._retry_at_ms

    def epoch_at(self, timestamp_ms: int) -> int:
        """The network epoch containing `timestamp_ms`."""
        try:
            return EpochClock(self.config.genesis_unix, self.config.epoch_seconds).epoch_at_ms(timestamp_ms)
        except ValueError as exc:
            raise ConfigError(f"the clock is before the network's genesis: {exc}") from exc

    def next_beat_ms(self, beat_ms: int, interval_ms: int) -> int:
        """When `run` reports next after a report at `beat_ms`: `interval_ms` later, or, when the
        device names its window's entropy block (agent.toml `entropy_window_seconds`, e.g. a
        heartbeat with liveness), `ENTROPY_BEAT_DELAY_SECONDS` into the next window, since the
        oracles accept such a report only shortly after its window's block."""
        window = self.config.entropy_window_seconds
        if window is None:
            return beat_ms + interval_ms
        start = next_window_start_unix(beat_ms, self.config.genesis_unix, self.config.epoch_seconds, window)
        return (start + ENTROPY_BEAT_DELAY_SECONDS) * MS_PER_SECOND

    def default_payload(self, timestamp_ms: int) -> dict[str, Any]:
        """The payload from the configured source, or what the device's kind sends now
        (`Kind.device`: heartbeat sends the fixed position in agent.toml)."""
        if self._payload_source is not None:
            return self._payload_source(timestamp_ms)
        if self._behaviour is None:
            from opendepin.proofs.registry import get_kind

            self._behaviour = get_kind(self.config.kind).device(self.config)
        payloads = self._behaviour.payloads(timestamp_ms)
        if not payloads:
            raise ConfigError(f"the {self.config.kind} device has nothing to report at {timestamp_ms} ms")
        return payloads[0]

    def build_report(self, payload: dict[str, Any], timestamp_ms: int | None = None) -> Report:
        """Sign a report with the next sequence number (not yet queued)."""
        ts = self.clock.now_ms() if timestamp_ms is None else timestamp_ms
        return new_signed_report(
            self.key,
            network_id=self.config.network_id,
            chain_id=self.config.chain_id,
            kind=self.config.kind,
            epoch=self.epoch_at(ts),
            seq=self.sequences.next(),
            timestamp_ms=ts,
            payload=payload,
        )

    def enqueue(self, reports: Sequence[Report]) -> None:
        """Queue signed reports durably (e.g. pre-built by a simulation)."""
        self.spool.add(reports, self.clock.now_ms())

    def beat(self, payload: dict[str, Any] | None = None) -> Report:
        """Build, sign and queue one report now."""
        now = self.clock.now_ms()
        report = self.build_report(
            payload if payload is not None else self.default_payload(now), now
        )
        self.enqueue([report])
        return report

    async def flush(self, *, force: bool = False) -> FlushResult:
        """Send queued reports in sequence order until the spool is empty or a send fails.

        While backing off it returns at once unless `force` is set.
        """
        accepted = 0
        rejected: list[Rejected] = []
        if not force and self.clock.now_ms() < self._retry_at_ms:
            return FlushResult(0, (), self.pending, "backing off")
        while batch := self.spool.peek(self.max_batch):
            reports = [s.report for s in batch]
            outcome = await self.sender.send(reports)
            if not outcome.ok:
                self._failed([r.seq for r in reports], outcome.failure or "failed")
                if outcome.status == 413 and self.max_batch > 1:
                    self.max_batch //= 2
                return FlushResult(accepted, tuple(rejected), self.pending, outcome.failure)
            self.spool.remove([*outcome.accepted, *(r.seq for r in outcome.rejected)])
            for r in outcome.rejected:
                log.warning(
                    "device %s report %d rejected: %s (%s)",
                    self.device_id,
                    r.seq,
                    r.reason,
                    r.message,
                )
            accepted += len(outcome.accepted)
            rejected.extend(outcome.rejected)
            if outcome.undecided:
                failure = f"ingest left {len(outcome.undecided)} reports undecided"
                self._failed(list(outcome.undecided), failure)
                return FlushResult(accepted, tuple(rejected), self.pending, failure)
            self._failures = 0
            self._retry_at_ms = 0
        return FlushResult(accepted, tuple(rejected), 0)

    def _failed(self, seqs: list[int], why: str) -> None:
        self.spool.count_attempt(seqs)
        self._failures += 1
        delay = self.backoff.delay_seconds(self._failures, self._rng)
        self._retry_at_ms = self.clock.now_ms() + round(delay * MS_PER_SECOND)
        log.info(
            "device %s: %s; %d queued, retry in %.1f s", self.device_id, why, self.pending, delay
        )

    async def run(
        self,
        *,
        interval_seconds: float | None = None,
        once: bool = False,
        max_reports: int | None = None,
        give_up_after: int | None = None,
    ) -> FlushResult:
        """Report every `interval_seconds` (default from agent.toml) — or once per entropy
        window, just after its start, when agent.toml has `entropy_window_seconds`
        (`next_beat_ms`) — and keep the spool draining.

        `once`: one report and one send attempt. `max_reports`: stop after that many reports
        once the spool is empty (for simulations and `depin agent run --count`). Otherwise
        runs until cancelled. `give_up_after`: stop (result `gave_up`) once that many send
        attempts in a row have failed — an ingest that stays unreachable or refusing; the
        reports stay in the spool for the next run. None: retry for as long as it runs. The
        result totals every flush of this run.
        """
        if give_up_after is not None and give_up_after < 1:
            raise ValueError(f"give_up_after must be at least 1, got {give_up_after}")
        interval_ms = round((interval_seconds or self.config.interval_seconds) * MS_PER_SECOND)
        next_beat_ms = self.clock.now_ms()
        made = 0
        accepted = 0
        rejected: list[Rejected] = []
        while True:
            now = self.clock.now_ms()
            if now >= next_beat_ms and (max_reports is None or made < max_reports):
                self.beat()
                made += 1
                next_beat_ms = self.next_beat_ms(now, interval_ms)
            last = await self.flush() if self.pending else FlushResult(0, (), 0)
            accepted += last.accepted
            rejected.extend(last.rejected)
            result = FlushResult(accepted, tuple(rejected), last.pending, last.failure)
            failing = last.failure is not None and self._failures > 0
            if failing and give_up_after is not None and self._failures >= give_up_after:
                failure = f"gave up after {self._failures} failed attempts in a row: {last.failure}"
                return FlushResult(accepted, tuple(rejected), last.pending, failure, gave_up=True)
            if once or (max_reports is not None and made >= max_reports and not self.pending):
                return result
            wake = next_beat_ms if (max_reports is None or made < max_reports) else None
            if self.pending:
                retry = max(self._retry_at_ms, now)
                wake = retry if wake is None else min(wake, retry)
            if wake is None:  # pragma: no cover - loop exits above when nothing is left
                return result
            await self.clock.sleep(max(wake - self.clock.now_ms(), 0) / MS_PER_SECOND)

    def close(self) -> None:
        """Close the state database."""
        self._db.close()
