"""S3 access keys: an access key id and a secret, bound to a consumer account.

SigV4 is an HMAC keyed by (a key derived from) the secret, so the gateway must be able to
recover each secret: they cannot be stored hashed. They are stored ENCRYPTED instead, with
the gateway's master key (NaCl SecretBox, XSalsa20-Poly1305), in the `gateway_keys` table
of the metadata database. The master key is a 32-byte file created with mode 0600 on the
gateway's first start; without it the database's secrets are useless to a thief.

```
gateway_keys   access_key_id PK · account · secret_box (hex) · created_ms · revoked_ms
```

The plaintext sealed is `<access key id>:<secret>`, so a ciphertext copied onto another row
does not decrypt as that row's secret. The secret is returned once, by `create`; `list`
never shows it. A revoked key stays in the table (who had it, when it stopped) and no longer
authenticates anything.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from nacl.exceptions import CryptoError
from nacl.secret import SecretBox
from sqlalchemy import BigInteger, Column, Engine, MetaData, String, Table, insert, select, update

from opendepin.errors import ConfigError, InputError

MASTER_KEY_BYTES: Final = SecretBox.KEY_SIZE
ACCESS_KEY_PREFIX: Final = "DPN"
ACCESS_KEY_CHARS: Final = 20
"""Like AWS's AKIA… ids: 20 upper-case letters and digits."""
SECRET_CHARS: Final = 40
ACCOUNT_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
"""An account id: an address (0x…) or another plain name, at most 128 characters."""
ACCESS_KEY_PATTERN: Final = re.compile(r"^[A-Z0-9]{16,128}$")

key_schema = MetaData()

gateway_keys = Table(
    "gateway_keys",
    key_schema,
    Column("access_key_id", String(128), primary_key=True),
    Column("account", String(128), nullable=False, index=True),
    Column("secret_box", String(512), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("revoked_ms", BigInteger, nullable=True),
)


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An access key as listed (never with its secret)."""

    access_key_id: str
    account: str
    created_ms: int
    revoked_ms: int | None

    @property
    def active(self) -> bool:
        return self.revoked_ms is None


def load_master_key(path: Path, *, create: bool = True) -> bytes:
    """The gateway's master key at `path`, created (0600, 32 random bytes) if missing."""
    if not path.exists():
        if not create:
            raise ConfigError(f"{path}: no gateway master key (start the gateway once to make it)")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # created by a concurrent start: read it below
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(MASTER_KEY_BYTES))
                fh.flush()
                os.fsync(fh.fileno())
    try:
        if path.stat().st_mode & 0o077:
            raise ConfigError(f"{path}: the master key is readable by others (chmod 600 it)")
        raw = path.read_bytes()[: MASTER_KEY_BYTES + 1]
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the master key: {exc}") from exc
    if len(raw) != MASTER_KEY_BYTES:
        raise ConfigError(f"{path}: a master key is exactly {MASTER_KEY_BYTES} bytes")
    return raw


def check_account(account: str) -> str:
    if not ACCOUNT_PATTERN.match(account):
        raise InputError(
            f"account {account[:80]!r}: 1-128 letters, digits, '.', '_', ':' or '-' expected"
        )
    return account


def _new_access_key_id() -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    tail = "".join(
        secrets.choice(alphabet) for _ in range(ACCESS_KEY_CHARS - len(ACCESS_KEY_PREFIX))
    )
    return ACCESS_KEY_PREFIX + tail


def _new_secret() -> str:
    return base64.b64encode(secrets.token_bytes(SECRET_CHARS * 3 // 4)).decode()


class KeyStore:
    """Access keys in the metadata database, secrets sealed with the master key."""

    def __init__(self, engine: Engine, master_key: bytes | None = None) -> None:
        """Without a master key the store can list and revoke keys but not create or check them."""
        self.engine = engine
        self._sealer = None if master_key is None else SecretBox(master_key)
        key_schema.create_all(engine)

    @property
    def _box(self) -> SecretBox:
        if self._sealer is None:
            raise ConfigError("this key store was opened without the gateway master key")
        return self._sealer

    def create(self, account: str, now_ms: int) -> tuple[AccessKey, str]:
        """A new key for `account`: (the key, its secret — shown to the caller once)."""
        check_account(account)
        key_id, secret = _new_access_key_id(), _new_secret()
        sealed = self._box.encrypt(f"{key_id}:{secret}".encode()).hex()
        with self.engine.begin() as conn:
            conn.execute(
                insert(gateway_keys).values(
                    access_key_id=key_id, account=account, secret_box=sealed, created_ms=now_ms
                )
            )
        return AccessKey(key_id, account, now_ms, None), secret

    def list(self, account: str | None = None) -> list[AccessKey]:
        query = select(gateway_keys).order_by(gateway_keys.c.created_ms)
        if account is not None:
            query = query.where(gateway_keys.c.account == account)
        with self.engine.connect() as conn:
            return [
                AccessKey(r.access_key_id, r.account, r.created_ms, r.revoked_ms)
                for r in conn.execute(query)
            ]

    def revoke(self, access_key_id: str, now_ms: int) -> bool:
        """Stop `access_key_id` from authenticating; False if unknown or already revoked."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(gateway_keys)
                .where(
                    gateway_keys.c.access_key_id == access_key_id,
                    gateway_keys.c.revoked_ms.is_(None),
                )
                .values(revoked_ms=now_ms)
            )
            return done.rowcount > 0

    def lookup(self, access_key_id: str) -> tuple[str, str] | None:
        """(account, secret) of an active key, or None (unknown, revoked, or undecryptable)."""
        if not ACCESS_KEY_PATTERN.match(access_key_id):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(gateway_keys).where(gateway_keys.c.access_key_id == access_key_id)
            ).first()
        if row is None or row.revoked_ms is not None:
            return None
        try:
            plain = self._box.decrypt(bytes.fromhex(row.secret_box)).decode()
        except (CryptoError, ValueError):
            return None
        key_id, _, secret = plain.partition(":")
        if key_id != access_key_id or not secret:
            return None
        return row.account, secret


__all__ = [
    "AccessKey",
    "KeyStore",
    "check_account",
    "gateway_keys",
    "key_schema",
    "load_master_key",
]
