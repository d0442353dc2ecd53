"""Ingest's mirror of the DeviceRegistry: which devices exist, who owns them, are they active.

Ingest must answer "is this device registered and active?" for every report without a chain
call per report, so it keeps the registry's contents in memory (`DeviceRecord` per device)
and updates them from the registry's events. `sync(client, to_block)` reads the events after
the last synced block up to `to_block` and applies them in (block, log index) order:

| event | effect |
|---|---|
| `DeviceRegistered(device, owner, kind)` | new record, active, no location |
| `Transfer(from, to, token_id)` | owner changes; a burn (`to` = 0x0) removes the device |
| `LocationAsserted(device, location, fee)` | location changes |
| `DeviceDeactivated(device)` / `DeviceReactivated(device)` | active flag |

`apply(record)` and `remove(device)` set records directly (tests, a snapshot load, a push
from another component). Lookups are by checksummed device id. The mirror is thread-safe for
one writer and many readers (dict operations are atomic under the GIL; `sync` builds the
changes and swaps them in).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from opendepin.identity.address import to_checksum_address
from opendepin.records import DeviceRecord
from opendepin.types import Address, DeviceId

REGISTRY_EVENT_NAMES: tuple[str, ...] = (
    "DeviceRegistered",
    "Transfer",
    "LocationAsserted",
    "DeviceDeactivated",
    "DeviceReactivated",
)
"""DeviceRegistry events the mirror follows."""
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ADDRESS_BYTES = 20


class RegistryEvent(Protocol):
    """What the mirror needs of a decoded event (`opendepin.chain.backend.Event`)."""

    @property
    def name(self) -> str: ...
    @property
    def args(self) -> Mapping[str, Any]: ...
    @property
    def block_number(self) -> int: ...
    @property
    def log_index(self) -> int: ...


class RegistryEventSource(Protocol):
    """Anything that lists registry events in a block range (`chain.clients.RegistryClient`)."""

    def events(
        self, name: str, from_block: int = 0, to_block: int | None = None
    ) -> Sequence[Any]: ...


def _checksum(address: str) -> DeviceId:
    return DeviceId(to_checksum_address(bytes.fromhex(address.removeprefix("0x").zfill(40))))


class RegistryMirror:
    """In-memory copy of the DeviceRegistry, keyed by device id."""

    def __init__(self, records: Iterable[DeviceRecord] = ()) -> None:
        self._records: dict[str, DeviceRecord] = {}
        self._lock = threading.Lock()
        self.synced_block: int = -1
        """Last block whose events have been applied (-1: none)."""
        for rec in records:
            self.apply(rec)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, device: object) -> bool:
        return isinstance(device, str) and device.lower() in self._records

    def get(self, device: str) -> DeviceRecord | None:
        """The device's record, or None if it is not registered."""
        return self._records.get(device.lower())

    def apply(self, record: DeviceRecord) -> None:
        """Insert or replace a device's record."""
        self._records[record.device.lower()] = record

    def remove(self, device: str) -> None:
        """Forget a device (burned NFT); no error if it is unknown."""
        self._records.pop(device.lower(), None)

    def records(self) -> dict[DeviceId, DeviceRecord]:
        """A copy of all records by device id."""
        return {r.device: r for r in self._records.values()}

    def apply_events(self, events: Iterable[RegistryEvent]) -> int:
        """Apply registry events (any order; sorted by block and log index). Returns count."""
        ordered = sorted(events, key=lambda e: (e.block_number, e.log_index))
        with self._lock:
            for ev in ordered:
                self._apply_event(ev)
        return len(ordered)

    def _apply_event(self, ev: RegistryEvent) -> None:
        values = list(ev.args.values())
        if ev.name == "DeviceRegistered":
            device = _checksum(str(values[0]))
            self.apply(DeviceRecord(device, Address(str(values[1])), str(values[2]), 0, True))
            return
        if ev.name == "Transfer":
            token_id = int(values[2])
            device = _checksum(token_id.to_bytes(ADDRESS_BYTES, "big").hex())
            rec = self.get(device)
            if rec is None:
                return  # the mint's Transfer precedes DeviceRegistered in the same tx
            if str(values[1]).lower() == ZERO_ADDRESS:
                self.remove(device)
            else:
                self.apply(dataclasses.replace(rec, owner=Address(str(values[1]))))
            return
        rec = self.get(str(values[0]))
        if rec is None:
            return
        if ev.name == "LocationAsserted":
            self.apply(dataclasses.replace(rec, location=int(values[1])))
        elif ev.name == "DeviceDeactivated":
            self.apply(dataclasses.replace(rec, active=False))
        elif ev.name == "DeviceReactivated":
            self.apply(dataclasses.replace(rec, active=True))

    def sync(self, client: RegistryEventSource, to_block: int) -> int:
        """Apply the registry's events after `synced_block` up to `to_block`; returns count."""
        if to_block <= self.synced_block:
            return 0
        start = self.synced_block + 1
        events: list[RegistryEvent] = []
        for name in REGISTRY_EVENT_NAMES:
            events.extend(client.events(name, start, to_block))
        count = self.apply_events(events)
        self.synced_block = to_block
        return count
