"""Fetching a batch by difference (oracle.agreement.delta): only missing lines cross the wire,
and a lying peer can only force the full download, never wrong bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import FastAPI, Response
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
        got = delta.fetch_by_difference(client, url, target, batch, size, delta.held_lines([own]), _headers, 30.0)
    assert got is not None
    lines, total, downloaded = got
    assert (lines, total) == (2_000, size)
    assert target.read_bytes() == b"".join(theirs)
    assert downloaded == 32 * 2_000 + sum(len(theirs[i]) for i in range(7, 2_000, 100))
    assert downloaded < size / 4


def test_a_lying_index_or_altered_lines_never_produce_a_batch(tmp_path: Path) -> None:
    theirs = [_line(i) for i in range(500)]
    data = b"".join(theirs)
    batch = "0x" + hashlib.sha256(data).hexdigest()
    held = delta.held_lines([])
    for lie in ("index", "lines", "status"):
        app = FastAPI()

        @app.get(BATCH_PATH.format(epoch=0, batch=batch) + "/index")
        def index() -> Response:
            digests = b"".join(hashlib.sha256(line).digest() for line in theirs)
            return Response(digests[:-32] + b"\x00" * 32 if lie == "index" else digests)

        @app.post(BATCH_PATH.format(epoch=0, batch=batch) + "/lines")
        def lines() -> Response:
            if lie == "status":
                return Response(status_code=500)
            return Response(b"".join(theirs).replace(b'"report":3,', b'"report":4,') if lie == "lines" else data)

        target = tmp_path / f"{lie}.jsonl"
        with TestClient(app) as client:
            url = "http://testserver" + BATCH_PATH.format(epoch=0, batch=batch)
            assert delta.fetch_by_difference(client, url, target, batch, len(data), held, _headers, 30.0) is None
        assert not target.exists()


def test_lines_requests_are_parsed_totally() -> None:
    assert delta.parse_wanted(b'{"lines": [0, 5, 9]}') == [0, 5, 9]
    for bad in (b"", b"[]", b'{"lines": [-1]}', b'{"lines": [1.5]}', b'{"lines": [true]}', b'{"lines": 3}',
                b'{"lines": [1], "x": 1}', b'{"lines": [' + b"1," * 20_001 + b"1]}", b"[" * 5_000):
        assert isinstance(delta.parse_wanted(bad), str), bad
