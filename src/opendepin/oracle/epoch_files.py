"""Reading and writing the oracle's own epoch files: snapshot, prior totals, verdicts.

The names of every file of an epoch directory are in `opendepin.epochdir` (one enum). Every
file is
canonical JSON (`opendepin.canonical`), written through `store.files.atomic_write`
(temporary file, fsync, rename), so a crash never leaves half a file that a restarted
stage could mistake for its output.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from opendepin import jsonlimits
from opendepin.canonical import canonical_json as canonical_json
from opendepin.canonical import sha256_hex as sha256_hex
from opendepin.errors import InputError
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock
from opendepin.store.files import atomic_write as atomic_write
from opendepin.types import Address, DeviceId


def read_format_file(path: Path, version_key: str) -> dict[str, Any]:
    """A published JSON file whose `format` must be `version_key` (InputError otherwise)."""
    try:
        obj = jsonlimits.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read JSON: {exc}") from exc
    if not isinstance(obj, dict) or obj.get("format") != version_key:
        raise InputError(f"{path}: not a {version_key} file")
    return obj


def snapshot_to_bytes(snapshot: ChainSnapshot) -> bytes:
    """Canonical `snapshot_v1` bytes of a chain snapshot."""
    return canonical_json(
        {
            "format": "snapshot_v1",
            "block_number": snapshot.block_number,
            "entropy": "0x" + snapshot.entropy.hex(),
            "devices": [
                {
                    "device": r.device,
                    "owner": r.owner,
                    "kind": r.kind,
                    "location": str(r.location),
                    "active": r.active,
                }
                for _, r in sorted(snapshot.devices.items())
            ],
            "entropy_blocks": [
                {"number": b.number, "hash": "0x" + b.hash.hex(), "timestamp": b.timestamp}
                for _, b in sorted(snapshot.entropy_blocks.items())
            ],
        }
    )


def read_snapshot(path: Path) -> ChainSnapshot:
    """Load a `snapshot_v1` file; raises InputError if it is not one."""
    obj = read_format_file(path, "snapshot_v1")
    try:
        # Positional, without the NewType calls (each a Python call; a registry has 100,000s).
        devices: dict[DeviceId, DeviceRecord] = {}
        for d in obj["devices"]:
            device = d["device"]
            devices[device] = DeviceRecord(
                device, d["owner"], str(d["kind"]), int(d["location"]), bool(d["active"])
            )
        blocks = [
            EntropyBlock(int(b["number"]), bytes.fromhex(str(b["hash"])[2:]), int(b["timestamp"]))
            for b in obj.get("entropy_blocks", [])
        ]
        return ChainSnapshot(
            block_number=int(obj["block_number"]),
            entropy=bytes.fromhex(str(obj["entropy"])[2:]),
            devices=devices,
            entropy_blocks={b.number: b for b in blocks},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{path}: malformed snapshot_v1: {exc}") from exc


def prior_to_bytes(epoch: int, cumulative: Mapping[Address, int]) -> bytes:
    """Canonical `prior_v1` bytes: cumulative amounts per owner before `epoch`."""
    return canonical_json(
        {
            "format": "prior_v1",
            "epoch": epoch,
            "cumulative": {a: str(v) for a, v in sorted(cumulative.items())},
        }
    )


def read_prior(path: Path) -> dict[Address, int]:
    """Load a `prior_v1` file's cumulative amounts."""
    obj = read_format_file(path, "prior_v1")
    try:
        return {Address(a): int(v) for a, v in obj["cumulative"].items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: malformed prior_v1: {exc}") from exc


def verdicts_to_bytes(
    epoch: int,
    invalid: Mapping[str, list[dict[str, Any]]],
    counts: Mapping[str, Mapping[str, int]],
    notes: Mapping[str, Mapping[str, Any]] | None = None,
) -> bytes:
    """Canonical `verdicts_v1` bytes: per kind, every invalid verdict and counts by reason.

    `notes` adds kind-specific fields to a kind's entry (coverage: `denylist_version`).
    """
    extra = notes or {}
    return canonical_json(
        {
            "format": "verdicts_v1",
            "epoch": epoch,
            "kinds": {
                k: {
                    **extra.get(k, {}),
                    "invalid": invalid.get(k, []),
                    "counts": dict(sorted(counts.get(k, {}).items())),
                }
                for k in sorted(set(invalid) | set(counts))
            },
        }
    )


def read_verdicts(path: Path) -> dict[str, Any]:
    """Load a `verdicts_v1` file (as plain JSON)."""
    return read_format_file(path, "verdicts_v1")
