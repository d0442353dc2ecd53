"""Audit reputation: Storj's beta reputation model, in integer fixed point.

Every audit outcome updates a node's (α, β) with forgetting factor λ and weight w
(Storj, "Reputation scoring" in the v3 white paper and its audit-reputation design):

    success:  α ← λ·α + w,   β ← λ·β
    failure:  α ← λ·α,       β ← λ·β + w
    score  =  α / (α + β)

starting from α₀ = `reputation_initial_alpha`, β₀ = 0. With α₀ = w / (1 − λ) (Storj's
defaults: λ = 0.999, w = 1, α₀ = 1000) a node starts at its steady state, α + β stays w/(1−λ),
and after k failures in a row its score is exactly λᵏ: at `disqualify_at_ppm` = 0.96 the
41st consecutive failure disqualifies a perfect node (0.999⁴¹ ≈ 0.9598). Disqualification is
permanent; later outcomes are not counted.

**Fixed point.** α and β are integers in units of 1/`SCALE` (10⁻¹²); λ is `λ_ppm`/10⁶; each
multiplication rounds down. Rounding loses at most one unit per update, so after n updates
α and β are within n·10⁻¹² of the exact values — far below any score difference that
matters — and every oracle computes the same integers. Scores are in ppm, rounded down.

**Vetting** (Storj's): a node is *vetting* until it has passed `vetting_audits` audits (a
contained pass counts); placers use it to limit how many new pieces a young node gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from opendepin.proofs.storage.settings import PPM, StorageSection

SCALE: Final = 10**12
"""α and β are stored in units of 1/SCALE."""


@dataclass(frozen=True, slots=True)
class Reputation:
    """A node's audit reputation (α, β in 1/SCALE units) and counters."""

    alpha: int
    beta: int = 0
    passed: int = 0
    """Audits passed (on time or contained), ever."""
    failed: int = 0
    """Audits failed (a bad proof, late, or missing), ever."""

    @property
    def score_ppm(self) -> int:
        """α / (α + β) in ppm, rounded down (1_000_000 before any audit)."""
        total = self.alpha + self.beta
        return self.alpha * PPM // total if total > 0 else PPM


def initial(section: StorageSection) -> Reputation:
    """A new node's reputation: α₀, β₀ = 0."""
    return Reputation(alpha=section.reputation_initial_alpha * SCALE)


def _decay(value: int, section: StorageSection) -> int:
    return value * section.reputation_lambda_ppm // PPM


def updated(rep: Reputation, success: bool, section: StorageSection) -> Reputation:
    """`rep` after one audit outcome (Storj's update, see the module docstring)."""
    w = section.reputation_weight * SCALE
    alpha, beta = _decay(rep.alpha, section), _decay(rep.beta, section)
    if success:
        return Reputation(alpha + w, beta, rep.passed + 1, rep.failed)
    return Reputation(alpha, beta + w, rep.passed, rep.failed + 1)


def is_disqualifying(rep: Reputation, section: StorageSection) -> bool:
    """Has the score fallen to `disqualify_at_ppm` or below?"""
    return rep.score_ppm <= section.disqualify_at_ppm


def is_vetting(rep: Reputation, section: StorageSection) -> bool:
    """Fewer than `vetting_audits` passed audits."""
    return rep.passed < section.vetting_audits


__all__ = ["SCALE", "Reputation", "initial", "is_disqualifying", "is_vetting", "updated"]
