"""Re-running a published epoch from its files, as a stranger would (`depin audit`).

An epoch directory holds everything the computation read (sealed reports, `inputs.json`,
`snapshot_v1.json`, `prior_v1.json`, each kind's `kinds/<kind>/` input files) and the
manifest naming each of them by sha256, plus the settings used (`parameters`). `audit_epoch`:

1. checks every input file against the manifest's sha256 (a changed file is named);
2. when the previous epoch's directory sits next to this one, checks that `prior_v1.json`
   equals that epoch's published cumulative amounts, and that each kind's `state_v1.json`
   is that epoch's `next_state_v1.json` (or the kind's initial state if it did not run);
3. checks the equivocation evidence (see below);
4. recomputes the epoch with the same code path as the oracle (`oracle.recompute`), the
   manifest's parameters and the installed kinds, renders every output file
   (`publish.render_outputs`) and compares each, byte for byte, with the published file and
   with the manifest's digest — verdicts and every reason, explanations, kind states and
   rewards. A difference names the file and, where it can, the kind, device and field
   (root, owner by owner and device by device for the reward file).

Equivocation evidence (`inputs/equivocations_v1.json`) must prove what it claims — per entry
at least two versions, each signed by the named device with the named seq, with pairwise
different EIP-712 digests, one of them for this epoch and none for a later one (a seq signed
for two epochs excludes the device from the later one only, see `oracle.sync`) — and no
sealed report may come from an excluded device. An oracle therefore cannot exclude an honest
device with made-up evidence without the audit saying so.

The verdict is `AuditResult.ok`; every divergence is a line in `problems` saying where.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opendepin import jsonlimits
from opendepin.canonical import sha256_hex
from opendepin.epochdir import INPUTS_DIR, EpochFile, KindFile, kind_path
from opendepin.errors import DepinError, InputError, InvalidReport
from opendepin.network.settings import Settings
from opendepin.oracle.epoch_files import read_prior
from opendepin.oracle.epoch_inputs import state_before
from opendepin.oracle.publish import render_outputs
from opendepin.oracle.recompute import recompute_epoch
from opendepin.proofs.kind import Kind
from opendepin.proofs.registry import kinds_for
from opendepin.reports import codec
from opendepin.reports.eip712 import report_digest
from opendepin.reports.verify import check_signatures
from opendepin.rewards.files import EpochManifest, RewardFile
from opendepin.store.sealing import read_equivocations, read_sealed_reports

MAX_LISTED_DIVERGENCES = 20
"""At most this many owner/device divergences are listed (the count is always given)."""


@dataclass(frozen=True, slots=True)
class AuditResult:
    """Outcome of re-running one epoch."""

    epoch: int
    published_root: bytes
    recomputed_root: bytes | None
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.problems and self.recomputed_root == self.published_root


def _sha(path: Path) -> str:
    return sha256_hex(path.read_bytes())


def audit_epoch(directory: Path) -> AuditResult:
    """Recompute the epoch in `directory` and compare it with what was published."""
    manifest_path = directory / EpochFile.MANIFEST
    if not manifest_path.is_file():
        raise InputError(f"{directory} has no {EpochFile.MANIFEST}: not a published epoch directory")
    manifest = EpochManifest.from_bytes(manifest_path.read_bytes())
    problems: list[str] = []
    for entry in manifest.inputs:
        path = directory / entry.name
        if not path.is_file():
            problems.append(f"input {entry.name}: missing")
        elif (actual := _sha(path)) != entry.sha256:
            problems.append(f"input {entry.name}: sha256 {actual} differs from the manifest's {entry.sha256}")
    try:
        settings = Settings.model_validate(dict(manifest.parameters))
    except ValueError as exc:
        return AuditResult(manifest.epoch, manifest.root, None, (*problems, f"manifest parameters: {exc}"))
    kinds = kinds_for(settings)
    _check_prior_against_previous(directory, manifest.epoch, problems)
    _check_states_against_previous(directory, manifest.epoch, settings, kinds, problems)
    if not problems:
        _check_equivocations(directory, manifest.epoch, problems)
    if problems:  # recomputing from altered inputs would prove nothing
        return AuditResult(manifest.epoch, manifest.root, None, tuple(problems))
    missing = sorted(set(settings.pools.bps) - set(kinds))
    if missing:
        problems.append(f"kinds {missing} are paid by this network but not installed here")
    try:
        again = recompute_epoch(directory, settings, kinds)
    except DepinError as exc:
        return AuditResult(manifest.epoch, manifest.root, None, (*problems, f"cannot recompute: {exc}"))
    computation, snapshot = again.computation, again.snapshot
    outputs = render_outputs(manifest.network, computation, snapshot)
    listed = {o.name: o.sha256 for o in manifest.outputs}
    for name in sorted(set(listed) - set(outputs)):
        problems.append(f"output {name}: listed in the manifest but not produced by the recomputation")
    for name, data in outputs.items():
        problems.extend(_compare_output(directory, name, data, listed.get(name)))
    recomputed = RewardFile.from_bytes(outputs[EpochFile.REWARDS])
    if recomputed.root != manifest.root:
        problems.append(
            f"root: recomputed 0x{recomputed.root.hex()}, manifest says 0x{manifest.root.hex()}"
        )
    if computation.cumulative_total != manifest.cumulative_total:
        problems.append(
            f"cumulative total: recomputed {computation.cumulative_total}, manifest says {manifest.cumulative_total}"
        )
    return AuditResult(manifest.epoch, manifest.root, recomputed.root, tuple(problems))


def _compare_output(directory: Path, name: str, recomputed: bytes, listed_sha: str | None) -> list[str]:
    """Problems of one output file: unlisted, digest, missing, or bytes that differ (and where)."""
    out: list[str] = []
    if listed_sha is None:
        out.append(f"output {name}: missing from the manifest's outputs")
    elif listed_sha != sha256_hex(recomputed):
        out.append(f"output {name}: the manifest's sha256 {listed_sha} is not the recomputed file's")
    path = directory / name
    if not path.is_file():
        return [*out, f"output {name}: missing"]
    published = path.read_bytes()
    if published == recomputed:
        return out
    if listed_sha is not None and sha256_hex(published) != listed_sha:
        out.append(f"output {name}: sha256 {sha256_hex(published)} differs from the manifest's {listed_sha}")
    out.extend(_explain_difference(name, published, recomputed))
    return out


def _explain_difference(name: str, published: bytes, recomputed: bytes) -> list[str]:
    """Where two versions of an output differ, as precisely as the format allows."""
    if name == EpochFile.REWARDS:
        try:
            lines = _diff_rewards(RewardFile.from_bytes(published), RewardFile.from_bytes(recomputed))
        except DepinError as exc:
            return [f"{name}: unreadable: {exc}"]
        return [f"{name}: {line}" for line in lines] or [f"{name}: differs from the recomputed file"]
    try:
        a, b = jsonlimits.loads(published), jsonlimits.loads(recomputed)
    except ValueError:
        return [f"{name}: differs from the recomputed file (published is not JSON)"]
    if name in (EpochFile.VERDICTS, EpochFile.EXPLANATIONS) and isinstance(a, dict) and isinstance(b, dict):
        found = _diff_kinds(name, a.get("kinds"), b.get("kinds"))
        if found:
            return found
    return [f"{name}: differs from the recomputed file at {_first_difference(a, b, '$')}"]


def _diff_kinds(name: str, a: Any, b: Any) -> list[str]:
    """Per kind and device: the first field where published and recomputed rows differ."""
    if not isinstance(a, dict) or not isinstance(b, dict):
        return []
    out: list[str] = []
    for kind in sorted(set(a) | set(b)):
        pa, pb = a.get(kind), b.get(kind)
        if pa == pb:
            continue
        rows_a = _rows_by_device(pa)
        rows_b = _rows_by_device(pb)
        if rows_a is None or rows_b is None:
            out.append(f"{name}: kind {kind}: differs at {_first_difference(pa, pb, '$')}")
            continue
        for device in sorted(set(rows_a) | set(rows_b)):
            ra, rb = rows_a.get(device), rows_b.get(device)
            if ra != rb:
                out.append(
                    f"{name}: kind {kind}, device {device}: published {_short(ra)}, recomputed {_short(rb)}"
                )
        if not out and isinstance(pa, dict) and isinstance(pb, dict):
            out.append(f"{name}: kind {kind}: differs at {_first_difference(pa, pb, '$')}")
    if len(out) > MAX_LISTED_DIVERGENCES:
        out = [*out[:MAX_LISTED_DIVERGENCES], f"... and {len(out) - MAX_LISTED_DIVERGENCES} more divergences"]
    return out


def _rows_by_device(entry: Any) -> dict[str, list[Any]] | None:
    """Rows of a verdicts kind entry (`invalid`) or an explanations list, by device."""
    rows = entry.get("invalid") if isinstance(entry, dict) else entry
    if not isinstance(rows, list):
        return None
    out: dict[str, list[Any]] = {}
    for row in rows:
        if not isinstance(row, dict):
            return None
        out.setdefault(str(row.get("device")), []).append(row)
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."


def _first_difference(a: Any, b: Any, where: str) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{where}.{key}")
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return _first_difference(x, y, f"{where}[{i}]")
        if len(a) != len(b):
            return f"{where} (length {len(a)} published, {len(b)} recomputed)"
    return where


def _check_states_against_previous(
    directory: Path, epoch: int, settings: Settings, kinds: Mapping[str, Kind], problems: list[str]
) -> None:
    """Each kind's state must be what the previous epoch (when it sits next to this one) left."""
    previous = directory.parent / str(epoch - 1)
    if epoch == 0 or not (previous / EpochFile.MANIFEST).is_file():
        return
    for name, kind in sorted(kinds.items()):
        path = directory / kind_path(name, KindFile.STATE)
        expected = state_before(kind, name, previous, settings)
        actual = path.read_bytes() if path.is_file() else None
        if actual != expected:
            problems.append(
                f"{kind_path(name, KindFile.STATE)}: differs from epoch {epoch - 1}'s "
                f"{kind_path(name, KindFile.NEXT_STATE)}"
            )


def _check_equivocations(directory: Path, epoch: int, problems: list[str]) -> None:
    """Evidence must prove double-signing, and excluded devices must be absent from the inputs."""
    inputs = directory / INPUTS_DIR
    try:
        evidence = read_equivocations(inputs)
    except DepinError as exc:
        problems.append(f"equivocation evidence: {exc}")
        return
    if not evidence:
        return
    for e in evidence:
        where = f"equivocation evidence {e.device}/{e.seq}"
        if len(e.versions) < 2 or list(e.versions) != sorted(set(e.versions)):
            problems.append(f"{where}: needs two or more distinct versions, sorted")
            continue
        try:
            reports = [codec.loads(v) for v in e.versions]
        except InvalidReport as exc:
            problems.append(f"{where}: undecodable version: {exc}")
            continue
        if any((r.device, r.seq) != (e.device, e.seq) for r in reports):
            problems.append(f"{where}: a version names another device or seq")
            continue
        if epoch not in {r.epoch for r in reports} or any(r.epoch > epoch for r in reports):
            problems.append(f"{where}: needs a version of epoch {epoch} and none of a later epoch")
            continue
        bad = [sig for sig in check_signatures(reports) if sig is not None]
        if bad:
            problems.append(f"{where}: a version's signature does not verify ({bad[0].reason})")
            continue
        if len({report_digest(r) for r in reports}) != len(reports):
            problems.append(f"{where}: two versions are the same signed report (not equivocation)")
    excluded = {str(e.device) for e in evidence}
    try:
        sealed = read_sealed_reports(inputs)
    except DepinError as exc:
        problems.append(f"sealed inputs: {exc}")
        return
    leaked = sorted({str(r.report.device) for rs in sealed.values() for r in rs} & excluded)
    if leaked:
        problems.append(f"sealed inputs hold reports of excluded (equivocating) devices: {', '.join(leaked)}")


def _check_prior_against_previous(directory: Path, epoch: int, problems: list[str]) -> None:
    previous = directory.parent / str(epoch - 1) / EpochFile.REWARDS
    if epoch == 0 or not previous.is_file() or not (directory / EpochFile.PRIOR).is_file():
        return
    published = {o.account: o.cumulative for o in RewardFile.from_bytes(previous.read_bytes()).owners}
    prior = {str(a): v for a, v in read_prior(directory / EpochFile.PRIOR).items()}
    if published != prior:
        problems.append(f"{EpochFile.PRIOR}: differs from epoch {epoch - 1}'s published cumulative amounts")


def _diff_rewards(published: RewardFile, recomputed: RewardFile) -> list[str]:
    out: list[str] = []
    pub = {o.account: o for o in published.owners}
    rec = {o.account: o for o in recomputed.owners}
    for account in sorted(set(pub) | set(rec)):
        a, b = pub.get(account), rec.get(account)
        if a == b:
            continue
        if a is None or b is None:
            out.append(f"owner {account}: {'only recomputed' if a is None else 'only published'}")
            continue
        if a.cumulative != b.cumulative:
            out.append(f"owner {account}: cumulative published {a.cumulative}, recomputed {b.cumulative}")
        da = {(d.device, d.kind): d.amount for d in a.devices}
        db = {(d.device, d.kind): d.amount for d in b.devices}
        for key in sorted(set(da) | set(db)):
            if da.get(key) != db.get(key):
                out.append(
                    f"device {key[0]} ({key[1]}): amount published {da.get(key, 0)}, recomputed {db.get(key, 0)}"
                )
    if len(out) > MAX_LISTED_DIVERGENCES:
        out = [*out[:MAX_LISTED_DIVERGENCES], f"... and {len(out) - MAX_LISTED_DIVERGENCES} more divergences"]
    return out
