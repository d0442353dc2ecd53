"""Device identity: key types, device ids and encrypted keystores.

A device is named by an EVM address derived from its public key (`DeviceId`), holds its
private key in an encrypted keystore on disk, and signs 32-byte digests with it. secp256k1 is
the EVM-native default; ed25519 is supported for hardware that only has ed25519. See
`identity.address` for how ids are derived and `identity.keystore` for the file formats.

    >>> key = DeviceKey.generate()                       # doctest: +SKIP
    >>> save_keystore(key, Path("device.json"), passphrase)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opendepin.identity.address import (
    address_of_public_key,
    checksum,
    device_id_of_ed25519,
    parse_address,
    to_checksum_address,
)
from opendepin.identity.keys import DeviceKey, KeyType
from opendepin.identity.signatures import recover_address
from opendepin.lazy import lazy_exports

_LAZY: dict[str, str] = {
    "DEFAULT_SCRYPT_N": "opendepin.identity.keystore",
    "load_keystore": "opendepin.identity.keystore",
    "save_keystore": "opendepin.identity.keystore",
}
"""Names imported on first use: the keystore module pulls in eth_keyfile (and with it
py_ecc's BLS pairing tables, ~0.5 s), which only reading or writing a keystore needs."""

__all__ = [
    "DEFAULT_SCRYPT_N",
    "DeviceKey",
    "KeyType",
    "address_of_public_key",
    "checksum",
    "device_id_of_ed25519",
    "load_keystore",
    "parse_address",
    "recover_address",
    "save_keystore",
    "to_checksum_address",
]


__getattr__ = lazy_exports(__name__, _LAZY, globals())


if TYPE_CHECKING:
    from opendepin.identity.keystore import DEFAULT_SCRYPT_N, load_keystore, save_keystore
