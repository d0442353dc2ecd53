"""Ingest: the HTTP front door where devices submit signed reports.

Ingest checks every report (decode → network → registry → signature → freshness and replay →
payload), durably appends the accepted ones to the store's report log in one transaction per
request, and answers per report with a stable reason for each rejection. See `app` for the
HTTP API, `pipeline` for the checks, `registry` for the registry mirror.

    store = Store.open(settings.store)
    mirror = RegistryMirror(records)             # or mirror.sync(registry_client, block)
    app = create_app(settings, store, mirror)
    with IngestServer(app) as server: ...        # or serve(app, host, port)
"""

from opendepin.ingest.app import IngestResponse, ReportResult, WireReport, create_app
from opendepin.ingest.metrics import IngestMetrics
from opendepin.ingest.pipeline import IngestPipeline, Outcome, default_payload_registry
from opendepin.ingest.reasons import IngestReason
from opendepin.ingest.registry import RegistryMirror
from opendepin.ingest.server import IngestServer, serve

__all__ = [
    "IngestMetrics",
    "IngestPipeline",
    "IngestReason",
    "IngestResponse",
    "IngestServer",
    "Outcome",
    "RegistryMirror",
    "ReportResult",
    "WireReport",
    "create_app",
    "default_payload_registry",
    "serve",
]
