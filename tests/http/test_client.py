"""A peer's answer is read under a total deadline and a cap, and fails only as PeerError."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from opendepin.errors import PeerError
from opendepin.http.client import download_bounded, iter_lines_bounded, read_bounded

Handler = Callable[[socket.socket], None]


@contextmanager
def raw_server(handler: Handler) -> Iterator[str]:
    """A loopback HTTP 'server' that answers every connection with `handler` (a hostile peer)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.recv(65536)
                    handler(conn)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        sock.close()


def _headers(length: int | None = None, status: str = "200 OK") -> bytes:
    size = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{size}Connection: close\r\n\r\n".encode()


def test_slow_drip_answer_hits_the_total_deadline() -> None:
    sent: list[int] = []

    def drip(conn: socket.socket) -> None:
        conn.sendall(_headers(length=10_000))
        for _ in range(200):  # a byte every 0.1 s: each read succeeds, the whole never ends in time
            conn.sendall(b" ")
            sent.append(1)
            time.sleep(0.1)

    with raw_server(drip) as url, httpx.Client() as http, pytest.raises(PeerError, match="within"):
        read_bounded(http, "GET", url, max_bytes=1 << 20, deadline_seconds=0.5)
    assert len(sent) < 200  # the reader gave up long before the peer finished


def test_oversized_answer_is_refused_while_it_arrives() -> None:
    def huge(conn: socket.socket) -> None:
        conn.sendall(_headers(length=50 << 20))
        for _ in range(50 * 16):
            conn.sendall(b"x" * 65536)

    with raw_server(huge) as url, httpx.Client() as http, pytest.raises(PeerError, match="larger than"):
        read_bounded(http, "GET", url, max_bytes=1 << 20, deadline_seconds=30)


def test_a_normal_answer_is_read_whole() -> None:
    def ok(conn: socket.socket) -> None:
        conn.sendall(_headers(length=7) + b'{"a":1}')

    with raw_server(ok) as url, httpx.Client() as http:
        assert read_bounded(http, "GET", url, max_bytes=100, deadline_seconds=5) == (200, b'{"a":1}')


def test_unreachable_peer_is_a_peer_error() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with httpx.Client() as http, pytest.raises(PeerError):
        read_bounded(http, "GET", f"http://127.0.0.1:{port}", max_bytes=100, deadline_seconds=2)


def test_lines_arrive_one_by_one_and_an_endless_line_is_refused() -> None:
    def lines(conn: socket.socket) -> None:
        body = b"one\n\ntwo\n" + b"z" * 5000
        conn.sendall(_headers(length=len(body)) + body)

    with raw_server(lines) as url, httpx.Client() as http:
        got: list[bytes] = []
        with pytest.raises(PeerError, match="longer than"):
            for line in iter_lines_bounded(http, url, max_line_bytes=1000, deadline_seconds=5):
                got.append(line)
        assert got == [b"one", b"two"]


def test_missing_route_yields_nothing_when_allowed_and_fails_otherwise() -> None:
    def missing(conn: socket.socket) -> None:
        conn.sendall(_headers(length=0, status="404 Not Found"))

    with raw_server(missing) as url, httpx.Client() as http:
        assert list(iter_lines_bounded(http, url, max_line_bytes=10, deadline_seconds=5, missing_ok=True)) == []
        with pytest.raises(PeerError, match="http 404"):
            list(iter_lines_bounded(http, url, max_line_bytes=10, deadline_seconds=5))


def test_a_download_with_a_line_over_the_cap_leaves_no_file(tmp_path: Path) -> None:
    """Lines are measured across chunk boundaries; the file appears only when every line fits
    and the body hashes to what was expected."""
    good = b"a" * 900 + b"\n" + b"b" * 1000 + b"\n"
    bad = b"a" * 900 + b"\n" + b"b" * 1001 + b"\n"

    def dripped(body: bytes) -> Handler:
        def answer(conn: socket.socket) -> None:
            conn.sendall(_headers(length=len(body)))
            for i in range(0, len(body), 97):  # chunks cut lines anywhere
                conn.sendall(body[i : i + 97])
                time.sleep(0.001)

        return answer

    with raw_server(dripped(bad)) as url, httpx.Client() as http, pytest.raises(PeerError, match="longer than 1000"):
        download_bounded(http, url, tmp_path / "bad", max_bytes=1 << 20, deadline_seconds=5, max_line_bytes=1000)
    assert list(tmp_path.iterdir()) == []
    with raw_server(dripped(good)) as url, httpx.Client() as http:
        with pytest.raises(PeerError, match="sha256"):
            download_bounded(http, url, tmp_path / "good", max_bytes=1 << 20, deadline_seconds=5,
                             max_line_bytes=1000, expect_sha256="00" * 32)
        assert list(tmp_path.iterdir()) == []
        sha, size, lines = download_bounded(http, url, tmp_path / "good", max_bytes=1 << 20, deadline_seconds=5,
                                            max_line_bytes=1000, expect_sha256=hashlib.sha256(good).hexdigest())
    assert (tmp_path / "good").read_bytes() == good and (sha, size, lines) == (hashlib.sha256(good).hexdigest(), len(good), 2)
