"""An epoch computed in shards (inline, on worker processes, on a 2-worker Dask cluster)
publishes exactly the bytes of the one-process computation; the split refuses a sealed file
that is not the one the manifest names."""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from opendepin.epochdir import EpochFile
from opendepin.errors import StoreError
from opendepin.network.settings import NetworkSection, Settings
from opendepin.oracle import shards
from opendepin.oracle.epoch_files import atomic_write, prior_to_bytes, snapshot_to_bytes
from opendepin.oracle.executors import Executor, InlineExecutor, ProcessExecutor
from opendepin.oracle.publish import render_outputs
from opendepin.oracle.recompute import recompute_epoch
from opendepin.oracle.shards import (
    ShardContext,
    ShardInput,
    device_ranges,
    run_shard,
    shard_count,
    split_sealed,
)
from opendepin.proofs.heartbeat import HEARTBEAT
from opendepin.proofs.heartbeat.simulation import Population
from opendepin.proofs.kind import KindJob
from opendepin.reports import codec
from opendepin.store.sealing import INPUT_MANIFEST_NAME, InputManifest, SealedFile
from opendepin.types import Epoch, ProofKind

from .helpers import GENESIS_UNIX, accepted_reports, snapshot_of

EPOCH = 2
KINDS = {"heartbeat": HEARTBEAT}


def _settings(shard_reports: int) -> Settings:
    return Settings(network=NetworkSection(genesis_unix=GENESIS_UNIX), compute={"shard_reports": shard_reports})  # type: ignore[arg-type]


def _epoch_dir(tmp_path: Path, devices: int = 40, seed: int = 5, *, ordered: bool = False) -> Path:
    """An epoch directory as seal leaves it: a simulated population's heartbeats (every
    behaviour, so many invalid verdicts and caps), in sealed order (by device and seq) when
    `ordered`, else shuffled (a file seal would not write, which the split path handles)."""
    settings = _settings(10**9)
    pop = Population(seed=seed, devices=devices)
    reports = accepted_reports(pop, settings, EPOCH)
    random.Random(seed).shuffle(reports)
    if ordered:
        reports.sort(key=lambda r: (r.report.device, r.report.seq))
    data = b"".join(codec.dumps(r.report).encode() + b"\n" for r in reports)
    epoch_dir = tmp_path / "epochs" / str(EPOCH)
    inputs = epoch_dir / "inputs"
    inputs.mkdir(parents=True)
    sha = hashlib.sha256(data).hexdigest()
    name = f"heartbeat_v1.{sha[:16]}.jsonl"
    (inputs / name).write_bytes(data)
    manifest = InputManifest(
        epoch=Epoch(EPOCH), files=(SealedFile(name, ProofKind("heartbeat"), len(reports), sha, len(data)),)
    )
    atomic_write(inputs / INPUT_MANIFEST_NAME, manifest.to_json())
    atomic_write(epoch_dir / EpochFile.SNAPSHOT, snapshot_to_bytes(snapshot_of(pop, settings, EPOCH)))
    atomic_write(epoch_dir / EpochFile.PRIOR, prior_to_bytes(EPOCH - 1, {}))
    return epoch_dir


def _outputs(
    epoch_dir: Path, settings: Settings, executor: Executor | None = None, *, shard: bool = True
) -> dict[str, bytes]:
    again = recompute_epoch(epoch_dir, settings, KINDS, executor, shard=shard)
    return render_outputs(settings.network.network_id, again.computation, again.snapshot)


def _sealed(epoch_dir: Path) -> tuple[Path, SealedFile]:
    manifest = InputManifest.from_json((epoch_dir / "inputs" / INPUT_MANIFEST_NAME).read_bytes())
    f = manifest.files[0]
    return epoch_dir / "inputs" / f.name, f


@pytest.mark.parametrize("ordered", [True, False], ids=["byte-ranges", "split"])
def test_sharded_inline_equals_one_process(tmp_path: Path, ordered: bool) -> None:
    epoch_dir = _epoch_dir(tmp_path, ordered=ordered)
    reference = _outputs(epoch_dir, _settings(10**9), shard=False)
    _, sealed = _sealed(epoch_dir)
    assert shard_count(sealed.count, 100, 1) > 4  # the sharded run below really splits
    sharded = _outputs(epoch_dir, _settings(100), InlineExecutor())
    assert sharded == reference
    assert b'"reason":"location_untrusted"' in reference[EpochFile.VERDICTS.value]  # invalid ones merged too
    assert not list(epoch_dir.glob(".shards-*"))  # the shard files are gone


@pytest.mark.parametrize("ordered", [True, False], ids=["byte-ranges", "split"])
def test_sharded_on_worker_processes_equals_one_process(tmp_path: Path, ordered: bool) -> None:
    epoch_dir = _epoch_dir(tmp_path, seed=6, ordered=ordered)
    reference = _outputs(epoch_dir, _settings(10**9), shard=False)
    assert _outputs(epoch_dir, _settings(150), ProcessExecutor(2)) == reference
    # the default executor named by the settings is the processes one
    assert _outputs(epoch_dir, _settings(150)) == reference


def test_sharded_on_a_two_worker_dask_cluster_equals_one_process(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    from opendepin.oracle.executors import executor_for

    epoch_dir = _epoch_dir(tmp_path, seed=7, ordered=True)
    reference = _outputs(epoch_dir, _settings(10**9), shard=False)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        executor = executor_for(cluster.scheduler_address)
        try:
            assert executor.workers == 2 and executor.remote
            assert _outputs(epoch_dir, _settings(100), executor) == reference
        finally:
            executor.close()


def test_split_keeps_each_devices_lines_in_sealed_order(tmp_path: Path) -> None:
    epoch_dir = _epoch_dir(tmp_path)
    path, sealed = _sealed(epoch_dir)
    lines = path.read_bytes().split(b"\n")[:-1]
    shards = split_sealed(path, sealed, 5, tmp_path / "work")
    seen: list[int] = []
    for item in shards:
        data, numbers = item.load()
        assert data.split(b"\n")[:-1] == [lines[n - 1] for n in numbers]
        assert list(numbers) == sorted(numbers)
        devices = {codec.loads(line).device for line in data.split(b"\n")[:-1]}
        for other in shards:
            if other is not item:
                other_data, _ = other.load()
                assert not devices & {codec.loads(x).device for x in other_data.split(b"\n")[:-1]}
        seen.extend(numbers)
    assert sorted(seen) == list(range(1, len(lines) + 1))


def test_split_refuses_a_file_that_is_not_the_sealed_one(tmp_path: Path) -> None:
    epoch_dir = _epoch_dir(tmp_path, devices=8)
    path, sealed = _sealed(epoch_dir)
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"seq":1,', b'"seq":9,', 1))
    with pytest.raises(StoreError, match="does not match the manifest"):
        split_sealed(path, sealed, 3, tmp_path / "a")
    path.write_bytes(data + b"{}\n")
    with pytest.raises(StoreError, match="without a device field"):
        split_sealed(path, sealed, 3, tmp_path / "b")
    path.write_bytes(data)
    short = SealedFile(sealed.name, sealed.kind, sealed.count + 1, sealed.sha256, sealed.bytes)
    with pytest.raises(StoreError, match="manifest says"):
        split_sealed(path, short, 3, tmp_path / "c")


def test_a_shard_refuses_a_line_of_another_shard(tmp_path: Path) -> None:
    epoch_dir = _epoch_dir(tmp_path, devices=8)
    path, sealed = _sealed(epoch_dir)
    shards = split_sealed(path, sealed, 4, tmp_path / "work")
    donor = next(s for s in shards if s.load()[0])
    target = next(s for s in shards if s.shard != donor.shard)
    lines, numbers = donor.load()
    wrong = ShardInput(target.shard, lines=lines, numbers=numbers.tobytes())
    settings = _settings(10)
    again = recompute_epoch(epoch_dir, _settings(10**9), KINDS)
    job = KindJob(
        epoch=Epoch(EPOCH), reports=(), snapshot=again.snapshot, settings=settings,
        section=settings.kind_section("heartbeat"),
    )  # fmt: skip
    with pytest.raises(StoreError, match="device field"):
        run_shard(ShardContext(HEARTBEAT, job, 4), wrong)
    result = run_shard(ShardContext(HEARTBEAT, job, 4), donor.materialised())
    assert result.reports == len(numbers) and result.shard == donor.shard


def test_a_file_in_sealed_order_is_cut_into_byte_ranges_between_devices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    epoch_dir = _epoch_dir(tmp_path, ordered=True)
    path, _ = _sealed(epoch_dir)
    data = path.read_bytes()
    ranges = device_ranges(path, len(data), 7)
    assert len(ranges) == 7
    assert ranges[0][0] == 0 and sum(length for _, length in ranges) == len(data)
    for (a, la), (b, _) in itertools.pairwise(ranges):
        assert a + la == b  # contiguous
        before = data[:b].rsplit(b"\n", 2)[-2]  # the last line of the range before
        after = data[b:].split(b"\n", 1)[0]
        assert codec.loads(before).device < codec.loads(after).device
    # such a file never goes through the split into shard files
    monkeypatch.setattr(shards, "split_sealed", _no_split)
    reference = _outputs(epoch_dir, _settings(10**9), shard=False)
    assert _outputs(epoch_dir, _settings(100), InlineExecutor()) == reference


def _no_split(*args: object) -> list[ShardInput]:
    raise AssertionError("split_sealed called for a file in sealed order")


def test_a_file_out_of_sealed_order_falls_back_to_the_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    epoch_dir = _epoch_dir(tmp_path)
    calls: list[int] = []
    real = shards.split_sealed

    def counting(path: Path, sealed: SealedFile, count: int, out: Path) -> list[ShardInput]:
        calls.append(count)
        return real(path, sealed, count, out)

    monkeypatch.setattr(shards, "split_sealed", counting)
    reference = _outputs(epoch_dir, _settings(10**9), shard=False)
    assert _outputs(epoch_dir, _settings(100), InlineExecutor()) == reference
    assert len(calls) == 1


def test_byte_ranges_refuse_a_file_that_is_not_the_sealed_one(tmp_path: Path) -> None:
    epoch_dir = _epoch_dir(tmp_path, ordered=True)
    path, _ = _sealed(epoch_dir)
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"seq":1,', b'"seq":9,', 1))
    with pytest.raises(StoreError, match="does not match the manifest"):
        _outputs(epoch_dir, _settings(100), InlineExecutor())
    # a broken line in a changed file: the manifest mismatch is what is reported
    path.write_bytes(data.replace(b'"kind"', b'"kind', 1))
    with pytest.raises(StoreError, match="does not match the manifest"):
        _outputs(epoch_dir, _settings(100), InlineExecutor())


def test_a_range_shard_names_an_undecodable_line_by_its_byte_offset(tmp_path: Path) -> None:
    epoch_dir = _epoch_dir(tmp_path, devices=8, ordered=True)
    path, sealed = _sealed(epoch_dir)
    data = path.read_bytes()
    second = data.index(b"\n") + 1
    broken = data[:second] + data[second:].replace(b'"kind"', b'"kind', 1)
    again = recompute_epoch(epoch_dir, _settings(10**9), KINDS)
    settings = _settings(10)
    job = KindJob(
        epoch=Epoch(EPOCH), reports=(), snapshot=again.snapshot, settings=settings,
        section=settings.kind_section("heartbeat"),
    )  # fmt: skip
    item = ShardInput(0, lines=broken, offset=0, length=len(broken), name=sealed.name)
    with pytest.raises(StoreError, match=f"{sealed.name} line at byte {second}"):
        run_shard(ShardContext(HEARTBEAT, job, 1), item)
    whole = run_shard(ShardContext(HEARTBEAT, job, 1), ShardInput(0, str(path), offset=0, length=len(data)))
    assert whole.ordered and whole.reports == sealed.count
    assert whole.first < whole.last


def test_a_small_epoch_of_a_line_kind_is_judged_from_its_lines_in_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opendepin.oracle import recompute

    epoch_dir = _epoch_dir(tmp_path, ordered=True)
    reference = _outputs(epoch_dir, _settings(10**9), shard=False)

    def no_workers(*args: object) -> Executor:
        raise AssertionError("an executor was made for one shard")

    monkeypatch.setattr(recompute, "executor_for", no_workers)
    judged: list[int] = []
    real = HEARTBEAT.compute_shard_lines

    def counting(job: KindJob, lines: Sequence[bytes], decode: Any) -> Any:
        judged.append(len(lines))
        return real(job, lines, decode)

    monkeypatch.setattr(HEARTBEAT, "compute_shard_lines", counting)
    assert _outputs(epoch_dir, _settings(10**9)) == reference
    assert judged == [_sealed(epoch_dir)[1].count]  # one shard, every line
