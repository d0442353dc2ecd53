"""Sealing: turning an epoch's report log into content-addressed, reproducible input files.

`seal_epoch` first closes the epoch in the index database (later reports for it are refused
with `epoch_sealed`; the device's epoch is part of what it signed, so a late report cannot be
moved to the next epoch), then writes, per proof kind, every accepted report sorted by
(device, seq) — device ids compared by code point — to

```
<data_dir>/epochs/<epoch>/inputs/<kind>_v1.<sha256[:16]>.jsonl     one report per line
<data_dir>/epochs/<epoch>/inputs/inputs.json                       the input manifest
```

A line is the report's wire JSON (`codec.dumps`, copied verbatim from the log), so the file
holds exactly what each device signed and nothing this oracle observed — in particular not
its own receive time, which differs between oracles (lateness is judged at ingest, see
`ingest.pipeline`). Two oracles that accepted the same reports therefore seal the same bytes,
and the manifest digest that goes into the signed EpochRoot agrees. The manifest lists, per file, its name,
kind, report count, sha256 and size in bytes; it is canonical JSON (sorted keys), so sealing
the same epoch twice — on this machine or another oracle's — gives byte-identical files,
and `read_sealed_reports` refuses files whose digest does not match the manifest.

Equivocation. A device that signed two different reports with the same (device, seq) has
its reports for the epoch left out of every kind file: when `report_conflicts` (see
`store.conflicts`) holds another version of a logged key of this epoch, sealing writes

```
<data_dir>/epochs/<epoch>/inputs/equivocations_v1.json   the evidence (canonical JSON)
```

listing, per (device, seq), one wire line per distinct signed statement (EIP-712 digest;
the smallest line of each, sorted by bytes), names it in `inputs.json` under
`equivocations` with its sha256, and skips ALL of those devices' reports in the kind files.
Versions that are one statement with different signature bytes (a device may sign the same
digest twice with other nonces) are not evidence; the smallest line is sealed, whichever one
this oracle logged, so that trick cannot split the oracles either. What is sealed depends only on the set of
known versions, never on which one this oracle happened to log first, so oracles that know
the same versions seal the same bytes. Epochs without equivocation have no evidence file
and an `inputs.json` without the key (byte-identical to before the rule existed).

Across epochs (`oracle.sync`): a seq signed for epoch e and again for a later epoch f
excludes the device from f only. The known versions of epoch X are each key's logged row
plus the rows FILED under X (`store.conflicts`; `seal_epoch` first files what the oracle
learned in other epochs' rounds, then closes the epoch, so a re-seal sees the same rows).
Versions of epochs after X are ignored. A key with one statement of X and one of an earlier
epoch is evidence (the entry lists the earlier versions too); a key whose only statement of
X sits in the conflict table because the log holds the device's version for a LATER epoch
is sealed like a logged report ("adopted": merged into the kind file in (device, seq) order,
smallest encoding), so this oracle seals what the oracle that logged it seals.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update

from opendepin import jsonlimits
from opendepin.canonical import canonical_json, sha256_hex
from opendepin.epochdir import EPOCHS_DIR as EPOCHS_DIR
from opendepin.epochdir import INPUTS_DIR as INPUTS_DIR
from opendepin.epochdir import epoch_dir as epoch_dir
from opendepin.errors import InvalidReport, StoreError
from opendepin.records import IngestedReport
from opendepin.reports import codec
from opendepin.reports.eip712 import report_digest
from opendepin.store import db
from opendepin.store.conflicts import ConflictLog
from opendepin.store.files import TMP_SUFFIX, atomic_write, fsync_dir
from opendepin.store.reportlog import LogEntry, LogLine, ReportLog, ensure_epoch_rows
from opendepin.types import DeviceId, Epoch, ProofKind

INPUT_MANIFEST_NAME = "inputs.json"
INPUT_FILE_VERSION = "v1"
INPUT_MANIFEST_VERSION = "inputs_v1"
SHA256_PREFIX_CHARS = 16
"""Hex characters of the sha256 in a sealed file's name (64 bits: collisions are not a concern)."""

EQUIVOCATIONS_FILE = "equivocations_v1.json"
"""Evidence of double-signed reports, in the inputs directory (only when there is some)."""
EQUIVOCATIONS_FORMAT = "equivocations_v1"

_KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True, slots=True)
class SealedFile:
    """One sealed report file of an epoch (its entry in `inputs.json`; the manifest describes
    every input, sealed or not, as a `rewards.files.InputFile`)."""

    name: str
    """File name inside the epoch's inputs directory."""
    kind: ProofKind
    """Proof kind of every report in the file."""
    count: int
    """Number of reports (lines)."""
    sha256: str
    """Hex sha256 of the file's bytes."""
    bytes: int
    """File size in bytes."""


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    """The sealed equivocation evidence of an epoch (`equivocations_v1.json`)."""

    name: str
    """File name inside the epoch's inputs directory."""
    count: int
    """Number of (device, seq) keys with more than one signed version."""
    sha256: str
    """Hex sha256 of the file's bytes."""
    bytes: int
    """File size in bytes."""


@dataclass(frozen=True, slots=True)
class Equivocation:
    """One (device, seq) for which the device signed more than one report."""

    device: DeviceId
    seq: int
    versions: tuple[bytes, ...]
    """Every known version's wire line (no newline), sorted by bytes; at least two."""


@dataclass(frozen=True, slots=True)
class InputManifest:
    """The list of an epoch's sealed input files (`inputs.json`)."""

    epoch: Epoch
    """The sealed epoch."""
    files: tuple[SealedFile, ...]
    """One file per proof kind that had reports, sorted by kind."""
    equivocations: EvidenceFile | None = None
    """The equivocation evidence, when some device double-signed in this epoch."""

    def to_json(self) -> bytes:
        """Canonical bytes of the manifest (sorted keys, trailing newline)."""
        obj: dict[str, Any] = {
            "version": INPUT_MANIFEST_VERSION,
            "epoch": int(self.epoch),
            "files": [
                {"name": f.name, "kind": f.kind, "count": f.count, "sha256": f.sha256, "bytes": f.bytes}
                for f in self.files
            ],
        }
        if self.equivocations is not None:
            e = self.equivocations
            obj["equivocations"] = {"name": e.name, "count": e.count, "sha256": e.sha256, "bytes": e.bytes}
        return (json.dumps(obj, sort_keys=True, indent=2) + "\n").encode()

    @property
    def sha256(self) -> str:
        """Hex sha256 of `to_json()`: the digest that identifies this epoch's inputs."""
        return sha256_hex(self.to_json())

    @property
    def total_reports(self) -> int:
        return sum(f.count for f in self.files)

    def file_for(self, kind: str) -> SealedFile | None:
        """The file holding `kind`'s reports, or None if the epoch had none."""
        for f in self.files:
            if f.kind == kind:
                return f
        return None

    @classmethod
    def from_json(cls, data: bytes) -> InputManifest:
        """Parse `inputs.json`; raises StoreError if it is not a valid manifest."""
        try:
            obj: dict[str, Any] = jsonlimits.loads(data)
            if obj.get("version") != INPUT_MANIFEST_VERSION:
                raise StoreError(f"unknown input manifest version {obj.get('version')!r}")
            files = tuple(
                SealedFile(
                    name=str(f["name"]),
                    kind=ProofKind(str(f["kind"])),
                    count=int(f["count"]),
                    sha256=str(f["sha256"]),
                    bytes=int(f["bytes"]),
                )
                for f in obj["files"]
            )
            evidence = None
            if "equivocations" in obj:
                e = obj["equivocations"]
                evidence = EvidenceFile(
                    name=str(e["name"]), count=int(e["count"]), sha256=str(e["sha256"]), bytes=int(e["bytes"])
                )
            return cls(epoch=Epoch(int(obj["epoch"])), files=files, equivocations=evidence)
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"malformed input manifest: {exc}") from exc


def inputs_dir(data_dir: Path, epoch: int) -> Path:
    """`<data_dir>/epochs/<epoch>/inputs`: sealed input files and `inputs.json`."""
    return epoch_dir(data_dir, epoch) / INPUTS_DIR


def _mark_sealed(engine: Engine, epoch: int, now_ms: int) -> None:
    with engine.begin() as conn:
        ensure_epoch_rows(conn, engine, [epoch])
        # Exclusive row lock: waits for appenders that hold the shared lock to commit.
        conn.execute(
            update(db.epochs)
            .where(db.epochs.c.epoch == epoch)
            .values(sealed=True, sealed_ms=func.coalesce(db.epochs.c.sealed_ms, now_ms))
        )


def reopen_epoch(engine: Engine, epoch: int) -> None:
    """Undo `_mark_sealed` for a re-seal (recovery only): the agreed set this oracle must
    seal holds reports its log lacks, and a sealed epoch refuses every append. Ingest still
    refuses the epoch by its clock (`epoch_closed`), so nothing else can slip in."""
    with engine.begin() as conn:
        conn.execute(update(db.epochs).where(db.epochs.c.epoch == epoch).values(sealed=False, manifest_sha256=None))


@dataclass(frozen=True, slots=True)
class KnownVersions:
    """What the conflict table says about an epoch, as sealing uses it."""

    equivocations: tuple[Equivocation, ...]
    """Keys with two or more signed statements (different EIP-712 digests) of this epoch, or
    one of this epoch and one of an EARLIER epoch: evidence (the versions of this and earlier
    epochs, one line per digest)."""
    canonical: Mapping[tuple[str, int], bytes]
    """Logged keys whose versions are ONE statement in several encodings (another valid signature
    over the same digest): the wire line to seal, the smallest — whichever one was logged."""
    adopted: tuple[LogEntry, ...] = ()
    """Keys whose one statement of this epoch is not in the log because the log holds the
    device's version for a LATER epoch (that epoch takes the exclusion): sealed like logged
    reports (the smallest encoding), sorted by (device, seq)."""


def _allowed(wire: bytes, allowed: Set[str] | None) -> bool:
    return allowed is None or hashlib.sha256(wire).hexdigest() in allowed


def known_versions(engine: Engine, epoch: int, allowed: Set[str] | None = None) -> KnownVersions:
    """Group the versions filed under `epoch` (plus each key's logged row) by signed digest.

    Versions of a later epoch (a logged row of e+1 next to an e version filed here) are that
    epoch's business and ignored; see `oracle.sync` (cross-epoch equivocation). With `allowed`,
    versions OF this epoch whose wire sha256 is not in it are ignored too (an agreed set).
    """
    versions: dict[tuple[str, int], set[bytes]] = {}
    for entry in ConflictLog(engine).iter_epoch(epoch):
        versions.setdefault((str(entry.device), entry.seq), set()).add(entry.wire)
    if not versions:
        return KnownVersions((), {})
    keys = sorted(versions)
    logged_epoch: dict[tuple[str, int], int] = {}
    with engine.connect() as conn:
        for device, seq in keys:
            logged = conn.execute(
                select(db.reports.c.wire, db.reports.c.epoch).where(
                    db.reports.c.device == device, db.reports.c.seq == seq
                )
            ).one_or_none()
            if logged is not None:
                versions[(device, seq)].add(bytes(logged.wire))
                logged_epoch[(device, seq)] = int(logged.epoch)
    equivocations: list[Equivocation] = []
    canonical: dict[tuple[str, int], bytes] = {}
    adopted: list[LogEntry] = []
    for key in keys:
        ours: dict[bytes, tuple[bytes, ProofKind]] = {}  # digest -> smallest line of this epoch
        earlier: dict[bytes, bytes] = {}
        for wire in sorted(versions[key]):
            try:
                report = codec.loads(wire)
                digest = report_digest(report)
            except (InvalidReport, ValueError) as exc:
                raise StoreError(f"conflicting version of {key[0]}/{key[1]} is not a report: {exc}") from exc
            if report.epoch == epoch:
                if _allowed(wire, allowed):
                    ours.setdefault(digest, (wire, report.kind))
            elif report.epoch < epoch:
                earlier.setdefault(digest, wire)
        if not ours:  # no allowed version of this epoch (only keys with one are filed here)
            continue
        if len(ours) > 1 or earlier:
            lines = sorted([w for w, _ in ours.values()] + list(earlier.values()))
            equivocations.append(Equivocation(device=DeviceId(key[0]), seq=key[1], versions=tuple(lines)))
        else:
            ((line, kind),) = ours.values()
            if logged_epoch.get(key) == epoch:
                canonical[key] = line
            else:
                adopted.append(
                    LogEntry(DeviceId(key[0]), key[1], Epoch(epoch), kind, received_ms=0, wire=line)
                )
    return KnownVersions(tuple(equivocations), canonical, tuple(adopted))


def equivocations_to_bytes(epoch: int, equivocations: Sequence[Equivocation]) -> bytes:
    """Canonical `equivocations_v1` bytes (sorted keys, no spaces, UTF-8, trailing newline)."""
    obj = {
        "format": EQUIVOCATIONS_FORMAT,
        "epoch": epoch,
        "equivocations": [
            {"device": e.device, "seq": e.seq, "versions": [v.decode("utf-8") for v in e.versions]}
            for e in sorted(equivocations, key=lambda e: (str(e.device), e.seq))
        ],
    }
    return canonical_json(obj)


def _write_kind_file(
    directory: Path,
    kind: ProofKind,
    logged: Iterable[LogLine],
    excluded: Set[str] = frozenset(),
    canonical: Mapping[tuple[str, int], bytes] | None = None,
    adopted: Sequence[LogEntry] = (),
    allowed: Set[str] | None = None,
) -> SealedFile:
    """Write one kind's file from its logged lines (in (device, seq) order) and `adopted`."""
    if not _KIND_PATTERN.match(kind):
        raise StoreError(f"proof kind {kind!r} is not a safe file-name token")
    tmp = directory / f".{kind}.{os.getpid()}{TMP_SUFFIX}"
    digest = hashlib.sha256()
    size = 0
    count = 0
    canonical = canonical or {}
    with open(tmp, "wb") as fh:
        entries: Iterable[LogLine] = logged
        if adopted:
            entries = heapq.merge(
                entries,
                [LogLine(kind, e.device, e.seq, e.wire) for e in adopted],
                key=lambda e: (str(e.device), e.seq),
            )
        for entry in entries:
            if entry.device in excluded:
                continue
            wire = entry.wire
            if canonical:
                key = (entry.device, entry.seq)
                if key in canonical:
                    wire = canonical[key]
                elif not _allowed(wire, allowed):
                    continue  # not in the agreed set
            elif not _allowed(wire, allowed):
                continue  # not in the agreed set
            if b"\n" in wire or not wire.startswith(b"{"):
                raise StoreError(
                    f"report {entry.device}/{entry.seq}: wire bytes are not one-line JSON"
                )
            line = wire + b"\n"
            fh.write(line)
            digest.update(line)
            size += len(line)
            count += 1
        fh.flush()
        os.fsync(fh.fileno())
    sha = digest.hexdigest()
    name = f"{kind}_{INPUT_FILE_VERSION}.{sha[:SHA256_PREFIX_CHARS]}.jsonl"
    if count == 0:  # every report of the kind came from excluded devices: no file
        os.unlink(tmp)
        return SealedFile(name=name, kind=kind, count=0, sha256=sha, bytes=0)
    os.replace(tmp, directory / name)
    return SealedFile(name=name, kind=kind, count=count, sha256=sha, bytes=size)


@dataclass(frozen=True, slots=True)
class Sealed:
    """What `seal` did: the epoch's input manifest, and the report log it sealed from."""

    manifest: InputManifest
    log: Sequence[LogLine]
    """Every logged report of the epoch once it was closed (`ReportLog.epoch_lines`), the
    agreed set's filter and the equivocation rule not applied: what the seal stage digests."""


def seal_epoch(
    engine: Engine,
    data_dir: Path,
    epoch: int,
    clock_ms: Callable[[], int],
    allowed: Set[str] | None = None,
    *,
    reseal: bool = False,
) -> InputManifest:
    """Close `epoch` and write its sealed input files and manifest; idempotent (see `seal`)."""
    return seal(engine, data_dir, epoch, clock_ms, allowed, reseal=reseal).manifest


def seal(
    engine: Engine,
    data_dir: Path,
    epoch: int,
    clock_ms: Callable[[], int],
    allowed: Set[str] | None = None,
    *,
    reseal: bool = False,
    logged: Sequence[LogLine] | None = None,
) -> Sealed:
    """Close `epoch` and write its sealed input files and manifest; idempotent.

    Sealing again rewrites the same bytes (nothing can be appended after the first seal).
    Raises StoreError if a recorded manifest digest differs from the one computed now, which
    means the log was changed behind the store's back — unless `reseal` says the oracle is
    replacing its seal on purpose (it sealed a set the other oracles did not agree on).
    `allowed`: keep only the epoch's versions whose wire sha256 is in it (the agreed set,
    `oracle.agreement`); None keeps the whole log.

    The log is read once, after the epoch closed (`ReportLog.epoch_lines`). `logged` is that
    read done earlier by the caller (the seal stage's import reads the log anyway): it is
    used when the closed epoch still holds exactly as many rows — the log only grows, and its
    (device, seq) key is unique, so the same count is the same rows — and read again when
    anything joined since (an import, or an append that beat the close).
    """
    # What this oracle knows from other epochs' rounds counts too; filed before the epoch
    # closes, so a re-seal (which cannot file any more) sees the same rows.
    ConflictLog(engine).file_known(epoch, clock_ms())
    _mark_sealed(engine, epoch, clock_ms())
    log = ReportLog(engine)
    if logged is None or log.count(epoch) != len(logged):
        logged = log.epoch_lines(epoch)  # the epoch is closed: nothing can join it now
    directory = inputs_dir(data_dir, epoch)
    if reseal and directory.is_dir():  # the files of the replaced seal must not linger
        for old in directory.iterdir():
            if old.is_file():
                old.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    known = known_versions(engine, epoch, allowed)
    equivocations = known.equivocations
    excluded = frozenset(str(e.device) for e in equivocations)
    by_kind: dict[str, list[LogLine]] = {
        kind: list(lines) for kind, lines in itertools.groupby(logged, key=lambda line: line.kind)
    }
    kinds = sorted(set(by_kind) | {e.kind for e in known.adopted})
    files = tuple(
        f
        for f in (
            _write_kind_file(
                directory,
                ProofKind(kind),
                by_kind.get(kind, ()),
                excluded,
                known.canonical,
                [e for e in known.adopted if e.kind == kind],
                allowed,
            )
            for kind in kinds
        )
        if f.count > 0
    )
    evidence = None
    if equivocations:
        data = equivocations_to_bytes(epoch, equivocations)
        sha = atomic_write(directory / EQUIVOCATIONS_FILE, data)
        evidence = EvidenceFile(name=EQUIVOCATIONS_FILE, count=len(equivocations), sha256=sha, bytes=len(data))
    fsync_dir(directory)
    manifest = InputManifest(epoch=Epoch(epoch), files=files, equivocations=evidence)
    with engine.begin() as conn:
        recorded = conn.execute(
            select(db.epochs.c.manifest_sha256).where(db.epochs.c.epoch == epoch)
        ).scalar_one()
        if recorded is not None and recorded != manifest.sha256 and not reseal:
            raise StoreError(
                f"epoch {epoch} was sealed before with input manifest {recorded}, "
                f"now {manifest.sha256}: the report log changed after sealing"
            )
        atomic_write(directory / INPUT_MANIFEST_NAME, manifest.to_json())
        conn.execute(
            update(db.epochs)
            .where(db.epochs.c.epoch == epoch)
            .values(manifest_sha256=manifest.sha256)
        )
    return Sealed(manifest, logged)


def read_input_manifest(directory: Path) -> InputManifest:
    """Load `inputs.json` from an epoch's inputs directory."""
    path = directory / INPUT_MANIFEST_NAME
    try:
        return InputManifest.from_json(path.read_bytes())
    except OSError as exc:
        raise StoreError(f"cannot read input manifest {path}: {exc}") from exc


def parse_sealed_line(line: bytes, where: str) -> IngestedReport:
    """One sealed line as the report it holds (StoreError naming `where` if it is not one)."""
    if not line.startswith(b"{") or not line.endswith(b"}"):
        raise StoreError(f"{where}: not a sealed report line")
    try:
        report = codec.loads_fast(line)
    except Exception as exc:
        raise StoreError(f"{where}: undecodable report: {exc}") from exc
    return IngestedReport(report=report)


def sealed_lines(data: bytes) -> list[bytes]:
    """The lines of a sealed file's bytes (each report line without its newline)."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return lines


def check_sealed_file(path: Path, f: SealedFile, sha256: str, size: int, count: int) -> None:
    """StoreError unless the file read from `path` (its sha256, size and line count) is the
    one the manifest entry `f` names."""
    if sha256 != f.sha256 or size != f.bytes:
        raise StoreError(
            f"sealed file {path} does not match the manifest "
            f"(sha256 {sha256} vs {f.sha256}, {size} vs {f.bytes} bytes)"
        )
    if count != f.count:
        raise StoreError(f"sealed file {path}: {count} lines, manifest says {f.count}")


def read_sealed_reports(
    directory: Path, kinds: set[str] | None = None
) -> dict[ProofKind, list[IngestedReport]]:
    """Load sealed reports per kind, after checking each file's sha256, size and count.

    `directory` is an epoch's inputs directory (`inputs_dir(data_dir, epoch)`); `kinds`
    limits which files are read. Raises StoreError on any mismatch with the manifest.
    """
    manifest = read_input_manifest(directory)
    out: dict[ProofKind, list[IngestedReport]] = {}
    for f in manifest.files:
        if kinds is not None and f.kind not in kinds:
            continue
        path = directory / f.name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read sealed file {path}: {exc}") from exc
        lines = sealed_lines(data)
        check_sealed_file(path, f, sha256_hex(data), len(data), len(lines))
        out[f.kind] = [
            parse_sealed_line(line, f"{f.name}:{n}") for n, line in enumerate(lines, start=1)
        ]
    return out


def read_equivocations(directory: Path) -> tuple[Equivocation, ...]:
    """The sealed evidence of an epoch's inputs directory (empty if it has none).

    Checks the file against `inputs.json` (sha256 and size); StoreError on any mismatch.
    Signatures are not checked here (`oracle.audit` does).
    """
    manifest = read_input_manifest(directory)
    evidence = manifest.equivocations
    if evidence is None:
        return ()
    path = directory / evidence.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read evidence file {path}: {exc}") from exc
    sha = sha256_hex(data)
    if sha != evidence.sha256 or len(data) != evidence.bytes:
        raise StoreError(f"evidence file {path} does not match the manifest (sha256 {sha} vs {evidence.sha256})")
    try:
        obj = jsonlimits.loads(data)
        if obj.get("format") != EQUIVOCATIONS_FORMAT:
            raise StoreError(f"{path}: not an {EQUIVOCATIONS_FORMAT} file")
        out = tuple(
            Equivocation(
                device=DeviceId(str(e["device"])),
                seq=int(e["seq"]),
                versions=tuple(str(v).encode("utf-8") for v in e["versions"]),
            )
            for e in obj["equivocations"]
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StoreError(f"{path}: malformed {EQUIVOCATIONS_FORMAT}: {exc}") from exc
    if len(out) != evidence.count:
        raise StoreError(f"{path}: {len(out)} entries, manifest says {evidence.count}")
    return out
