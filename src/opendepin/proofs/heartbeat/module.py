"""The heartbeat `ProofModule` object the oracle and ingest look up by kind."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opendepin.network.settings import Settings
from opendepin.proofs.base import ChainSnapshot, IngestedReport, Shares, Verdict
from opendepin.proofs.heartbeat import payload as _payload
from opendepin.proofs.heartbeat import scorer as _scorer
from opendepin.proofs.heartbeat import verifier as _verifier
from opendepin.types import DeviceId, ProofKind


class HeartbeatModule:
    """Heartbeat / uptime: verify with `verifier.verify`, score with `scorer.score`."""

    kind: ProofKind = _verifier.HEARTBEAT_KIND

    def validate_payload(self, payload: dict[str, Any]) -> None:
        _payload.validate_payload(payload)

    def verify(
        self, reports: Sequence[IngestedReport], snapshot: ChainSnapshot, settings: Settings
    ) -> list[Verdict]:
        return _verifier.verify(reports, snapshot, settings)

    def score(
        self,
        reports: Sequence[IngestedReport],
        verdicts: Sequence[Verdict],
        snapshot: ChainSnapshot,
        settings: Settings,
    ) -> Shares:
        return _scorer.score(reports, verdicts, snapshot, settings)

    def explain(
        self,
        reports: Sequence[IngestedReport],
        verdicts: Sequence[Verdict],
        snapshot: ChainSnapshot,
        settings: Settings,
    ) -> dict[DeviceId, _scorer.HeartbeatExplanation]:
        """Per-device explanation (hours, trust, distance, reasons) to publish with the epoch."""
        return _scorer.explain(reports, verdicts, snapshot, settings)


HEARTBEAT = HeartbeatModule()
"""The heartbeat proof kind."""
