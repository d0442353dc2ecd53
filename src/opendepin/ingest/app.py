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

Per request, the event loop only receives the body; parsing (`parse_json`: the stdlib
`json`'s value, by orjson where that is the same), the pipeline and encoding the response (orjson) run together in one
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
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from typing_extensions import TypeAliasType

from opendepin.http.problems import (
    BODY_TOO_LARGE,
    NOT_JSON,
    Problem,
    ProblemError,
    ProblemType,
    handle_http_exception,
    handle_problem,
    handle_validation_error,
    openapi_responses,
)
from opendepin.http.schema import ADDRESS_PATTERN, INT64_LIMIT, UINT256_LIMIT
from opendepin.ingest.limits import JsonBodyGuard, check_nesting, read_body_capped
from opendepin.ingest.metrics import IngestMetrics
from opendepin.ingest.pipeline import Clock, IngestPipeline, Outcome
from opendepin.ingest.reasons import IngestReason
from opendepin.ingest.registry import RegistryMirror
from opendepin.network.settings import Settings
from opendepin.reports.codec import MAX_NAME_CHARS, MAX_PAYLOAD_BYTES, WIRE_INT64_LIMIT
from opendepin.reports.eip712 import FIELD_DOCS
from opendepin.reports.eip712 import UINT256_LIMIT as REPORT_UINT256_LIMIT
from opendepin.reports.envelope import REPORT_VERSION, plain_json
from opendepin.reports.reasons import RejectReason
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
PROBLEM_RESPONSES = openapi_responses(
    NOT_JSON, BODY_TOO_LARGE, BAD_SHAPE, TOO_MANY_REPORTS, STORE_UNAVAILABLE
)
"""OpenAPI `responses` entries for the problems POST /v1/reports can answer."""
HEALTH_RESPONSES = openapi_responses(STORE_UNAVAILABLE)
METRICS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Prometheus text exposition format 0.0.4.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}

assert WIRE_INT64_LIMIT == INT64_LIMIT and REPORT_UINT256_LIMIT == UINT256_LIMIT

PayloadValue = TypeAliasType(
    "PayloadValue", "bool | int | str | list[PayloadValue] | dict[str, PayloadValue] | None"
)
"""Any JSON value but a number with a fraction or exponent: payloads carry scaled integers."""
_SECP256K1_SIGNATURE = r"[0-9a-fA-F]{130}"
_ED25519_SIGNATURE = r"[0-9a-fA-F]{128}"
_ED25519_KEY = r"[0-9a-fA-F]{64}"
_SIGNATURE_SHAPES: JsonDict = {
    "oneOf": [
        {
            "description": "secp256k1: a 65-byte signature, no signer key.",
            "properties": {
                "signature": {"pattern": f"^0x{_SECP256K1_SIGNATURE}$"},
                "signerKey": {"const": "0x"},
            },
        },
        {
            "description": "ed25519: a 64-byte signature and the 32-byte public key.",
            "properties": {
                "signature": {"pattern": f"^0x{_ED25519_SIGNATURE}$"},
                "signerKey": {"pattern": f"^0x{_ED25519_KEY}$"},
            },
        },
    ]
}


class WireReport(BaseModel):
    """A signed device report on the wire, as `reports.codec.from_json` reads it.

    Schema only — the route decodes bodies with the codec itself, and a report this schema
    refuses comes back in the 200 answer as `rejected` with a reason (`malformed` for a
    shape error, `bad_signature` for a signature of the wrong length), never as a problem.
    Every field is required and no other is allowed. Beyond what JSON Schema can say the
    codec also refuses: a mixed-case device id with a wrong EIP-55 checksum, a number written
    with a fraction or exponent (`1.0`, which JSON Schema counts as an integer), text that
    is not valid Unicode (a lone surrogate escape), and a payload whose canonical encoding
    exceeds 65,536 bytes. Which payloads a kind accepts is the kind's rule
    (`malformed_payload`), and network, chain, device and time are checked per report.
    """

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_SIGNATURE_SHAPES)

    version: Literal[1] = Field(description=FIELD_DOCS["version"])
    network: str = Field(min_length=1, max_length=MAX_NAME_CHARS, description=FIELD_DOCS["network"])
    chainId: int = Field(ge=0, lt=UINT256_LIMIT, description=FIELD_DOCS["chainId"])
    device: str = Field(
        pattern=ADDRESS_PATTERN,
        description=FIELD_DOCS["device"] + " (0x + 40 hex; mixed case must be a valid EIP-55 checksum)",
    )
    kind: str = Field(min_length=1, max_length=MAX_NAME_CHARS, description=FIELD_DOCS["kind"])
    epoch: int = Field(ge=0, lt=INT64_LIMIT, description=FIELD_DOCS["epoch"])
    seq: int = Field(ge=0, lt=INT64_LIMIT, description=FIELD_DOCS["seq"])
    timestampMs: int = Field(ge=0, lt=INT64_LIMIT, description=FIELD_DOCS["timestampMs"])
    payload: dict[str, PayloadValue] = Field(
        description=f"Kind-specific payload object: no floats, at most {MAX_PAYLOAD_BYTES} bytes canonical."
    )
    signature: str = Field(
        pattern=f"^0x({_SECP256K1_SIGNATURE}|{_ED25519_SIGNATURE})$",
        description="0x hex: 65-byte secp256k1 r‖s‖v or 64-byte ed25519.",
    )
    signerKey: str = Field(
        pattern=f"^0x({_ED25519_KEY})?$", description='0x hex ed25519 public key; "0x" for secp256k1.'
    )


assert REPORT_VERSION == 1, "WireReport.version documents the one version the codec reads"


class ReportBatch(BaseModel):
    """Several reports in one request (the only key; at most ingest.max_batch reports)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reports: list[WireReport] = Field(description="Up to ingest.max_batch reports.")


class ReportResult(BaseModel):
    """Outcome of one report of the request."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, description="Position of the report in the request.")
    device: str | None = Field(description="Device id as sent, if readable.")
    seq: int | None = Field(description="Sequence number as sent, if readable.")
    status: Literal["accepted", "rejected"]
    reason: RejectReason | IngestReason | None = Field(
        description="Stable rejection code; null when accepted."
    )
    message: str = Field(description="Human explanation of a rejection; empty when accepted.")


class IngestResponse(BaseModel):
    """Per-report outcomes of one POST /v1/reports."""

    model_config = ConfigDict(extra="forbid")

    accepted: int = Field(ge=0, description="Reports durably stored by this request.")
    rejected: int = Field(ge=0, description="Reports rejected (see each result's reason).")
    results: list[ReportResult]


class Health(BaseModel):
    """GET /healthz: the process is up and its database answers."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"]
    network_id: str
    devices: int = Field(ge=0, description="Devices in the registry mirror.")
    synced_block: int = Field(description="Last registry block applied to the mirror.")


def _parse_items(body: bytes, max_batch: int) -> list[Any]:
    """The report objects of a request body (ProblemError if the body is unusable)."""
    obj = parse_json(body)
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


def parse_json(body: bytes) -> Any:
    """`parse_json_reference(body)`: the same value, or the same ProblemError.

    orjson parses first (the nesting check needs its parse anyway); its value is the answer
    when it holds only dicts, lists, strings, integers, booleans and None (`plain_json`),
    for which orjson and the stdlib decode alike. Anything else — a float (orjson reads an
    integer beyond 64 bits as one), a text orjson refuses (a lone surrogate escape, NaN, a
    BOM, another encoding) — is parsed by the reference itself.
    """
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return parse_json_reference(body)
    try:
        if plain_json(obj):
            return obj
    except RecursionError:  # deeper than this thread's recursion limit: the reference decides
        pass
    return parse_json_reference(body)


def parse_json_reference(body: bytes) -> Any:
    """A request body's JSON value (ProblemError NOT_JSON if it is not JSON or nests too deeply).

    The body is parsed with the stdlib `json`, deliberately not orjson: orjson turns an
    integer beyond 64 bits into a float, which would change the outcome of a report whose
    payload carries one (the stdlib keeps it an int, and the device signed it as such).
    """
    check_nesting(body)
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProblemError(NOT_JSON, f"invalid JSON: {exc}") from None
    except RecursionError:
        raise ProblemError(NOT_JSON, "invalid JSON: nested too deeply") from None


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


def add_components(schema: dict[str, Any], max_batch: int) -> None:
    """Add the models only `openapi_extra` and `openapi_responses` refer to (request bodies
    parsed by the route, problems) to an app's generated `schema`, exact: the models' own
    JSON Schema, not FastAPI's copy, which turns large integer bounds into floats."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in (WireReport, ReportBatch, Problem):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, sub in model_schema.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components[model.__name__] = model_schema
    components["ReportBatch"]["properties"]["reports"]["maxItems"] = max_batch


def create_app(
    settings: Settings,
    store: Store,
    registry: RegistryMirror,
    clock: Clock | None = None,
    payload_registry: PayloadRegistry | None = None,
    routers: Sequence[APIRouter] = (),
    extra_registries: Sequence[CollectorRegistry] = (),
) -> FastAPI:
    """The ingest app for one network. `clock` returns Unix ms (default: wall clock).
    `extra_registries` are served on `/metrics` after ingest's own (an oracle's)."""
    pipeline = IngestPipeline(settings, store, registry, clock, payload_registry)
    metrics = IngestMetrics(extra_registries)
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

    @app.get("/healthz", response_model=Health, responses=HEALTH_RESPONSES)
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

    @app.get("/metrics", response_class=Response, summary="Prometheus metrics", responses=METRICS_RESPONSES)
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
            add_components(schema, max_batch)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
