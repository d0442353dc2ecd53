"""Prometheus metrics of one ingest app, in its own CollectorRegistry.

A registry per app (not the process-global default) lets tests and the demo run several
apps in one process without "duplicated timeseries" errors.

| metric | type | labels |
|---|---|---|
| `depin_ingest_reports_accepted_total` | counter | — |
| `depin_ingest_reports_rejected_total` | counter | `reason` (RejectReason / IngestReason value) |
| `depin_ingest_request_seconds` | histogram | — (POST /v1/reports latency) |
| `depin_ingest_batch_reports` | histogram | — (reports per request) |

Other components' registries can be served on the same `/metrics` (`extra_registries`): an
oracle adds its own (`oracle.metrics`), rendered after ingest's. Their metric names must
differ from ingest's (each family appears once in a scrape).
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REQUEST_SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_SIZE_BUCKETS = (1, 10, 100, 500, 1_000, 2_500, 5_000, 10_000)


class IngestMetrics:
    """The counters and histograms ingest updates."""

    def __init__(self, extra_registries: Sequence[CollectorRegistry] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.extra_registries = tuple(extra_registries)
        """Registries rendered after this one by `render` (e.g. the oracle's)."""
        self.accepted = Counter(
            "depin_ingest_reports_accepted",
            "Reports durably accepted.",
            registry=self.registry,
        )
        self.rejected = Counter(
            "depin_ingest_reports_rejected",
            "Reports rejected, by stable reason code.",
            ["reason"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "depin_ingest_request_seconds",
            "Latency of POST /v1/reports, seconds.",
            buckets=REQUEST_SECONDS_BUCKETS,
            registry=self.registry,
        )
        self.batch_reports = Histogram(
            "depin_ingest_batch_reports",
            "Reports per POST /v1/reports request.",
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format: ingest's metrics, then each extra registry's."""
        return b"".join(bytes(generate_latest(r)) for r in (self.registry, *self.extra_registries))
