"""Keystores: round trips, interoperability, wrong passphrases and corrupt files."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from opendepin.errors import KeystoreError
from opendepin.identity import DeviceKey, KeyType, load_keystore, save_keystore
from opendepin.identity.keystore import MAX_SCRYPT_N

FAST_N = 2**10  # tests use a small scrypt cost; the default is exercised by the slow test
PASS = "correct horse ✓"


def _saved(tmp_path: Path, key_type: KeyType) -> tuple[DeviceKey, Path]:
    key = DeviceKey.generate(key_type)
    path = tmp_path / f"{key_type.value}.json"
    save_keystore(key, path, PASS, scrypt_n=FAST_N)
    return key, path


def _edit(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("key_type", list(KeyType))
def test_keystore_round_trips(tmp_path: Path, key_type: KeyType) -> None:
    key, path = _saved(tmp_path, key_type)
    assert load_keystore(path, PASS) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key.private_bytes().hex() not in path.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("key_type", list(KeyType))
def test_keystore_round_trips_at_default_cost(tmp_path: Path, key_type: KeyType) -> None:
    key = DeviceKey.generate(key_type)
    save_keystore(key, tmp_path / "k.json", PASS)
    assert json.loads((tmp_path / "k.json").read_text())["crypto"]["kdfparams"]["n"] == 2**18
    assert load_keystore(tmp_path / "k.json", PASS) == key


def test_secp256k1_keystore_is_ethereum_v3_readable_by_eth_account(tmp_path: Path) -> None:
    key, path = _saved(tmp_path, KeyType.SECP256K1)
    doc = json.loads(path.read_text())
    assert doc["version"] == 3 and doc["crypto"]["kdf"] == "scrypt"
    assert bytes(Account.decrypt(doc, PASS)) == key.private_bytes()


def test_ed25519_keystore_has_type_version_and_public_key(tmp_path: Path) -> None:
    key, path = _saved(tmp_path, KeyType.ED25519)
    doc = json.loads(path.read_text())
    assert doc["type"] == "ed25519" and doc["version"] == 1
    assert doc["public_key"] == key.public_key.hex() and doc["address"] == key.device_id
    assert doc["crypto"]["cipher"] == "xsalsa20-poly1305"


def test_load_keystore_reads_v3_written_by_eth_account(tmp_path: Path) -> None:
    account = Account.create()
    path = tmp_path / "geth.json"
    path.write_text(json.dumps(Account.encrypt(account.key, PASS, kdf="scrypt", iterations=FAST_N)))
    assert load_keystore(path, PASS).device_id == account.address


@pytest.mark.parametrize("key_type", list(KeyType))
def test_load_keystore_rejects_wrong_passphrase(tmp_path: Path, key_type: KeyType) -> None:
    _, path = _saved(tmp_path, key_type)
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        load_keystore(path, PASS + "x")


@pytest.mark.parametrize("key_type", list(KeyType))
def test_load_keystore_rejects_modified_ciphertext(tmp_path: Path, key_type: KeyType) -> None:
    _, path = _saved(tmp_path, key_type)

    def flip(doc: dict[str, Any]) -> None:
        ct = doc["crypto"]["ciphertext"]
        doc["crypto"]["ciphertext"] = ("0" if ct[0] != "0" else "1") + ct[1:]

    _edit(path, flip)
    with pytest.raises(KeystoreError):
        load_keystore(path, PASS)


@pytest.mark.parametrize("key_type", list(KeyType))
def test_load_keystore_rejects_edited_address(tmp_path: Path, key_type: KeyType) -> None:
    _, path = _saved(tmp_path, key_type)
    other = DeviceKey.generate(key_type).device_id
    _edit(
        path,
        lambda doc: doc.__setitem__("address", other[2:] if key_type == "secp256k1" else other),
    )
    with pytest.raises(KeystoreError, match="match"):
        load_keystore(path, PASS)


def test_load_keystore_rejects_edited_ed25519_public_key(tmp_path: Path) -> None:
    _, path = _saved(tmp_path, KeyType.ED25519)
    other = DeviceKey.generate(KeyType.ED25519).public_key.hex()
    _edit(path, lambda doc: doc.__setitem__("public_key", other))
    with pytest.raises(KeystoreError, match="match"):
        load_keystore(path, PASS)


@pytest.mark.parametrize(
    "text", ["", "not json", "[1, 2]", '{"version": 3}', '{"type": "ed25519", "version": 1}', "{}"]
)
def test_load_keystore_rejects_corrupt_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(KeystoreError):
        load_keystore(path, PASS)


@pytest.mark.parametrize("key_type", list(KeyType))
def test_load_keystore_rejects_truncated_file(tmp_path: Path, key_type: KeyType) -> None:
    _, path = _saved(tmp_path, key_type)
    path.write_text(path.read_text()[:-40])
    with pytest.raises(KeystoreError):
        load_keystore(path, PASS)


@pytest.mark.parametrize("key_type", list(KeyType))
def test_load_keystore_refuses_hostile_scrypt_cost(tmp_path: Path, key_type: KeyType) -> None:
    _, path = _saved(tmp_path, key_type)
    _edit(path, lambda doc: doc["crypto"]["kdfparams"].__setitem__("n", MAX_SCRYPT_N * 2))
    with pytest.raises(KeystoreError):
        load_keystore(path, PASS)


def test_load_keystore_missing_file_names_path(tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="no keystore"):
        load_keystore(tmp_path / "absent.json", PASS)


def test_save_keystore_refuses_to_overwrite(tmp_path: Path) -> None:
    _, path = _saved(tmp_path, KeyType.SECP256K1)
    before = path.read_text()
    with pytest.raises(KeystoreError, match="exists"):
        save_keystore(DeviceKey.generate(), path, PASS, scrypt_n=FAST_N)
    assert path.read_text() == before


def test_save_keystore_overwrites_when_asked(tmp_path: Path) -> None:
    _, path = _saved(tmp_path, KeyType.SECP256K1)
    new = DeviceKey.generate(KeyType.ED25519)
    save_keystore(new, path, PASS, scrypt_n=FAST_N, overwrite=True)
    assert load_keystore(path, PASS) == new


@pytest.mark.parametrize(("passphrase", "n"), [("", FAST_N), (PASS, 1000), (PASS, 2**4)])
def test_save_keystore_rejects_bad_parameters(tmp_path: Path, passphrase: str, n: int) -> None:
    with pytest.raises(KeystoreError):
        save_keystore(DeviceKey.generate(), tmp_path / "k.json", passphrase, scrypt_n=n)
    assert not (tmp_path / "k.json").exists()
