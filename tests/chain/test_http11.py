"""The lean HTTP/1.1 connection under well-formed and hostile answers, over real sockets."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.chain.http11 import (
    MAX_HEADER_BYTES,
    BrokenAnswer,
    Http11Connection,
    StaleConnection,
    TooLarge,
)

Script = Callable[[socket.socket, int], bool]
"""Answers the i-th request read on a connection; False closes the connection."""


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


class _Server:
    """A TCP server that answers each request with the bytes a script gives."""

    def __init__(self, script: Script) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.requests: list[bytes] = []
        self.connections = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                i = 0
                while (request := _read_request(conn)) is not None:
                    self.requests.append(request)
                    if not self.script(conn, i):
                        break
                    i += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Script], _Server]]:
    servers: list[_Server] = []

    def start(script: Script) -> _Server:
        servers.append(_Server(script))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _answer(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


def _connection(server: _Server) -> Http11Connection:
    return Http11Connection("127.0.0.1", server.port, 5.0, tls=False)


def test_keeps_one_connection_for_many_requests(serve: Callable[[Script], _Server]) -> None:
    server = serve(lambda c, i: c.sendall(_answer(b'{"n":%d}' % i)) is None)
    conn = _connection(server)
    for i in range(5):
        answer = conn.post("/rpc", b"{}", "X-Test: 1\r\n", 1000)
        assert (answer.status, answer.body, answer.will_close) == (200, b'{"n":%d}' % i, False)
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /rpc HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:%d\r\n" % server.port in first
    assert b"\r\nContent-Length: 2\r\n" in first and b"\r\nX-Test: 1\r\n" in first
    assert first.endswith(b"\r\n\r\n{}")
    conn.close()


def test_reads_a_chunked_answer_split_across_writes(serve: Callable[[Script], _Server]) -> None:
    def script(c: socket.socket, i: int) -> bool:
        c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\n")
        c.sendall(b'{"a"\r\n')
        c.sendall(b"3\r\n:1}\r\n0\r\nTrailer: x\r\n\r\n")
        return True

    server = serve(script)
    conn = _connection(server)
    assert conn.post("/", b"{}", "", 1000).body == b'{"a":1}'
    assert conn.post("/", b"{}", "", 1000).body == b'{"a":1}'  # the trailers were consumed
    assert server.connections == 1


def test_connection_close_and_http10_close_after_the_answer(
    serve: Callable[[Script], _Server],
) -> None:
    for extra, version in ((b"Connection: close\r\n", b"1.1"), (b"", b"1.0")):
        server = serve(
            lambda c, i, e=extra, v=version: (
                c.sendall(b"HTTP/" + v + b" 200 OK\r\nContent-Length: 2\r\n" + e + b"\r\nok")
                is None
            )
        )
        conn = _connection(server)
        answer = conn.post("/", b"{}", "", 1000)
        assert (answer.body, answer.will_close, conn.is_open) == (b"ok", True, False)


def test_bytes_past_the_answer_are_never_the_next_answer(
    serve: Callable[[Script], _Server],
) -> None:
    server = serve(lambda c, i: c.sendall(_answer(b"ok") + _answer(b"forged")) is None)
    conn = _connection(server)
    first = conn.post("/", b"{}", "", 1000)
    assert (first.body, first.will_close, conn.is_open) == (b"ok", True, False)
    assert conn.post("/", b"{}", "", 1000).body == b"ok"


def test_body_until_close_when_no_length(serve: Callable[[Script], _Server]) -> None:
    server = serve(lambda c, i: c.sendall(b"HTTP/1.1 200 OK\r\n\r\nuntil the end") and False)
    answer = _connection(server).post("/", b"{}", "", 1000)
    assert (answer.body, answer.will_close) == (b"until the end", True)


def test_error_status_is_returned_with_its_reason(serve: Callable[[Script], _Server]) -> None:
    body = b"busy"
    server = serve(
        lambda c, i: (
            c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\n" + body)
            is None
        )
    )
    answer = _connection(server).post("/", b"{}", "", 1000)
    assert (answer.status, answer.reason, answer.body) == (503, "Service Unavailable", b"busy")


@pytest.mark.parametrize(
    "raw",
    [
        _answer(b"x" * 1001),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e9\r\n"
        + b"x" * 1001
        + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 5000,
    ],
    ids=["length", "chunked", "to-close"],
)
def test_a_body_over_the_cap_is_too_large(serve: Callable[[Script], _Server], raw: bytes) -> None:
    server = serve(lambda c, i: c.sendall(raw) and False)
    conn = _connection(server)
    with pytest.raises(TooLarge):
        conn.post("/", b"{}", "", 1000)
    assert not conn.is_open


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * (MAX_HEADER_BYTES + 10),
        b"HTTP/1.1 200 OK\r\nContent-Le",
    ],
    ids=[
        "not-http",
        "http2",
        "status",
        "header",
        "length",
        "cut-body",
        "chunk-size",
        "chunk-crlf",
        "huge-headers",
        "cut-headers",
    ],
)
def test_a_broken_answer_is_a_connection_error(
    serve: Callable[[Script], _Server], raw: bytes
) -> None:
    server = serve(lambda c, i: c.sendall(raw) and False)
    conn = _connection(server)
    with pytest.raises(BrokenAnswer):
        conn.post("/", b"{}", "", 1000)
    assert not conn.is_open


def test_a_reused_connection_closed_by_the_server_is_stale(
    serve: Callable[[Script], _Server],
) -> None:
    server = serve(lambda c, i: c.sendall(_answer(b"ok")) and False)  # closes after answering
    conn = _connection(server)
    assert conn.post("/", b"{}", "", 1000).body == b"ok"
    with pytest.raises(StaleConnection):
        conn.post("/", b"{}", "", 1000)
    assert conn.post("/", b"{}", "", 1000).body == b"ok"  # the next request opens a new one
    assert server.connections == 2


def test_a_silent_server_times_out(serve: Callable[[Script], _Server]) -> None:
    server = serve(lambda c, i: threading.Event().wait(2.0))
    conn = Http11Connection("127.0.0.1", server.port, 0.2, tls=False)
    with pytest.raises(TimeoutError):
        conn.post("/", b"{}", "", 1000)
    assert not conn.is_open


@settings(max_examples=60, deadline=None)
@given(garbage=st.binary(max_size=300))
def test_any_answer_ends_in_an_answer_or_a_stated_error(garbage: bytes) -> None:
    server = _Server(lambda c, i: c.sendall(garbage) and False)
    try:
        conn = Http11Connection("127.0.0.1", server.port, 5.0, tls=False)
        try:
            answer = conn.post("/", b"{}", "", 100)
        except (BrokenAnswer, TooLarge):
            return
        assert len(answer.body) <= 100
    finally:
        server.close()
