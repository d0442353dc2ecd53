"""Metering: what each account and each node used, kept in the gateway's SQL database.

The gateway tells the meter about every successful request (`UsageSink.record`: bytes in,
bytes out, change of bytes stored) and the placer about every piece it downloaded from a node
(`record_fetch`: the GET order's serial and the bytes). From these rows, settlement asks for
the usage of an interval `[start_ms, end_ms)` (an epoch):

```
usage_events   id · account · time_ms · stored_delta · bytes_in · bytes_out · operation · request_id
node_egress    serial PK (32 hex) · node · time_ms · bytes
node_pieces    piece_id PK · node · size · placed_ms · removed_ms (NULL while held)
```

**Stored byte-time of an account** is the integral of its stored-bytes step function:
with `base` the sum of its deltas before `start` and each delta `d` at `t` inside the
interval, `stored_byte_ms = base·(end − start) + Σ d·(end − t)` — exact, in integers.

**Stored byte-time of a node** comes from its pieces: `node_pieces` mirrors the metadata's
live pieces (`sync_pieces`, run after every request that changed what is stored and before a
settlement), stamping a piece's removal when it leaves the metadata (deleted, overwritten,
lost to repair). A node's byte-time is `Σ size · overlap([placed, removed), [start, end))`.

**Egress of a node** is what the placer downloaded from it (one row per GET order serial, so
a retried recording never counts twice); egress of an account is what the gateway served it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from opendepin.storage.gateway.hooks import UsageEvent
from opendepin.storage.metadata import ACCOUNT_MAX_CHARS, LIVE_STATES, pieces
from opendepin.store.db import DEVICE_ID_MAX_CHARS

OPERATION_MAX_CHARS: Final = 64
REQUEST_ID_MAX_CHARS: Final = 64

usage_schema = MetaData()

usage_events = Table(
    "usage_events",
    usage_schema,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(ACCOUNT_MAX_CHARS), nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("stored_delta", BigInteger, nullable=False),
    Column("bytes_in", BigInteger, nullable=False),
    Column("bytes_out", BigInteger, nullable=False),
    Column("operation", String(OPERATION_MAX_CHARS), nullable=False),
    Column("request_id", String(REQUEST_ID_MAX_CHARS), nullable=False),
    Index("ix_usage_events_account_time", "account", "time_ms"),
    Index("ix_usage_events_time", "time_ms"),
)

node_egress = Table(
    "node_egress",
    usage_schema,
    Column("serial", String(32), primary_key=True),
    Column("node", String(DEVICE_ID_MAX_CHARS), nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Index("ix_node_egress_time", "time_ms"),
)

node_pieces = Table(
    "node_pieces",
    usage_schema,
    Column("piece_id", String(64), primary_key=True),
    Column("node", String(DEVICE_ID_MAX_CHARS), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("placed_ms", BigInteger, nullable=False),
    Column("removed_ms", BigInteger, nullable=True),
    Index("ix_node_pieces_removed", "removed_ms"),
)


@dataclass(frozen=True, slots=True)
class Usage:
    """What one account or node used in an interval."""

    stored_byte_ms: int
    egress_bytes: int


def wall_clock_ms() -> int:
    import time

    return time.time_ns() // 1_000_000


class Metering:
    """The meter over a metadata engine (its tables are created on open)."""

    def __init__(self, engine: Engine, *, clock_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.engine = engine
        self.clock_ms = clock_ms
        self._sync_lock = threading.Lock()
        usage_schema.create_all(engine)

    # ---- recording (the request path) ------------------------------------------------------

    def record(self, event: UsageEvent) -> None:
        """`UsageSink`: keep one request's usage; a change of bytes stored syncs the pieces."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(usage_events).values(
                    account=event.account[:ACCOUNT_MAX_CHARS],
                    time_ms=event.time_ms,
                    stored_delta=event.stored_delta,
                    bytes_in=event.bytes_in,
                    bytes_out=event.bytes_out,
                    operation=event.operation[:OPERATION_MAX_CHARS],
                    request_id=event.request_id[:REQUEST_ID_MAX_CHARS],
                )
            )
        if event.stored_delta:
            self.sync_pieces(event.time_ms)

    def record_fetch(self, node: str, serial: bytes, nbytes: int, time_ms: int) -> None:
        """The placer downloaded `nbytes` from `node` with the GET order `serial` (once)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(node_egress).values(
                        serial=serial.hex(), node=node, time_ms=time_ms, bytes=nbytes
                    )
                )
        except IntegrityError:
            return  # this serial is recorded already

    def sync_pieces(self, now_ms: int | None = None) -> None:
        """Mirror the metadata's live pieces into `node_pieces` (new ones in, gone ones stamped)."""
        now = self.clock_ms() if now_ms is None else now_ms
        live = select(pieces.c.piece_id).where(pieces.c.state.in_(LIVE_STATES))
        with self._sync_lock, self.engine.begin() as conn:
            known = select(node_pieces.c.piece_id)
            new = select(
                pieces.c.piece_id,
                pieces.c.node,
                pieces.c.size,
                pieces.c.placed_ms,
            ).where(pieces.c.state.in_(LIVE_STATES), pieces.c.piece_id.not_in(known))
            conn.execute(
                insert(node_pieces).from_select(["piece_id", "node", "size", "placed_ms"], new)
            )
            conn.execute(
                update(node_pieces)
                .where(node_pieces.c.removed_ms.is_(None), node_pieces.c.piece_id.not_in(live))
                .values(removed_ms=now)
            )

    # ---- reading (settlement, credit checks) -----------------------------------------------

    def account_usage(
        self, start_ms: int, end_ms: int, account: str | None = None
    ) -> dict[str, Usage]:
        """Per account: stored byte-ms and egress bytes in [start_ms, end_ms) (see the docstring)."""
        e = usage_events.c
        span = end_ms - start_ms
        before = e.time_ms < start_ms
        inside = and_(e.time_ms >= start_ms, e.time_ms < end_ms)
        stored = func.sum(
            case(
                (before, e.stored_delta * literal(span)),
                (inside, e.stored_delta * (literal(end_ms) - e.time_ms)),
                else_=0,
            )
        )
        egress = func.sum(case((inside, e.bytes_out), else_=0))
        query = select(e.account, stored, egress).where(e.time_ms < end_ms).group_by(e.account)
        if account is not None:
            query = query.where(e.account == account)
        out: dict[str, Usage] = {}
        with self.engine.connect() as conn:
            for name, byte_ms, out_bytes in conn.execute(query):
                usage = Usage(max(0, int(byte_ms or 0)), max(0, int(out_bytes or 0)))
                if usage.stored_byte_ms or usage.egress_bytes:
                    out[str(name)] = usage
        return out

    def node_usage(self, start_ms: int, end_ms: int) -> dict[str, Usage]:
        """Per node: stored byte-ms of its pieces and egress downloaded from it in the interval."""
        p = node_pieces.c
        stored: dict[str, int] = {}
        overlapping = select(p.node, p.size, p.placed_ms, p.removed_ms).where(
            p.placed_ms < end_ms, or_(p.removed_ms.is_(None), p.removed_ms > start_ms)
        )
        egress_q = (
            select(node_egress.c.node, func.sum(node_egress.c.bytes))
            .where(node_egress.c.time_ms >= start_ms, node_egress.c.time_ms < end_ms)
            .group_by(node_egress.c.node)
        )
        with self.engine.connect() as conn:
            for node, size, placed, removed in conn.execute(overlapping):
                until = end_ms if removed is None else min(int(removed), end_ms)
                held = until - max(int(placed), start_ms)
                if held > 0:
                    stored[str(node)] = stored.get(str(node), 0) + int(size) * held
            egress = {str(n): int(b or 0) for n, b in conn.execute(egress_q)}
        return {
            node: Usage(stored.get(node, 0), egress.get(node, 0))
            for node in sorted(set(stored) | set(egress))
            if stored.get(node, 0) or egress.get(node, 0)
        }


__all__ = [
    "Metering",
    "Usage",
    "node_egress",
    "node_pieces",
    "usage_events",
    "usage_schema",
]
