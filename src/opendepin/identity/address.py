"""Device ids: EVM addresses derived from public keys, written with the EIP-55 checksum.

Every device is named by a 20-byte address so that it can own an ERC-721 token in the
DeviceRegistry and sign EIP-712 messages the contracts check:

* **secp256k1** (the EVM-native default): the device id is the ordinary Ethereum address of
  the key, the last 20 bytes of `keccak256(pubkey64)` where `pubkey64` is the uncompressed
  public key without its `0x04` prefix. `ecrecover` on chain yields the same address.
* **ed25519**: the EVM cannot recover an ed25519 signer, so the id is a *derived* address:
  the last 20 bytes of `keccak256(b"opendepin:ed25519:" + pubkey32)`. The domain prefix makes
  it impossible for an ed25519 key and a secp256k1 key to map to the same id by construction
  (the hashed inputs differ in length and prefix). Reports from such devices carry the
  32-byte public key (`Report.signer_key`), and verifiers recompute the id from it.

Addresses are written in EIP-55 mixed-case checksum form: hex digit *i* is upper-cased when
nibble *i* of `keccak256(lowercase_hex)` is >= 8, so a typo in a copied address is caught.
"""

from __future__ import annotations

from functools import lru_cache

from opendepin.crypto import keccak256
from opendepin.types import DeviceId

ADDRESS_BYTES = 20
"""Length of an EVM address in bytes."""
SECP256K1_PUBLIC_KEY_BYTES = 64
"""Uncompressed secp256k1 public key without the 0x04 prefix: x‖y, 32 bytes each."""
ED25519_PUBLIC_KEY_BYTES = 32
"""An ed25519 public key."""
ED25519_ID_DOMAIN = b"opendepin:ed25519:"
"""Prefix hashed with an ed25519 public key to derive its device id."""

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_UPPER_NIBBLES = frozenset("89abcdef")  # hash nibbles >= 8 upper-case the address digit
_CASED = {
    (c, h): c.upper() if h in _UPPER_NIBBLES else c for c in "0123456789abcdef" for h in "0123456789abcdef"
}
"""(address digit, hash nibble) -> the digit as EIP-55 writes it."""


def to_checksum_address(address20: bytes) -> DeviceId:
    """The EIP-55 checksummed `0x…` form of a 20-byte address (remembered for the most
    recent 65,536 addresses: ingest and the oracle checksum the same devices over and over)."""
    if len(address20) != ADDRESS_BYTES:
        raise ValueError(f"an address is {ADDRESS_BYTES} bytes, got {len(address20)}")
    return _checksummed(bytes(address20))


@lru_cache(maxsize=1 << 16)
def _checksummed(address20: bytes) -> DeviceId:
    lower = address20.hex()
    hashed = keccak256(lower.encode("ascii")).hex()[: 2 * ADDRESS_BYTES]
    return DeviceId("0x" + "".join(map(_CASED.__getitem__, zip(lower, hashed, strict=True))))


def parse_address(text: str) -> bytes:
    """The 20 bytes of a `0x`-prefixed hex address.

    All-lower-case and all-upper-case addresses carry no checksum and are accepted;
    mixed case must be a correct EIP-55 checksum. Raises ValueError otherwise.
    """
    if not isinstance(text, str) or len(text) != 2 + 2 * ADDRESS_BYTES or text[:2] != "0x":
        raise ValueError(f"an address is '0x' followed by 40 hex digits, got {text!r}")
    digits = text[2:]
    if not _HEX_DIGITS.issuperset(digits):
        raise ValueError(f"address {text!r} contains non-hex characters")
    raw = bytes.fromhex(digits)
    if digits != digits.lower() and digits != digits.upper() and to_checksum_address(raw) != text:
        raise ValueError(f"address {text!r} has a wrong EIP-55 checksum")
    return raw


def checksum(text: str) -> DeviceId:
    """Validate an address string (see `parse_address`) and return its checksummed form."""
    return to_checksum_address(parse_address(text))


def address_of_public_key(pub64: bytes) -> DeviceId:
    """Device id of a secp256k1 key: its Ethereum address, checksummed."""
    if len(pub64) != SECP256K1_PUBLIC_KEY_BYTES:
        raise ValueError(
            f"a secp256k1 public key is {SECP256K1_PUBLIC_KEY_BYTES} bytes (x‖y, no 0x04 prefix), "
            f"got {len(pub64)}"
        )
    return to_checksum_address(keccak256(pub64)[12:])


def ed25519_address_bytes(pub32: bytes) -> bytes:
    """The 20 raw bytes of an ed25519 key's derived address (see the module docstring)."""
    if len(pub32) != ED25519_PUBLIC_KEY_BYTES:
        raise ValueError(
            f"an ed25519 public key is {ED25519_PUBLIC_KEY_BYTES} bytes, got {len(pub32)}"
        )
    return keccak256(ED25519_ID_DOMAIN + pub32)[12:]


def device_id_of_ed25519(pub32: bytes) -> DeviceId:
    """Device id of an ed25519 key: the derived address, checksummed."""
    return to_checksum_address(ed25519_address_bytes(pub32))
