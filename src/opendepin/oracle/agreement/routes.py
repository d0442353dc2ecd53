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

import re
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from opendepin.epochdir import epoch_dir
from opendepin.http.peerauth import check_request
from opendepin.http.problems import ProblemType, problem_response
from opendepin.oracle.agreement import delta
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

NOT_AN_ORACLE = ProblemType("not_an_oracle", "not_an_oracle", 401, "oracle")
NOT_YET = ProblemType("not_yet", "not_yet", 404, "agreement")
"""The record, batch or decision asked for does not exist here (yet)."""
BAD_BATCH = ProblemType("bad_batch", "bad_batch", 422, "agreement")
_BATCH = re.compile(r"^0x[0-9a-f]{64}$")
MAX_EPOCH = 1 << 40
MAX_ROUND = 64


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def agreement_router(data_dir: Path, oracles: Callable[[], Collection[str]] | None = None) -> APIRouter:
    """The agreement routes over the epoch directories under `data_dir`."""
    router = APIRouter(tags=["oracle"])

    def refuse(request: Request) -> Response | None:
        if oracles is None:
            return None
        why = check_request(request, oracles())
        return None if why is None else problem_response(NOT_AN_ORACLE, why)

    @router.get(ROUND_PATH, response_model=None)
    def get_round(request: Request, epoch: int, round: int) -> Response:
        problem = refuse(request)
        if problem is not None:
            return problem
        path = round_path(epoch_dir(data_dir, epoch), round) if 0 <= epoch < MAX_EPOCH and 0 <= round <= MAX_ROUND else None
        if path is None or not path.is_file():
            return problem_response(NOT_YET, f"no record for epoch {epoch} round {round} here yet")
        return Response(path.read_bytes(), media_type="application/json")

    @router.get(BATCH_PATH, response_model=None)
    def get_batch(request: Request, epoch: int, batch: str) -> Response:
        found = held(request, epoch, batch)
        if isinstance(found, Response):
            return found
        return StreamingResponse(_chunks(found), media_type="application/x-ndjson")

    def held(request: Request, epoch: int, batch: str) -> Path | Response:
        problem = refuse(request)
        if problem is not None:
            return problem
        if not _BATCH.match(batch):
            return problem_response(BAD_BATCH, "a batch is named 0x + the sha256 of its bytes (64 lowercase hex)")
        path = batch_path(epoch_dir(data_dir, epoch), batch) if 0 <= epoch < MAX_EPOCH else None
        if path is None or not path.is_file():
            return problem_response(NOT_YET, f"batch {batch} of epoch {epoch} is not held here")
        return path

    @router.get(BATCH_PATH + delta.INDEX_SUFFIX, response_model=None)
    def get_index(request: Request, epoch: int, batch: str) -> Response:
        found = held(request, epoch, batch)
        if isinstance(found, Response):
            return found
        return StreamingResponse(delta.index_of(found), media_type="application/octet-stream")

    @router.post(BATCH_PATH + delta.LINES_SUFFIX, response_model=None)
    async def post_lines(request: Request, epoch: int, batch: str) -> Response:
        found = held(request, epoch, batch)
        if isinstance(found, Response):
            return found
        wanted = delta.parse_wanted(await request.body())
        if isinstance(wanted, str):
            return problem_response(BAD_BATCH, wanted)
        return StreamingResponse(delta.select_lines(found, wanted), media_type="application/x-ndjson")

    @router.get(DECISION_PATH, response_model=None)
    def get_decision(epoch: int) -> Response:
        adir = agreement_dir(epoch_dir(data_dir, epoch)) if 0 <= epoch < MAX_EPOCH else None
        if adir is None or not (adir / DECISION_FILE).is_file():
            return problem_response(NOT_YET, f"epoch {epoch} has no agreement decision here yet")
        body = b'{"agreement":' + (adir / DECISION_FILE).read_bytes().rstrip() + b',"evidence":'
        body += (adir / EVIDENCE_FILE).read_bytes().rstrip() + b"}"
        return Response(body, media_type="application/json")

    return router


__all__ = ["agreement_router"]
