"""The registry mirror: direct updates and the DeviceRegistry's events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opendepin.chain.backend import Event
from opendepin.identity import DeviceKey
from opendepin.ingest import RegistryMirror
from opendepin.records import DeviceRecord
from opendepin.types import Address

OWNER = Address("0x" + "11" * 20)
BUYER = Address("0x" + "22" * 20)
REGISTRY = Address("0x" + "33" * 20)
ZERO = "0x" + "00" * 20


def ev(name: str, block: int, log_index: int, **args: Any) -> Event:
    return Event(name, REGISTRY, args, block, log_index, b"\x00" * 32)


class EventLog:
    """A chain's registry events, served by block range like `RegistryClient.events`."""

    def __init__(self, events: Sequence[Event]) -> None:
        self._events = list(events)
        self.ranges: list[tuple[int, int | None]] = []

    def events(self, name: str, from_block: int = 0, to_block: int | None = None) -> list[Event]:
        self.ranges.append((from_block, to_block))
        return [
            e
            for e in self._events
            if e.name == name and e.block_number >= from_block
            and (to_block is None or e.block_number <= to_block)
        ]


def test_apply_and_remove_are_case_insensitive() -> None:
    device = DeviceKey.generate().device_id
    mirror = RegistryMirror([DeviceRecord(device, OWNER, "heartbeat", 0, True)])
    assert mirror.get(device.lower()) == mirror.get(device)
    assert device.upper().replace("0X", "0x") in mirror
    mirror.remove(device.lower())
    assert mirror.get(device) is None and len(mirror) == 0


def test_sync_applies_registry_events_in_log_order() -> None:
    a = DeviceKey.generate().device_id
    b = DeviceKey.generate().device_id
    token_a = int(a, 16)
    log = EventLog(
        [
            ev("Transfer", 1, 0, sender=ZERO, receiver=OWNER, token_id=token_a),
            ev("DeviceRegistered", 1, 1, device=a, owner=OWNER, kind="heartbeat"),
            ev("DeviceRegistered", 2, 0, device=b, owner=OWNER, kind="coverage"),
            ev("LocationAsserted", 3, 0, device=a, location=0x8A1FB46622DFFFF, fee=1),
            ev("DeviceDeactivated", 3, 1, device=b),
            ev("Transfer", 4, 0, sender=OWNER, receiver=BUYER, token_id=token_a),
            ev("DeviceReactivated", 5, 0, device=b),
            ev("Transfer", 6, 0, sender=BUYER, receiver=ZERO, token_id=token_a),
        ]
    )
    mirror = RegistryMirror()
    mirror.sync(log, 4)
    assert mirror.get(a) == DeviceRecord(a, BUYER, "heartbeat", 0x8A1FB46622DFFFF, True)
    assert mirror.get(b) == DeviceRecord(b, OWNER, "coverage", 0, False)
    assert mirror.synced_block == 4

    assert mirror.sync(log, 6) == 2
    assert mirror.get(a) is None
    assert mirror.get(b) is not None and mirror.get(b).active  # type: ignore[union-attr]
    assert all(start == 5 for start, _ in log.ranges[-5:])
    assert mirror.sync(log, 6) == 0
