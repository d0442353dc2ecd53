"""The denylist: device keys and (beaconer, witness) edges the oracles refuse to reward.

Helium's operators complained most about a denylist that was opaque and unaccountable. Ours
is a public, versioned, signed file, `denylist_v1.json`:

```json
{"format": "denylist_v1", "version": 7,
 "entries": [{"key": "0xAb…"}, {"edge": ["0x12…", "0x34…"]}],
 "signatures": [{"signer": "0xOracle…", "signature": "0x…65 bytes…"}]}
```

The oracles sign `keccak256("opendepin:denylist_v1:" ‖ canonical JSON of {"entries", "version"})`
(entries sorted, edges as sorted pairs, so the digest does not depend on how the file was
written) with their secp256k1 keys. `load_denylist` accepts the file only if at least
`threshold` distinct configured signers signed exactly that digest. Every verdict explanation
records the denylist version it was judged against, so an operator can see which list
denied them and when it changed. Edges are undirected: denying (A, B) denies A witnessing B
and B witnessing A.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from opendepin import jsonlimits
from opendepin.crypto import keccak256
from opendepin.errors import InputError, InvalidProof
from opendepin.identity import DeviceKey, checksum, recover_address
from opendepin.types import DeviceId

DENYLIST_FORMAT: Final = "denylist_v1"
DENYLIST_FILENAME: Final = "denylist_v1.json"
DIGEST_DOMAIN: Final = b"opendepin:denylist_v1:"
"""Prefix of the signed digest, so a denylist signature can never be replayed as anything else."""
BAD_DENYLIST_SIGNATURE: Final = "bad_denylist_signature"
"""`InvalidProof.code` when a denylist lacks enough valid signatures."""


def _edge(a: DeviceId, b: DeviceId) -> tuple[DeviceId, DeviceId]:
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True, slots=True)
class Denylist:
    """A verified denylist (or the empty one, version 0)."""

    version: int = 0
    """Monotonic version published by the oracles; 0 means "no denylist"."""
    keys: frozenset[DeviceId] = field(default_factory=frozenset)
    """Denied device ids."""
    edges: frozenset[tuple[DeviceId, DeviceId]] = field(default_factory=frozenset)
    """Denied (beaconer, witness) pairs, each stored as a sorted pair."""

    @classmethod
    def build(
        cls,
        version: int,
        keys: Iterable[str] = (),
        edges: Iterable[tuple[str, str]] = (),
    ) -> Denylist:
        """A denylist from raw addresses (checksummed here; ValueError on a bad address)."""
        return cls(
            version=version,
            keys=frozenset(checksum(k) for k in keys),
            edges=frozenset(_edge(checksum(a), checksum(b)) for a, b in edges),
        )

    def denies_key(self, device: DeviceId) -> bool:
        return device in self.keys

    def denies_edge(self, beaconer: DeviceId, witness: DeviceId) -> bool:
        return bool(self.edges) and _edge(beaconer, witness) in self.edges

    def entries(self) -> list[dict[str, Any]]:
        """Entries in their canonical order (keys, then edges, each sorted)."""
        out: list[dict[str, Any]] = [{"key": k} for k in sorted(self.keys)]
        out.extend({"edge": [a, b]} for a, b in sorted(self.edges))
        return out

    def digest(self) -> bytes:
        """The 32-byte digest signers sign."""
        body = {"entries": self.entries(), "version": self.version}
        return keccak256(
            DIGEST_DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        )


def sign_denylist(denylist: Denylist, signers: Sequence[DeviceKey]) -> dict[str, Any]:
    """The `denylist_v1` JSON object, signed by each of `signers` (secp256k1 keys)."""
    digest = denylist.digest()
    return {
        "format": DENYLIST_FORMAT,
        "version": denylist.version,
        "entries": denylist.entries(),
        "signatures": [
            {"signer": key.device_id, "signature": "0x" + key.sign_digest(digest).hex()}
            for key in signers
        ],
    }


def write_denylist(path: Path, denylist: Denylist, signers: Sequence[DeviceKey]) -> None:
    """Write a signed `denylist_v1.json`."""
    path.write_text(json.dumps(sign_denylist(denylist, signers), indent=2, sort_keys=True) + "\n")


def parse_denylist(obj: Any, signers: Iterable[str], threshold: int) -> Denylist:
    """Check a `denylist_v1` object and its signatures.

    Raises InputError if it is malformed, InvalidProof(`bad_denylist_signature`) if fewer
    than `threshold` distinct members of `signers` signed its digest.
    """
    try:
        if not isinstance(obj, dict) or obj.get("format") != DENYLIST_FORMAT:
            raise ValueError(f"not a {DENYLIST_FORMAT} object")
        version = obj["version"]
        if type(version) is not int or version < 0:
            raise ValueError("'version' must be a non-negative integer")
        keys: list[str] = []
        edges: list[tuple[str, str]] = []
        for entry in obj["entries"]:
            if isinstance(entry, dict) and set(entry) == {"key"}:
                keys.append(entry["key"])
            elif isinstance(entry, dict) and set(entry) == {"edge"} and len(entry["edge"]) == 2:
                edges.append((entry["edge"][0], entry["edge"][1]))
            else:
                raise ValueError(f"entry {entry!r} is neither {{'key'}} nor {{'edge': [a, b]}}")
        denylist = Denylist.build(version, keys, edges)
        signatures = [
            (checksum(s["signer"]), bytes.fromhex(s["signature"].removeprefix("0x")))
            for s in obj["signatures"]
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"malformed {DENYLIST_FORMAT}: {exc}") from exc

    allowed = {checksum(s) for s in signers}
    digest = denylist.digest()
    good: set[DeviceId] = set()
    for claimed, signature in signatures:
        recovered = recover_address(digest, signature)
        if recovered is not None and recovered == claimed and recovered in allowed:
            good.add(recovered)
    if len(good) < threshold:
        raise InvalidProof(
            BAD_DENYLIST_SIGNATURE,
            f"denylist version {denylist.version} has {len(good)} valid signature(s) from "
            f"configured signers, needs {threshold}",
        )
    return denylist


def load_denylist(path: Path, signers: Iterable[str], threshold: int) -> Denylist:
    """Read and verify a `denylist_v1.json` file (see `parse_denylist`)."""
    try:
        obj = jsonlimits.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read denylist {path}: {exc}") from exc
    return parse_denylist(obj, signers, threshold)
