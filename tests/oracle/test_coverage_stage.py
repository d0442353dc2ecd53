"""The oracle's coverage inputs: entropy blocks, history between epochs, the denylist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opendepin.chain.embedded import EmbeddedChain
from opendepin.errors import InvalidProof
from opendepin.identity import DeviceKey
from opendepin.network.settings import CoverageSection, NetworkSection, Settings
from opendepin.oracle.coverage_stage import (
    COVERAGE_HISTORY_FILE,
    DENYLIST_FILE,
    CoverageOutput,
    freeze_inputs,
    history_before,
    history_to_bytes,
    last_block_at_or_before,
    lookback_seconds,
    module_for_epoch,
    read_entropy_blocks,
    read_history,
)
from opendepin.proofs.base import ChainSnapshot
from opendepin.proofs.coverage import CoverageHistory, CoverageParams, Denylist, write_denylist
from opendepin.proofs.coverage.epoch import verify_epoch
from opendepin.types import DeviceId

START = 1_900_000_000
HOUR = 3_600


def _settings(**coverage: object) -> Settings:
    return Settings(
        network=NetworkSection(genesis_unix=START),
        coverage=CoverageSection.model_validate(coverage),
    )


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


def test_history_before_merges_previous_activity_and_prunes_old_entries(tmp_path: Path) -> None:
    settings = _settings()
    old, recent, fresh = _device(), _device(), _device()
    epoch_start = START + 10 * 86_400
    cutoff_ms = (epoch_start - lookback_seconds(settings)) * 1_000
    before = CoverageHistory(last_valid_witness_ms={old: cutoff_ms - 1, recent: cutoff_ms})
    previous = tmp_path / "9"
    previous.mkdir()
    (previous / COVERAGE_HISTORY_FILE).write_bytes(history_to_bytes(9, before))
    result = verify_epoch([], ChainSnapshot(1, bytes(32)), CoverageParams())
    activity = CoverageHistory(last_valid_witness_ms={fresh: epoch_start * 1_000 - 5})
    output = CoverageOutput(9, result)
    obj = json.loads(output.to_bytes())
    obj["activity"] = activity.to_obj()
    (previous / "coverage_v1.json").write_text(json.dumps(obj))
    history = history_before(previous, epoch_start, settings)
    assert dict(history.last_valid_witness_ms) == {recent: cutoff_ms, fresh: epoch_start * 1_000 - 5}
    assert history_before(None, epoch_start, settings) == CoverageHistory()


def test_freeze_inputs_without_denylist_writes_history_only(tmp_path: Path) -> None:
    epoch_dir = tmp_path / "0"
    epoch_dir.mkdir()
    written = freeze_inputs(epoch_dir, 0, START, _settings())
    assert set(written) == {COVERAGE_HISTORY_FILE}
    assert read_history(epoch_dir / COVERAGE_HISTORY_FILE) == CoverageHistory()
    assert module_for_epoch(epoch_dir, _settings()).denylist.version == 0


def test_freeze_inputs_copies_signed_denylist_and_binds_its_version(tmp_path: Path) -> None:
    signer = DeviceKey.generate()
    denied = _device()
    path = tmp_path / "network-denylist.json"
    write_denylist(path, Denylist.build(7, keys=[denied]), [signer])
    settings = _settings(
        denylist_path=str(path), denylist_signers=[signer.device_id], denylist_threshold=1
    )
    epoch_dir = tmp_path / "epochs" / "0"
    epoch_dir.mkdir(parents=True)
    written = freeze_inputs(epoch_dir, 0, START, settings)
    assert DENYLIST_FILE in written
    module = module_for_epoch(epoch_dir, settings)
    assert module.denylist.version == 7
    assert module.denylist.denies_key(denied)


def test_freeze_inputs_refuses_denylist_from_unknown_signer(tmp_path: Path) -> None:
    path = tmp_path / "network-denylist.json"
    write_denylist(path, Denylist.build(3, keys=[_device()]), [DeviceKey.generate()])
    settings = _settings(
        denylist_path=str(path), denylist_signers=[DeviceKey.generate().device_id]
    )
    epoch_dir = tmp_path / "0"
    epoch_dir.mkdir()
    with pytest.raises(InvalidProof):
        freeze_inputs(epoch_dir, 0, START, settings)
