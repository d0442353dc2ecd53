"""The snapshot stage's inputs: entropy blocks, kind state between epochs, external inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from opendepin.chain.blocks import last_block_at_or_before
from opendepin.chain.embedded import EmbeddedChain
from opendepin.epochdir import KindFile, kind_path
from opendepin.errors import InvalidProof, StageError
from opendepin.identity import DeviceKey
from opendepin.network.settings import NetworkSection, Settings
from opendepin.oracle.epoch_inputs import (
    kind_file_paths,
    kind_files_for,
    read_entropy_blocks,
    read_kind_files,
    state_before,
)
from opendepin.proofs.coverage import CoverageHistory, Denylist, write_denylist
from opendepin.proofs.coverage.kind import (
    DENYLIST_FILE,
    KIND,
    denylist_from_inputs,
    lookback_seconds,
    state_from_bytes,
    state_to_bytes,
)
from opendepin.proofs.coverage.settings import coverage_section
from opendepin.proofs.heartbeat import KIND as HEARTBEAT
from opendepin.proofs.kind import KindBase, KindJob
from opendepin.records import ChainSnapshot
from opendepin.types import DeviceId, Epoch

START = 1_900_000_000
HOUR = 3_600
DAY = 86_400


def _settings(**coverage: object) -> Settings:
    return Settings(network=NetworkSection(genesis_unix=START, epoch_seconds=DAY), coverage=coverage)


def _device() -> DeviceId:
    return DeviceId(DeviceKey.generate().device_id)


def test_last_block_at_or_before_finds_the_window_block() -> None:
    chain = EmbeddedChain(genesis_timestamp=START - 100)
    chain.time_travel(100)
    at_start = chain.mine()  # exactly at START
    chain.time_travel(10)
    after = chain.mine()
    head = chain.block_number()
    assert last_block_at_or_before(chain, START, head) == at_start
    assert last_block_at_or_before(chain, START - 1, head) == at_start - 1
    assert last_block_at_or_before(chain, START + 10, head) == after
    assert last_block_at_or_before(chain, START + 10, at_start) == at_start  # never past `upper`


def test_read_entropy_blocks_lists_one_block_per_window_and_shares_idle_ones() -> None:
    chain = EmbeddedChain(genesis_timestamp=START - 100)
    chain.time_travel(100)
    first = chain.mine()  # window 0's block
    chain.time_travel(HOUR)
    second = chain.mine()  # window 1's block; nothing is mined for windows 2 and 3
    chain.time_travel(4 * HOUR)
    close = chain.mine()
    blocks = read_entropy_blocks(chain, START, 4 * HOUR, HOUR, close)
    assert sorted(blocks) == [first, second]
    assert blocks[second].timestamp == START + HOUR
    assert blocks[second].hash == chain.block_hash(second)


def test_coverage_next_state_merges_activity_and_prunes_to_the_longest_lookback() -> None:
    settings = _settings()
    section = coverage_section(settings)
    old, recent = _device(), _device()
    next_start = settings.network.epoch_start_unix(10)
    cutoff_ms = (next_start - lookback_seconds(section)) * 1_000
    before = CoverageHistory(last_valid_witness_ms={old: cutoff_ms - 1, recent: cutoff_ms})
    job = KindJob(Epoch(9), [], ChainSnapshot(1, bytes(32)), settings, section, state_to_bytes(before))
    result = KIND.compute(job)
    after = state_from_bytes(result.next_state)
    assert dict(after.last_valid_witness_ms) == {recent: cutoff_ms}
    assert KIND.initial_state(section) == state_to_bytes(CoverageHistory())


def test_state_before_chains_next_state_else_initial(tmp_path: Path) -> None:
    settings = _settings()
    previous = tmp_path / "4"
    assert state_before(KIND, "coverage", None, settings) == state_to_bytes(CoverageHistory())
    assert state_before(KIND, "coverage", previous, settings) == state_to_bytes(CoverageHistory())
    carried = state_to_bytes(CoverageHistory(last_valid_witness_ms={_device(): 5}))
    path = previous / kind_path("coverage", KindFile.NEXT_STATE)
    path.parent.mkdir(parents=True)
    path.write_bytes(carried)
    assert state_before(KIND, "coverage", previous, settings) == carried
    assert state_before(HEARTBEAT, "heartbeat", previous, settings) is None  # stateless


def test_kind_files_without_denylist_hold_the_state_only(tmp_path: Path) -> None:
    settings = _settings()
    files = kind_files_for({"coverage": KIND}, None, settings)
    assert dict(files["coverage"].inputs) == {}
    for rel, data in kind_file_paths("coverage", files["coverage"]).items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    again = read_kind_files(tmp_path, {"coverage": KIND})["coverage"]
    assert state_from_bytes(again.state) == CoverageHistory()
    assert denylist_from_inputs(again.inputs, coverage_section(settings)).version == 0


def test_kind_files_freeze_a_signed_denylist_and_bind_its_version(tmp_path: Path) -> None:
    signer = DeviceKey.generate()
    denied = _device()
    path = tmp_path / "network-denylist.json"
    write_denylist(path, Denylist.build(7, keys=[denied]), [signer])
    settings = _settings(denylist_path=str(path), denylist_signers=[signer.device_id], denylist_threshold=1)
    files = kind_files_for({"coverage": KIND}, None, settings)["coverage"]
    assert DENYLIST_FILE in files.inputs
    assert kind_path("coverage", DENYLIST_FILE) in kind_file_paths("coverage", files)
    denylist = denylist_from_inputs(files.inputs, coverage_section(settings))
    assert denylist.version == 7
    assert denylist.denies_key(denied)


def test_kind_files_refuse_a_denylist_from_an_unknown_signer(tmp_path: Path) -> None:
    path = tmp_path / "network-denylist.json"
    write_denylist(path, Denylist.build(3, keys=[_device()]), [DeviceKey.generate()])
    settings = _settings(denylist_path=str(path), denylist_signers=[DeviceKey.generate().device_id])
    with pytest.raises(InvalidProof):
        kind_files_for({"coverage": KIND}, None, settings)


class _BadInputs(KindBase):
    name = "coverage"

    def external_inputs(self, section: object) -> dict[str, bytes]:
        return {KindFile.STATE.value: b"{}"}


def test_kind_files_refuse_an_external_input_named_like_the_state() -> None:
    with pytest.raises(StageError, match="not allowed"):
        kind_files_for({"coverage": _BadInputs()}, None, _settings())  # type: ignore[dict-item]
