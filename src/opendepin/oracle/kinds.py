"""The registry of proof kinds the oracle knows: kind name → ProofModule.

A kind is available when its package imports; adding one is one entry here. Which kinds
an epoch runs is decided by the `[pools]` settings: a kind is verified and paid only if
it is named there (basis points per kind), so a network that does not use a kind never
runs its code; a kind with a pool but no module leaves its pool unallocated, visibly.
"""

from __future__ import annotations

from typing import cast

from opendepin.network.settings import Settings
from opendepin.proofs.base import ProofModule


def default_modules(settings: Settings | None = None) -> dict[str, ProofModule]:
    """The shipped proof kinds named in `settings.pools` (all importable ones if None)."""
    from opendepin.proofs.heartbeat import HEARTBEAT

    modules: dict[str, ProofModule] = {str(HEARTBEAT.kind): HEARTBEAT}
    try:
        from opendepin.proofs.coverage import COVERAGE
    except ImportError:
        pass
    else:
        # Its `kind` is a read-only property; the protocol only ever reads it.
        modules[str(COVERAGE.kind)] = cast(ProofModule, COVERAGE)
    if settings is None:
        return modules
    return {k: m for k, m in modules.items() if k in settings.pools.bps}
