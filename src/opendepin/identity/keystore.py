"""Encrypted keystores: how a device key rests on disk.

Two formats, both JSON, both unlocked by a passphrase stretched with scrypt:

* **secp256k1 → Ethereum keystore v3** (written by `eth-keyfile`, scrypt n=2**18, r=8, p=1,
  AES-128-CTR, keccak MAC). Geth, MetaMask-compatible tools and eth-account read these files
  too, so a device key can be imported into a wallet and vice versa.
* **ed25519 → opendepin ed25519 keystore v1** (v3 has no ed25519 variant), equally strong::

      {
        "type": "ed25519",                 # marker that selects this format
        "version": 1,
        "id": "<uuid4>",
        "address": "0x…",                  # device id (derived address, EIP-55)
        "public_key": "<64 hex>",          # 32-byte ed25519 public key
        "crypto": {
          "cipher": "xsalsa20-poly1305",   # libsodium secretbox (PyNaCl SecretBox)
          "ciphertext": "<hex>",           # 16-byte Poly1305 tag ‖ encrypted 32-byte seed
          "nonce": "<48 hex>",             # 24 random bytes
          "kdf": "scrypt",
          "kdfparams": {"n": 262144, "r": 8, "p": 1, "dklen": 32, "salt": "<64 hex>"}
        }
      }

  The passphrase (UTF-8) and salt go through scrypt to a 32-byte key; the seed is sealed
  with XSalsa20-Poly1305. A wrong passphrase fails the Poly1305 tag; after decryption the
  public key and address are re-derived from the seed and must match the file, so an edited
  public key or address is detected too.

Any failure — missing file, invalid JSON, wrong passphrase, edited fields — raises
`KeystoreError` naming the file and what to do. Files are written with mode 0600 through a
temporary file and an atomic rename, and existing keystores are never overwritten silently.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import uuid
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
from eth_keyfile.keyfile import create_keyfile_json, decode_keyfile_json

from opendepin.errors import KeystoreError
from opendepin.identity.keys import DeviceKey, KeyType

DEFAULT_SCRYPT_N = 2**18
"""scrypt CPU/memory cost (≈256 MiB, ≈0.5 s here); the Ethereum keystore default."""
MIN_SCRYPT_N = 2**10
"""Smallest cost accepted when writing (tests use small values to stay fast)."""
MAX_SCRYPT_N = 2**20
"""Largest cost accepted when reading, so a hostile file cannot exhaust memory."""
SCRYPT_R = 8
"""scrypt block size."""
SCRYPT_P = 1
"""scrypt parallelism."""
SCRYPT_DKLEN_BYTES = 32
"""Length of the derived key for the ed25519 format (a SecretBox key)."""
SALT_BYTES = 32
"""Random salt per keystore."""
ED25519_KEYSTORE_VERSION = 1
"""Version of the opendepin ed25519 keystore format."""
ED25519_CIPHER = "xsalsa20-poly1305"
KEYSTORE_FILE_MODE = 0o600
"""Owner read/write only."""


def save_keystore(
    key: DeviceKey,
    path: Path,
    passphrase: str,
    *,
    scrypt_n: int = DEFAULT_SCRYPT_N,
    overwrite: bool = False,
) -> None:
    """Encrypt `key` with `passphrase` and write it to `path` (mode 0600).

    Raises KeystoreError if the passphrase is empty, `scrypt_n` is out of range, or `path`
    exists and `overwrite` is False.
    """
    path = Path(path)
    if not passphrase:
        raise KeystoreError("refusing to write a keystore with an empty passphrase")
    if not (MIN_SCRYPT_N <= scrypt_n <= MAX_SCRYPT_N) or scrypt_n & (scrypt_n - 1):
        raise KeystoreError(
            f"scrypt_n must be a power of two in [{MIN_SCRYPT_N}, {MAX_SCRYPT_N}], got {scrypt_n}"
        )
    if path.exists() and not overwrite:
        raise KeystoreError(f"{path} already exists; choose another path or delete it first")
    password = passphrase.encode("utf-8")
    if key.type is KeyType.SECP256K1:
        doc = create_keyfile_json(
            key.private_bytes(), password, version=3, kdf="scrypt", iterations=scrypt_n
        )
    else:
        doc = _encrypt_ed25519(key, password, scrypt_n)
    _write_private(path, json.dumps(doc, indent=2, sort_keys=True) + "\n")


def load_keystore(path: Path, passphrase: str) -> DeviceKey:
    """Decrypt the keystore at `path`; KeystoreError on a wrong passphrase or a corrupt file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeystoreError(f"no keystore at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeystoreError(f"{path} is not a keystore (invalid JSON: {exc})") from None
    if not isinstance(doc, dict):
        raise KeystoreError(f"{path} is not a keystore (expected a JSON object)")
    password = passphrase.encode("utf-8")
    if doc.get("type") == KeyType.ED25519.value:
        return _decrypt_ed25519(doc, password, path)
    if doc.get("version") == 3 and "crypto" in doc:
        return _decrypt_v3(doc, password, path)
    raise KeystoreError(
        f"{path} is not a recognised keystore (neither Ethereum v3 nor opendepin ed25519 v1)"
    )


def _decrypt_v3(doc: dict[str, Any], password: bytes, path: Path) -> DeviceKey:
    kdfparams = (
        doc.get("crypto", {}).get("kdfparams", {}) if isinstance(doc.get("crypto"), dict) else {}
    )
    n = kdfparams.get("n") if isinstance(kdfparams, dict) else None
    if isinstance(n, int) and n > MAX_SCRYPT_N:
        raise KeystoreError(f"{path}: scrypt n={n} exceeds the limit {MAX_SCRYPT_N}")
    try:
        raw = decode_keyfile_json(doc, password)
    except Exception as exc:  # eth-keyfile raises many types (KeyError, ValueError, its own)
        if "MAC mismatch" in str(exc):
            raise KeystoreError(f"wrong passphrase for {path} (or the file was modified)") from None
        raise KeystoreError(f"{path} is a corrupt Ethereum v3 keystore: {exc!r}") from None
    try:
        key = DeviceKey.from_private_bytes(KeyType.SECP256K1, raw)
    except ValueError as exc:
        raise KeystoreError(f"{path} holds an invalid secp256k1 key: {exc}") from None
    address = doc.get("address")
    if address is not None and (
        not isinstance(address, str)
        or address.lower().removeprefix("0x") != key.device_id.lower()[2:]
    ):
        raise KeystoreError(f"{path}: the 'address' field does not match the key inside")
    return key


def _encrypt_ed25519(key: DeviceKey, password: bytes, scrypt_n: int) -> dict[str, Any]:
    salt = secrets.token_bytes(SALT_BYTES)
    box = nacl.secret.SecretBox(_scrypt(password, salt, scrypt_n, SCRYPT_R, SCRYPT_P))
    nonce = secrets.token_bytes(nacl.secret.SecretBox.NONCE_SIZE)
    ciphertext = box.encrypt(key.private_bytes(), nonce).ciphertext
    return {
        "type": KeyType.ED25519.value,
        "version": ED25519_KEYSTORE_VERSION,
        "id": str(uuid.uuid4()),
        "address": key.device_id,
        "public_key": key.public_key.hex(),
        "crypto": {
            "cipher": ED25519_CIPHER,
            "ciphertext": bytes(ciphertext).hex(),
            "nonce": nonce.hex(),
            "kdf": "scrypt",
            "kdfparams": {
                "n": scrypt_n,
                "r": SCRYPT_R,
                "p": SCRYPT_P,
                "dklen": SCRYPT_DKLEN_BYTES,
                "salt": salt.hex(),
            },
        },
    }


def _decrypt_ed25519(doc: dict[str, Any], password: bytes, path: Path) -> DeviceKey:
    try:
        if doc["version"] != ED25519_KEYSTORE_VERSION:
            raise KeystoreError(
                f"{path}: unsupported ed25519 keystore version {doc['version']!r} "
                f"(this opendepin reads version {ED25519_KEYSTORE_VERSION})"
            )
        crypto = doc["crypto"]
        params = crypto["kdfparams"]
        if crypto["cipher"] != ED25519_CIPHER or crypto["kdf"] != "scrypt":
            raise ValueError(f"unsupported cipher/kdf {crypto['cipher']!r}/{crypto['kdf']!r}")
        n, r, p, dklen = (params[k] for k in ("n", "r", "p", "dklen"))
        if not all(type(v) is int for v in (n, r, p, dklen)):
            raise ValueError("kdfparams n, r, p, dklen must be integers")
        if not (2 <= n <= MAX_SCRYPT_N) or n & (n - 1) or not (1 <= r <= 32) or not (1 <= p <= 16):
            raise ValueError(f"kdfparams out of range: n={n} r={r} p={p}")
        if dklen != SCRYPT_DKLEN_BYTES:
            raise ValueError(f"dklen must be {SCRYPT_DKLEN_BYTES}")
        salt = bytes.fromhex(params["salt"])
        nonce = bytes.fromhex(crypto["nonce"])
        ciphertext = bytes.fromhex(crypto["ciphertext"])
        public_key = bytes.fromhex(doc["public_key"])
        address = doc["address"]
    except KeystoreError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KeystoreError(f"{path} is a corrupt ed25519 keystore: {exc!r}") from None
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise KeystoreError(f"{path} is a corrupt ed25519 keystore: bad nonce length")
    box = nacl.secret.SecretBox(_scrypt(password, salt, n, r, p))
    try:
        seed = box.decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError:
        raise KeystoreError(f"wrong passphrase for {path} (or the file was modified)") from None
    try:
        key = DeviceKey.from_private_bytes(KeyType.ED25519, seed)
    except ValueError as exc:
        raise KeystoreError(f"{path} holds an invalid ed25519 key: {exc}") from None
    if not hmac.compare_digest(key.public_key, public_key) or address != key.device_id:
        raise KeystoreError(f"{path}: public_key/address fields do not match the key inside")
    return key


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # hashlib (OpenSSL) needs maxmem above 128·r·n bytes; n is bounded by the callers.
    maxmem = 128 * r * n * (p + 1) + 2**20
    return hashlib.scrypt(
        password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=SCRYPT_DKLEN_BYTES
    )


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600, atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, KEYSTORE_FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
