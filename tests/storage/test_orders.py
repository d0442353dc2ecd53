"""Orders and placement records: EIP-712 digests any Ethereum tool reproduces, total parsing."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.chain.accounts import Signer
from opendepin.storage.orders import (
    Action,
    OrderLimit,
    OrderReason,
    Placement,
    StorageError,
    check_order,
    check_placement,
    decode_header,
    encode_header,
    new_piece_id,
    new_serial,
    parse_order,
    parse_placement,
)

NET, CHAIN = "testnet", 31337
NOW = 1_900_000_000_000


DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
]


def domain() -> dict[str, Any]:
    return {"name": "opendepin", "version": "1", "chainId": CHAIN}


def make(placer: Signer, node: Signer, action: Action = Action.PUT) -> OrderLimit:
    return OrderLimit(NET, CHAIN, placer.address, node.address, new_piece_id(), action, 1000, NOW + 60_000, new_serial())


def test_order_digest_matches_eth_account() -> None:
    placer, node = Signer.generate(), Signer.generate()
    order = make(placer, node, Action.GET)
    message = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": DOMAIN_FIELDS,
                "OrderLimit": [
                    {"name": "network", "type": "string"},
                    {"name": "placer", "type": "address"},
                    {"name": "node", "type": "address"},
                    {"name": "piece", "type": "bytes32"},
                    {"name": "action", "type": "uint8"},
                    {"name": "maxBytes", "type": "uint64"},
                    {"name": "expiresMs", "type": "uint64"},
                    {"name": "serial", "type": "bytes16"},
                ],
            },
            "primaryType": "OrderLimit",
            "domain": domain(),
            "message": {
                "network": NET,
                "placer": order.placer,
                "node": order.node,
                "piece": order.piece,
                "action": int(order.action),
                "maxBytes": order.max_bytes,
                "expiresMs": order.expires_ms,
                "serial": order.serial,
            },
        }
    )
    signed = Account.sign_message(message, placer.private_bytes())
    assert replace(order, signature=bytes(signed.signature)).signer() == placer.address


def test_placement_digest_matches_eth_account() -> None:
    placer, node = Signer.generate(), Signer.generate()
    p = Placement(NET, CHAIN, placer.address, node.address, new_piece_id(), 12345, bytes(range(32)), NOW, NOW + 1)
    message = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": DOMAIN_FIELDS,
                "Placement": [
                    {"name": "network", "type": "string"},
                    {"name": "placer", "type": "address"},
                    {"name": "node", "type": "address"},
                    {"name": "piece", "type": "bytes32"},
                    {"name": "size", "type": "uint64"},
                    {"name": "root", "type": "bytes32"},
                    {"name": "termStartMs", "type": "uint64"},
                    {"name": "termEndMs", "type": "uint64"},
                ],
            },
            "primaryType": "Placement",
            "domain": domain(),
            "message": {
                "network": NET,
                "placer": p.placer,
                "node": p.node,
                "piece": p.piece,
                "size": p.size,
                "root": p.root,
                "termStartMs": p.term_start_ms,
                "termEndMs": p.term_end_ms,
            },
        }
    )
    signed = Account.sign_message(message, placer.private_bytes())
    assert replace(p, signature=bytes(signed.signature)).signer() == placer.address
    assert p.signed(placer).signature == bytes(signed.signature)


def test_round_trips_through_json_and_headers() -> None:
    placer, node = Signer.generate(), Signer.generate()
    order = make(placer, node).signed(placer)
    assert parse_order(order.to_obj()) == order
    assert parse_order(json.dumps(order.to_obj())) == order
    assert parse_order(decode_header(encode_header(order), OrderReason.MALFORMED_ORDER)) == order
    p = Placement(NET, CHAIN, placer.address, node.address, order.piece, 10, bytes(32), NOW, NOW + 5).signed(placer)
    assert parse_placement(decode_header(encode_header(p), OrderReason.MALFORMED_PLACEMENT)) == p


def test_check_order_refuses_with_reasons() -> None:
    placer, node, other = Signer.generate(), Signer.generate(), Signer.generate()
    order = make(placer, node).signed(placer)
    ok = {
        "network": NET,
        "chain_id": CHAIN,
        "node": node.address,
        "piece": order.piece,
        "action": Action.PUT,
        "now_ms": NOW,
        "placers": frozenset({placer.address}),
    }
    check_order(order, **ok)  # type: ignore[arg-type]
    cases: list[tuple[OrderLimit, dict[str, Any], OrderReason]] = [
        (order, {"network": "other"}, OrderReason.WRONG_NETWORK),
        (replace(order, max_bytes=1001), {}, OrderReason.BAD_SIGNATURE),
        (make(placer, node).signed(other), {}, OrderReason.BAD_SIGNATURE),
        (order, {"placers": frozenset({other.address})}, OrderReason.UNAUTHORISED_PLACER),
        (order, {"node": other.address}, OrderReason.WRONG_NODE),
        (order, {"piece": new_piece_id()}, OrderReason.WRONG_PIECE),
        (order, {"action": Action.GET}, OrderReason.WRONG_ACTION),
        (order, {"now_ms": NOW + 60_001}, OrderReason.EXPIRED),
    ]
    for bad, override, reason in cases:
        with pytest.raises(StorageError) as err:
            check_order(bad, **{**ok, **override})  # type: ignore[arg-type]
        assert err.value.reason is reason


def test_check_placement() -> None:
    placer, node = Signer.generate(), Signer.generate()
    order = make(placer, node).signed(placer)
    p = Placement(NET, CHAIN, placer.address, node.address, order.piece, 1000, bytes(32), NOW, NOW + 5)
    check_placement(p.signed(placer), order)
    for bad, reason in [
        (p.signed(node), OrderReason.BAD_SIGNATURE),
        (replace(p, size=1001).signed(placer), OrderReason.TOO_LARGE),
        (replace(p, piece=new_piece_id()).signed(placer), OrderReason.PLACEMENT_MISMATCH),
    ]:
        with pytest.raises(StorageError) as err:
            check_placement(bad, order)
        assert err.value.reason is reason
    with pytest.raises(StorageError) as err:
        parse_placement({**p.signed(placer).to_obj(), "term_end_ms": NOW})
    assert err.value.reason is OrderReason.BAD_TERM


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=12), c, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(obj=st.dictionaries(st.sampled_from([*OrderLimit.__slots__, "x"]), json_values, max_size=12))
def test_parsers_are_total(obj: dict[str, Any]) -> None:
    for parse in (parse_order, parse_placement):
        try:
            parse(obj)
        except StorageError as exc:
            assert isinstance(exc.reason, OrderReason)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.hex()))
def test_header_decoding_is_total(text: str) -> None:
    try:
        decode_header(text, OrderReason.MALFORMED_ORDER)
    except StorageError as exc:
        assert exc.reason is OrderReason.MALFORMED_ORDER


def test_oversized_wire_form_is_refused() -> None:
    with pytest.raises(StorageError) as err:
        parse_order(b"{" + b" " * 5000 + b"}")
    assert err.value.reason is OrderReason.MALFORMED_ORDER
