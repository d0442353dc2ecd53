"""The shared rules answer with the kind's own enum member for each shared code."""

from __future__ import annotations

from enum import StrEnum

import pytest

from opendepin.identity import DeviceKey
from opendepin.network.settings import NetworkSection
from opendepin.proofs import rules
from opendepin.reasons import SharedReason
from opendepin.records import ChainSnapshot, DeviceRecord
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report
from opendepin.types import Address, DeviceId

NET = NetworkSection(genesis_unix=1_900_000_000, epoch_seconds=3_600)
CELL = 0x8C1F8ED954C39FF  # the resolution-12 cell at 47.37 N, 8.54 E


class MineReason(StrEnum):
    UNKNOWN_DEVICE = SharedReason.UNKNOWN_DEVICE.value
    INACTIVE_DEVICE = SharedReason.INACTIVE_DEVICE.value
    WRONG_DEVICE_KIND = SharedReason.WRONG_DEVICE_KIND.value
    WRONG_REPORT_KIND = SharedReason.WRONG_REPORT_KIND.value
    LOCATION_NOT_ASSERTED = SharedReason.LOCATION_NOT_ASSERTED.value
    WRONG_EPOCH = SharedReason.WRONG_EPOCH.value
    DUPLICATE = SharedReason.DUPLICATE.value


class Partial(StrEnum):
    UNKNOWN_DEVICE = SharedReason.UNKNOWN_DEVICE.value


def _report(key: DeviceKey, kind: str = "mine", epoch: int = 0, seq: int = 1, ts: int | None = None) -> Report:
    start = NET.epoch_window_ms(epoch)[0]
    return new_signed_report(key, network_id="n", chain_id=1, kind=kind, epoch=epoch, seq=seq,
                             timestamp_ms=start + 1 if ts is None else ts, payload={})


def _snapshot(key: DeviceKey, **kw: object) -> ChainSnapshot:
    fields: dict[str, object] = {"kind": "mine", "location": CELL, "active": True}
    fields.update(kw)
    record = DeviceRecord(DeviceId(key.device_id), Address(key.device_id), **fields)  # type: ignore[arg-type]
    return ChainSnapshot(7, bytes(32), {record.device: record})


def _reason(found: object) -> object:
    return found.reason if isinstance(found, rules.Invalid) else None


def test_device_rules_in_order_with_the_kinds_members() -> None:
    key = DeviceKey.generate()
    assert isinstance(rules.device_rules(_report(key), _snapshot(key), "mine", MineReason), DeviceRecord)
    cases = [
        (_report(key, kind="other"), _snapshot(key), MineReason.WRONG_REPORT_KIND),
        (_report(key), ChainSnapshot(7, bytes(32)), MineReason.UNKNOWN_DEVICE),
        (_report(key), _snapshot(key, active=False, kind="other"), MineReason.INACTIVE_DEVICE),
        (_report(key), _snapshot(key, kind="other"), MineReason.WRONG_DEVICE_KIND),
    ]
    for report, snap, expected in cases:
        found = _reason(rules.device_rules(report, snap, "mine", MineReason))
        assert found is expected  # the kind's own member, not SharedReason's


@pytest.mark.parametrize("location", [0, 1, 12345, (1 << 64) + 5, -3])
def test_location_rejects_anything_that_is_not_an_h3_cell(location: int) -> None:
    key = DeviceKey.generate()
    record = _snapshot(key, location=location).devices[DeviceId(key.device_id)]
    assert _reason(rules.location(record, MineReason)) is MineReason.LOCATION_NOT_ASSERTED


def test_location_gives_the_cells_centre() -> None:
    key = DeviceKey.generate()
    centre = rules.location(_snapshot(key).devices[DeviceId(key.device_id)], MineReason)
    assert isinstance(centre, tuple) and -90 <= centre[0] <= 90


def test_in_epoch_and_unique_seq() -> None:
    key = DeviceKey.generate()
    end = NET.epoch_window_ms(0)[1]
    assert rules.in_epoch(_report(key), NET, MineReason) is None
    assert _reason(rules.in_epoch(_report(key, ts=end), NET, MineReason)) is MineReason.WRONG_EPOCH
    seen: set[tuple[DeviceId, int]] = set()
    assert rules.unique_seq(_report(key), seen, MineReason) is None
    assert _reason(rules.unique_seq(_report(key), seen, MineReason)) is MineReason.DUPLICATE


def test_a_kind_that_lacks_a_shared_code_it_uses_fails_loudly() -> None:
    key = DeviceKey.generate()
    with pytest.raises(ValueError, match="inactive_device"):
        rules.active(_snapshot(key, active=False).devices[DeviceId(key.device_id)], Partial)
