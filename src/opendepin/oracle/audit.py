"""Re-running a published epoch from its files, as a stranger would (`depin audit`).

An epoch directory holds everything the computation read (sealed reports, `inputs.json`,
`snapshot_v1.json`, `prior_v1.json`) and the manifest naming each of them by sha256, plus
the settings used (`parameters`). `audit_epoch`:

1. checks every input file against the manifest's sha256 (a changed file is named);
2. recomputes verdicts, shares and rewards with the same code path as the oracle
   (`runner.recompute`) and the manifest's parameters;
3. compares the recomputed reward file with the published one — root, then owner by owner
   and device by device — and the published outputs with the manifest's digests;
4. when the previous epoch's directory sits next to this one, checks that `prior_v1.json`
   equals that epoch's published cumulative amounts, and that `coverage_history_v1.json` is
   that epoch's history with its published coverage activity merged in;
5. for coverage epochs, compares the recomputed `coverage_v1.json` (activity, explanations)
   with the published one;
6. when the inputs carry equivocation evidence (`inputs/equivocations_v1.json`), checks
   that it proves what it claims — per entry at least two versions, each signed by the
   named device with the named seq, with pairwise different EIP-712 digests, one of them
   for this epoch and none for a later one (a seq signed for two epochs excludes the device
   from the later one only, see `oracle.sync`) — and that no sealed report comes from an
   excluded device. An oracle therefore cannot exclude an
   honest device with made-up evidence without the audit saying so.

The verdict is `AuditResult.ok`; every divergence is a line in `problems` saying where.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from opendepin.errors import DepinError, InputError, InvalidReport
from opendepin.network.settings import Settings
from opendepin.oracle.coverage_stage import (
    COVERAGE_FILE,
    CoverageOutput,
    check_history_against_previous,
)
from opendepin.oracle.epoch_files import MANIFEST_FILE, PRIOR_FILE, REWARDS_FILE, read_prior
from opendepin.oracle.kinds import default_modules
from opendepin.oracle.publish import DENYLIST_VERSION_PARAMETER, build_reward_file
from opendepin.oracle.runner import recompute_epoch
from opendepin.reports import codec
from opendepin.reports.eip712 import report_digest
from opendepin.reports.verify import check_signatures
from opendepin.rewards.files import EpochManifest, RewardFile
from opendepin.store.sealing import INPUTS_DIR, read_equivocations, read_sealed_reports

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
    return hashlib.sha256(path.read_bytes()).hexdigest()


def audit_epoch(directory: Path) -> AuditResult:
    """Recompute the epoch in `directory` and compare it with what was published."""
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise InputError(f"{directory} has no {MANIFEST_FILE}: not a published epoch directory")
    manifest = EpochManifest.from_bytes(manifest_path.read_bytes())
    problems: list[str] = []
    for entry in manifest.inputs:
        path = directory / entry.name
        if not path.is_file():
            problems.append(f"input {entry.name}: missing")
        elif (actual := _sha(path)) != entry.sha256:
            problems.append(f"input {entry.name}: sha256 {actual} differs from the manifest's {entry.sha256}")
    _check_prior_against_previous(directory, manifest.epoch, problems)
    if not problems:
        _check_equivocations(directory, manifest.epoch, problems)
    if problems:  # recomputing from altered inputs would prove nothing
        return AuditResult(manifest.epoch, manifest.root, None, tuple(problems))
    for out in manifest.outputs:
        path = directory / out.name
        if path.is_file() and (actual := _sha(path)) != out.sha256:
            problems.append(f"output {out.name}: sha256 {actual} differs from the manifest's {out.sha256}")

    parameters = dict(manifest.parameters)
    denylist_version = parameters.pop(DENYLIST_VERSION_PARAMETER, None)
    try:
        settings = Settings.model_validate(parameters)
    except ValueError as exc:
        return AuditResult(manifest.epoch, manifest.root, None, (f"manifest parameters: {exc}",))
    history_problem = check_history_against_previous(directory, manifest.epoch, settings)
    if history_problem is not None:
        return AuditResult(manifest.epoch, manifest.root, None, (history_problem,))
    try:
        again = recompute_epoch(directory, settings, default_modules(settings))
    except DepinError as exc:
        return AuditResult(manifest.epoch, manifest.root, None, (f"cannot recompute: {exc}",))
    computation, snapshot = again.computation, again.snapshot
    if again.coverage is not None:
        if denylist_version != again.coverage.denylist_version:
            problems.append(
                f"denylist version: manifest says {denylist_version}, inputs give "
                f"{again.coverage.denylist_version}"
            )
        published_coverage = directory / COVERAGE_FILE
        recomputed_coverage = CoverageOutput(manifest.epoch, again.coverage).to_bytes()
        if not published_coverage.is_file() or published_coverage.read_bytes() != recomputed_coverage:
            problems.append(f"{COVERAGE_FILE}: differs from the recomputed coverage activity")
    recomputed = build_reward_file(manifest.network, computation, snapshot)
    if recomputed.root != manifest.root:
        problems.append(
            f"root: recomputed 0x{recomputed.root.hex()}, manifest says 0x{manifest.root.hex()}"
        )
    if computation.cumulative_total != manifest.cumulative_total:
        problems.append(
            f"cumulative total: recomputed {computation.cumulative_total}, manifest says {manifest.cumulative_total}"
        )
    published_path = directory / REWARDS_FILE
    if published_path.is_file():
        problems.extend(_diff_rewards(RewardFile.from_bytes(published_path.read_bytes()), recomputed))
    return AuditResult(manifest.epoch, manifest.root, recomputed.root, tuple(problems))


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
    previous = directory.parent / str(epoch - 1) / REWARDS_FILE
    if epoch == 0 or not previous.is_file() or not (directory / PRIOR_FILE).is_file():
        return
    published = {o.account: o.cumulative for o in RewardFile.from_bytes(previous.read_bytes()).owners}
    prior = {str(a): v for a, v in read_prior(directory / PRIOR_FILE).items()}
    if published != prior:
        problems.append(f"{PRIOR_FILE}: differs from epoch {epoch - 1}'s published cumulative amounts")


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
