"""A request body is refused while it arrives, not after it was buffered whole."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from opendepin.http.problems import ProblemError
from opendepin.ingest.limits import read_body_capped

CHUNK = 64 * 1024


def _request(chunks: int, pulled: list[int], headers: list[tuple[bytes, bytes]] | None = None) -> Request:
    async def receive() -> dict[str, object]:
        pulled.append(1)
        more = len(pulled) < chunks
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": more}

    scope = {"type": "http", "method": "POST", "path": "/v1/reports", "headers": headers or []}
    return Request(scope, receive)


def test_a_chunked_body_over_the_limit_is_refused_after_reading_about_the_limit() -> None:
    pulled: list[int] = []
    limit = 10 * CHUNK
    with pytest.raises(ProblemError) as info:
        asyncio.run(read_body_capped(_request(3_200, pulled), limit))  # a 200 MiB upload
    assert info.value.problem.status == 413
    assert len(pulled) == limit // CHUNK + 1  # stopped at the first chunk past the limit


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    pulled: list[int] = []
    request = _request(1, pulled, [(b"content-length", str(10**9).encode())])
    with pytest.raises(ProblemError):
        asyncio.run(read_body_capped(request, 1_000))
    assert pulled == []


def test_a_body_within_the_limit_is_read_whole() -> None:
    pulled: list[int] = []
    assert len(asyncio.run(read_body_capped(_request(3, pulled), 3 * CHUNK))) == 3 * CHUNK
