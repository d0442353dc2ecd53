"""Reading a peer's answer as untrusted input: a total deadline, a size cap, never fatal.

An oracle asks its peers for attestations and for their report sets. A peer may be slow on
purpose (one byte every few seconds keeps a per-read timeout from ever firing), send a huge
body, or send garbage. So every read here has:

- a **total deadline** for the whole request (checked between chunks; each read also waits
  at most `READ_TIMEOUT_SECONDS` or what is left of the deadline, whichever is less);
- a **cap**: on the body (`read_bounded`), or on each line (`iter_lines_bounded`, for the
  newline-delimited report sets, which are consumed line by line so memory stays bounded by
  what the caller keeps);
- one failure type, `PeerError`, whatever went wrong (HTTP errors, timeouts, oversize), so
  callers log, count and move on to the next peer.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import httpx

from opendepin.errors import PeerError

READ_TIMEOUT_SECONDS: Final = 5.0
"""Longest wait for any single read of a peer's answer."""


def _timeout(deadline: float) -> httpx.Timeout:
    left = max(0.01, deadline - time.monotonic())
    return httpx.Timeout(min(READ_TIMEOUT_SECONDS, left))


def read_bounded(
    http: httpx.Client,
    method: str,
    url: str,
    *,
    max_bytes: int,
    deadline_seconds: float,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, bytes]:
    """(status, body) of one request; PeerError past the deadline or over `max_bytes`."""
    deadline = time.monotonic() + deadline_seconds
    body = bytearray()
    try:
        with http.stream(method, url, json=json, headers=headers, timeout=_timeout(deadline)) as resp:
            for chunk in resp.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise PeerError(f"{url}: answer larger than {max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise PeerError(f"{url}: no complete answer within {deadline_seconds} s")
            return resp.status_code, bytes(body)
    except httpx.HTTPError as exc:
        raise PeerError(f"{url}: {type(exc).__name__}: {exc}") from exc


def iter_lines_bounded(
    http: httpx.Client,
    url: str,
    *,
    max_line_bytes: int,
    deadline_seconds: float,
    missing_ok: bool = False,
    headers: Mapping[str, str] | None = None,
) -> Iterator[bytes]:
    """The non-empty lines of a newline-delimited answer, as they arrive.

    PeerError past the deadline, on a line longer than `max_line_bytes`, or on an HTTP error
    status (a 404 yields nothing when `missing_ok`). Lines already yielded stay yielded.
    """
    deadline = time.monotonic() + deadline_seconds
    try:
        with http.stream("GET", url, headers=headers, timeout=_timeout(deadline)) as resp:
            if missing_ok and resp.status_code == 404:
                return
            if resp.status_code != 200:
                raise PeerError(f"{url}: http {resp.status_code}")
            pending = b""
            for chunk in resp.iter_bytes():
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if len(line) > max_line_bytes:
                        raise PeerError(f"{url}: a line longer than {max_line_bytes} bytes")
                    if line:
                        yield line
                if len(pending) > max_line_bytes:
                    raise PeerError(f"{url}: a line longer than {max_line_bytes} bytes")
                if time.monotonic() > deadline:
                    raise PeerError(f"{url}: no complete answer within {deadline_seconds} s")
            if pending:
                yield pending
    except httpx.HTTPError as exc:
        raise PeerError(f"{url}: {type(exc).__name__}: {exc}") from exc


def download_bounded(
    http: httpx.Client,
    url: str,
    path: Path,
    *,
    max_bytes: int,
    deadline_seconds: float,
    headers: Mapping[str, str] | None = None,
    expect_sha256: str | None = None,
    max_line_bytes: int | None = None,
) -> tuple[str, int, int]:
    """Stream a 200 answer's body into `path` as it arrives: (sha256 hex, bytes, newlines).

    The file is written under a temporary name (one per thread) and renamed only when the
    whole body arrived within the deadline and the cap — and, with `expect_sha256`, hashes to
    it, and with `max_line_bytes` has no longer line; PeerError (and no file) otherwise, so
    `path` never holds anything else.
    """
    deadline = time.monotonic() + deadline_seconds
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    digest = hashlib.sha256()
    size = lines = run = 0
    try:
        with http.stream("GET", url, headers=headers, timeout=_timeout(deadline)) as resp:
            if resp.status_code != 200:
                raise PeerError(f"{url}: http {resp.status_code}")
            with open(tmp, "wb") as fh:
                for chunk in resp.iter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise PeerError(f"{url}: answer larger than {max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise PeerError(f"{url}: no complete answer within {deadline_seconds} s")
                    digest.update(chunk)
                    lines += chunk.count(b"\n")
                    if max_line_bytes is not None:
                        run = _longest_run(chunk, run, max_line_bytes, url)
                    fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
        if expect_sha256 is not None and digest.hexdigest() != expect_sha256:
            raise PeerError(f"{url}: the body's sha256 is {digest.hexdigest()}, not {expect_sha256}")
        os.replace(tmp, path)
        return digest.hexdigest(), size, lines
    except httpx.HTTPError as exc:
        raise PeerError(f"{url}: {type(exc).__name__}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def _longest_run(chunk: bytes, run: int, limit: int, url: str) -> int:
    """The length of the unfinished last line after `chunk` (`run` before it); PeerError as
    soon as a line is longer than `limit` bytes."""
    parts = chunk.split(b"\n")
    for i, part in enumerate(parts):
        run = run + len(part) if i == 0 else len(part)
        if run > limit:
            raise PeerError(f"{url}: a line longer than {limit} bytes")
    return run
