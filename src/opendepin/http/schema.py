"""JSON Schema building blocks for the OpenAPI documents of opendepin's HTTP APIs.

The published schema is a promise about what a server accepts and answers, so each string
type here is as narrow as the parser behind it. Requests and answers differ on purpose:

```
                       a request may send                 an answer always is
address                0x + 40 hex, either case           EIP-55 checksummed (0x + 40 hex)
32-byte hash           0x + 64 hex, either case           0x + 64 lowercase hex
65-byte signature      0x + 130 hex, either case          0x + 130 lowercase hex
uint256 amount         decimal string (or JSON integer)   decimal string, no leading zeros
```

What a pattern cannot say is written in the description: a mixed-case address must carry a
correct EIP-55 checksum (`identity.address.parse_address`), and a decimal amount must not
exceed 2**256 - 1. Those inputs pass the schema and are refused by the server.

Large integer bounds are written as exclusive powers of two (`lt=INT64_LIMIT`), never as
`le=2**63 - 1`: FastAPI's OpenAPI model stores bounds as floats, and a power of two is the
only large bound a float holds exactly.

The models that use these types (request bodies, answers) describe the wire; handlers that
read hostile input keep parsing it themselves (`ingest.app`, `oracle.attestations`), so a
pydantic model here is documentation and a test oracle, never a second parser.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

ADDRESS_PATTERN: Final = r"^0x[0-9a-fA-F]{40}$"
HASH32_PATTERN: Final = r"^0x[0-9a-fA-F]{64}$"
HASH32_LOWER_PATTERN: Final = r"^0x[0-9a-f]{64}$"
SIGNATURE65_PATTERN: Final = r"^0x[0-9a-fA-F]{130}$"
SIGNATURE65_LOWER_PATTERN: Final = r"^0x[0-9a-f]{130}$"
DECIMAL_PATTERN: Final = r"^[0-9]{1,80}$"
"""A decimal string as `oracle.attestations._uint` reads one: ASCII digits, at most 80."""
CANONICAL_DECIMAL_PATTERN: Final = r"^(0|[1-9][0-9]{0,77})$"
"""A decimal string as `str(int)` writes a uint256: no sign, no leading zeros, <= 78 digits."""
UINT256_LIMIT: Final = 2**256
"""Exclusive bound of a uint256 (`lt=UINT256_LIMIT` in a Field)."""
INT64_LIMIT: Final = 2**63
"""Exclusive bound of what a signed 64-bit column holds (epochs, seqs, timestamps)."""

Address = Annotated[
    str,
    Field(
        pattern=ADDRESS_PATTERN,
        description="EVM address: 0x + 40 hex digits; mixed case must be a valid EIP-55 checksum.",
    ),
]
ChecksumAddress = Annotated[
    str, Field(pattern=ADDRESS_PATTERN, description="EVM address in EIP-55 checksummed form.")
]
Hash32 = Annotated[str, Field(pattern=HASH32_PATTERN, description="32 bytes: 0x + 64 hex digits.")]
Hash32Out = Annotated[
    str, Field(pattern=HASH32_LOWER_PATTERN, description="32 bytes: 0x + 64 lowercase hex digits.")
]
Signature65 = Annotated[
    str,
    Field(pattern=SIGNATURE65_PATTERN, description="65-byte secp256k1 signature r‖s‖v: 0x + 130 hex digits."),
]
Signature65Out = Annotated[
    str,
    Field(
        pattern=SIGNATURE65_LOWER_PATTERN,
        description="65-byte secp256k1 signature r‖s‖v: 0x + 130 lowercase hex digits.",
    ),
]
Uint256Decimal = Annotated[
    str,
    Field(
        pattern=CANONICAL_DECIMAL_PATTERN,
        description="Non-negative integer up to 2**256 - 1 in base units, as a decimal string.",
    ),
]

__all__ = [
    "ADDRESS_PATTERN",
    "CANONICAL_DECIMAL_PATTERN",
    "DECIMAL_PATTERN",
    "HASH32_LOWER_PATTERN",
    "HASH32_PATTERN",
    "INT64_LIMIT",
    "SIGNATURE65_LOWER_PATTERN",
    "SIGNATURE65_PATTERN",
    "UINT256_LIMIT",
    "Address",
    "ChecksumAddress",
    "Hash32",
    "Hash32Out",
    "Signature65",
    "Signature65Out",
    "Uint256Decimal",
]
