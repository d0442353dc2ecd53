"""RFC 9457 problem details: how every opendepin HTTP API says "this request failed".

A problem means the request as a whole could not be served: the body is not JSON, a path
parameter is invalid, there is nothing to answer with yet. (Ingest's per-report rejections
are not problems — they come back in a 200 response, one outcome per report.) The body is
`application/problem+json`:

```
{"type": "urn:opendepin:<namespace>:<slug>", "title": ..., "status": 4xx/5xx, "detail": ...}
```

`type` is a stable URN per problem so clients can branch on it; `title` says what kind of
problem it is, `detail` what was wrong with this request. Every response of this kind is
built by `problem_response` from a `ProblemType`; the HTTP-level types (bad JSON, body too
large, 404/405, invalid parameters) live here, domain ones next to the routes that answer
with them (`ingest.app`, `oracle.api`, `oracle.attestations`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_URN_PREFIX = "urn:opendepin:"
DEFAULT_NAMESPACE = "problem"
"""The namespace of HTTP-level and ingest problems (`urn:opendepin:problem:<slug>`)."""
PROBLEM_TYPE_PATTERN = r"^urn:opendepin:[a-z]+:[a-z0-9_-]+$"
"""What every `type` URN looks like: `urn:opendepin:<namespace>:<slug>`."""
PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One kind of problem: stable slug, title and HTTP status, in a URN namespace."""

    slug: str
    title: str
    status: int
    namespace: str = DEFAULT_NAMESPACE

    @property
    def uri(self) -> str:
        return f"{PROBLEM_URN_PREFIX}{self.namespace}:{self.slug}"


NOT_JSON = ProblemType("not-json", "Request body is not valid JSON", 400)
BODY_TOO_LARGE = ProblemType("body-too-large", "Request body is too large", 413)
NOT_FOUND = ProblemType("not-found", "No such resource", 404)
METHOD_NOT_ALLOWED = ProblemType("method-not-allowed", "Method not allowed", 405)
INVALID_REQUEST = ProblemType("invalid-request", "Request parameters are invalid", 422)


class Problem(BaseModel):
    """RFC 9457 problem details (the schema published in OpenAPI).

    Left open to extension members, as RFC 9457 allows (opendepin sends none today); each
    route's `openapi_responses` entry narrows `type` and `status` to what it can answer.
    """

    type: str = Field(
        pattern=PROBLEM_TYPE_PATTERN,
        description="URN naming the problem type, e.g. urn:opendepin:problem:not-json",
    )
    title: str = Field(description="Short summary of the problem type.")
    status: int = Field(ge=400, le=599, description="HTTP status code.")
    detail: str = Field(description="What was wrong with this request.")


class ProblemError(Exception):
    """Raised inside a handler to answer with a problem document."""

    def __init__(self, problem: ProblemType, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


def problem_response(
    problem: ProblemType, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The `application/problem+json` response for `problem`, saying `detail`."""
    body = {"type": problem.uri, "title": problem.title, "status": problem.status, "detail": detail}
    return JSONResponse(
        body, status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


async def handle_problem(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.problem, exc.detail)


async def handle_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    by_status = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}
    problem = by_status.get(
        exc.status_code, ProblemType(f"http-{exc.status_code}", "HTTP error", exc.status_code)
    )
    headers: dict[str, str] | None = dict(exc.headers) if exc.headers else None
    return problem_response(problem, str(exc.detail), headers)


async def handle_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return problem_response(INVALID_REQUEST, "; ".join(parts) or "invalid request")


def openapi_responses(*problems: ProblemType) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries, one per status, for the problems a route can answer.

    Problems that share a status share its entry: the description lists their titles, and
    the schema is `Problem` with `type` narrowed to their URNs and `status` to the code — so
    the document says which problems a status can mean, and a test can hold real answers
    to it. The `Problem` component must be in the app's schema (`PROBLEM_SCHEMA_REF`).
    """
    by_status: dict[int, list[ProblemType]] = {}
    for problem in problems:
        group = by_status.setdefault(problem.status, [])
        if all(p.uri != problem.uri for p in group):
            group.append(problem)
    return {
        status: {
            "description": "; ".join(f"{p.title} ({p.uri})" for p in group),
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {
                        "allOf": [
                            {"$ref": PROBLEM_SCHEMA_REF},
                            {
                                "properties": {
                                    "type": {"enum": [p.uri for p in group]},
                                    "status": {"const": status},
                                }
                            },
                        ]
                    }
                }
            },
        }
        for status, group in sorted(by_status.items())
    }
