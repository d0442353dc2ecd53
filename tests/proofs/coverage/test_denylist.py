"""Signed, versioned denylist files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from opendepin.errors import InputError, InvalidProof
from opendepin.identity import DeviceKey
from opendepin.proofs.coverage.denylist import (
    DENYLIST_FILENAME,
    Denylist,
    load_denylist,
    parse_denylist,
    sign_denylist,
    write_denylist,
)


def _ids(n: int) -> list[str]:
    return [DeviceKey.generate().device_id for _ in range(n)]


def test_load_accepts_file_signed_by_threshold_of_signers(tmp_path: Path) -> None:
    oracles = [DeviceKey.generate() for _ in range(3)]
    a, b, c = _ids(3)
    denylist = Denylist.build(4, keys=[a], edges=[(c, b)])
    path = tmp_path / DENYLIST_FILENAME
    write_denylist(path, denylist, oracles[:2])
    loaded = load_denylist(path, [k.device_id for k in oracles], threshold=2)
    assert loaded == denylist
    assert loaded.denies_key(a) and not loaded.denies_key(b)
    assert loaded.denies_edge(b, c) and loaded.denies_edge(c, b)


def test_load_rejects_too_few_signatures(tmp_path: Path) -> None:
    oracles = [DeviceKey.generate() for _ in range(3)]
    path = tmp_path / DENYLIST_FILENAME
    write_denylist(path, Denylist.build(1, keys=_ids(1)), oracles[:1])
    with pytest.raises(InvalidProof, match="needs 2"):
        load_denylist(path, [k.device_id for k in oracles], threshold=2)


def test_parse_rejects_signature_from_unconfigured_signer() -> None:
    outsider = DeviceKey.generate()
    obj = sign_denylist(Denylist.build(1, keys=_ids(1)), [outsider])
    with pytest.raises(InvalidProof):
        parse_denylist(obj, [DeviceKey.generate().device_id], threshold=1)


def test_parse_rejects_tampered_entries() -> None:
    oracle = DeviceKey.generate()
    obj = sign_denylist(Denylist.build(2, keys=_ids(1)), [oracle])
    obj["entries"].append({"key": _ids(1)[0]})
    with pytest.raises(InvalidProof):
        parse_denylist(obj, [oracle.device_id], threshold=1)
    obj = sign_denylist(Denylist.build(2, keys=_ids(1)), [oracle])
    obj["version"] = 3
    with pytest.raises(InvalidProof):
        parse_denylist(obj, [oracle.device_id], threshold=1)


def test_digest_ignores_entry_order() -> None:
    a, b = _ids(2)
    assert Denylist.build(1, keys=[a, b]).digest() == Denylist.build(1, keys=[b, a]).digest()
    assert Denylist.build(1, keys=[a]).digest() != Denylist.build(2, keys=[a]).digest()


@pytest.mark.parametrize(
    "obj",
    [
        {"format": "other"},
        {"format": "denylist_v1", "version": -1, "entries": [], "signatures": []},
        {"format": "denylist_v1", "version": 1, "entries": [{"nope": 1}], "signatures": []},
        {"format": "denylist_v1", "version": 1, "entries": [{"key": "0x12"}], "signatures": []},
    ],
)
def test_parse_rejects_malformed_file(obj: object) -> None:
    with pytest.raises(InputError):
        parse_denylist(obj, [], threshold=1)


def test_load_rejects_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / DENYLIST_FILENAME
    path.write_text("{not json")
    with pytest.raises(InputError):
        load_denylist(path, [], threshold=1)
    assert json.loads(json.dumps(sign_denylist(Denylist(), [])))["version"] == 0
