"""Published per-epoch files: the reward file (`rewards_v1`) and the epoch manifest (`manifest_v1`).

An epoch is auditable because everything it produced is a versioned file anyone can read
and re-derive (schemas in docs/formats.md):

* **reward file** — per owner: cumulative amount (what the Merkle root commits to), this
  epoch's amount, and the per-device breakdown (device, kind, shares, amount); plus the
  epoch's emission, what stayed unallocated, and totals. `RewardFile.check()` re-derives
  the sums and the Merkle root from the file alone.
* **epoch manifest** — which inputs (name, sha256, size) and parameters produced which
  outputs (name, sha256), at which chain snapshot block, with the root, cumulative total,
  emission and code version. `EpochManifest.manifest_hash()` is keccak256 of the manifest's
  canonical bytes; oracles sign it inside EpochRoot and it goes on chain.

Encoding is canonical JSON: sorted keys, no insignificant whitespace, UTF-8, one trailing
newline, so equal content gives equal bytes (and equal sha256/keccak) on every machine.
Token amounts and shares are decimal strings (JSON numbers lose precision above 2**53 in
most readers); hashes are `0x`-prefixed lower-case hex. Each file names its version in a
`format` field; readers reject unknown versions and malformed fields with `FileFormatError`
(an `InputError`) naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import Any

from opendepin import __version__, jsonlimits
from opendepin.canonical import canonical_json as _canonical_json
from opendepin.canonical import is_plain
from opendepin.canonical import sha256_hex as sha256_hex
from opendepin.crypto import keccak256
from opendepin.errors import InputError
from opendepin.rewards.merkle import EMPTY_ROOT, RewardTree, standard_dump

REWARDS_FORMAT = "rewards_v1"
"""`format` value of the reward file this code writes and reads."""
MANIFEST_FORMAT = "manifest_v1"
"""`format` value of the epoch manifest this code writes and reads."""

_DECIMAL_RE = re.compile(r"0|[1-9][0-9]*")
_HASH32_RE = re.compile(r"0x[0-9a-f]{64}")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


class FileProblem(StrEnum):
    """Why a published file was rejected."""

    NOT_JSON = "not_json"
    UNKNOWN_FORMAT = "unknown_format"
    MISSING_FIELD = "missing_field"
    BAD_FIELD = "bad_field"
    FLOAT_VALUE = "float_value"
    SUM_MISMATCH = "sum_mismatch"
    ROOT_MISMATCH = "root_mismatch"
    OWNER_ORDER = "owner_order"


class FileFormatError(InputError):
    """A published file is malformed or inconsistent; `problem` says how."""

    def __init__(self, problem: FileProblem, message: str) -> None:
        super().__init__(f"{problem.value}: {message}")
        self.problem = problem


def canonical_json(obj: Any) -> bytes:
    """Canonical bytes of a JSON value: sorted keys, no spaces, UTF-8, trailing newline.

    Raises FileFormatError on floats (money and parameters are integers or strings).
    """
    plain = is_plain(obj)
    if not plain:
        _reject_floats(obj, "$")
    return _canonical_json(obj, plain=plain)


def _reject_floats(value: Any, where: str) -> None:
    if isinstance(value, float):
        raise FileFormatError(FileProblem.FLOAT_VALUE, f"{where} is a float; use an int or string")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _reject_floats(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _reject_floats(item, f"{where}[{i}]")


# -- field readers ------------------------------------------------------------------------


def _load(data: bytes, expected_format: str) -> dict[str, Any]:
    try:
        obj = jsonlimits.loads(data)
    except ValueError as exc:
        raise FileFormatError(FileProblem.NOT_JSON, f"not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise FileFormatError(FileProblem.NOT_JSON, "top level is not a JSON object")
    found = obj.get("format")
    if found != expected_format:
        raise FileFormatError(
            FileProblem.UNKNOWN_FORMAT, f"format {found!r} is not {expected_format!r}"
        )
    return obj


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise FileFormatError(FileProblem.MISSING_FIELD, f"{where}.{key} is missing")
    return obj[key]


def _str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = _get(obj, key, where)
    if not isinstance(value, str):
        raise FileFormatError(FileProblem.BAD_FIELD, f"{where}.{key} is not a string")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = _get(obj, key, where)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FileFormatError(FileProblem.BAD_FIELD, f"{where}.{key} is not a non-negative integer")
    return value


def _decimal(obj: Mapping[str, Any], key: str, where: str) -> int:
    value = _str(obj, key, where)
    if not _DECIMAL_RE.fullmatch(value):
        raise FileFormatError(
            FileProblem.BAD_FIELD, f"{where}.{key} is not a canonical decimal string: {value!r}"
        )
    return int(value)


def _hash32(obj: Mapping[str, Any], key: str, where: str) -> bytes:
    value = _str(obj, key, where)
    if not _HASH32_RE.fullmatch(value):
        raise FileFormatError(FileProblem.BAD_FIELD, f"{where}.{key} is not 0x + 64 lower-case hex")
    return bytes.fromhex(value[2:])


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = _get(obj, key, where)
    if not isinstance(value, list):
        raise FileFormatError(FileProblem.BAD_FIELD, f"{where}.{key} is not a list")
    return value


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise FileFormatError(FileProblem.BAD_FIELD, f"{where} is not an object")
    return value


# -- reward file ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceReward:
    """One device's part of its owner's epoch amount."""

    device: str
    """Device id (checksummed address)."""
    kind: str
    """Proof kind the amount was earned in."""
    shares: int
    """The device's shares of the kind's pool (kind-defined scale)."""
    amount: int
    """Base units earned this epoch for this kind."""


@dataclass(frozen=True, slots=True)
class OwnerReward:
    """One owner's line in the reward file."""

    account: str
    """Owner address (checksummed); the Merkle leaf's account."""
    cumulative: int
    """Cumulative base units after this epoch; the Merkle leaf's amount."""
    epoch_amount: int
    """Base units earned this epoch (sum of `devices` amounts)."""
    devices: tuple[DeviceReward, ...] = ()
    """Per-device breakdown of `epoch_amount`, sorted by (device, kind)."""


@dataclass(frozen=True, slots=True)
class RewardFile:
    """Contents of `rewards_v1`: an epoch's rewards and the root committing to them."""

    network: str
    """Network id."""
    epoch: int
    """Epoch number."""
    root: bytes
    """Merkle root (OpenZeppelin standard tree) over (account, cumulative) of all owners."""
    emission: int
    """The epoch's emission, base units."""
    unallocated: int
    """Emission paid to no one this epoch (unassigned pools, rounding, ownerless devices)."""
    owners: tuple[OwnerReward, ...]
    """Every owner with a cumulative amount, sorted by lower-cased account."""

    @property
    def allocated(self) -> int:
        """Sum of this epoch's owner amounts."""
        return sum(owner.epoch_amount for owner in self.owners)

    @property
    def cumulative_total(self) -> int:
        """Sum of all cumulative amounts (the distributor's cumulative total)."""
        return sum(owner.cumulative for owner in self.owners)

    @classmethod
    def build(
        cls,
        *,
        network: str,
        epoch: int,
        emission: int,
        unallocated: int,
        cumulative: Mapping[str, int],
        epoch_amounts: Mapping[str, int],
        devices: Mapping[str, Iterable[tuple[str, str, int, int]]],
    ) -> RewardFile:
        """Assemble a reward file and compute its root.

        `cumulative`: account -> cumulative total after this epoch (every owner ever paid);
        `epoch_amounts`: account -> this epoch's amount; `devices`: account ->
        (device, kind, shares, amount) rows. Raises FileFormatError if the parts do not add up.
        """
        owners = tuple(
            OwnerReward(
                account=account,
                cumulative=total,
                epoch_amount=epoch_amounts.get(account, 0),
                devices=tuple(
                    sorted(
                        (DeviceReward(d, k, s, a) for d, k, s, a in devices.get(account, ())),
                        key=lambda r: (r.device, r.kind),
                    )
                ),
            )
            for account, total in sorted(cumulative.items(), key=lambda kv: (kv[0].lower(), kv[0]))
        )
        stray = set(epoch_amounts) - set(cumulative)
        if stray:
            raise FileFormatError(
                FileProblem.SUM_MISMATCH,
                f"epoch amounts for accounts without totals: {sorted(stray)}",
            )
        tree = RewardTree.build([(o.account, o.cumulative) for o in owners])
        result = cls(
            network=network,
            epoch=epoch,
            root=tree.root,
            emission=emission,
            unallocated=unallocated,
            owners=owners,
        )
        result.check_sums()
        return result

    def tree(self) -> RewardTree:
        """The Merkle tree of this file's (account, cumulative) entries."""
        return RewardTree.build([(o.account, o.cumulative) for o in self.owners])

    def standard_tree_dump(self) -> dict[str, Any]:
        """The file's Merkle tree in OpenZeppelin's `StandardMerkleTree` dump format.

        Values are (account, cumulative) in the file's owner order, so
        `StandardMerkleTree.load(dump)` gives this file's root and every owner's proof. A
        separate publication: the reward file's own bytes are unchanged. FileFormatError
        (ROOT_MISMATCH) if the owners' totals do not give the file's root.
        """
        dump = standard_dump([(o.account, o.cumulative) for o in self.owners])
        if dump["tree"][0] != "0x" + self.root.hex():
            raise FileFormatError(
                FileProblem.ROOT_MISMATCH, "root does not match the owners' totals"
            )
        return dump

    def check_sums(self) -> None:
        """Raise FileFormatError unless owners are sorted and every part adds up."""
        keys = [(o.account.lower(), o.account) for o in self.owners]
        if any(a >= b for a, b in pairwise(keys)):
            raise FileFormatError(FileProblem.OWNER_ORDER, "owners are not sorted by account")
        for owner in self.owners:
            parts = sum(d.amount for d in owner.devices)
            if parts != owner.epoch_amount:
                raise FileFormatError(
                    FileProblem.SUM_MISMATCH,
                    f"{owner.account}: devices sum to {parts}, epoch amount is {owner.epoch_amount}",
                )
            if owner.epoch_amount > owner.cumulative:
                raise FileFormatError(
                    FileProblem.SUM_MISMATCH, f"{owner.account}: epoch amount exceeds cumulative"
                )
        if self.allocated + self.unallocated != self.emission:
            raise FileFormatError(
                FileProblem.SUM_MISMATCH,
                f"allocated {self.allocated} + unallocated {self.unallocated} != emission {self.emission}",
            )

    def check(self) -> None:
        """`check_sums`, and rebuild the Merkle tree to confirm `root`."""
        self.check_sums()
        if not self.owners:
            if self.root != EMPTY_ROOT:
                raise FileFormatError(
                    FileProblem.ROOT_MISMATCH, "a file without owners must carry the empty root"
                )
            return
        if self.tree().root != self.root:
            raise FileFormatError(
                FileProblem.ROOT_MISMATCH, "root does not match the owners' totals"
            )

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this file (before canonical encoding)."""
        return {
            "format": REWARDS_FORMAT,
            "network": self.network,
            "epoch": self.epoch,
            "root": "0x" + self.root.hex(),
            "unallocated": str(self.unallocated),
            "totals": {
                "emission": str(self.emission),
                "allocated": str(self.allocated),
                "cumulative": str(self.cumulative_total),
            },
            "owners": [
                {
                    "account": o.account,
                    "cumulative": str(o.cumulative),
                    "epoch_amount": str(o.epoch_amount),
                    "devices": [
                        {
                            "device": d.device,
                            "kind": d.kind,
                            "shares": str(d.shares),
                            "amount": str(d.amount),
                        }
                        for d in o.devices
                    ],
                }
                for o in self.owners
            ],
        }

    def to_bytes(self) -> bytes:
        """Canonical bytes of the file."""
        return canonical_json(self.to_json())

    @classmethod
    def from_bytes(cls, data: bytes) -> RewardFile:
        """Parse a `rewards_v1` file; checks fields and sums (not the root: see `check`)."""
        obj = _load(data, REWARDS_FORMAT)
        totals = _obj(_get(obj, "totals", "$"), "$.totals")
        owners = []
        for i, raw in enumerate(_list(obj, "owners", "$")):
            where = f"$.owners[{i}]"
            owner = _obj(raw, where)
            devices = []
            for j, raw_device in enumerate(_list(owner, "devices", where)):
                dwhere = f"{where}.devices[{j}]"
                device = _obj(raw_device, dwhere)
                devices.append(
                    DeviceReward(
                        device=_str(device, "device", dwhere),
                        kind=_str(device, "kind", dwhere),
                        shares=_decimal(device, "shares", dwhere),
                        amount=_decimal(device, "amount", dwhere),
                    )
                )
            owners.append(
                OwnerReward(
                    account=_str(owner, "account", where),
                    cumulative=_decimal(owner, "cumulative", where),
                    epoch_amount=_decimal(owner, "epoch_amount", where),
                    devices=tuple(devices),
                )
            )
        result = cls(
            network=_str(obj, "network", "$"),
            epoch=_int(obj, "epoch", "$"),
            root=_hash32(obj, "root", "$"),
            emission=_decimal(totals, "emission", "$.totals"),
            unallocated=_decimal(obj, "unallocated", "$"),
            owners=tuple(owners),
        )
        result.check_sums()
        for key, value in (
            ("allocated", result.allocated),
            ("cumulative", result.cumulative_total),
        ):
            if _decimal(totals, key, "$.totals") != value:
                raise FileFormatError(
                    FileProblem.SUM_MISMATCH, f"$.totals.{key} != sum over owners"
                )
        return result


# -- epoch manifest -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputFile:
    """A file an epoch consumed."""

    name: str
    """Path relative to the epoch directory."""
    sha256: str
    """Lower-case hex sha256 of its bytes."""
    size: int
    """Length in bytes (`bytes` in the JSON)."""

    @classmethod
    def of(cls, name: str, data: bytes) -> InputFile:
        """Describe `data` stored under `name`."""
        return cls(name=name, sha256=sha256_hex(data), size=len(data))


@dataclass(frozen=True, slots=True)
class OutputFile:
    """A file an epoch produced."""

    name: str
    """Path relative to the epoch directory."""
    sha256: str
    """Lower-case hex sha256 of its bytes."""

    @classmethod
    def of(cls, name: str, data: bytes) -> OutputFile:
        """Describe `data` stored under `name`."""
        return cls(name=name, sha256=sha256_hex(data))


@dataclass(frozen=True, slots=True)
class EpochManifest:
    """Contents of `manifest_v1`: what an epoch consumed and produced, and its root."""

    network: str
    """Network id."""
    epoch: int
    """Epoch number."""
    inputs: tuple[InputFile, ...]
    """Consumed files, sorted by name."""
    parameters: Mapping[str, Any]
    """Settings the computation used (JSON object; ints, strings, bools, lists, objects)."""
    snapshot_block: int
    """Chain block whose state (registry, entropy) the epoch read."""
    outputs: tuple[OutputFile, ...]
    """Produced files, sorted by name (the reward file among them)."""
    root: bytes
    """Merkle root of cumulative rewards."""
    cumulative_total: int
    """Sum of cumulative amounts after the epoch, base units."""
    emission: int
    """The epoch's emission, base units."""
    code_version: str = field(default=__version__)
    """opendepin version that computed the epoch."""

    def __post_init__(self) -> None:
        _reject_floats(self.parameters, "$.parameters")

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the manifest (before canonical encoding)."""
        return {
            "format": MANIFEST_FORMAT,
            "network": self.network,
            "epoch": self.epoch,
            "inputs": [
                {"name": f.name, "sha256": f.sha256, "bytes": f.size}
                for f in sorted(self.inputs, key=lambda f: f.name)
            ],
            "parameters": dict(self.parameters),
            "snapshot_block": self.snapshot_block,
            "outputs": [
                {"name": f.name, "sha256": f.sha256}
                for f in sorted(self.outputs, key=lambda f: f.name)
            ],
            "root": "0x" + self.root.hex(),
            "cumulative_total": str(self.cumulative_total),
            "epoch_emission": str(self.emission),
            "code_version": self.code_version,
        }

    def to_bytes(self) -> bytes:
        """Canonical bytes of the manifest (what is written and hashed)."""
        return canonical_json(self.to_json())

    def manifest_hash(self) -> bytes:
        """keccak256 of the canonical bytes: the `manifestHash` oracles sign and the chain stores."""
        return keccak256(self.to_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> EpochManifest:
        """Parse a `manifest_v1` file, raising FileFormatError naming a bad field."""
        obj = _load(data, MANIFEST_FORMAT)
        inputs = []
        for i, raw in enumerate(_list(obj, "inputs", "$")):
            where = f"$.inputs[{i}]"
            entry = _obj(raw, where)
            inputs.append(
                InputFile(
                    name=_str(entry, "name", where),
                    sha256=_sha256(entry, where),
                    size=_int(entry, "bytes", where),
                )
            )
        outputs = []
        for i, raw in enumerate(_list(obj, "outputs", "$")):
            where = f"$.outputs[{i}]"
            entry = _obj(raw, where)
            outputs.append(
                OutputFile(name=_str(entry, "name", where), sha256=_sha256(entry, where))
            )
        parameters = _obj(_get(obj, "parameters", "$"), "$.parameters")
        return cls(
            network=_str(obj, "network", "$"),
            epoch=_int(obj, "epoch", "$"),
            inputs=tuple(inputs),
            parameters=parameters,
            snapshot_block=_int(obj, "snapshot_block", "$"),
            outputs=tuple(outputs),
            root=_hash32(obj, "root", "$"),
            cumulative_total=_decimal(obj, "cumulative_total", "$"),
            emission=_decimal(obj, "epoch_emission", "$"),
            code_version=_str(obj, "code_version", "$"),
        )


def _sha256(entry: Mapping[str, Any], where: str) -> str:
    value = _str(entry, "sha256", where)
    if not _SHA256_RE.fullmatch(value):
        raise FileFormatError(FileProblem.BAD_FIELD, f"{where}.sha256 is not 64 lower-case hex")
    return value


def input_files(files: Sequence[tuple[str, bytes]]) -> tuple[InputFile, ...]:
    """InputFile entries for (name, bytes) pairs, sorted by name."""
    return tuple(sorted((InputFile.of(n, d) for n, d in files), key=lambda f: f.name))
