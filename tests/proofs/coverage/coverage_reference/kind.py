"""`CoverageKind.compute` of the frozen reference (see `__init__`)."""

from __future__ import annotations

from collections import Counter

from coverage_reference.epoch import DeviceExplanation, verify_epoch
from opendepin.proofs.coverage.kind import (
    denylist_from_inputs,
    lookback_seconds,
    state_from_bytes,
    state_to_bytes,
)
from opendepin.proofs.coverage.params import MS_PER_SECOND, CoverageParams
from opendepin.proofs.coverage.settings import CoverageSection
from opendepin.proofs.kind import Explanation, KindJob, KindResult
from opendepin.types import DeviceId


def explanation_of(e: DeviceExplanation) -> Explanation:
    counts = Counter(n.reason.value for n in e.invalid)
    details = {k: v for k, v in e.to_obj().items() if k not in ("device", "shares", "invalid")}
    details["invalid_reports"] = [{"seq": n.seq, "reason": n.reason.value, "details": n.details} for n in e.invalid]
    reasons = set(counts) | {p.reason.value for p in e.penalties if p.factor < 1}
    return Explanation(
        device=e.device, shares=e.shares, reasons=tuple(sorted(reasons)), invalid=dict(counts), details=details
    )


def compute(job: KindJob) -> KindResult:
    section = job.section
    assert isinstance(section, CoverageSection)
    params = CoverageParams(coverage=section, network=job.settings.network)
    result = verify_epoch(
        job.reports, job.snapshot, params, state_from_bytes(job.state), denylist_from_inputs(job.inputs, section)
    )
    cutoff_ms = (job.settings.network.epoch_end_unix(job.epoch) - lookback_seconds(section)) * MS_PER_SECOND
    after = state_from_bytes(job.state).updated(result.activity).pruned(cutoff_ms)
    explanations: dict[DeviceId, Explanation] = {
        d: explanation_of(e) for d, e in sorted(result.explanations.items())
    }
    return KindResult(
        verdicts=result.verdicts,
        shares=dict(result.shares),
        explanations=explanations,
        next_state=state_to_bytes(after),
        notes={"denylist_version": result.denylist_version},
    )
