"""A lean HTTP/1.1 client connection for JSON-RPC: one POST at a time, kept alive.

`http.client` spends more of a JSON-RPC round trip in Python than a local node spends
answering it: the request is assembled header by header, and every response's headers go
through the `email` parser. A transaction costs three or four round trips, so that overhead
bounded what `RpcChain` could send (0.6x of a bare client). This connection writes each
request in one `sendall` and parses only what a JSON-RPC client needs: the status line,
`Content-Length`, `Transfer-Encoding: chunked`, `Connection`.

It is total over what a server may send: an answer that is not HTTP/1.x, headers over
`MAX_HEADER_BYTES`, a body over the caller's cap, a malformed chunk, a close mid-answer —
each is a `BrokenAnswer` (a `ConnectionError`: the request may or may not have been
handled), never a hang or an unbounded read. Every socket operation has the connection's
timeout (`TimeoutError`).

`StaleConnection` is raised only when a reused connection was closed by the server before
ANY byte of the answer arrived (a server's idle timeout): the caller may repeat the same
bytes on a fresh connection.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from dataclasses import dataclass

MAX_HEADER_BYTES = 64 * 1024
"""Largest status line + headers read."""
RECV_BYTES = 256 * 1024


class BrokenAnswer(ConnectionError):
    """The server's answer was cut off or is not HTTP/1.x."""


class StaleConnection(ConnectionResetError):
    """The server had closed this connection before answering (nothing of the answer read)."""


class TooLarge(ValueError):
    """The answer's body is larger than the caller's cap."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    reason: str
    body: bytes
    will_close: bool
    """The server will close the connection after this answer (or did)."""


class Http11Connection:
    """One keep-alive connection to host:port (TLS when `tls`), opened on first use."""

    def __init__(self, host: str, port: int | None, timeout_s: float, *, tls: bool) -> None:
        self.host = host
        self.port = port if port is not None else (443 if tls else 80)
        self.timeout_s = timeout_s
        self.tls = tls
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._answered = False
        """Some byte of the current answer has arrived."""
        default = 443 if tls else 80
        bracketed = f"[{host}]" if ":" in host else host
        self.host_header = bracketed if self.port == default else f"{bracketed}:{self.port}"

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buf.clear()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise
        return sock

    def post(self, path: str, body: bytes, extra_headers: str, max_body: int) -> Answer:
        """POST `body` (JSON) to `path`; `extra_headers` are complete "Name: value\\r\\n" lines.

        TooLarge when the answer's body exceeds `max_body` (the connection is closed).
        """
        reused = self._sock is not None
        if self._sock is None:
            self._sock = self._connect()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host_header}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{extra_headers}\r\n"
        )
        self._answered = False
        try:
            self._sock.sendall(head.encode("latin-1") + body)
            return self._read_answer(max_body, reused)
        except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
            self.close()
            if reused and not self._answered and not isinstance(exc, StaleConnection):
                raise StaleConnection(f"the server had closed the connection: {exc}") from exc
            raise
        except BaseException:
            self.close()
            raise

    # -- reading ----------------------------------------------------------------------

    def _fill(self) -> bool:
        """Read more bytes into the buffer; False when the server closed the connection."""
        assert self._sock is not None
        chunk = self._sock.recv(RECV_BYTES)
        if not chunk:
            return False
        self._answered = True
        self._buf += chunk
        return True

    def _read_answer(self, max_body: int, reused: bool) -> Answer:
        buf = self._buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            if len(buf) > MAX_HEADER_BYTES:
                raise BrokenAnswer(f"headers longer than {MAX_HEADER_BYTES} bytes")
            if not self._fill():
                if reused and not buf:
                    raise StaleConnection("the server closed the connection before answering")
                raise BrokenAnswer("the server closed the connection mid-answer")
        if end > MAX_HEADER_BYTES:
            raise BrokenAnswer(f"headers longer than {MAX_HEADER_BYTES} bytes")
        head = bytes(buf[:end]).decode("latin-1")
        del buf[: end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0") or not parts[1].isdigit():
            raise BrokenAnswer(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        length: int | None = None
        chunked = False
        connection = ""
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise BrokenAnswer(f"malformed header line: {line[:80]!r}")
            name = name.strip().lower()
            value = value.strip()
            if name == "content-length":
                if not value.isdigit():
                    raise BrokenAnswer(f"bad Content-Length: {value[:40]!r}")
                length = int(value)
            elif name == "transfer-encoding":
                chunked = value.lower().endswith("chunked")
            elif name == "connection":
                connection = value.lower()
        will_close = "close" in connection or (
            parts[0] == "HTTP/1.0" and "keep-alive" not in connection
        )
        if status in (204, 304) or 100 <= status < 200:
            body = b""
        elif chunked:
            body = self._read_chunked(max_body)
        elif length is not None:
            if length > max_body:
                raise TooLarge(f"answer larger than {max_body} bytes")
            body = self._read_exact(length)
        else:
            body = self._read_to_close(max_body)
            will_close = True
        if self._buf:  # bytes past the answer: never read them as the next request's answer
            will_close = True
        if will_close:
            self.close()
        return Answer(status, reason, body, will_close)

    def _read_exact(self, n: int) -> bytes:
        buf = self._buf
        while len(buf) < n:
            if not self._fill():
                raise BrokenAnswer("the server closed the connection mid-body")
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def _read_line(self) -> bytes:
        buf = self._buf
        while (end := buf.find(b"\r\n")) < 0:
            if len(buf) > MAX_HEADER_BYTES:
                raise BrokenAnswer("chunk header too long")
            if not self._fill():
                raise BrokenAnswer("the server closed the connection mid-body")
        line = bytes(buf[:end])
        del buf[: end + 2]
        return line

    def _read_chunked(self, max_body: int) -> bytes:
        out = bytearray()
        while True:
            size_text = self._read_line().split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BrokenAnswer(f"bad chunk size {size_text[:20]!r}") from None
            if size < 0:
                raise BrokenAnswer("negative chunk size")
            if size == 0:
                while self._read_line():  # trailers, up to the blank line
                    pass
                return bytes(out)
            if len(out) + size > max_body:
                raise TooLarge(f"answer larger than {max_body} bytes")
            out += self._read_exact(size)
            if self._read_exact(2) != b"\r\n":
                raise BrokenAnswer("chunk not followed by CRLF")

    def _read_to_close(self, max_body: int) -> bytes:
        buf = self._buf
        while len(buf) <= max_body and self._fill():
            pass
        if len(buf) > max_body:
            raise TooLarge(f"answer larger than {max_body} bytes")
        out = bytes(buf)
        buf.clear()
        return out
