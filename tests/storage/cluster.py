"""Real storage nodes for placer tests: H2's node app served by uvicorn, one thread per node.

Each node has its own directory, a generated secp256k1 key and a free port on 127.0.0.1;
`stop` shuts its server down (the node is then unreachable, like a killed process), `start`
serves the same directory again. No part of the protocol is mocked.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from opendepin.chain.accounts import Signer
from opendepin.identity import DeviceKey, KeyType
from opendepin.storage.directory import NodeDirectory
from opendepin.storage.erasure import Redundancy
from opendepin.storage.metadata import Metadata
from opendepin.storage.node.config import NodeConfig
from opendepin.storage.node.server import NodeApp, create_app
from opendepin.storage.placer import Placer, PlacerConfig
from opendepin.types import DeviceId

NETWORK = "opendepin-storage-test"
CHAIN_ID = 31337
START_TIMEOUT_SECONDS = 20.0
DEFAULT_REDUNDANCY = Redundancy(4, 5, 6, 8)


def recv_until(sock: socket.socket, done: Callable[[bytes], bool]) -> bytes:
    """Bytes read from `sock` until `done(all so far)` or the peer closes (raw-socket tests)."""
    answer = b""
    while not done(answer):
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TestNode:
    """One node: its directory, key and (while running) its server thread."""

    directory: Path
    placer: DeviceId
    key: DeviceKey = field(default_factory=lambda: DeviceKey.generate(KeyType.SECP256K1))
    port: int = field(default_factory=free_port)
    capacity_bytes: int = 1 << 30
    body_idle_timeout_seconds: float = 60.0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _started_once: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def node(self) -> DeviceId:
        return DeviceId(self.key.device_id)

    def piece_path(self, piece: bytes) -> Path:
        return self.directory / "pieces" / piece.hex()[:2] / piece.hex()

    def start(self) -> None:
        """Serve the node; on its first start, a port another process took meanwhile is
        replaced by a fresh one (a restart keeps its port: placers know its URL)."""
        for attempt in range(3):
            try:
                self._start_once()
                self._started_once = True
                return
            except RuntimeError:
                if self._started_once or attempt == 2:
                    raise
                self.port = free_port()

    def _start_once(self) -> None:
        config = NodeConfig(
            directory=self.directory,
            network_id=NETWORK,
            chain_id=CHAIN_ID,
            genesis_unix=1_767_225_600,
            epoch_seconds=86_400,
            port=self.port,
            capacity_bytes=self.capacity_bytes,
            placers=frozenset({self.placer}),
            body_idle_timeout_seconds=self.body_idle_timeout_seconds,
        )
        app = create_app(NodeApp(config, self.key))
        server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
            )
        )
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"node on port {self.port} did not start")
            time.sleep(0.02)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        self._server = self._thread = None


class Cluster:
    """`count` nodes accepting one generated placer key, and placers over them."""

    def __init__(self, root: Path, count: int = 8) -> None:
        self.placer_key = Signer.generate()
        self.nodes = [
            TestNode(root / f"node{i}", DeviceId(self.placer_key.address)) for i in range(count)
        ]
        for n in self.nodes:
            n.start()

    def by_node(self, node: str) -> TestNode:
        return next(n for n in self.nodes if n.node == node)

    def placer(
        self,
        database_url: str,
        *,
        redundancy: Redundancy = DEFAULT_REDUNDANCY,
        segment_size: int = 64 * 1024,
        seed: int | None = 7,
        disqualified: frozenset[str] = frozenset(),
        vetting: frozenset[str] = frozenset(),
    ) -> Placer:
        directory = NodeDirectory(
            [n.url for n in self.nodes],
            network=NETWORK,
            chain_id=CHAIN_ID,
            disqualified=disqualified,
            vetting=vetting,
        )
        directory.refresh()
        config = PlacerConfig(NETWORK, CHAIN_ID, redundancy=redundancy, segment_size=segment_size)
        return Placer(Metadata(database_url), directory, self.placer_key, config, seed=seed)

    def close(self) -> None:
        for n in self.nodes:
            n.stop()
