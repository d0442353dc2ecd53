"""Fetching a peer's batch by difference: only the lines this oracle does not hold.

Oracles' batches for an epoch are nearly the same set of lines (every device sends every
report to every oracle), so downloading each peer's whole batch moves N − 1 copies of the
epoch. Instead:

```
GET  /v1/epochs/{e}/agreement/batches/{b}/index   sha256 of every line of b, 32 bytes each, in order
POST /v1/epochs/{e}/agreement/batches/{b}/lines   {"lines": [i, …]} → those lines (NDJSON, in order)
```

The fetching oracle looks every index entry up among the lines of the batches it already
holds, asks for the rest (in requests of at most `MAX_LINES_PER_REQUEST`), checks each
returned line against its index entry, writes the batch in index order and keeps it only if
the whole file hashes to the batch's name — so a lying index costs the liar nothing but a
fallback to the full download (`service.Agreement._fetch`), and never lets wrong bytes in.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Final

import httpx

from opendepin import jsonlimits
from opendepin.http.client import read_bounded

INDEX_SUFFIX: Final = "/index"
LINES_SUFFIX: Final = "/lines"
DIGEST_BYTES: Final = 32
MAX_LINES_PER_REQUEST: Final = 20_000
MIN_DELTA_BYTES: Final = 1 << 18
"""Batches smaller than this are fetched whole (the index would not save much)."""


def _lines(path: Path) -> Iterator[bytes]:
    """The newline-terminated lines of a file, as stored (the last one may lack its newline)."""
    with open(path, "rb") as fh:
        yield from fh


def index_of(path: Path) -> Iterator[bytes]:
    """The index of a held batch: sha256 of each line (newline included), in order."""
    for line in _lines(path):
        yield hashlib.sha256(line).digest()


def select_lines(path: Path, wanted: Iterable[int]) -> Iterator[bytes]:
    """The lines of `path` at the ascending indexes `wanted` (missing ones are skipped)."""
    targets = iter(sorted(set(wanted)))
    want = next(targets, None)
    for i, line in enumerate(_lines(path)):
        if want is None:
            return
        if i == want:
            yield line
            want = next(targets, None)


def parse_wanted(body: bytes, limit: int = MAX_LINES_PER_REQUEST) -> list[int] | str:
    """The line indexes of a `/lines` request, or why it is not one (total)."""
    try:
        obj = jsonlimits.loads(body)
    except ValueError:
        return "not JSON"
    lines = obj.get("lines") if isinstance(obj, dict) and set(obj) == {"lines"} else None
    if not isinstance(lines, list) or len(lines) > limit:
        return f'the body is {{"lines": [index, …]}} with at most {limit} indexes'
    if not all(type(i) is int and 0 <= i < 1 << 32 for i in lines):
        return "indexes are integers in [0, 2^32)"
    return lines


def held_lines(paths: Iterable[Path]) -> dict[bytes, bytes]:
    """sha256 → line for every line of the batches this oracle holds."""
    out: dict[bytes, bytes] = {}
    for path in paths:
        for line in _lines(path):
            out.setdefault(hashlib.sha256(line).digest(), line)
    return out


def fetch_by_difference(
    http: httpx.Client,
    url: str,
    path: Path,
    batch: str,
    size: int,
    held: Mapping[bytes, bytes],
    headers: Callable[[str, str], dict[str, str]],
    deadline_seconds: float,
    max_line_bytes: int,
) -> tuple[int, int, int] | None:
    """Build batch `batch` at `path` from `held` lines plus the peer's missing ones.

    (lines, bytes of the batch, bytes downloaded), or None when the difference is not worth
    it or the peer's index does not add up, or a missing line is longer than `max_line_bytes`
    (the caller then downloads the whole batch, which refuses such a line too).
    PeerError (from `http.client`) when the peer misbehaves on the wire.
    """
    index_url = url + INDEX_SUFFIX
    status, raw = read_bounded(
        http, "GET", index_url, max_bytes=DIGEST_BYTES * (size // 2 + 1), deadline_seconds=deadline_seconds,
        headers=headers("GET", index_url),
    )
    if status != 200 or len(raw) % DIGEST_BYTES:
        return None
    index = [raw[i : i + DIGEST_BYTES] for i in range(0, len(raw), DIGEST_BYTES)]
    missing = [i for i, h in enumerate(index) if h not in held]
    if len(missing) * 2 > len(index):
        return None
    fetched: dict[int, bytes] = {}
    downloaded = len(raw)
    lines_url = url + LINES_SUFFIX
    for start in range(0, len(missing), MAX_LINES_PER_REQUEST):
        part = missing[start : start + MAX_LINES_PER_REQUEST]
        status, body = read_bounded(
            http, "POST", lines_url, json={"lines": part}, max_bytes=size, deadline_seconds=deadline_seconds,
            headers=headers("POST", lines_url),
        )
        downloaded += len(body)
        if status != 200:
            return None
        got = body.splitlines(keepends=True)
        if len(got) != len(part) or any(
            len(g) > max_line_bytes + 1 or hashlib.sha256(g).digest() != index[i] for i, g in zip(part, got, strict=True)
        ):
            return None
        fetched.update(zip(part, got, strict=True))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.delta")
    digest, total = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as fh:
            for i, h in enumerate(index):
                line = fetched[i] if i in fetched else held[h]
                digest.update(line)
                total += len(line)
                fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        if "0x" + digest.hexdigest() != batch:
            return None
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(index), total, downloaded


__all__ = [
    "INDEX_SUFFIX",
    "LINES_SUFFIX",
    "MIN_DELTA_BYTES",
    "fetch_by_difference",
    "held_lines",
    "index_of",
    "parse_wanted",
    "select_lines",
]
