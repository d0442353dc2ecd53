"""`depin storage node` as a real process over 127.0.0.1: orders, refusals, crashes, corruption."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from opendepin.chain.accounts import Signer
from opendepin.identity.signatures import recover_address
from opendepin.storage import merkle
from opendepin.storage.orders import (
    Action,
    OrderReason,
    decode_header,
    encode_header,
    new_piece_id,
    parse_placement,
)
from opendepin.types import DeviceId

from ..cluster import recv_until
from .conftest import NodeProcess, Placer, now_ms

MIB = 1 << 20
StartNode = Callable[..., NodeProcess]


def put(node: NodeProcess, placer: Placer, piece: bytes, data: bytes) -> httpx.Response:
    return httpx.put(
        f"{node.url}/v1/pieces/{piece.hex()}", content=data, headers=placer.put_headers(piece, data)
    )


def code(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


def test_upload_download_and_range_through_orders(start_node: StartNode, placer: Placer) -> None:
    node = start_node()
    data = os.urandom(MIB)
    piece = new_piece_id()
    headers = placer.put_headers(piece, data)
    r = httpx.put(f"{node.url}/v1/pieces/{piece.hex()}", content=data, headers=headers)
    assert r.status_code == 201, r.text
    body = r.json()
    placement = parse_placement(
        decode_header(headers["Depin-Placement"], OrderReason.MALFORMED_PLACEMENT)
    )
    assert body["root"] == merkle.merkle_root(data).hex() and body["size"] == MIB
    assert body["node"] == placer.node
    # the ack is the node's signature over the placement's digest
    assert recover_address(placement.digest(), bytes.fromhex(body["ack"])) == placer.node
    got = httpx.get(
        f"{node.url}/v1/pieces/{piece.hex()}", headers=placer.headers(piece, Action.GET)
    )
    assert got.status_code == 200 and got.content == data
    ranged = httpx.get(
        f"{node.url}/v1/pieces/{piece.hex()}",
        headers={**placer.headers(piece, Action.GET), "Range": "bytes=1000-5999"},
    )
    assert ranged.status_code == 206 and ranged.content == data[1000:6000]
    assert ranged.headers["content-range"] == f"bytes 1000-5999/{MIB}"
    info = httpx.get(f"{node.url}/v1/node").json()
    assert (info["pieces"], info["used_bytes"], info["node"]) == (1, MIB, placer.node)
    orders = httpx.get(f"{node.url}/v1/orders", params={"after": 0}).json()
    assert [o["action"] for o in orders["orders"]] == ["put", "get", "get"]
    assert [o["bytes"] for o in orders["orders"]] == [MIB, MIB, 5000] and orders["next"] == 3
    assert httpx.get(f"{node.url}/v1/orders", params={"after": 3}).json()["orders"] == []


def test_every_refusal_has_its_code(start_node: StartNode, placer: Placer) -> None:
    node = start_node("--capacity", str(64 * 1024))
    data = os.urandom(4096)
    piece = new_piece_id()
    url = f"{node.url}/v1/pieces/{piece.hex()}"
    good = placer.put_headers(piece, data)

    assert code(httpx.put(url, content=data)) == (400, "malformed_order")
    forged = placer.order(piece, Action.PUT)
    other = Signer.generate()
    bad_sig = forged.signed(other)  # signed by someone who is not the order's placer
    assert code(
        httpx.put(url, content=data, headers={**good, "Depin-Order": encode_header(bad_sig)})
    ) == (
        403,
        "bad_signature",
    )
    wrong_node = placer.order(piece, Action.PUT, node=DeviceId(Signer.generate().address))
    assert code(
        httpx.put(url, content=data, headers={**good, "Depin-Order": encode_header(wrong_node)})
    ) == (
        403,
        "wrong_node",
    )
    wrong_piece = placer.order(new_piece_id(), Action.PUT)
    assert code(
        httpx.put(url, content=data, headers={**good, "Depin-Order": encode_header(wrong_piece)})
    ) == (
        400,
        "wrong_piece",
    )
    expired = placer.order(piece, Action.PUT, expires_ms=now_ms() - 1)
    assert code(
        httpx.put(url, content=data, headers={**good, "Depin-Order": encode_header(expired)})
    ) == (
        403,
        "order_expired",
    )
    stranger = Placer(placer.settings, placer.node)  # a placer the node does not know
    assert code(httpx.put(url, content=data, headers=stranger.put_headers(piece, data))) == (
        403,
        "placer_not_authorised",
    )
    small = placer.order(piece, Action.PUT, max_bytes=100)
    placement = encode_header(placer.placement(piece, data))
    assert code(
        httpx.put(
            url,
            content=data,
            headers={"Depin-Order": encode_header(small), "Depin-Placement": placement},
        )
    ) == (413, "too_large")
    wrong_size = placer.put_headers(piece, data + b"x")  # placement of 4097 B, body of 4096 B
    assert code(httpx.put(url, content=data, headers=wrong_size)) == (400, "size_mismatch")
    lying = {
        "Depin-Order": encode_header(placer.order(piece, Action.PUT)),
        "Depin-Placement": encode_header(placer.placement(piece, os.urandom(4096))),
    }
    assert code(httpx.put(url, content=data, headers=lying)) == (400, "root_mismatch")
    big = os.urandom(65 * 1024)
    assert code(put(node, placer, piece, big)) == (507, "no_space")
    # nothing of the refused uploads is left behind
    assert httpx.get(f"{node.url}/v1/node").json()["pieces"] == 0
    assert list((node.directory / "tmp").iterdir()) == []

    assert put(node, placer, piece, data).status_code == 201
    assert code(put(node, placer, piece, data)) == (409, "piece_exists")
    get = placer.headers(piece, Action.GET)
    assert httpx.get(url, headers=get).status_code == 200
    assert code(httpx.get(url, headers=get)) == (409, "order_replayed")
    assert code(httpx.get(url, headers=placer.headers(piece, Action.PUT))) == (400, "wrong_action")
    assert code(httpx.get(url, headers=placer.headers(piece, Action.GET, max_bytes=10))) == (
        413,
        "too_large",
    )
    missing = new_piece_id()
    assert code(
        httpx.get(
            f"{node.url}/v1/pieces/{missing.hex()}", headers=placer.headers(missing, Action.GET)
        )
    ) == (404, "no_such_piece")
    ranged = {**placer.headers(piece, Action.GET), "Range": "bytes=5000-6000"}
    assert code(httpx.get(url, headers=ranged)) == (416, "bad_range")


def test_kill_mid_upload_leaves_nothing_and_keeps_earlier_pieces(
    start_node: StartNode, placer: Placer
) -> None:
    node = start_node()
    kept_data = os.urandom(300_000)
    kept = new_piece_id()
    assert put(node, placer, kept, kept_data).status_code == 201
    data = os.urandom(2 * MIB)
    piece = new_piece_id()
    headers = placer.put_headers(piece, data)
    head = (
        f"PUT /v1/pieces/{piece.hex()} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", node.port)) as sock:
        sock.sendall(head)
        for i in range(0, MIB, 64 * 1024):  # half the body, slowly
            sock.sendall(data[i : i + 64 * 1024])
            time.sleep(0.01)
        deadline = time.monotonic() + 30
        while not any((node.directory / "tmp").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any((node.directory / "tmp").iterdir())  # the upload was being written
        node.kill()
    node = NodeProcess(node.directory, node.keystore, node.port, node.extra).start()
    try:
        assert list((node.directory / "tmp").iterdir()) == []
        assert not (node.directory / "pieces" / piece.hex()[:2] / piece.hex()).exists()
        url = f"{node.url}/v1/pieces/{piece.hex()}"
        assert code(httpx.get(url, headers=placer.headers(piece, Action.GET))) == (
            404,
            "no_such_piece",
        )
        got = httpx.get(
            f"{node.url}/v1/pieces/{kept.hex()}", headers=placer.headers(kept, Action.GET)
        )
        assert got.status_code == 200 and got.content == kept_data
        assert put(node, placer, piece, data).status_code == 201  # a fresh order re-uploads it
        got = httpx.get(url, headers=placer.headers(piece, Action.GET))
        assert got.content == data
    finally:
        node.kill()


def test_corrupt_piece_is_refused(start_node: StartNode, placer: Placer) -> None:
    node = start_node()
    data = os.urandom(100_000)
    piece = new_piece_id()
    assert put(node, placer, piece, data).status_code == 201
    path = node.directory / "pieces" / piece.hex()[:2] / piece.hex()
    with path.open("r+b") as fh:
        fh.seek(5000)
        fh.write(bytes([data[5000] ^ 0xFF]))
    url = f"{node.url}/v1/pieces/{piece.hex()}"
    assert code(httpx.get(url, headers=placer.headers(piece, Action.GET))) == (500, "corrupt_piece")
    ranged = {**placer.headers(piece, Action.GET), "Range": "bytes=0-99"}
    assert code(httpx.get(url, headers=ranged)) == (500, "corrupt_piece")


def test_delete_and_ledger_survive_restart(start_node: StartNode, placer: Placer) -> None:
    node = start_node()
    data = os.urandom(10_000)
    piece = new_piece_id()
    assert put(node, placer, piece, data).status_code == 201
    url = f"{node.url}/v1/pieces/{piece.hex()}"
    get_headers = placer.headers(piece, Action.GET)
    assert httpx.get(url, headers=get_headers).status_code == 200
    stranger = Placer(placer.settings, placer.node)
    assert code(httpx.delete(url, headers=stranger.headers(piece, Action.DELETE))) == (
        403,
        "placer_not_authorised",
    )
    assert node.terminate() == 0  # SIGTERM: a clean exit
    assert "storage node stopped" in node.log()
    node = NodeProcess(node.directory, node.keystore, node.port, node.extra).start()
    try:
        assert code(httpx.get(url, headers=get_headers)) == (409, "order_replayed")
        delete = placer.headers(piece, Action.DELETE)
        r = httpx.delete(url, headers=delete)
        assert r.status_code == 200 and r.json() == {"piece": piece.hex(), "deleted": True}
        assert code(httpx.delete(url, headers=delete)) == (409, "order_replayed")
        assert code(httpx.delete(url, headers=placer.headers(piece, Action.DELETE))) == (
            404,
            "no_such_piece",
        )
        assert not list((node.directory / "pieces" / piece.hex()[:2]).iterdir())
        entries = [
            json.loads(line) for line in (node.directory / "orders.jsonl").read_text().splitlines()
        ]
        assert [e["action"] for e in entries] == ["put", "get", "delete"]
        assert httpx.get(f"{node.url}/v1/node").json()["pieces"] == 0
    finally:
        node.kill()


def test_cli_help_and_device_id(start_node: StartNode, placer: Placer, tmp_path: Path) -> None:
    node = start_node()
    assert f"storage node {placer.node}" in node.log()
    assert (node.directory / "agent.toml").read_text().count('kind = "storage"') == 1
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "opendepin", "storage", "node", "--help"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and "--placer" in out.stdout


@pytest.mark.parametrize("header", ["Depin-Order", "Depin-Placement"])
def test_garbage_headers_are_malformed(start_node: StartNode, placer: Placer, header: str) -> None:
    node = start_node()
    piece = new_piece_id()
    headers = {**placer.put_headers(piece, b"abc"), header: "!!not base64!!"}
    status, reason = code(
        httpx.put(f"{node.url}/v1/pieces/{piece.hex()}", content=b"abc", headers=headers)
    )
    assert status == 400 and reason == (
        "malformed_order" if header == "Depin-Order" else "malformed_placement"
    )


def test_sigterm_finishes_the_upload_in_flight_then_exits_0(
    start_node: StartNode, placer: Placer
) -> None:
    node = start_node()
    data = os.urandom(MIB)
    piece = new_piece_id()
    headers = placer.put_headers(piece, data)
    head = (
        f"PUT /v1/pieces/{piece.hex()} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", node.port)) as sock:
        sock.sendall(head + data[: MIB // 2])
        deadline = time.monotonic() + 30
        while not any((node.directory / "tmp").iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert node.proc is not None
        node.proc.terminate()  # SIGTERM while the body is half sent
        time.sleep(0.5)
        assert node.proc.poll() is None  # still finishing the upload
        sock.sendall(data[MIB // 2 :])
        answer = recv_until(sock, lambda a: b"\r\n\r\n" in a)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert node.proc.wait(60) == 0
    node = NodeProcess(node.directory, node.keystore, node.port, node.extra).start()
    try:
        got = httpx.get(
            f"{node.url}/v1/pieces/{piece.hex()}", headers=placer.headers(piece, Action.GET)
        )
        assert got.status_code == 200 and got.content == data
    finally:
        node.kill()
