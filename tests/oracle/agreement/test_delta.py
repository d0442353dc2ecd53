"""Fetching a batch by difference (oracle.agreement.delta): only missing lines cross the wire,
and a lying peer can only force the full download, never wrong bytes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.testclient import TestClient

from opendepin.oracle.agreement import delta
from opendepin.oracle.agreement.routes import agreement_router
from opendepin.oracle.agreement.service import BATCH_PATH, batch_path


def _line(i: int) -> bytes:
    return b'{"report":%d,"pad":"%s"}\n' % (i, b"x" * 300)


def _store(data_dir: Path, epoch: int, lines: list[bytes]) -> tuple[str, Path]:
    data = b"".join(lines)
    batch = "0x" + hashlib.sha256(data).hexdigest()
    path = batch_path(data_dir / "epochs" / str(epoch), batch)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return batch, path


def _headers(method: str, url: str) -> dict[str, str]:
    return {}


def test_only_the_missing_lines_are_downloaded(tmp_path: Path) -> None:
    peer_dir, our_dir = tmp_path / "peer", tmp_path / "ours"
    theirs = [_line(i) for i in range(2_000)]
    ours = [line for i, line in enumerate(theirs) if i % 100 != 7]  # we missed 20 of them
    batch, _ = _store(peer_dir, 3, theirs)
    _, own = _store(our_dir, 3, ours)
    target = batch_path(our_dir / "epochs" / "3", batch)
    size = sum(map(len, theirs))
    with TestClient(FastAPI(routes=agreement_router(peer_dir).routes)) as client:
        url = "http://testserver" + BATCH_PATH.format(epoch=3, batch=batch)
        got = delta.fetch_by_difference(client, url, target, batch, size, delta.held_lines([own]), _headers, 30.0, 1 << 20)
    assert got is not None
    lines, total, downloaded = got
    assert (lines, total) == (2_000, size)
    assert target.read_bytes() == b"".join(theirs)
    assert downloaded == 32 * 2_000 + sum(len(theirs[i]) for i in range(7, 2_000, 100))
    assert downloaded < size / 4


def _lying_peer(lie: str, batch: str, theirs: list[bytes]) -> FastAPI:
    """A peer that answers exactly what is asked, except: a wrong last index entry (`index`),
    two index entries swapped (`order`), an altered line (`lines`), or an error (`status`)."""
    app = FastAPI()
    digests = [hashlib.sha256(line).digest() for line in theirs]
    if lie == "index":
        digests[-1] = b"\x00" * 32
    if lie == "order":
        digests[0], digests[1] = digests[1], digests[0]

    @app.get(BATCH_PATH.format(epoch=0, batch=batch) + "/index")
    def index() -> Response:
        return Response(b"".join(digests))

    @app.post(BATCH_PATH.format(epoch=0, batch=batch) + "/lines")
    async def lines(request: Request) -> Response:
        if lie == "status":
            return Response(status_code=500)
        wanted = json.loads(await request.body())["lines"]
        out = [theirs[i] for i in wanted]
        if lie == "lines":
            out[0] = out[0].replace(b'"pad":"x', b'"pad":"y', 1)
        return Response(b"".join(out))

    return app


def test_a_lying_index_or_altered_lines_never_produce_a_batch(tmp_path: Path) -> None:
    theirs = [_line(i) for i in range(500)]
    data = b"".join(theirs)
    batch = "0x" + hashlib.sha256(data).hexdigest()
    mine = tmp_path / "mine.jsonl"  # we hold all but lines 3 and 250: only those are asked for
    mine.write_bytes(b"".join(line for i, line in enumerate(theirs) if i not in (3, 250)))
    held = delta.held_lines([mine])
    for lie in ("index", "order", "lines", "status"):
        app = _lying_peer(lie, batch, theirs)
        target = tmp_path / f"{lie}.jsonl"
        with TestClient(app) as client:
            url = "http://testserver" + BATCH_PATH.format(epoch=0, batch=batch)
            assert delta.fetch_by_difference(client, url, target, batch, len(data), held, _headers, 30.0, 1 << 20) is None
        assert not target.exists()


def test_lines_requests_are_parsed_totally() -> None:
    assert delta.parse_wanted(b'{"lines": [0, 5, 9]}') == [0, 5, 9]
    for bad in (b"", b"[]", b'{"lines": [-1]}', b'{"lines": [1.5]}', b'{"lines": [true]}', b'{"lines": 3}',
                b'{"lines": [1], "x": 1}', b'{"lines": [' + b"1," * 20_001 + b"1]}", b"[" * 5_000):
        assert isinstance(delta.parse_wanted(bad), str), bad
