"""Ingest-level rejection reasons: why a well-formed, correctly signed report was not stored.

`reports.reasons.RejectReason` covers everything wrong with a report's *content*. These
reasons are about the state of the network when it arrived; they share the response's
`reason` field and the `depin_ingest_reports_rejected_total{reason}` label, so their values
must never collide with RejectReason's and never change meaning.
"""

from __future__ import annotations

from enum import StrEnum


class IngestReason(StrEnum):
    """Stable code of an ingest-level rejection."""

    EPOCH_SEALED = "epoch_sealed"
    """The report's epoch was already sealed; its inputs are final. A device's epoch is part
    of what it signed, so the report cannot be counted for the next epoch instead."""

    EPOCH_CLOSED = "epoch_closed"
    """The ingest clock is past the report's epoch end plus `network.report_grace_seconds`.
    Lateness is judged here, by each oracle's own clock for its own acceptance, and never
    again in verification: sealed inputs carry only what devices signed."""
