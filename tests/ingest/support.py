"""Constants and helpers shared by the ingest tests (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from opendepin.identity import DeviceKey
from opendepin.ingest import RegistryMirror
from opendepin.network.settings import IngestSection, NetworkSection, Settings
from opendepin.reports import codec
from opendepin.reports.eip712 import new_signed_report
from opendepin.reports.envelope import Report

NETWORK_ID = "opendepin-test"
CHAIN_ID = 31337
GENESIS_UNIX = 1_767_225_600
EPOCH_SECONDS = 86_400
EPOCH = 5
NOW_MS = (GENESIS_UNIX + EPOCH * EPOCH_SECONDS + 3_600) * 1_000
"""The ingest clock in every test: one hour into epoch 5."""


def make_settings(**ingest: Any) -> Settings:
    return Settings(
        network=NetworkSection(
            network_id=NETWORK_ID,
            chain_id=CHAIN_ID,
            epoch_seconds=EPOCH_SECONDS,
            genesis_unix=GENESIS_UNIX,
        ),
        ingest=IngestSection(**ingest),
    )


@dataclass
class Devices:
    """Registered device keys (secp256k1 and ed25519), one unregistered, one inactive."""

    keys: list[DeviceKey]
    unregistered: DeviceKey
    inactive: DeviceKey
    mirror: RegistryMirror


def sign(
    key: DeviceKey,
    seq: int,
    *,
    epoch: int = EPOCH,
    timestamp_ms: int = NOW_MS - 60_000,
    kind: str = "heartbeat",
    payload: dict[str, Any] | None = None,
    network_id: str = NETWORK_ID,
    chain_id: int = CHAIN_ID,
) -> Report:
    return new_signed_report(
        key,
        network_id=network_id,
        chain_id=chain_id,
        kind=kind,
        epoch=epoch,
        seq=seq,
        timestamp_ms=timestamp_ms,
        payload=payload if payload is not None else {"lat_e7": 525_200_000, "lon_e7": 134_050_000},
    )


def wire(report: Report) -> dict[str, Any]:
    return codec.to_json(report)


AppFactory = Callable[..., TestClient]
