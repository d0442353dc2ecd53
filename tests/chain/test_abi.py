"""ABI helpers: the direct reading of indexed topics matches eth_abi's decoding."""

from __future__ import annotations

import pytest
from eth_abi.abi import decode
from hypothesis import given
from hypothesis import strategies as st

from opendepin.chain.abi import _static_topic, checksum_address, normalise

TOPICS = st.one_of(
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=20, max_size=20).map(lambda b: bytes(12) + b),
    st.binary(min_size=8, max_size=8).map(lambda b: bytes(24) + b),
    st.binary(max_size=40),
)


def _reference(typ: str, topic: bytes) -> object:
    try:
        return normalise(typ, decode([typ], topic)[0])
    except Exception as exc:
        return type(exc)


@pytest.mark.parametrize("typ", ["address", "uint256", "uint64", "uint8", "bool", "bytes32"])
@given(topic=TOPICS)
def test_static_topic_agrees_with_eth_abi(typ: str, topic: bytes) -> None:
    try:
        fast: object = _static_topic(typ, topic)
    except Exception as exc:
        fast = type(exc)
    assert fast == _reference(typ, topic)


def test_checksum_address_is_eip55_and_refuses_non_addresses() -> None:
    assert (
        checksum_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
        == "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    )
    with pytest.raises(ValueError):
        checksum_address("0x1234")
