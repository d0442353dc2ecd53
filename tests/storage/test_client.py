"""NodeClient against a real node: info, put with a checked ack, get, range, delete, refusals."""

from __future__ import annotations

import os
import time

import pytest

from opendepin.chain.accounts import Signer
from opendepin.storage.client import NodeClient, NodeUnavailable
from opendepin.storage.merkle import merkle_root
from opendepin.storage.orders import (
    Action,
    OrderLimit,
    OrderReason,
    Placement,
    StorageError,
    new_piece_id,
    new_serial,
)

from .cluster import CHAIN_ID, NETWORK, Cluster, free_port


def _now() -> int:
    return time.time_ns() // 1_000_000


def _order(
    signer: Signer, node: str, piece: bytes, action: Action, max_bytes: int, ttl_ms: int = 60_000
) -> OrderLimit:
    return OrderLimit(
        NETWORK,
        CHAIN_ID,
        signer.address,
        node,
        piece,
        action,
        max_bytes,
        _now() + ttl_ms,
        new_serial(),  # type: ignore[arg-type]
    ).signed(signer)


def _placement(signer: Signer, node: str, piece: bytes, data: bytes) -> Placement:
    now = _now()
    return Placement(
        NETWORK,
        CHAIN_ID,
        signer.address,
        node,
        piece,
        len(data),
        merkle_root(data),
        now,
        now + 86_400_000,  # type: ignore[arg-type]
    ).signed(signer)


def test_put_get_range_delete_round_trip(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    key = cluster.placer_key
    with NodeClient(node.url) as client:
        info = client.info()
        assert info.node == node.node and info.network == NETWORK and info.chain_id == CHAIN_ID
        data = os.urandom(100_000)
        piece = new_piece_id()
        ack = client.put(
            _order(key, node.node, piece, Action.PUT, len(data)),
            _placement(key, node.node, piece, data),
            data,
        )
        assert ack.root == merkle_root(data) and ack.size == len(data) and ack.node == node.node
        assert client.info().used_bytes >= len(data)
        assert client.get(_order(key, node.node, piece, Action.GET, len(data))) == data
        assert client.get(_order(key, node.node, piece, Action.GET, 100), (10, 109)) == data[10:110]
        client.delete(_order(key, node.node, piece, Action.DELETE, 0))
        with pytest.raises(StorageError) as gone:
            client.get(_order(key, node.node, piece, Action.GET, len(data)))
        assert gone.value.reason is OrderReason.NO_SUCH_PIECE


def test_refusals_carry_the_node_code(cluster: Cluster) -> None:
    node = cluster.nodes[1]
    key = cluster.placer_key
    stranger = Signer.generate()
    data = b"x" * 5000
    with NodeClient(node.url) as client:
        piece = new_piece_id()
        with pytest.raises(StorageError) as unauthorised:
            client.put(
                _order(stranger, node.node, piece, Action.PUT, 5000),
                _placement(stranger, node.node, piece, data),
                data,
            )
        assert unauthorised.value.reason is OrderReason.UNAUTHORISED_PLACER
        bad = _placement(key, node.node, piece, b"y" * 5000)
        with pytest.raises(StorageError) as mismatch:
            client.put(_order(key, node.node, piece, Action.PUT, 5000), bad, data)
        assert mismatch.value.reason is OrderReason.ROOT_MISMATCH
        other = cluster.nodes[2].node
        with pytest.raises(StorageError) as wrong_node:
            client.get(_order(key, other, piece, Action.GET, 10))
        assert wrong_node.value.reason is OrderReason.WRONG_NODE
        with pytest.raises(StorageError) as expired:
            client.get(_order(key, node.node, piece, Action.GET, 10, ttl_ms=-1000))
        assert expired.value.reason is OrderReason.EXPIRED


def test_an_ack_by_another_key_is_rejected(cluster: Cluster) -> None:
    """The placement names node 0 but the bytes go to node 1: node 1 refuses (wrong node)."""
    key = cluster.placer_key
    data = b"z" * 300
    piece = new_piece_id()
    target = cluster.nodes[0].node
    with NodeClient(cluster.nodes[1].url) as client, pytest.raises(StorageError) as refused:
        client.put(
            _order(key, target, piece, Action.PUT, 300), _placement(key, target, piece, data), data
        )
    assert refused.value.reason is OrderReason.WRONG_NODE


def test_unreachable_node_is_node_unavailable() -> None:
    with (
        NodeClient(f"http://127.0.0.1:{free_port()}", timeout_seconds=2) as client,
        pytest.raises(NodeUnavailable),
    ):
        client.info()
