"""Canonical JSON and content digests: the one place published bytes are spelled.

Every file an epoch publishes (and every file a stage hashes) is canonical JSON — sorted keys,
no whitespace, UTF-8 (not `\\u` escapes), one trailing newline — so equal content always has
equal bytes, and so an equal sha256 on every oracle. `sha256_hex` is how manifests name bytes.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, one trailing newline."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def sha256_hex(data: bytes) -> str:
    """Lower-case hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()
