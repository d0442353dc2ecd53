"""Helpers for storage node tests: a placer that signs orders and placements, node processes.

`NodeProcess` runs the real `depin storage node` (python -m opendepin) on a free loopback
port with a keystore generated for the test (cheap scrypt), and waits until `GET /v1/node`
answers. `Placer` signs orders and placements for one node with a generated key.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from opendepin.chain.accounts import Signer
from opendepin.identity import DeviceKey, save_keystore
from opendepin.network.settings import Settings, load_settings
from opendepin.storage import merkle
from opendepin.storage.orders import (
    Action,
    OrderLimit,
    Placement,
    encode_header,
    new_piece_id,
    new_serial,
)
from opendepin.types import DeviceId

PASS_ENV = "NODE_TEST_PASSPHRASE"
PASSPHRASE = "correct horse battery staple"
STARTUP_SECONDS = 60.0
DAY_MS = 86_400_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_keystore(path: Path) -> DeviceKey:
    key = DeviceKey.generate()
    save_keystore(key, path, PASSPHRASE, scrypt_n=2**10)
    return key


@dataclass
class Placer:
    """Signs orders and placements for `node` on the default network."""

    settings: Settings
    node: DeviceId
    signer: Signer = field(default_factory=Signer.generate)

    @property
    def address(self) -> str:
        return str(self.signer.address)

    def order(
        self, piece: bytes, action: Action, max_bytes: int = 1 << 30, **kw: Any
    ) -> OrderLimit:
        n = self.settings.network
        fields: dict[str, object] = {
            "network": n.network_id,
            "chain_id": n.chain_id,
            "placer": DeviceId(self.address),
            "node": self.node,
            "piece": piece,
            "action": action,
            "max_bytes": max_bytes,
            "expires_ms": now_ms() + 3_600_000,
            "serial": new_serial(),
        }
        fields.update(kw)
        return OrderLimit(**fields).signed(self.signer)  # type: ignore[arg-type]

    def placement(self, piece: bytes, data: bytes, **kw: Any) -> Placement:
        n = self.settings.network
        start = now_ms() - 1000
        fields: dict[str, object] = {
            "network": n.network_id,
            "chain_id": n.chain_id,
            "placer": DeviceId(self.address),
            "node": self.node,
            "piece": piece,
            "size": len(data),
            "root": merkle.merkle_root(data),
            "term_start_ms": start,
            "term_end_ms": start + 30 * DAY_MS,
        }
        fields.update(kw)
        return Placement(**fields).signed(self.signer)  # type: ignore[arg-type]

    def put_headers(self, piece: bytes, data: bytes) -> dict[str, str]:
        order = self.order(piece, Action.PUT, max_bytes=max(len(data), 1))
        return {
            "Depin-Order": encode_header(order),
            "Depin-Placement": encode_header(self.placement(piece, data)),
        }

    def headers(self, piece: bytes, action: Action, **kw: Any) -> dict[str, str]:
        return {"Depin-Order": encode_header(self.order(piece, action, **kw))}


@dataclass
class NodeProcess:
    """One `depin storage node` subprocess."""

    directory: Path
    keystore: Path
    port: int
    extra: list[str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> NodeProcess:
        env = {**os.environ, PASS_ENV: PASSPHRASE, "PYTHONUNBUFFERED": "1"}
        args = [
            sys.executable, "-m", "opendepin", "storage", "node",
            "--dir", str(self.directory), "--port", str(self.port),
            "--key", str(self.keystore), "--passphrase-env", PASS_ENV,
            "--rpc-url", "", *self.extra,
        ]  # fmt: skip
        log = (self.directory.parent / f"{self.directory.name}.log").open("ab")
        self.proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}: {self.log()}")
            try:
                httpx.get(self.url + "/v1/node", timeout=1.0)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"node did not start: {self.log()}")

    def log(self) -> str:
        return (self.directory.parent / f"{self.directory.name}.log").read_text(errors="replace")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


@pytest.fixture
def settings() -> Settings:
    return load_settings(None)


@pytest.fixture
def node_key(tmp_path: Path) -> tuple[DeviceKey, Path]:
    path = tmp_path / "node-key.json"
    return make_keystore(path), path


@pytest.fixture
def placer(settings: Settings, node_key: tuple[DeviceKey, Path]) -> Placer:
    return Placer(settings, DeviceId(node_key[0].device_id))


@pytest.fixture
def start_node(
    tmp_path: Path, node_key: tuple[DeviceKey, Path], placer: Placer
) -> Iterator[object]:
    """`start_node(*extra_args)` runs a node on D=tmp/node with the test's placer authorised."""
    started: list[NodeProcess] = []
    port = free_port()

    def start(*extra: str) -> NodeProcess:
        node = NodeProcess(
            tmp_path / "node", node_key[1], port, ["--placer", placer.address, *extra]
        ).start()
        started.append(node)
        return node

    yield start
    for node in started:
        if node.proc is not None and node.proc.poll() is None:
            node.kill()


__all__ = [
    "DAY_MS",
    "NodeProcess",
    "Placer",
    "free_port",
    "make_keystore",
    "new_piece_id",
    "now_ms",
]
