"""Records survive the trip to a worker process (pickle) unchanged."""

from __future__ import annotations

import pickle

from hypothesis import given
from hypothesis import strategies as st

from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock
from opendepin.types import Address, DeviceId

texts = st.text(max_size=12)
records = st.builds(
    DeviceRecord,
    device=texts.map(DeviceId),
    owner=texts.map(Address),
    kind=texts,
    location=st.integers(min_value=0, max_value=2**64 - 1),
    active=st.booleans(),
)
blocks = st.builds(
    EntropyBlock,
    number=st.integers(min_value=0, max_value=2**63),
    hash=st.binary(max_size=32),
    timestamp=st.integers(min_value=0, max_value=2**40),
)


@given(
    st.integers(min_value=0, max_value=2**63),
    st.binary(max_size=32),
    st.dictionaries(texts.map(DeviceId), records, max_size=8),
    st.dictionaries(st.integers(min_value=0, max_value=2**40), blocks, max_size=4),
)
def test_a_snapshot_pickles_to_an_equal_snapshot(
    block: int,
    entropy: bytes,
    devices: dict[DeviceId, DeviceRecord],
    entropy_blocks: dict[int, EntropyBlock],
) -> None:
    # The keys need not equal the records' own ids: the rows keep both.
    snapshot = ChainSnapshot(block, entropy, devices, entropy_blocks)
    again = pickle.loads(pickle.dumps(snapshot, protocol=pickle.HIGHEST_PROTOCOL))
    assert again == snapshot
    assert list(again.devices) == list(devices)  # order kept
    assert list(again.entropy_blocks) == list(entropy_blocks)
    assert all(type(r) is DeviceRecord for r in again.devices.values())
