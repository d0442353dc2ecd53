"""The ingest HTTP API (FastAPI): devices POST signed reports, ingest answers per report.

```
POST /v1/reports   one wire report, or {"reports": [...]} with up to ingest.max_batch
                   → 200 {"accepted": n, "rejected": m, "results": [{index, device, seq,
                     status: "accepted"|"rejected", reason, message}, ...]}
                   → 4xx/503 application/problem+json when the request itself is unusable
GET  /healthz      liveness plus a database round trip
GET  /metrics      Prometheus text format (per-app registry)
GET  /openapi.json the published API, with the wire report schema
```

An "accepted" status means the report is durably in the report log: the response is sent
only after the batch's transaction committed. Rejections carry a stable `reason`
(`reports.reasons.RejectReason` values, or `ingest.reasons.IngestReason` for epoch_closed /
epoch_sealed).

Per request, the event loop only receives the body; parsing (stdlib `json`, see
`_parse_items`), the pipeline and encoding the response (orjson) run together in one
worker thread, so the loop keeps accepting connections while batches are checked.

Other components add routes without touching this module: pass `routers=[...]` to
`create_app`, or call `app.include_router(router)` on the returned app. Handlers find the
shared objects on `request.app.state`: `settings`, `store`, `registry`, `pipeline`,
`metrics`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from opendepin.http.problems import (
    NOT_JSON,
    Problem,
    ProblemError,
    ProblemType,
    handle_http_exception,
    handle_problem,
    handle_validation_error,
    openapi_responses,
)
from opendepin.ingest.limits import JsonBodyGuard, check_nesting, read_body_capped
from opendepin.ingest.metrics import IngestMetrics
from opendepin.ingest.pipeline import Clock, IngestPipeline, Outcome
from opendepin.ingest.registry import RegistryMirror
from opendepin.network.settings import Settings
from opendepin.reports.eip712 import FIELD_DOCS
from opendepin.reports.verify import PayloadRegistry
from opendepin.store import Store

API_TITLE = "opendepin ingest"
API_VERSION = "1"
REPORTS_PATH = "/v1/reports"
PROMETHEUS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"

BAD_SHAPE = ProblemType(
    "bad-shape", "Request body must be one report object or {\"reports\": [...]}", 422
)
TOO_MANY_REPORTS = ProblemType("too-many-reports", "Too many reports in one request", 413)
STORE_UNAVAILABLE = ProblemType("store-unavailable", "The report store is unavailable", 503)
PROBLEM_RESPONSES = openapi_responses(NOT_JSON, BAD_SHAPE, TOO_MANY_REPORTS, STORE_UNAVAILABLE)
"""OpenAPI `responses` entries for the problems POST /v1/reports can answer."""


class WireReport(BaseModel):
    """A signed device report on the wire (see `reports.codec`); every field is required."""

    version: int = Field(description=FIELD_DOCS["version"])
    network: str = Field(description=FIELD_DOCS["network"])
    chainId: int = Field(description=FIELD_DOCS["chainId"])
    device: str = Field(description=FIELD_DOCS["device"])
    kind: str = Field(description=FIELD_DOCS["kind"])
    epoch: int = Field(description=FIELD_DOCS["epoch"])
    seq: int = Field(description=FIELD_DOCS["seq"])
    timestampMs: int = Field(description=FIELD_DOCS["timestampMs"])
    payload: dict[str, Any] = Field(description="Kind-specific payload object (no floats).")
    signature: str = Field(description="0x hex: 65-byte secp256k1 r‖s‖v or 64-byte ed25519.")
    signerKey: str = Field(description='0x hex ed25519 public key; "0x" for secp256k1.')


class ReportBatch(BaseModel):
    """Several reports in one request."""

    reports: list[WireReport] = Field(description="Up to ingest.max_batch reports.")


class ReportResult(BaseModel):
    """Outcome of one report of the request."""

    index: int = Field(description="Position of the report in the request.")
    device: str | None = Field(description="Device id as sent, if readable.")
    seq: int | None = Field(description="Sequence number as sent, if readable.")
    status: Literal["accepted", "rejected"]
    reason: str | None = Field(description="Stable rejection code; null when accepted.")
    message: str = Field(description="Human explanation of a rejection; empty when accepted.")


class IngestResponse(BaseModel):
    """Per-report outcomes of one POST /v1/reports."""

    accepted: int = Field(description="Reports durably stored by this request.")
    rejected: int = Field(description="Reports rejected (see each result's reason).")
    results: list[ReportResult]


class Health(BaseModel):
    status: Literal["ok"]
    network_id: str
    devices: int = Field(description="Devices in the registry mirror.")
    synced_block: int = Field(description="Last registry block applied to the mirror.")


def _parse_items(body: bytes, max_batch: int) -> list[Any]:
    """The report objects of a request body (ProblemError if the body is unusable).

    The body is parsed with the stdlib `json`, deliberately not orjson: orjson turns an
    integer beyond 64 bits into a float, which would change the outcome of a report whose
    payload carries one (the stdlib keeps it an int, and the device signed it as such).
    """
    check_nesting(body)
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProblemError(NOT_JSON, f"invalid JSON: {exc}") from None
    except RecursionError:
        raise ProblemError(NOT_JSON, "invalid JSON: nested too deeply") from None
    if type(obj) is not dict:
        raise ProblemError(
            BAD_SHAPE, f"expected a JSON object, got {type(obj).__name__}"
        )
    if "reports" not in obj:
        return [obj]
    if len(obj) != 1:
        extra = sorted(k for k in obj if k != "reports")
        raise ProblemError(BAD_SHAPE, f"a batch has only the key 'reports'; unexpected {extra}")
    items = obj["reports"]
    if type(items) is not list:
        raise ProblemError(BAD_SHAPE, f"'reports' must be an array, got {type(items).__name__}")
    if len(items) > max_batch:
        raise ProblemError(
            TOO_MANY_REPORTS, f"{len(items)} reports in one request; the limit is {max_batch}"
        )
    return items


def _encode_json(obj: Any) -> bytes:
    """Compact JSON bytes: orjson, or the stdlib for what orjson refuses (lone surrogates)."""
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode()


def _result(o: Outcome) -> dict[str, Any]:
    return {
        "index": o.index,
        "device": o.device,
        "seq": o.seq,
        "status": "accepted" if o.reason is None else "rejected",
        "reason": None if o.reason is None else str(o.reason),
        "message": o.message,
    }


def create_app(
    settings: Settings,
    store: Store,
    registry: RegistryMirror,
    clock: Clock | None = None,
    payload_registry: PayloadRegistry | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The ingest app for one network. `clock` returns Unix ms (default: wall clock)."""
    pipeline = IngestPipeline(settings, store, registry, clock, payload_registry)
    metrics = IngestMetrics()
    max_batch = settings.ingest.max_batch
    max_body_bytes = settings.ingest.max_body_bytes

    app = FastAPI(
        title=API_TITLE,
        version=API_VERSION,
        description=__doc__,
        exception_handlers={
            ProblemError: handle_problem,
            StarletteHTTPException: handle_http_exception,
            RequestValidationError: handle_validation_error,
        },
    )
    app.add_middleware(JsonBodyGuard, max_body_bytes=max_body_bytes, self_checked={REPORTS_PATH})
    app.state.settings = settings
    app.state.store = store
    app.state.registry = registry
    app.state.pipeline = pipeline
    app.state.metrics = metrics

    def handle_body(body: bytes) -> bytes:
        """Parse, check and store one request body; the response body (runs in a thread)."""
        items = _parse_items(body, max_batch)
        try:
            outcomes = pipeline.process(items)
        except SQLAlchemyError as exc:
            raise ProblemError(
                STORE_UNAVAILABLE, f"reports were not stored, retry later: {type(exc).__name__}"
            ) from exc
        rejected_by_reason = Counter(str(o.reason) for o in outcomes if o.reason is not None)
        rejected = sum(rejected_by_reason.values())
        accepted = len(outcomes) - rejected
        if accepted:
            metrics.accepted.inc(accepted)
        for reason, count in rejected_by_reason.items():
            metrics.rejected.labels(reason=reason).inc(count)
        metrics.batch_reports.observe(len(items))
        return _encode_json(
            {
                "accepted": accepted,
                "rejected": rejected,
                "results": [_result(o) for o in outcomes],
            }
        )

    @app.post(
        REPORTS_PATH,
        summary="Submit signed device reports",
        response_model=IngestResponse,
        responses=PROBLEM_RESPONSES,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/WireReport"},
                                {"$ref": "#/components/schemas/ReportBatch"},
                            ]
                        }
                    }
                },
            }
        },
    )
    async def post_reports(request: Request) -> Response:
        started = time.perf_counter()
        body = await read_body_capped(request, max_body_bytes)
        content = await run_in_threadpool(handle_body, body)
        metrics.request_seconds.observe(time.perf_counter() - started)
        return Response(content, media_type="application/json")

    @app.get("/healthz", response_model=Health, responses={503: PROBLEM_RESPONSES[503]})
    def healthz() -> Health:
        try:
            with store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            raise ProblemError(STORE_UNAVAILABLE, f"database check failed: {exc}") from exc
        return Health(
            status="ok",
            network_id=settings.network.network_id,
            devices=len(registry),
            synced_block=registry.synced_block,
        )

    @app.get("/metrics", response_class=Response, summary="Prometheus metrics")
    def prometheus_metrics() -> Response:
        return Response(metrics.render(), media_type=PROMETHEUS_MEDIA_TYPE)

    for router in routers:
        app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (WireReport, ReportBatch, Problem):
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                for name, sub in model_schema.pop("$defs", {}).items():
                    components.setdefault(name, sub)
                components[model.__name__] = model_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
