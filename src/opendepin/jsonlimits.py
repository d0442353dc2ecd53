"""Parsing JSON from untrusted sources without letting a deeply nested text kill the process.

The stdlib JSON parser recurses in C once per nesting level, guarded only by Python's
recursion limit — and py_ecc (imported by the Ethereum libraries we use) raises that limit
to 100,000 at import. A text of ~100,000 `[` then overflows a thread's C stack and the
process dies with a segmentation fault instead of an exception. Anything a peer, a device or
a downloaded epoch directory hands us goes through `loads` here, which refuses texts nested
deeper than `MAX_JSON_NESTING` before the stdlib parser sees them.

The check is cheap: a text with at most `MAX_JSON_NESTING` opening brackets cannot nest
deeper; a larger one (a snapshot of many devices) that orjson parses is within the limit
too (orjson refuses depth 1025 and beyond, tested), and only what orjson refuses is measured
(bracket depth outside strings).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

import orjson

MAX_JSON_NESTING = 1_024
"""Deepest array/object nesting accepted (orjson's fixed limit; a report needs 3 plus its payload's)."""

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_NESTING_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


class TooDeep(ValueError):
    """The JSON text nests deeper than MAX_JSON_NESTING."""


def nesting_depth(text: bytes) -> int:
    """Deepest bracket nesting of a JSON text, outside its strings."""
    brackets = _JSON_STRING.sub(b"", text).translate(None, _NOT_BRACKETS)
    return max(accumulate(_NESTING_STEP[b] for b in brackets), default=0)


def check_depth(text: bytes | str) -> None:
    """Raise TooDeep if `text` nests deeper than MAX_JSON_NESTING."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_NESTING:
        return
    try:  # orjson refuses nesting past 1024 (== MAX_JSON_NESTING): if it parses, depth is fine
        orjson.loads(raw)
        return
    except orjson.JSONDecodeError:
        pass  # too deep, or something orjson alone refuses: measure
    if nesting_depth(raw) > MAX_JSON_NESTING:
        raise TooDeep(f"JSON nested deeper than {MAX_JSON_NESTING} levels")


def loads(text: bytes | str) -> Any:
    """`json.loads` for untrusted text: TooDeep (a ValueError) instead of a crash."""
    check_depth(text)
    return json.loads(text)
