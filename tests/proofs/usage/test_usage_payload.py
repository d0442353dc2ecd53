"""The usage payloads and the frozen chain input parse totally, with one encoding each."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from usage_world import World

from opendepin.canonical import canonical_json
from opendepin.crypto import keccak256
from opendepin.errors import InputError
from opendepin.proofs.usage.chaininput import CreditsSpentInput, SpendEvent, parse_credits_spent
from opendepin.proofs.usage.payload import (
    EgressPayload,
    SpendPayload,
    UsagePayload,
    egress_payload,
    parse_payload,
    spend_payload,
    usage_payload,
)

W = World.make(nodes=1)
NODE = W.nodes[0].device_id


def test_the_three_payloads_parse() -> None:
    u = parse_payload(usage_payload(NODE, 1, 2, 3))
    assert u == UsagePayload(NODE, 1, 2, 3)
    ref = keccak256(b"f")
    assert parse_payload(spend_payload(W.account, 5, ref)) == SpendPayload(W.account, 5, ref)
    order = W.order(W.nodes[0], 10)
    e = parse_payload(egress_payload(W.gateway.device_id, [(order, 7)]))
    assert isinstance(e, EgressPayload) and e.orders == (order,) and e.bytes_served == (7,)


@pytest.mark.parametrize(
    "payload",
    [
        [],
        {"type": "nope"},
        {**usage_payload(NODE, 1, 2, 3), "extra": 1},
        {**usage_payload(NODE, 1, 2, 3), "credits": -1},
        {**usage_payload(NODE, 1, 2, 3), "credits": 2**200},
        {**usage_payload(NODE, 1, 2, 3), "egress_bytes": True},
        {**usage_payload(NODE, 1, 2, 3), "node": NODE.lower()[:-1] + "x"},
        {**usage_payload(NODE, 1, 2, 3), "node": "0x" + "ab" * 20},  # not checksummed
        {**spend_payload(NODE, 1, b"\x00" * 32), "usage_ref": "0x" + "AB" * 32},
        {**spend_payload(NODE, 1, b"\x00" * 32), "credits": 0},
        {"type": "egress", "gateway": NODE, "orders": [], "bytes": []},
        {"type": "egress", "gateway": NODE, "orders": [{"action": "get"}], "bytes": [1]},
    ],
)
def test_malformed_payloads_are_value_errors(payload: object) -> None:
    with pytest.raises(ValueError):
        parse_payload(payload)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4)))  # fmt: skip
def test_parse_payload_is_total(value: object) -> None:
    with contextlib.suppress(ValueError):
        parse_payload(value)


def test_the_chain_input_round_trips_and_is_canonical() -> None:
    data = CreditsSpentInput(
        3,
        9,
        100,
        frozenset({W.gateway.device_id}),
        (SpendEvent(4, 1, W.account, W.gateway.device_id, 7, b"\x01" * 32),),
    ).to_bytes()
    assert parse_credits_spent(data).to_bytes() == data
    assert parse_credits_spent(None) == CreditsSpentInput()


@pytest.mark.parametrize(
    "doc",
    [
        b"not json",
        canonical_json([]),
        canonical_json({"format": "other"}),
        canonical_json({"format": "credits_spent_v1", "spenders": [], "spends": [1]}),
        canonical_json({"format": "credits_spent_v1", "spenders": ["0x1"], "spends": []}),
        canonical_json(
            {
                "format": "credits_spent_v1",
                "spenders": [],
                "spends": [],
                "from_block": -1,
                "to_block": 0,
                "credits_per_token": 1,
            }
        ),
    ],
)
def test_a_malformed_chain_input_is_an_input_error(doc: bytes) -> None:
    with pytest.raises(InputError):
        parse_credits_spent(doc)
