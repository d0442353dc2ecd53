"""Requests between oracles are signed: only a configured oracle may pull a report set.

A peer's `GET /v1/epochs/{e}/reports` (and `/conflicts`) reads a whole epoch from the store,
so it must not be open to anyone: the requesting oracle signs

```
keccak256("opendepin-peer-request\\n" ‖ METHOD ‖ "\\n" ‖ path?query ‖ "\\n" ‖ unix seconds)
```

with its oracle key and sends `X-Depin-Oracle` (its address), `X-Depin-Time` and
`X-Depin-Signature`. The server accepts the request only if the signature recovers to the
named address, that address is one of the distributor's oracles, and the time is within
`MAX_SKEW_SECONDS` of its own clock. A captured request can be replayed within that window
(it only re-reads public-to-oracles data); TLS between oracles closes that too.
`POST /v1/attestations` needs no header: its body is itself a signature by an oracle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from opendepin.chain.accounts import AccountLike
from opendepin.crypto import keccak256
from opendepin.http.problems import ProblemType, problem_response
from opendepin.identity import recover_address

HEADER_ORACLE: Final = "X-Depin-Oracle"
HEADER_TIME: Final = "X-Depin-Time"
HEADER_SIGNATURE: Final = "X-Depin-Signature"
MAX_SKEW_SECONDS: Final = 120
DOMAIN: Final = b"opendepin-peer-request\n"

OPENAPI_PARAMETERS: Final = [
    {
        "name": HEADER_ORACLE,
        "in": "header",
        "required": True,
        "description": "Address of the requesting oracle (one of the distributor's oracles).",
        "schema": {"type": "string", "pattern": r"^0x[0-9a-fA-F]{40}$"},
    },
    {
        "name": HEADER_TIME,
        "in": "header",
        "required": True,
        "description": f"Unix seconds of the request, within {MAX_SKEW_SECONDS} s of the server's clock.",
        "schema": {"type": "string", "pattern": r"^[0-9]{1,12}$"},
    },
    {
        "name": HEADER_SIGNATURE,
        "in": "header",
        "required": True,
        "description": "The oracle's signature of keccak256(\"opendepin-peer-request\\n\" ‖ METHOD ‖ "
        "\"\\n\" ‖ path?query ‖ \"\\n\" ‖ unix seconds), hex.",
        "schema": {"type": "string"},
    },
]
"""The headers of a signed request, as OpenAPI header parameters (`openapi_extra` of a route
that calls `check_request`; a request without them is answered 401 by the route itself)."""


def request_digest(method: str, target: str, unix: int) -> bytes:
    """The digest an oracle signs for one request (`target` = path plus `?query`, if any)."""
    return keccak256(DOMAIN + f"{method.upper()}\n{target}\n{unix}".encode())


def _target(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def signed_headers(signer: AccountLike, method: str, url: str, now: int | None = None) -> dict[str, str]:
    """Headers authenticating `method url` as coming from `signer`."""
    unix = int(time.time()) if now is None else now
    signature = signer.sign_digest(request_digest(method, _target(url), unix))
    return {HEADER_ORACLE: signer.address, HEADER_TIME: str(unix), HEADER_SIGNATURE: "0x" + signature.hex()}


def check_request(
    request: Request, allowed: Collection[str], clock: Callable[[], float] = time.time
) -> str | None:
    """None if `request` is signed by one of `allowed`, else why not (total, never raises)."""
    claimed = request.headers.get(HEADER_ORACLE, "")
    stamp = request.headers.get(HEADER_TIME, "")
    sig_hex = request.headers.get(HEADER_SIGNATURE, "")
    if not claimed or not stamp or not sig_hex:
        return f"sign the request with an oracle key ({HEADER_ORACLE}, {HEADER_TIME}, {HEADER_SIGNATURE})"
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return f"{HEADER_TIME} must be Unix seconds"
    if abs(int(stamp) - clock()) > MAX_SKEW_SECONDS:
        return f"{HEADER_TIME} is more than {MAX_SKEW_SECONDS} s from this oracle's clock"
    try:
        signature = bytes.fromhex(sig_hex.removeprefix("0x"))
    except ValueError:
        return f"{HEADER_SIGNATURE} is not hex"
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    signer = recover_address(request_digest(request.method, target, int(stamp)), signature)
    allowed_lower = {a.lower() for a in allowed}
    if signer is None or signer.lower() != claimed.lower():
        return "the signature does not recover to the claimed oracle"
    if signer.lower() not in allowed_lower:
        return f"{signer} is not one of this network's oracles"
    return None


NOT_AN_ORACLE: Final = ProblemType("not_an_oracle", "not_an_oracle", 401, "oracle")
"""A request to an oracle-to-oracle route not signed by one of the network's oracles."""


def refuse_unless_signed(request: Request, oracles: Callable[[], Collection[str]] | None) -> Response | None:
    """The 401 problem answer for a request not signed by one of `oracles()`, else None (also
    None when the route is open: `oracles` is None)."""
    if oracles is None:
        return None
    why = check_request(request, oracles())
    return None if why is None else problem_response(NOT_AN_ORACLE, why)
