"""An epoch's sealed reports of one kind, split by device and computed shard by shard.

```
sealed file ──stream (sha256, size, count checked)──▶ shard files by crc32(device) % S
                                                       (lines in sealed order + their line numbers)
shard k ──executor: decode, Kind.compute_shard──▶ invalid verdicts (with line numbers), valid
                                                   count, the kind's per-device partial
every shard ──Kind.combine──▶ shares, explanations, notes, state;  verdicts merged by line number
```

Only a kind that implements `proofs.kind.ShardedKind` is split (its rules judge a device by
its own reports), and only when it has more than `compute.shard_reports` sealed reports;
otherwise `compute_epoch` calls `Kind.compute` as before. Either way the result is the same
bytes: each device's reports reach one shard in sealed order, and the contract of
`ShardedKind` (property-tested per kind) makes the combined shards equal `compute`.

**Memory.** This process streams the sealed file once (never holding it) and then holds the
kind's partials — for heartbeat one tally per device — plus the invalid verdicts, which are
published one by one anyway. A worker holds one shard: about `shard_reports` decoded reports.
So memory grows with devices (and invalid reports), not with reports.

**Shard key.** A report's shard is `crc32(lower-case device address) % shards`, read from the
sealed line's bytes without decoding it (the first `"device":"` of a line `codec.dumps`
wrote is the device field: the only field before it that is a string, the network id, has
its quotes escaped). The worker decodes each line and refuses a line whose device is not the
one its shard key was read from (`StoreError`: the sealed file is not what `seal` writes).
A device cannot choose its shard usefully: the shard only decides which worker judges it.
"""

from __future__ import annotations

import gc
import hashlib
import zlib
from array import array
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from opendepin.errors import StageError, StoreError
from opendepin.network.settings import Settings
from opendepin.oracle.executors import Executor
from opendepin.proofs.kind import KindJob, KindResult, ShardedKind
from opendepin.records import IngestedReport, Verdict
from opendepin.store.sealing import SealedFile, check_sealed_file, parse_sealed_line, sealed_lines

READ_CHUNK_BYTES = 8 * 1024 * 1024
FLUSH_BYTES = 1024 * 1024
DEVICE_FIELD = b'"device":"'
DEVICE_CHARS = 42


def shard_of(device: bytes, shards: int) -> int:
    """The shard of a device address (its 42 ASCII bytes, any case)."""
    return zlib.crc32(device.lower()) % shards


def shard_count(reports: int, shard_reports: int, workers: int) -> int:
    """How many shards an epoch of `reports` gets: about `shard_reports` each, and at least
    one per worker (so every core is busy) when there are enough reports to split at all."""
    if reports <= shard_reports:
        return 1
    return max(workers, -(-reports // shard_reports))


@dataclass(frozen=True, slots=True)
class ShardInput:
    """One shard's sealed lines and their line numbers in the sealed file: as paths on this
    machine's disk, or (for a remote executor) the bytes themselves."""

    shard: int
    lines_path: str | None = None
    numbers_path: str | None = None
    lines: bytes | None = None
    numbers: bytes | None = None

    def load(self) -> tuple[bytes, array[int]]:
        data = self.lines if self.lines is not None else Path(str(self.lines_path)).read_bytes()
        raw = self.numbers if self.numbers is not None else Path(str(self.numbers_path)).read_bytes()
        numbers = array("q")
        numbers.frombytes(raw)
        return data, numbers

    def materialised(self) -> ShardInput:
        """The same shard with its bytes in memory: what a remote executor sends (it calls this
        as it submits the shard, so only the shards in flight are in memory)."""
        data, numbers = self.load()
        return ShardInput(self.shard, lines=data, numbers=numbers.tobytes())


@dataclass(frozen=True, slots=True)
class ShardContext:
    """What every shard of one kind's epoch shares (sent to each worker once)."""

    kind: Any
    """The kind object (a `ShardedKind`; pickled by reference to its module)."""
    job: KindJob
    """The kind's job with no reports: epoch, snapshot, settings, section, state, inputs, pool."""
    shards: int


@dataclass(frozen=True, slots=True)
class ShardResult:
    """What one shard returns: small, whatever the shard's size."""

    shard: int
    reports: int
    invalid: tuple[tuple[int, Verdict], ...]
    """(line number in the sealed file, verdict) of every invalid report, in sealed order."""
    partial: Any


def split_sealed(path: Path, sealed: SealedFile, shards: int, out_dir: Path) -> list[ShardInput]:
    """Stream `path` into `shards` shard files under `out_dir`, checking it against `sealed`
    (sha256, size, line count; StoreError on a mismatch or a line without a device field)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [open(out_dir / f"shard-{k}.jsonl", "wb") for k in range(shards)]  # noqa: SIM115
    number_files = [open(out_dir / f"shard-{k}.numbers", "wb") for k in range(shards)]  # noqa: SIM115
    buffers = [bytearray() for _ in range(shards)]
    numbers = [array("q") for _ in range(shards)]
    digest = hashlib.sha256()
    size = 0
    count = 0
    rest = b""

    def flush(k: int) -> None:
        files[k].write(buffers[k])
        buffers[k].clear()
        numbers[k].tofile(number_files[k])
        del numbers[k][:]

    def route(line: bytes, number: int) -> None:
        at = line.find(DEVICE_FIELD)
        if at < 0:
            raise StoreError(f"{sealed.name}:{number}: a sealed line without a device field")
        start = at + len(DEVICE_FIELD)
        k = shard_of(line[start : start + DEVICE_CHARS], shards) if shards > 1 else 0
        buffer = buffers[k]
        buffer += line
        buffer += b"\n"
        numbers[k].append(number)
        if len(buffer) >= FLUSH_BYTES:
            flush(k)

    try:
        with open(path, "rb") as source:
            while chunk := source.read(READ_CHUNK_BYTES):
                digest.update(chunk)
                size += len(chunk)
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    count += 1
                    route(line, count)
        if rest:
            count += 1
            route(rest, count)
        for k in range(shards):
            flush(k)
    except OSError as exc:
        raise StoreError(f"cannot read sealed file {path}: {exc}") from exc
    finally:
        for out in (*files, *number_files):
            out.close()
    check_sealed_file(path, sealed, digest.hexdigest(), size, count)
    return [
        ShardInput(k, str(out_dir / f"shard-{k}.jsonl"), str(out_dir / f"shard-{k}.numbers"))
        for k in range(shards)
    ]


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off for the duration (and back on if it was on).

    Computing an epoch creates a few objects per report that live until the end of the
    computation and hold no reference cycles; with the collector on, every few hundred
    allocations it walks all of them again (measured: the decode and rule stages take about
    twice as long on 100,000 reports). Reference counting still frees everything as usual;
    only cyclic garbage, if a kind makes some, waits until the end."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def run_shard(context: ShardContext, item: ShardInput) -> ShardResult:
    """Decode one shard's lines and run the kind's `compute_shard` on them (in a worker)."""
    with paused_gc():
        return _run_shard(context, item)


def _run_shard(context: ShardContext, item: ShardInput) -> ShardResult:
    data, numbers = item.load()
    lines = sealed_lines(data)
    if len(lines) != len(numbers):
        raise StoreError(f"shard {item.shard}: {len(lines)} lines but {len(numbers)} line numbers")
    reports: list[IngestedReport] = []
    for line, number in zip(lines, numbers, strict=True):
        ingested = parse_sealed_line(line, f"line {number}")
        device = ingested.report.device.encode()
        if context.shards > 1 and shard_of(device, context.shards) != item.shard:
            raise StoreError(f"line {number}: its device field is not the first \"device\" of the line")
        reports.append(ingested)
    kind: ShardedKind = context.kind
    part = kind.compute_shard(replace(context.job, reports=reports))
    if len(part.verdicts) != len(reports):
        raise StageError(
            f"{getattr(kind, 'name', type(kind).__name__)}: compute_shard returned "
            f"{len(part.verdicts)} verdicts for {len(reports)} reports"
        )
    invalid = tuple((n, v) for n, v in zip(numbers, part.verdicts, strict=True) if not v.valid)
    return ShardResult(item.shard, len(reports), invalid, part.partial)


@dataclass(frozen=True, slots=True)
class ShardedKindResult:
    """A sharded kind's epoch: what `compute_epoch` takes in place of calling `compute`."""

    reports: int
    """Sealed reports of the kind."""
    invalid: tuple[Verdict, ...]
    """Its invalid verdicts, in sealed order."""
    valid: int
    """How many of its verdicts are valid."""
    result: KindResult
    """`combine`'s result (its `verdicts` empty)."""


def compute_sharded(
    kind: ShardedKind,
    job: KindJob,
    path: Path,
    sealed: SealedFile,
    executor: Executor,
    work_dir: Path,
) -> ShardedKindResult:
    """One sharded kind's epoch from its sealed file (`job.reports` is ignored)."""
    settings = job.settings
    shards = shard_count(sealed.count, settings.compute.shard_reports, executor.workers)
    items = split_sealed(path, sealed, shards, work_dir)
    empty = replace(job, reports=())
    context = ShardContext(kind, empty, shards)
    results: dict[int, ShardResult] = {}
    for index, result in executor.run(run_shard, context, items):
        if not isinstance(result, ShardResult) or result.shard != index:
            raise StageError(f"shard {index}: the executor returned {type(result).__name__}")
        results[index] = result
        for done in (items[index].lines_path, items[index].numbers_path):
            Path(str(done)).unlink(missing_ok=True)
    ordered = [results[k] for k in range(shards)]
    total = sum(r.reports for r in ordered)
    if total != sealed.count:
        raise StageError(f"{sealed.name}: shards judged {total} reports of {sealed.count}")
    invalid = sorted((pair for r in ordered for pair in r.invalid), key=lambda pair: pair[0])
    combined = kind.combine(empty, [r.partial for r in ordered])
    return ShardedKindResult(
        reports=total,
        invalid=tuple(v for _, v in invalid),
        valid=total - len(invalid),
        result=combined,
    )


def sharded_kinds(
    modules: Mapping[str, Any], files: Sequence[SealedFile], settings: Settings
) -> dict[str, SealedFile]:
    """Kind name -> its sealed file, for the kinds this epoch computes in shards."""
    out: dict[str, SealedFile] = {}
    for f in files:
        module = modules.get(f.kind)
        if isinstance(module, ShardedKind) and f.count > settings.compute.shard_reports:
            out[str(f.kind)] = f
    return out


__all__ = [
    "ShardContext",
    "ShardInput",
    "ShardResult",
    "ShardedKindResult",
    "compute_sharded",
    "paused_gc",
    "run_shard",
    "shard_count",
    "shard_of",
    "sharded_kinds",
    "split_sealed",
]
