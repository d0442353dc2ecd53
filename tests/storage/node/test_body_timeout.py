"""A node's upload whose body stops arriving: `body_timeout`, nothing stored, node serves on."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import httpx

from opendepin.chain.accounts import Signer
from opendepin.network.settings import NetworkSection, Settings
from opendepin.storage.orders import Action
from opendepin.types import DeviceId

from ..cluster import CHAIN_ID, NETWORK, TestNode, recv_until
from .conftest import Placer


def test_stalled_upload_gets_body_timeout_and_leaves_no_piece(tmp_path: Path) -> None:
    signer = Signer.generate()
    node = TestNode(tmp_path / "n", DeviceId(signer.address), body_idle_timeout_seconds=0.5)
    node.start()
    try:
        settings = Settings(network=NetworkSection(network_id=NETWORK, chain_id=CHAIN_ID))
        placer = Placer(settings, node.node, signer)
        data = os.urandom(8192)
        piece = os.urandom(32)
        headers = placer.put_headers(piece, data)
        head = f"PUT /v1/pieces/{piece.hex()} HTTP/1.1\r\nHost: 127.0.0.1:{node.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(data)}\r\n\r\n"
        with socket.create_connection(("127.0.0.1", node.port), timeout=30) as conn:
            conn.sendall(head.encode() + data[:100])  # then nothing
            answer = recv_until(conn, lambda a: b"\r\n\r\n" in a and a.rstrip().endswith(b"}"))
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
        assert body["code"] == "body_timeout"
        assert not node.piece_path(piece).exists()
        assert not list((tmp_path / "n").rglob("*.tmp"))
        ok = httpx.put(f"{node.url}/v1/pieces/{piece.hex()}", content=data,
                       headers=placer.put_headers(piece, data), timeout=30)  # fmt: skip
        assert ok.status_code == 201, ok.text
        got = httpx.get(f"{node.url}/v1/pieces/{piece.hex()}",
                        headers=placer.headers(piece, Action.GET), timeout=30)  # fmt: skip
        assert got.content == data
    finally:
        node.stop()
