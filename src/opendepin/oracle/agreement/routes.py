"""What an oracle serves its peers during agreement (requests signed by an oracle, `http.peerauth`).

```
GET /v1/epochs/{e}/agreement/rounds/{r}      our signed record for round r (404 until published)
GET /v1/epochs/{e}/agreement/batches/{0x…}   a batch we hold: our own or one we accepted
GET /v1/epochs/{e}/agreement/batches/{0x…}/index   sha256 of each of its lines (`delta`)
POST /v1/epochs/{e}/agreement/batches/{0x…}/lines  {"lines": [i, …]}: just those lines
GET /v1/epochs/{e}/agreement                 the decision (agreement_v1) and the evidence, once decided
```

Records are small; batches are streamed from disk in 1 MiB chunks, so serving costs no memory
per request. The decision is what a recovering oracle fetches (`oracle.recovery`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from opendepin.epochdir import epoch_dir
from opendepin.http.peerauth import NOT_AN_ORACLE, OPENAPI_PARAMETERS, refuse_unless_signed
from opendepin.http.problems import (
    BODY_TOO_LARGE,
    INVALID_REQUEST,
    NOT_JSON,
    ProblemType,
    openapi_responses,
    problem_response,
)
from opendepin.http.schema import HASH32_LOWER_PATTERN, ChecksumAddress, Hash32Out, Signature65Out
from opendepin.oracle.agreement import delta
from opendepin.oracle.agreement.messages import BATCH_NAME
from opendepin.oracle.agreement.service import (
    BATCH_PATH,
    DECISION_FILE,
    DECISION_PATH,
    EVIDENCE_FILE,
    ROUND_PATH,
    agreement_dir,
    batch_path,
    round_path,
)

NOT_YET = ProblemType("not_yet", "not_yet", 404, "agreement")
"""The record, batch or decision asked for does not exist here (yet)."""
BAD_BATCH = ProblemType("bad_batch", "bad_batch", 422, "agreement")
MAX_EPOCH = 1 << 40
MAX_ROUND = 64
_COUNT_LIMIT = 1 << 48


class ChainOut(BaseModel):
    """A batch digest with its origin's and relayers' signatures (`messages.SignedChain`)."""

    model_config = ConfigDict(extra="forbid")

    batch: Hash32Out = Field(description="0x + sha256 of the batch bytes.")
    origin: ChecksumAddress = Field(description="The oracle whose report set the batch is.")
    signatures: list[Signature65Out] = Field(
        min_length=1, max_length=64, description="The origin's signature, then one per relayer."
    )
    reports: int = Field(ge=0, lt=_COUNT_LIMIT, description="Lines in the batch, as its origin says.")
    bytes: int = Field(ge=0, lt=_COUNT_LIMIT, description="Bytes of the batch, as its origin says.")


class RoundRecordOut(BaseModel):
    """One oracle's signed record for one round (`messages.RoundRecord`, canonical JSON)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["agreement_round_v1"]
    network: str
    chain_id: int = Field(ge=0)
    epoch: int = Field(ge=0)
    round: int = Field(ge=0)
    oracle: ChecksumAddress
    chains: list[ChainOut] = Field(description="The chains relayed in this round.")
    signature: Signature65Out = Field(description="The oracle's signature over the record without it.")


class AgreedBatchOut(BaseModel):
    """An accepted batch in the decision."""

    model_config = ConfigDict(extra="forbid")

    origin: ChecksumAddress
    batch: Hash32Out
    reports: int = Field(ge=0)
    bytes: int = Field(ge=0)


class AgreementOut(BaseModel):
    """`agreement_v1`: the decision, byte-identical at every honest oracle (`protocol.Decision`)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["agreement_v1"]
    epoch: int = Field(ge=0)
    oracles: list[ChecksumAddress]
    faulty_tolerated: int = Field(ge=0, description="f = N - M.")
    rounds: int = Field(ge=1, description="f + 1.")
    batches: list[AgreedBatchOut] = Field(description="Every accepted batch, by (origin, batch).")
    sealed: list[Hash32Out] = Field(description="The batches whose reports are sealed.")
    equivocating_oracles: list[ChecksumAddress] = Field(description="Origins with two accepted batches.")


class SignedBatchOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    batch: Hash32Out
    signature: Signature65Out = Field(description="The origin signature over the batch.")


class EquivocationOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    oracle: ChecksumAddress
    signed: list[SignedBatchOut]


class EvidenceOut(BaseModel):
    """`agreement_evidence_v1`: two origin-signed batches of each equivocating oracle."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["agreement_evidence_v1"]
    network: str
    chain_id: int = Field(ge=0)
    epoch: int = Field(ge=0)
    equivocations: list[EquivocationOut]


class DecisionOut(BaseModel):
    """`GET /v1/epochs/{e}/agreement`: the decision and the evidence behind its exclusions."""

    model_config = ConfigDict(extra="forbid")

    agreement: AgreementOut
    evidence: EvidenceOut


BatchParam = Annotated[
    str,
    PathParam(
        description="0x + the sha256 of the batch's bytes (64 lowercase hex).",
        # Documented, not validated by FastAPI: a bad name is answered as bad_batch.
        json_schema_extra={"pattern": HASH32_LOWER_PATTERN},
    ),
]
_BATCH_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The batch: wire reports, one per line (see WireReport).",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
    }
}
_INDEX_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "sha256 of every line of the batch (newline included), in order, 32 bytes each.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
_LINES_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The asked-for lines that exist, in ascending index order, as stored.",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
    }
}
_LINES_REQUEST: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "required": ["lines"],
                "properties": {
                    "lines": {
                        "type": "array",
                        "maxItems": delta.MAX_LINES_PER_REQUEST,
                        "items": {"type": "integer", "minimum": 0, "exclusiveMaximum": 1 << 32},
                        "description": "Line indexes (0-based) of the batch to send.",
                    }
                },
            }
        }
    },
}
"""The body of POST …/lines as `delta.parse_wanted` reads it (the route parses it itself)."""


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def _blocks(parts: Iterator[bytes], size: int = 1 << 18) -> Iterator[bytes]:
    """`parts` joined into blocks of about `size` bytes: a streamed answer made of 100,000
    32-byte pieces would cost one thread hop and one HTTP chunk each."""
    block: list[bytes] = []
    held = 0
    for part in parts:
        block.append(part)
        held += len(part)
        if held >= size:
            yield b"".join(block)
            block, held = [], 0
    if block:
        yield b"".join(block)


def agreement_router(data_dir: Path, oracles: Callable[[], Collection[str]] | None = None) -> APIRouter:
    """The agreement routes over the epoch directories under `data_dir`."""
    router = APIRouter(tags=["oracle"])
    signed = {"parameters": OPENAPI_PARAMETERS} if oracles is not None else None
    auth = (NOT_AN_ORACLE,) if oracles is not None else ()

    def refuse(request: Request) -> Response | None:
        return refuse_unless_signed(request, oracles)

    @router.get(
        ROUND_PATH,
        summary="Our signed record for an agreement round (oracles only)",
        response_model=RoundRecordOut,
        responses=openapi_responses(*auth, NOT_YET, INVALID_REQUEST),
        openapi_extra=signed,
    )
    def get_round(request: Request, epoch: int, round: int) -> Response:
        problem = refuse(request)
        if problem is not None:
            return problem
        path = round_path(epoch_dir(data_dir, epoch), round) if 0 <= epoch < MAX_EPOCH and 0 <= round <= MAX_ROUND else None
        if path is None or not path.is_file():
            return problem_response(NOT_YET, f"no record for epoch {epoch} round {round} here yet")
        return Response(path.read_bytes(), media_type="application/json")

    @router.get(
        BATCH_PATH,
        summary="A report batch this oracle holds for an epoch's agreement (oracles only)",
        response_model=None,
        response_class=Response,
        responses={**_BATCH_RESPONSE, **openapi_responses(*auth, NOT_YET, BAD_BATCH, INVALID_REQUEST)},
        openapi_extra=signed,
    )
    def get_batch(request: Request, epoch: int, batch: BatchParam) -> Response:
        found = held(request, epoch, batch)
        if isinstance(found, Response):
            return found
        return StreamingResponse(_chunks(found), media_type="application/x-ndjson")

    def held(request: Request, epoch: int, batch: str) -> Path | Response:
        problem = refuse(request)
        if problem is not None:
            return problem
        if BATCH_NAME.fullmatch(batch) is None:
            return problem_response(BAD_BATCH, "a batch is named 0x + the sha256 of its bytes (64 lowercase hex)")
        path = batch_path(epoch_dir(data_dir, epoch), batch) if 0 <= epoch < MAX_EPOCH else None
        if path is None or not path.is_file():
            return problem_response(NOT_YET, f"batch {batch} of epoch {epoch} is not held here")
        return path

    @router.get(
        BATCH_PATH + delta.INDEX_SUFFIX,
        summary="The line index of a held batch: sha256 of each line, 32 bytes each (oracles only)",
        response_model=None,
        response_class=Response,
        responses={**_INDEX_RESPONSE, **openapi_responses(*auth, NOT_YET, BAD_BATCH, INVALID_REQUEST)},
        openapi_extra=signed,
    )
    def get_index(request: Request, epoch: int, batch: BatchParam) -> Response:
        found = held(request, epoch, batch)
        if isinstance(found, Response):
            return found
        return StreamingResponse(_blocks(delta.index_of(found)), media_type="application/octet-stream")

    @router.post(
        BATCH_PATH + delta.LINES_SUFFIX,
        summary="Chosen lines of a held batch, by index (oracles only)",
        response_model=None,
        response_class=Response,
        responses={
            **_LINES_RESPONSE,
            **openapi_responses(*auth, NOT_JSON, NOT_YET, BODY_TOO_LARGE, BAD_BATCH, INVALID_REQUEST),
        },
        openapi_extra={**(signed or {}), "requestBody": _LINES_REQUEST},
    )
    async def post_lines(request: Request, epoch: int, batch: BatchParam) -> Response:
        found = held(request, epoch, batch)
        if isinstance(found, Response):
            return found
        wanted = delta.parse_wanted(await request.body())
        if isinstance(wanted, str):
            return problem_response(BAD_BATCH, wanted)
        return StreamingResponse(_blocks(delta.select_lines(found, wanted)), media_type="application/x-ndjson")

    @router.get(
        DECISION_PATH,
        summary="The epoch's agreement decision and its evidence",
        response_model=DecisionOut,
        responses=openapi_responses(NOT_YET, INVALID_REQUEST),
    )
    def get_decision(epoch: int) -> Response:
        adir = agreement_dir(epoch_dir(data_dir, epoch)) if 0 <= epoch < MAX_EPOCH else None
        if adir is None or not (adir / DECISION_FILE).is_file():
            return problem_response(NOT_YET, f"epoch {epoch} has no agreement decision here yet")
        body = b'{"agreement":' + (adir / DECISION_FILE).read_bytes().rstrip() + b',"evidence":'
        body += (adir / EVIDENCE_FILE).read_bytes().rstrip() + b"}"
        return Response(body, media_type="application/json")

    return router


__all__ = ["agreement_router"]
