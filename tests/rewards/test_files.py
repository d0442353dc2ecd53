"""Reward file and epoch manifest: canonical bytes, round trips, strict readers."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opendepin import __version__
from opendepin.crypto import keccak256
from opendepin.identity.address import to_checksum_address
from opendepin.rewards.files import (
    EpochManifest,
    FileFormatError,
    FileProblem,
    InputFile,
    OutputFile,
    RewardFile,
    canonical_json,
)
from opendepin.rewards.merkle import RewardTree

ALICE = to_checksum_address(bytes([1] * 20))
BOB = to_checksum_address(bytes([2] * 20))
CAROL = to_checksum_address(bytes([3] * 20))
DEVICE_1 = to_checksum_address(bytes([0xD1] * 20))
DEVICE_2 = to_checksum_address(bytes([0xD2] * 20))
DEVICE_3 = to_checksum_address(bytes([0xD3] * 20))


def _reward_file() -> RewardFile:
    return RewardFile.build(
        network="testnet",
        epoch=3,
        emission=1_000,
        unallocated=100,
        cumulative={ALICE: 1_500, BOB: 400, CAROL: 50},
        epoch_amounts={ALICE: 700, BOB: 200},
        devices={
            ALICE: [(DEVICE_2, "coverage", 30, 300), (DEVICE_1, "heartbeat", 10**30, 400)],
            BOB: [(DEVICE_3, "heartbeat", 5, 200)],
        },
    )


def _manifest(root: bytes = bytes(32)) -> EpochManifest:
    return EpochManifest(
        network="testnet",
        epoch=3,
        inputs=(
            InputFile.of("inputs/heartbeat.jsonl", b"abc"),
            InputFile.of("prior_v1.json", b"{}"),
        ),
        parameters={
            "emission": {"per_epoch": str(10**22), "schedule": "halving"},
            "pools": {"heartbeat": 4000},
        },
        snapshot_block=1234,
        outputs=(OutputFile.of("rewards_v1.json", b"xyz"),),
        root=root,
        cumulative_total=1_950,
        emission=1_000,
    )


def test_reward_file_root_is_tree_of_cumulative_totals() -> None:
    reward_file = _reward_file()
    expected = RewardTree.build([(ALICE, 1_500), (BOB, 400), (CAROL, 50)]).root
    assert reward_file.root == expected
    assert reward_file.allocated == 900
    assert reward_file.cumulative_total == 1_950
    reward_file.check()


def test_reward_file_round_trips_byte_identically() -> None:
    data = _reward_file().to_bytes()
    parsed = RewardFile.from_bytes(data)
    assert parsed == _reward_file()
    assert parsed.to_bytes() == data
    assert data.endswith(b"}\n") and b" " not in data


def test_reward_file_amounts_are_decimal_strings_and_devices_sorted() -> None:
    obj = json.loads(_reward_file().to_bytes())
    alice = obj["owners"][0]
    assert obj["format"] == "rewards_v1"
    assert alice["cumulative"] == "1500"
    assert [d["device"] for d in alice["devices"]] == sorted([DEVICE_1, DEVICE_2])
    assert obj["totals"] == {"emission": "1000", "allocated": "900", "cumulative": "1950"}
    assert str(10**30) in {d["shares"] for d in alice["devices"]}


def test_reward_file_build_rejects_amounts_not_adding_up() -> None:
    with pytest.raises(FileFormatError) as caught:
        RewardFile.build(
            network="n",
            epoch=0,
            emission=10,
            unallocated=0,
            cumulative={ALICE: 10},
            epoch_amounts={ALICE: 10},
            devices={ALICE: [(DEVICE_1, "heartbeat", 1, 9)]},
        )
    assert caught.value.problem is FileProblem.SUM_MISMATCH


def test_reward_reader_rejects_unknown_version() -> None:
    obj = json.loads(_reward_file().to_bytes())
    obj["format"] = "rewards_v2"
    with pytest.raises(FileFormatError) as caught:
        RewardFile.from_bytes(canonical_json(obj))
    assert caught.value.problem is FileProblem.UNKNOWN_FORMAT


@pytest.mark.parametrize(
    ("path", "value", "problem"),
    [
        (("owners", 0, "cumulative"), "01500", FileProblem.BAD_FIELD),
        (("owners", 0, "cumulative"), 1500, FileProblem.BAD_FIELD),
        (("owners", 1, "epoch_amount"), "201", FileProblem.SUM_MISMATCH),
        (("totals", "cumulative"), "1", FileProblem.SUM_MISMATCH),
        (("root",), "0x1234", FileProblem.BAD_FIELD),
        (("epoch",), -1, FileProblem.BAD_FIELD),
    ],
)
def test_reward_reader_rejects_bad_field(
    path: tuple[str | int, ...], value: object, problem: FileProblem
) -> None:
    obj = json.loads(_reward_file().to_bytes())
    target = obj
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(FileFormatError) as caught:
        RewardFile.from_bytes(canonical_json(obj))
    assert caught.value.problem is problem


def test_reward_reader_rejects_missing_field() -> None:
    obj = json.loads(_reward_file().to_bytes())
    del obj["owners"][0]["devices"][0]["kind"]
    with pytest.raises(FileFormatError, match=r"owners\[0\].devices\[0\].kind"):
        RewardFile.from_bytes(canonical_json(obj))


def test_reward_check_detects_wrong_root() -> None:
    obj = json.loads(_reward_file().to_bytes())
    obj["owners"][2]["cumulative"] = "51"
    obj["totals"]["cumulative"] = "1951"
    parsed = RewardFile.from_bytes(canonical_json(obj))
    with pytest.raises(FileFormatError) as caught:
        parsed.check()
    assert caught.value.problem is FileProblem.ROOT_MISMATCH


def test_manifest_round_trips_and_hash_is_keccak_of_bytes() -> None:
    manifest = _manifest(root=_reward_file().root)
    data = manifest.to_bytes()
    assert EpochManifest.from_bytes(data) == manifest
    assert manifest.manifest_hash() == keccak256(data)
    obj = json.loads(data)
    assert obj["code_version"] == __version__
    assert obj["inputs"][0] == {
        "name": "inputs/heartbeat.jsonl",
        "sha256": InputFile.of("x", b"abc").sha256,
        "bytes": 3,
    }


def test_manifest_hash_changes_with_any_field() -> None:
    base = _manifest()
    changes = [
        replace(base, snapshot_block=1235),
        replace(base, root=bytes([1]) + bytes(31)),
        replace(base, cumulative_total=1_951),
        replace(base, inputs=base.inputs[:1]),
        replace(base, parameters={"pools": {"heartbeat": 4001}}),
    ]
    hashes = {base.manifest_hash(), *(m.manifest_hash() for m in changes)}
    assert len(hashes) == len(changes) + 1


def test_manifest_rejects_float_parameters() -> None:
    with pytest.raises(FileFormatError) as caught:
        EpochManifest(
            network="n",
            epoch=0,
            inputs=(),
            parameters={"decay": 0.5},
            snapshot_block=0,
            outputs=(),
            root=bytes(32),
            cumulative_total=0,
            emission=0,
        )
    assert caught.value.problem is FileProblem.FLOAT_VALUE


def test_manifest_reader_rejects_unknown_version_and_bad_sha() -> None:
    obj = json.loads(_manifest().to_bytes())
    obj["format"] = "manifest_v9"
    with pytest.raises(FileFormatError):
        EpochManifest.from_bytes(canonical_json(obj))
    obj["format"] = "manifest_v1"
    obj["outputs"][0]["sha256"] = "XYZ"
    with pytest.raises(FileFormatError, match=r"outputs\[0\].sha256"):
        EpochManifest.from_bytes(canonical_json(obj))


def test_reader_rejects_non_json() -> None:
    with pytest.raises(FileFormatError) as caught:
        RewardFile.from_bytes(b"not json")
    assert caught.value.problem is FileProblem.NOT_JSON


def test_a_file_without_owners_carries_the_nonzero_empty_root() -> None:
    # The distributor refuses a zero root: an epoch nobody earned in (a fresh network) must
    # still go on chain, or every later epoch waits behind it for good.
    from opendepin.rewards.merkle import EMPTY_ROOT

    assert bytes(32) != EMPTY_ROOT and len(EMPTY_ROOT) == 32
    empty = RewardFile(network="n", epoch=0, root=EMPTY_ROOT, emission=10, unallocated=10, owners=())
    empty.check()
    assert RewardFile.from_bytes(empty.to_bytes()).root == EMPTY_ROOT
    with pytest.raises(FileFormatError) as info:
        replace(empty, root=bytes(32)).check()
    assert info.value.problem is FileProblem.ROOT_MISMATCH


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=20,
)


def _holds_float(value: object) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_holds_float(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_float(v) for v in value)
    return False


@given(_json_values)
def test_canonical_json_refuses_a_float_anywhere_and_names_where(value: object) -> None:
    if _holds_float(value):
        with pytest.raises(FileFormatError, match=r"(?s)float_value: \$.* is a float") as caught:
            canonical_json({"x": value})
        assert caught.value.problem is FileProblem.FLOAT_VALUE
    else:
        assert json.loads(canonical_json({"x": value})) == json.loads(json.dumps({"x": value}))
