"""Recovering who signed a digest.

Oracles' `EpochRoot` attestations, device registration permits and denylist signatures are
all 65-byte secp256k1 signatures `r ‖ s ‖ v` (v in {27, 28}, the Ethereum convention) over a
32-byte digest. The signer is recovered, not looked up: the recovered public key's address
is compared with who was supposed to sign. (Report signatures have their own batch path in
`reports.verify`, which also enforces low-s.)
"""

from __future__ import annotations

import coincurve

from opendepin.identity.address import address_of_public_key
from opendepin.types import DeviceId

SIGNATURE_BYTES = 65
"""Length of an r ‖ s ‖ v signature."""

ETH_V_OFFSET = 27
"""Ethereum adds 27 to the recovery id in `v`."""


def recover_address(digest: bytes, signature: bytes) -> DeviceId | None:
    """The checksummed address whose key made `signature` over `digest`, or None.

    None means the bytes are not a recoverable signature (wrong length, v not 27/28, r or s
    out of range); a well-formed signature over another digest recovers *some* other address,
    so callers must compare the result with the signer they expect.
    """
    if len(digest) != 32 or len(signature) != SIGNATURE_BYTES:
        return None
    v = signature[64]
    if v not in (ETH_V_OFFSET, ETH_V_OFFSET + 1):
        return None
    try:
        public = coincurve.PublicKey.from_signature_and_message(
            signature[:64] + bytes((v - ETH_V_OFFSET,)), digest, hasher=None
        )
    except (ValueError, TypeError):
        return None
    return address_of_public_key(public.format(compressed=False)[1:])
