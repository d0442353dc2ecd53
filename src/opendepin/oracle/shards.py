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
import itertools
import operator
import os
import threading
import zlib
from array import array
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from opendepin.errors import StageError, StoreError
from opendepin.network.settings import Settings
from opendepin.oracle.executors import Executor
from opendepin.proofs.kind import KindJob, KindResult, LineShardedKind, ShardedKind
from opendepin.records import IngestedReport, Verdict
from opendepin.store.sealing import SealedFile, check_sealed_file, parse_sealed_line, sealed_lines

READ_CHUNK_BYTES = 8 * 1024 * 1024
FLUSH_BYTES = 1024 * 1024
LOWEST_PRIORITY = 19
"""The nice value of the sealed file's digest thread (see `_FileDigest`)."""
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
    """One shard's sealed lines: a byte range of the sealed file (`offset` >= 0: lines_path is
    the sealed file), or a shard file with its line numbers (`split_sealed`); as paths on this
    machine's disk, or (for a remote executor) the bytes themselves."""

    shard: int
    lines_path: str | None = None
    numbers_path: str | None = None
    lines: bytes | None = None
    numbers: bytes | None = None
    offset: int = -1
    """A range shard's first byte in the sealed file (-1: a split shard)."""
    length: int = 0
    """A range shard's length in bytes."""
    name: str = ""
    """The sealed file's name (for messages)."""

    @property
    def ranged(self) -> bool:
        return self.offset >= 0

    def load(self) -> tuple[bytes, array[int] | None]:
        """The shard's bytes and, for a split shard, its line numbers."""
        if self.lines is not None:
            data = self.lines
        elif self.ranged:
            with open(str(self.lines_path), "rb") as fh:
                fh.seek(self.offset)
                data = fh.read(self.length)
        else:
            data = Path(str(self.lines_path)).read_bytes()
        if self.ranged:
            return data, None
        raw = self.numbers if self.numbers is not None else Path(str(self.numbers_path)).read_bytes()
        numbers = array("q")
        numbers.frombytes(raw)
        return data, numbers

    def materialised(self) -> ShardInput:
        """The same shard with its bytes in memory: what a remote executor sends (it calls this
        as it submits the shard, so only the shards in flight are in memory)."""
        data, numbers = self.load()
        return replace(
            self,
            lines_path=None,
            numbers_path=None,
            lines=data,
            numbers=numbers.tobytes() if numbers is not None else None,
        )


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
    """(line number in the sealed file, verdict) of every invalid report, in sealed order; for
    a range shard the line number within the shard (from 1)."""
    partial: Any
    ordered: bool = True
    """A range shard: its lines' device fields never decrease (as `seal` writes them)."""
    first: bytes = b""
    """A range shard: the device field of its first line."""
    last: bytes = b""
    """A range shard: the device field of its last line."""


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
        device = device_field(line)
        if device is None:
            raise StoreError(f"{sealed.name}:{number}: a sealed line without a device field")
        k = shard_of(device, shards) if shards > 1 else 0
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
    if numbers is None:
        return _run_range(context, item, lines)
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
    _check_verdicts(kind, part.verdicts, reports)
    invalid = tuple((n, v) for n, v in zip(numbers, part.verdicts, strict=True) if not v.valid)
    return ShardResult(item.shard, len(reports), invalid, part.partial)


def _run_range(context: ShardContext, item: ShardInput, lines: list[bytes]) -> ShardResult:
    """A range shard: its device fields checked for sealed order, then judged (from the lines
    when the kind can, else decoded)."""
    field, width = DEVICE_FIELD, len(DEVICE_FIELD)
    found = [line.find(field) for line in lines]
    if -1 in found:
        return ShardResult(item.shard, len(lines), (), None, ordered=False)
    # device_field of every line, without a call per line
    devices = [line[at + width : at + width + DEVICE_CHARS] for line, at in zip(lines, found, strict=True)]
    del found
    if not all(map(operator.le, devices, itertools.islice(devices, 1, None))):
        return ShardResult(item.shard, len(lines), (), None, ordered=False)
    first = next(filter(None, devices), b"")
    last = devices[-1] if devices else b""
    del devices

    def where(index: int) -> str:
        at = item.offset + sum(len(line) + 1 for line in lines[:index])
        return f"{item.name} line at byte {at}"

    def decode(index: int) -> IngestedReport:
        return parse_sealed_line(lines[index], where(index))

    kind = context.kind
    job = context.job
    if isinstance(kind, LineShardedKind):
        judged = kind.compute_shard_lines(job, lines, decode)
        if judged.count != len(lines):
            raise StageError(f"{_kind_name(kind)}: judged {judged.count} lines of {len(lines)}")
        invalid = tuple((index + 1, verdict) for index, verdict in judged.invalid)
        return ShardResult(item.shard, len(lines), invalid, judged.partial, True, first, last)
    reports = [decode(index) for index in range(len(lines))]
    part = kind.compute_shard(replace(job, reports=reports))
    _check_verdicts(kind, part.verdicts, reports)
    invalid = tuple((n, v) for n, v in enumerate(part.verdicts, start=1) if not v.valid)
    return ShardResult(item.shard, len(lines), invalid, part.partial, True, first, last)


def device_field(line: bytes) -> bytes | None:
    """The 42 bytes after a line's first `"device":"` (see the module docstring), or None."""
    at = line.find(DEVICE_FIELD)
    if at < 0:
        return None
    start = at + len(DEVICE_FIELD)
    return line[start : start + DEVICE_CHARS]


def _kind_name(kind: Any) -> str:
    return str(getattr(kind, "name", type(kind).__name__))


def _check_verdicts(kind: Any, verdicts: Sequence[Verdict], reports: Sequence[IngestedReport]) -> None:
    if len(verdicts) != len(reports):
        raise StageError(
            f"{_kind_name(kind)}: compute_shard returned {len(verdicts)} verdicts for {len(reports)} reports"
        )


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
    """One sharded kind's epoch from its sealed file (`job.reports` is ignored): range shards,
    or split shards when the file is not in sealed order (see the module docstring)."""
    shards = shard_count(sealed.count, job.settings.compute.shard_reports, executor.workers)
    empty = replace(job, reports=())
    ordered = _compute_ranges(kind, empty, path, sealed, executor, shards)
    if ordered is not None:
        return ordered
    items = split_sealed(path, sealed, shards, work_dir)
    results = _run_all(kind, empty, executor, items, shards)
    for item in items:
        for done in (item.lines_path, item.numbers_path):
            Path(str(done)).unlink(missing_ok=True)
    invalid = sorted((pair for r in results for pair in r.invalid), key=lambda pair: pair[0])
    return _combined(kind, empty, sealed, results, tuple(v for _, v in invalid))


def _compute_ranges(
    kind: ShardedKind, job: KindJob, path: Path, sealed: SealedFile, executor: Executor, shards: int
) -> ShardedKindResult | None:
    """The epoch from byte ranges of the sealed file cut between devices; None when the file
    turns out not to be in sealed order. The file's sha256, size and line count are checked
    (by a thread reading it while the last shards and the combine run) before any result is
    used."""
    try:
        size = path.stat().st_size
        items = [
            ShardInput(k, str(path), offset=offset, length=length, name=sealed.name)
            for k, (offset, length) in enumerate(device_ranges(path, size, shards))
        ]
    except OSError as exc:
        raise StoreError(f"cannot read sealed file {path}: {exc}") from exc
    digest = _FileDigest(path)
    digest.start()
    try:
        results = _run_all(kind, job, executor, items, len(items))
        if not all(r.ordered for r in results) or any(
            a.last >= b.first for a, b in itertools.pairwise(results)
        ):
            digest.check(sealed, sum(r.reports for r in results))
            return None
        invalid: list[Verdict] = []
        for result in results:
            invalid.extend(v for _, v in result.invalid)
        combined = _combined(kind, job, sealed, results, tuple(invalid))
    except Exception:  # the combine too ran before the check: a changed file explains any failure better
        digest.check(sealed, None)
        raise
    # Nothing of the file is used before this check: the combine ran while it was read.
    digest.check(sealed, sum(r.reports for r in results))
    return combined


def device_ranges(path: Path, size: int, shards: int) -> list[tuple[int, int]]:
    """(offset, length) of up to `shards` byte ranges of about equal size covering the file,
    each cut at a line whose device field differs from the line before it (so a file in
    sealed order keeps each device's lines in one range)."""
    cuts = [0]
    with open(path, "rb") as fh:
        for k in range(1, shards):
            cut = _next_device_start(fh, max(k * size // shards, cuts[-1]))
            if cuts[-1] < cut < size:
                cuts.append(cut)
    cuts.append(size)
    return [(a, b - a) for a, b in itertools.pairwise(cuts) if b > a]


def _next_device_start(fh: BinaryIO, pos: int) -> int:
    """The offset of the first line after `pos`'s line whose device field differs from the
    device field of the line before it (the file's size if there is none)."""
    fh.seek(pos)
    at = pos + len(fh.readline())  # the rest of the line holding pos
    previous = None
    while line := fh.readline():
        device = device_field(line)
        if previous is not None and device != previous:
            return at
        previous = device if device is not None else b""
        at += len(line)
    return at


class _FileDigest(threading.Thread):
    """sha256, size and line count of a file, read in a thread (hashlib releases the GIL).

    The thread runs at the lowest CPU priority (nice 19, where the system lets a thread
    lower its own): the shard workers take every core while they run, and the digest fills
    the gaps — workers starting, the last shards leaving a core idle, the combine — instead
    of slowing every worker down. Once nothing else wants a core it gets one whole."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="sealed-digest", daemon=True)
        self.path = path
        self.sha256 = ""
        self.size = 0
        self.newlines = 0
        self.last = b""
        self.error: OSError | None = None

    def run(self) -> None:
        with suppress(AttributeError, OSError):  # not Linux, or not allowed: the usual priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOWEST_PRIORITY)
        digest = hashlib.sha256()
        try:
            with open(self.path, "rb") as fh:
                while chunk := fh.read(READ_CHUNK_BYTES):
                    digest.update(chunk)
                    self.size += len(chunk)
                    self.newlines += chunk.count(b"\n")
                    self.last = chunk[-1:]
        except OSError as exc:
            self.error = exc
        self.sha256 = digest.hexdigest()

    def check(self, sealed: SealedFile, lines: int | None) -> None:
        """StoreError unless the file is the one `sealed` names (and has `lines` lines)."""
        self.join()
        if self.error is not None:
            raise StoreError(f"cannot read sealed file {self.path}: {self.error}") from self.error
        count = self.newlines + (1 if self.last not in (b"", b"\n") else 0)
        check_sealed_file(self.path, sealed, self.sha256, self.size, count)
        if lines is not None and lines != count:
            raise StageError(f"{sealed.name}: shards judged {lines} lines of {count}")


def _run_all(
    kind: ShardedKind, job: KindJob, executor: Executor, items: Sequence[ShardInput], shards: int
) -> list[ShardResult]:
    """Every shard's result, in shard order."""
    context = ShardContext(kind, job, shards)
    results: dict[int, ShardResult] = {}
    for index, result in executor.run(run_shard, context, items):
        if not isinstance(result, ShardResult) or result.shard != index:
            raise StageError(f"shard {index}: the executor returned {type(result).__name__}")
        results[index] = result
    return [results[k] for k in range(len(items))]


def _combined(
    kind: ShardedKind,
    job: KindJob,
    sealed: SealedFile,
    results: Sequence[ShardResult],
    invalid: tuple[Verdict, ...],
) -> ShardedKindResult:
    total = sum(r.reports for r in results)
    if total != sealed.count:
        raise StageError(f"{sealed.name}: shards judged {total} reports of {sealed.count}")
    return ShardedKindResult(
        reports=total,
        invalid=invalid,
        valid=total - len(invalid),
        result=kind.combine(job, [r.partial for r in results]),
    )


def sharded_kinds(
    modules: Mapping[str, Any], files: Sequence[SealedFile], settings: Settings
) -> dict[str, SealedFile]:
    """Kind name -> its sealed file, for the kinds this epoch computes in shards: a
    `ShardedKind` with more than `compute.shard_reports` reports, and any `LineShardedKind`
    (judging the lines of a small epoch as one shard is cheaper than decoding them)."""
    out: dict[str, SealedFile] = {}
    for f in files:
        module = modules.get(f.kind)
        if isinstance(module, LineShardedKind) or (
            isinstance(module, ShardedKind) and f.count > settings.compute.shard_reports
        ):
            out[str(f.kind)] = f
    return out


__all__ = [
    "ShardContext",
    "ShardInput",
    "ShardResult",
    "ShardedKindResult",
    "compute_sharded",
    "device_field",
    "device_ranges",
    "paused_gc",
    "run_shard",
    "shard_count",
    "shard_of",
    "sharded_kinds",
    "split_sealed",
]
