"""Coverage history: merging epochs and its canonical JSON form."""

from __future__ import annotations

import pytest

from opendepin.proofs.coverage.history import CoverageHistory
from opendepin.types import DeviceId

A, B = DeviceId("0x" + "aa" * 20), DeviceId("0x" + "bb" * 20)


def test_updated_keeps_latest_times() -> None:
    old = CoverageHistory(last_beacon_ms={A: 10, B: 50}, last_active_ms={A: 5})
    new = CoverageHistory(last_beacon_ms={A: 20, B: 40}, last_valid_witness_ms={B: 7})
    merged = old.updated(new)
    assert merged.last_beacon_ms == {A: 20, B: 50}
    assert merged.last_valid_witness_ms == {B: 7}
    assert merged.last_active_ms == {A: 5}


def test_pruned_drops_old_entries() -> None:
    h = CoverageHistory(last_beacon_ms={A: 10, B: 50}).pruned(before_ms=20)
    assert h.last_beacon_ms == {B: 50}


def test_to_obj_round_trips() -> None:
    h = CoverageHistory({B: 1, A: 2}, {A: 3}, {B: 4}, {A: 5})
    obj = h.to_obj()
    assert list(obj["last_beacon_ms"]) == [A, B]
    assert CoverageHistory.from_obj(obj) == h


def test_from_obj_rejects_bad_values() -> None:
    obj = CoverageHistory().to_obj()
    obj["last_active_ms"] = {A: "yesterday"}  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="last_active_ms"):
        CoverageHistory.from_obj(obj)
