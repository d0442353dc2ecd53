"""Ingest fixtures: registered device keys, a store on both databases, an app client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from opendepin.identity import DeviceKey, KeyType
from opendepin.ingest import RegistryMirror, create_app
from opendepin.network.settings import Settings
from opendepin.records import DeviceRecord
from opendepin.store import Store
from opendepin.types import Address

from .support import NOW_MS, AppFactory, Devices, make_settings


@pytest.fixture(scope="module")
def devices() -> Devices:
    keys = [DeviceKey.generate(), DeviceKey.generate(KeyType.ED25519), DeviceKey.generate()]
    inactive = DeviceKey.generate()
    owner = Address("0x" + "11" * 20)
    records = [DeviceRecord(k.device_id, owner, "heartbeat", 0, True) for k in keys]
    records.append(DeviceRecord(inactive.device_id, owner, "heartbeat", 0, False))
    return Devices(keys, DeviceKey.generate(), inactive, RegistryMirror(records))


@pytest.fixture
def make_client(store: Store, devices: Devices) -> Iterator[AppFactory]:
    clients: list[TestClient] = []

    def factory(settings: Settings | None = None, target: Store | None = None) -> TestClient:
        app = create_app(
            settings or make_settings(), target or store, devices.mirror, clock=lambda: NOW_MS
        )
        client = TestClient(app, raise_server_exceptions=True)
        clients.append(client)
        return client

    yield factory
    for c in clients:
        c.close()


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    return make_client()
