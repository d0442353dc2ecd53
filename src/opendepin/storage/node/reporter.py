"""The node's reports: placements it accepted, pieces it removed, and its audit proofs.

The node is a device of kind "storage". It signs its reports with its device key and hands
them to the device agent's machinery (`agent.DeviceAgent`: sequence numbers that survive
restarts, the SQLite spool in node.db, batched delivery to every ingest with backoff):

- **placement**, `{"type": "placement", "placement": <Placement>}`, right after an upload is
  committed. The node's envelope signature is its acknowledgement. Once an ingest accepted it
  the piece's metadata says so, and from then on the piece is *auditable* from the node's view
  (windows starting at or after the report's timestamp, inside the placement's term);
- **removal**, `{"type": "removal", "order": <DELETE OrderLimit>}`, after a placer-signed delete;
- **proof**, one per challenged piece per audit window:
  `{"type": "proof", "block", "piece", "leaf_index", "leaf" (base64), "path" [hex...]}`.

**Audit windows** are `[storage] audit_window_seconds` long and tile each epoch from its
start, exactly like the agent's entropy windows (`agent.device.entropy_window_start_unix`).
A window's entropy block is the last block at or before its start (`chain.blocks`); for every
auditable piece, `challenge.is_challenged(block hash, piece, ppm)` says whether it must be
proven and `challenge.challenged_leaf` which leaf. `audit` looks at the current window (once
`AUDIT_DELAY_SECONDS` into it, so its block has reached the node's RPC) and the
`containment_windows` before it, and answers every (window, piece) it has not answered yet,
remembered in node.db: after a restart, or after the ingest accepted a placement late, the
missed challenges of the last `containment_windows` windows are still answered (late, which
the oracles count as contained).

**Egress evidence** (reports of kind "usage", see docs/usage.md): once an epoch has ended, the
GET orders the node served in it (its ledger, `D/orders.jsonl`) are filed as
`{"type": "egress", "gateway": <placer>, "orders": [<OrderLimit>...], "bytes": [int...]}`,
one report per gateway and at most `EGRESS_ORDERS_PER_REPORT` orders each. The ledger is read
from a byte offset kept in node.db and advanced only past the epochs that ended, so each order
is filed once (a crash between queueing and advancing files a batch again; the oracles count
a serial once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from opendepin.agent.backoff import MS_PER_SECOND, Clock, SystemClock
from opendepin.agent.config import AgentConfig
from opendepin.agent.device import DeviceAgent, entropy_window_start_unix
from opendepin.agent.sender import FanoutSender, IngestSender, ReportSender, SendOutcome
from opendepin.chain.backend import Chain
from opendepin.chain.blocks import last_block_at_or_before
from opendepin.errors import ChainError, ConfigError
from opendepin.identity import DeviceKey
from opendepin.proofs.storage.challenge import challenged_leaf, is_challenged
from opendepin.proofs.storage.payload import placement_payload, proof_payload, removal_payload
from opendepin.proofs.usage.payload import egress_payload
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report
from opendepin.reports.reasons import RejectReason
from opendepin.storage import merkle
from opendepin.storage.node.config import LEDGER_FILE, STORAGE_KIND, NodeConfig
from opendepin.storage.node.ledger import MAX_LINE_BYTES
from opendepin.storage.node.store import PieceRecord, PieceStore, ReportState
from opendepin.storage.orders import OrderLimit, StorageError, parse_order

log = logging.getLogger("opendepin.storage.node")

AUDIT_DELAY_SECONDS: Final = 15
"""How far into a window the node answers it (its entropy block has reached the RPC by then)."""
TICK_SECONDS: Final = 30.0
"""Longest sleep of the report loop between audit checks."""
USAGE_KIND: Final = "usage"
"""Report kind of egress evidence (the gateway's usage reports share it)."""
EGRESS_ORDERS_PER_REPORT: Final = 64
"""Most orders one egress report carries (the usage kind's bound)."""
MAX_EGRESS_LINES_PER_ROUND: Final = 10_000
"""Ledger lines one `file_egress` call reads at most (the rest: next round)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answered (
    window_start INTEGER NOT NULL,
    piece BLOB NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (window_start, piece)
);
CREATE TABLE IF NOT EXISTS egress_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    ledger_offset INTEGER NOT NULL
);
"""


def agent_config(config: NodeConfig) -> AgentConfig:
    """The device-agent view of the node (also written as D/agent.toml for `depin agent register`)."""
    urls = config.ingest_urls
    return AgentConfig(
        network_id=config.network_id,
        chain_id=config.chain_id,
        kind=STORAGE_KIND,
        key_type="secp256k1",
        epoch_seconds=config.epoch_seconds,
        genesis_unix=config.genesis_unix,
        ingest_url=urls[0] if urls else "",
        extra_ingest_urls=tuple(urls[1:]),
        rpc_url=config.rpc_url or "",
        entropy_window_seconds=config.audit.audit_window_seconds,
    )


def is_auditable(record: PieceRecord, window_start_ms: int) -> bool:
    """Must the node prove `record` in the window starting at `window_start_ms` (node's view)?"""
    accepted = record.accepted_report_ms
    p = record.placement
    return (
        accepted is not None
        and accepted <= window_start_ms
        and p.term_start_ms <= window_start_ms < p.term_end_ms
    )


def window_starts(config: NodeConfig, now_ms: int) -> list[int]:
    """Start (Unix s) of the windows to answer at `now_ms`, oldest first: the current one once
    `AUDIT_DELAY_SECONDS` into it, and the `containment_windows` before it (not before genesis)."""
    genesis, epoch, w = config.genesis_unix, config.epoch_seconds, config.audit.audit_window_seconds
    if now_ms < genesis * MS_PER_SECOND:
        return []
    start = entropy_window_start_unix(now_ms, genesis, epoch, w)
    out = [start] if now_ms >= (start + AUDIT_DELAY_SECONDS) * MS_PER_SECOND else []
    for _ in range(config.audit.containment_windows):
        if start <= genesis:
            break
        start = entropy_window_start_unix(start * MS_PER_SECOND - 1, genesis, epoch, w)
        out.append(start)
    return sorted(out)


class _Recording:
    """A sender that tells the reporter what the ingest decided before the spool forgets it."""

    def __init__(self, inner: ReportSender, reporter: NodeReporter) -> None:
        self._inner = inner
        self._reporter = reporter

    async def send(self, reports: Sequence[Report]) -> SendOutcome:
        outcome = await self._inner.send(reports)
        if outcome.ok:
            self._reporter._decided(outcome)
        return outcome


class NodeReporter:
    """Signs and files the node's reports; answers audit windows from the chain's entropy."""

    def __init__(
        self,
        config: NodeConfig,
        key: DeviceKey,
        store: PieceStore,
        *,
        sender: ReportSender | None = None,
        chain: Chain | None = None,
        clock: Clock | None = None,
        state_path: Path | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self._chain = chain
        urls = config.ingest_urls
        if sender is None and urls:
            ingests = [IngestSender(u) for u in urls]
            sender = ingests[0] if len(ingests) == 1 else FanoutSender(ingests)
        self.has_ingest = sender is not None
        self.agent = DeviceAgent(
            key,
            agent_config(config),
            sender=_Recording(sender, self) if sender is not None else None,
            state_path=state_path,
            clock=self.clock,
        )
        self._db = sqlite3.connect(
            ":memory:" if state_path is None else str(state_path), isolation_level=None
        )
        self._db.executescript(_SCHEMA)
        self._queued: dict[int, bytes] = {}
        self.wake = asyncio.Event()
        self._chain_warned = False

    @property
    def device_id(self) -> str:
        return self.agent.device_id

    def resume(self) -> int:
        """After a start: remember placement reports still queued, and file one for every piece
        whose report never was (a crash between commit and report). Returns how many were filed."""
        filed = 0
        for record in self.store.records():
            if record.report is None:
                self.placed(record)
                filed += 1
            elif record.report.state == "queued":
                self._queued[record.report.seq] = record.piece
        return filed

    # ---- placement and removal -----------------------------------------------------------

    def placed(self, record: PieceRecord) -> None:
        """File the placement report of a committed upload (durably queued on return)."""
        report = self.agent.build_report(placement_payload(record.placement))
        self.agent.enqueue([report])
        self._queued[report.seq] = record.piece
        self.store.set_report(record.piece, ReportState(report.seq, report.timestamp_ms))
        self.wake.set()

    def removed(self, order: OrderLimit) -> None:
        """File the removal report of a deleted piece."""
        self.agent.enqueue([self.agent.build_report(removal_payload(order))])
        self.wake.set()

    def _decided(self, outcome: SendOutcome) -> None:
        for seq in outcome.accepted:
            self._settle(seq, "accepted", "")
        for rej in outcome.rejected:
            # a replay means an ingest stored it on an earlier attempt whose answer was lost
            state = "accepted" if rej.reason == RejectReason.REPLAYED.value else "rejected"
            self._settle(rej.seq, state, rej.reason)

    def _settle(self, seq: int, state: str, reason: str) -> None:
        piece = self._queued.pop(seq, None)
        if piece is None:
            return
        record = self.store.get(piece)
        if record is None or record.report is None:
            return
        self.store.set_report(piece, ReportState(seq, record.report.timestamp_ms, state, reason))
        if state == "rejected":
            log.warning("placement report of piece %s rejected: %s", piece.hex(), reason)

    # ---- egress evidence -----------------------------------------------------------------

    def _egress_offset(self) -> int:
        row = self._db.execute("SELECT ledger_offset FROM egress_progress WHERE id = 1").fetchone()
        return 0 if row is None else int(row[0])

    def _read_ledger(
        self, offset: int, until_ms: int
    ) -> tuple[list[tuple[int, OrderLimit | None, int, int]], int]:
        """(line end offset, GET order or None, bytes, served_ms) of the complete lines from
        `offset` up to the first served at or after `until_ms` (bounded per round)."""
        out: list[tuple[int, OrderLimit | None, int, int]] = []
        path = self.config.directory / LEDGER_FILE
        try:
            fh = path.open("rb")
        except OSError:
            return out, offset
        with fh:
            if fh.seek(0, 2) < offset:  # the ledger was cut (a torn tail): start over from its end
                offset = fh.tell()
            fh.seek(offset)
            at = offset
            for _ in range(MAX_EGRESS_LINES_PER_ROUND):
                line = fh.readline(MAX_LINE_BYTES + 1)
                if not line.endswith(b"\n"):
                    break  # end, or a line still being written
                try:
                    obj = json.loads(line)
                    served, nbytes = int(obj["served_ms"]), int(obj["bytes"])
                    order = parse_order(obj["order"]) if obj.get("action") == "get" else None
                except (ValueError, KeyError, TypeError, StorageError):
                    order, served, nbytes = None, 0, 0
                if served >= until_ms:
                    break  # its epoch has not ended: file it (and what follows) later
                at += len(line)
                out.append((at, order, nbytes, served))
        return out, offset

    def file_egress(self) -> list[Report]:
        """Queue egress reports for the GET orders of ended epochs not filed yet."""
        now = self.clock.now_ms()
        try:
            current = self.agent.epoch_at(now)
        except ConfigError:
            return []
        current_start_ms = self.config.genesis_unix * MS_PER_SECOND + current * (
            self.config.epoch_seconds * MS_PER_SECOND
        )
        lines, offset = self._read_ledger(self._egress_offset(), current_start_ms)
        groups: dict[tuple[int, str], list[tuple[OrderLimit, int]]] = {}
        for end, order, nbytes, served in lines:
            offset = end
            if order is None:
                continue
            try:
                epoch = self.agent.epoch_at(served)
            except ConfigError:
                continue  # stamped before genesis: no epoch pays it
            groups.setdefault((epoch, str(order.placer)), []).append((order, nbytes))
        made: list[Report] = []
        for (_epoch, gateway), served_orders in sorted(groups.items()):
            for at in range(0, len(served_orders), EGRESS_ORDERS_PER_REPORT):
                chunk = served_orders[at : at + EGRESS_ORDERS_PER_REPORT]
                payload = egress_payload(gateway, chunk)
                made.append(
                    new_signed_report(
                        self.agent.key,
                        network_id=self.config.network_id,
                        chain_id=self.config.chain_id,
                        kind=USAGE_KIND,
                        epoch=current,
                        seq=self.agent.sequences.next(),
                        timestamp_ms=now,
                        payload=payload,
                    )
                )
        if made:
            self.agent.enqueue(made)
            log.info("egress: %d reports queued", len(made))
        self._db.execute(
            "INSERT INTO egress_progress(id, ledger_offset) VALUES (1, ?) "
            "ON CONFLICT(id) DO UPDATE SET ledger_offset = excluded.ledger_offset",
            (offset,),
        )
        return made

    # ---- audits --------------------------------------------------------------------------

    def chain(self) -> Chain | None:
        if self._chain is None and self.config.rpc_url:
            from opendepin.chain.rpc import RpcChain  # lazily: web3 is slow to import

            self._chain = RpcChain(self.config.rpc_url)
        return self._chain

    def _answered(self, window_start: int, piece: bytes) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM answered WHERE window_start = ? AND piece = ?", (window_start, piece)
        ).fetchone()
        return row is not None

    def _entropy(self, starts: Sequence[int]) -> dict[int, tuple[int, bytes]] | None:
        """(block number, hash) of each window's entropy block (None: no chain, or it failed).
        Blocking (RPC): the loop runs it in a worker thread."""
        try:
            chain = self.chain()
            if chain is None:
                return None
            head = chain.block_number()
            entropy: dict[int, tuple[int, bytes]] = {}
            for start in starts:
                number = last_block_at_or_before(chain, start, head)
                entropy[start] = (number, chain.block_hash(number))
        except ChainError as exc:
            if not self._chain_warned:
                log.warning("no audit entropy from the chain: %s", exc)
                self._chain_warned = True
            return None
        return entropy

    async def audit(self) -> list[Report]:
        """Answer every open challenge (see the module docstring); the proofs queued."""
        if self._chain is None and not self.config.rpc_url:
            return []
        now = self.clock.now_ms()
        made: list[Report] = []
        starts = window_starts(self.config, now)
        entropy = await asyncio.to_thread(self._entropy, starts) if starts else None
        if entropy is None:
            return []
        self._chain_warned = False
        ppm = self.config.audit.audit_probability_ppm
        for start in starts:
            number, block_hash = entropy[start]
            for record in self.store.records():
                if not is_auditable(record, start * MS_PER_SECOND) or self._answered(
                    start, record.piece
                ):
                    continue
                if not is_challenged(block_hash, record.piece, ppm):
                    continue
                index = challenged_leaf(block_hash, record.piece, merkle.leaf_count(record.size))
                try:
                    leaf, path = await asyncio.to_thread(self.store.proof, record.piece, index)
                except (StorageError, OSError) as exc:
                    log.error("cannot prove piece %s: %s", record.piece.hex(), exc)
                    continue
                report = self.agent.build_report(
                    proof_payload(number, record.piece, index, leaf, path)
                )
                self.agent.enqueue([report])
                self._db.execute(
                    "INSERT OR IGNORE INTO answered(window_start, piece, seq) VALUES (?, ?, ?)",
                    (start, record.piece, report.seq),
                )
                made.append(report)
        if starts:
            self._db.execute("DELETE FROM answered WHERE window_start < ?", (starts[0],))
        if made:
            log.info("audit: %d proofs queued for %d windows", len(made), len(starts))
        return made

    # ---- the loop ------------------------------------------------------------------------

    async def flush(self) -> None:
        if self.has_ingest and self.agent.pending:
            result = await self.agent.flush()
            if result.accepted or result.rejected:
                log.info(
                    "reports: %d accepted, %d rejected, %d queued",
                    result.accepted,
                    len(result.rejected),
                    result.pending,
                )

    async def run(self) -> None:
        """Audit and deliver until cancelled."""
        while True:
            self.wake.clear()
            try:
                await self.audit()
                self.file_egress()
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:  # the server must keep serving whatever one round does
                log.exception("report loop round failed")
            delay = TICK_SECONDS
            if self.agent.pending and self.has_ingest:
                delay = min(
                    delay,
                    max(self.agent.retry_at_ms - self.clock.now_ms(), 0) / MS_PER_SECOND + 0.05,
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=delay)

    def close(self) -> None:
        self._db.close()
        self.agent.close()


__all__ = [
    "NodeReporter",
    "agent_config",
    "is_auditable",
    "window_starts",
]
