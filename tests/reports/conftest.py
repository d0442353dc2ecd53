"""Helpers for report tests: fresh keys and signed reports with sensible defaults."""

from __future__ import annotations

from typing import Any

from opendepin.identity import DeviceKey
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report

NETWORK = "opendepin-test"
CHAIN_ID = 31337
EPOCH_SECONDS = 86_400
GENESIS_UNIX = 1_767_225_600
EPOCH = 3
EPOCH_START_MS = (GENESIS_UNIX + EPOCH * EPOCH_SECONDS) * 1_000
NOW_MS = EPOCH_START_MS + 3 * 3_600_000  # three hours into epoch 3 (> max age)


def signed(key: DeviceKey, **overrides: Any) -> Report:
    """A report by `key`, valid at NOW_MS on the test network unless overridden."""
    fields: dict[str, Any] = {
        "network_id": NETWORK,
        "chain_id": CHAIN_ID,
        "kind": "heartbeat",
        "epoch": EPOCH,
        "seq": 1,
        "timestamp_ms": NOW_MS - 1_000,
        "payload": {"lat_e7": 525_200_000, "lon_e7": 134_050_000, "name": "Zürich"},
    }
    fields.update(overrides)
    return new_signed_report(key, **fields)
