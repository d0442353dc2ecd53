"""The ledger of served orders: an append-only JSON-lines file, fsynced before bytes move.

Every order the node acts on is one line of `D/orders.jsonl`:

    {"cursor": 7, "serial": "<32 hex>", "action": "get", "piece": "<64 hex>", "bytes": 1048576,
     "placer": "0x…", "order": <OrderLimit.to_obj()>, "served_ms": 1767225600000}

The line is written and fsynced *before* the node receives (PUT) or sends (GET) a byte or
deletes anything, so the node can always show the placer-signed order behind each byte it moved
(egress settlement reads them through `GET /v1/orders?after=<cursor>`), and a serial counts
once: `record` refuses a serial already in the ledger with order_replayed, across restarts,
since the serials are reloaded from the file at start.

A crash while appending can leave a torn last line; it was never fsynced, so no bytes moved
for it, and `open` cuts it off. The cursor of an entry is its line number (from 1).
Memory: the serials and one file offset per entry (rotation of old, expired orders is not
done yet).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from opendepin.storage.orders import OrderLimit, OrderReason, StorageError

log = logging.getLogger("opendepin.storage.node")

MAX_LINE_BYTES: Final = 8 * 1024
"""An entry is about 1 KiB; a longer line is not ours."""
MAX_READ_LIMIT: Final = 1_000
"""Most entries one `read` returns."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One served order."""

    cursor: int
    """Position in the ledger (1 for the first entry)."""
    order: OrderLimit
    """The placer-signed order."""
    bytes: int
    """Bytes the node moved (or is about to move) for it: the piece size for a PUT, the
    served range for a GET, 0 for a DELETE."""
    served_ms: int
    """When the node accepted the order."""

    def to_obj(self) -> dict[str, Any]:
        return {
            "cursor": self.cursor,
            "serial": self.order.serial.hex(),
            "action": self.order.action.name.lower(),
            "piece": self.order.piece.hex(),
            "bytes": self.bytes,
            "placer": self.order.placer,
            "order": self.order.to_obj(),
            "served_ms": self.served_ms,
        }


class OrderLedger:
    """`D/orders.jsonl`: record orders once, read them back by cursor (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._serials: set[bytes] = set()
        self._offsets: list[int] = []
        self._load()
        self._fh = path.open("ab")

    def _load(self) -> None:
        if not self.path.exists():
            self.path.touch()
            return
        good_end = 0
        with self.path.open("rb") as fh:
            while line := fh.readline(MAX_LINE_BYTES + 1):
                try:
                    if not line.endswith(b"\n"):
                        raise ValueError("torn line")
                    obj = json.loads(line)
                    serial = bytes.fromhex(obj["serial"])
                except (ValueError, KeyError, TypeError):
                    break
                self._serials.add(serial)
                self._offsets.append(good_end)
                good_end += len(line)
        size = self.path.stat().st_size
        if good_end < size:
            log.warning(
                "ledger %s: cutting %d bytes of a torn or foreign tail", self.path, size - good_end
            )
            with self.path.open("r+b") as fh:
                fh.truncate(good_end)
                os.fsync(fh.fileno())

    def __len__(self) -> int:
        with self._lock:
            return len(self._offsets)

    def seen(self, serial: bytes) -> bool:
        """Was an order with this serial served already?"""
        with self._lock:
            return serial in self._serials

    def record(self, order: OrderLimit, nbytes: int, now_ms: int) -> LedgerEntry:
        """Append `order` durably; StorageError(order_replayed) if its serial was served."""
        with self._lock:
            if order.serial in self._serials:
                raise StorageError(
                    OrderReason.REPLAYED, f"order serial {order.serial.hex()} was already served"
                )
            entry = LedgerEntry(len(self._offsets) + 1, order, nbytes, now_ms)
            line = (
                json.dumps(entry.to_obj(), sort_keys=True, separators=(",", ":")).encode() + b"\n"
            )
            offset = self._fh.tell()
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._serials.add(order.serial)
            self._offsets.append(offset)
            return entry

    def read(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Entries with cursor > `after` (at most `limit`, capped), and the cursor to continue from."""
        limit = max(0, min(limit, MAX_READ_LIMIT))
        with self._lock:
            start = max(after, 0)
            offsets = self._offsets[start : start + limit]
        out: list[dict[str, Any]] = []
        if offsets:
            with self.path.open("rb") as fh:
                fh.seek(offsets[0])
                for _ in offsets:
                    out.append(json.loads(fh.readline(MAX_LINE_BYTES + 1)))
        return out, start + len(out)

    def close(self) -> None:
        with self._lock:
            self._fh.close()


__all__ = ["LedgerEntry", "OrderLedger"]
