"""Canonical JSON and content digests: the one place published bytes are spelled.

Every file an epoch publishes (and every file a stage hashes) is canonical JSON — sorted keys,
no whitespace, UTF-8 (not `\\u` escapes), one trailing newline — so equal content always has
equal bytes, and so an equal sha256 on every oracle. `sha256_hex` is how manifests name bytes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson

_PLAIN_LEAVES = frozenset({str, int, bool, type(None)})


def canonical_json(obj: Any, *, plain: bool | None = None) -> bytes:
    """Sorted keys, no whitespace, UTF-8, one trailing newline.

    The bytes are `json.dumps(obj, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`'s. A value built only of exact dicts, lists and tuples over str, int,
    bool and None (`is_plain`; `plain=True`: the caller checked) is encoded by orjson, which
    writes exactly those bytes for such values (escapes, UTF-8, key order by code point;
    property-tested) about ten times faster; anything else — floats above all, whose text
    differs — and anything orjson refuses (integers beyond 64 bits, non-string keys, lone
    surrogates, deep nesting) takes `json.dumps`, errors included."""
    if plain if plain is not None else is_plain(obj):
        try:
            return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS) + b"\n"
        except orjson.JSONEncodeError:
            pass
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def is_plain(obj: Any) -> bool:
    """True when `obj` is built of exact dicts, lists and tuples over exact str, int, bool and
    None only (dict keys are not looked at): one loop, no call per value."""
    stack = [obj]
    pop, extend = stack.pop, stack.extend
    leaves = _PLAIN_LEAVES
    while stack:
        value = pop()
        t = type(value)
        if t is dict:
            extend(value.values())
        elif t is list or t is tuple:
            extend(value)
        elif t not in leaves:
            return False
    return True


def sha256_hex(data: bytes) -> str:
    """Lower-case hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()
