"""Published contract artefacts: the network's compiled contracts, shipped as JSON.

Nothing is compiled when opendepin runs. The Vyper contracts (`chain/contracts/*.vy`, on
snekmate) are compiled once, by `python -m opendepin.chain.artifacts build`, into one JSON
file per contract beside this module, plus `index.json`; those files are checked in and
shipped as package data. Every backend deploys and talks to the contracts through them
(`compiled(name)`), and anyone else — ethers, viem, a block explorer's verifier, an auditor —
can use the same files without a Vyper toolchain.

An artefact (`<Name>.json`, format `contract_artifact_v1`) holds

- `abi`, `bytecode` (init code; constructor arguments are appended ABI-encoded) and
  `deployedBytecode` (the runtime code *before* Vyper appends the immutables at deployment,
  so the code at a deployed address is `deployedBytecode` followed by the immutables' words),
  hex with `0x` — the field names ethers' and hardhat's tooling read;
- `compiler`: `{"name": "vyper", "version": "0.4.3+commit…", "settings": {...}}` with every
  setting that changes the output (optimisation, EVM version, codegen pipeline, defaults set
  by pragmas, whether the metadata trailer is appended);
- `sources`: the sha256 of every source file the compile read, keyed by its path inside its
  package (`opendepin/chain/contracts/Token.vy`, `snekmate/auth/ownable.vy`, …), and
  `libraries` with the versions of the packages they came from. Interfaces built into the
  compiler (`ethereum.ercs`) are fixed by the compiler version and not listed;
- `integrity`: Vyper's integrity sum over the same sources (what `vyper -f integrity`
  prints, and what the metadata trailer at the end of `bytecode` carries).

`index.json` (format `contract_artifacts_v1`) lists each contract's file with the sha256 of
its bytes; `load_artifact` refuses a file whose bytes do not match, so an edited artefact is
an error, never a silently different contract. The test suite recompiles every contract
from source and requires the checked-in files to be byte-for-byte what a fresh build writes
(`opendepin.chain.artifacts.build.check`), which is how CI ties the artefacts to the sources.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opendepin.errors import ConfigError

ARTIFACTS_DIR = Path(__file__).parent
"""Where the artefact JSON files live (package data)."""
INDEX_FILE = "index.json"
ARTIFACT_FORMAT = "contract_artifact_v1"
"""`format` of one contract's artefact."""
INDEX_FORMAT = "contract_artifacts_v1"
"""`format` of the index."""
BUILD_COMMAND = "python -m opendepin.chain.artifacts build"
"""How the artefacts are (re)built from the Vyper sources."""


@dataclass(frozen=True, slots=True)
class CompiledContract:
    """One compiled contract: what a backend needs to deploy it and talk to it."""

    name: str
    """Contract name (file stem, e.g. "Token")."""
    abi: tuple[dict[str, Any], ...]
    """The JSON ABI entries as the compiler emitted them."""
    bytecode: bytes
    """Init code (constructor arguments are appended ABI-encoded)."""
    runtime_bytecode: bytes
    """Runtime code as compiled (Vyper appends immutables to it at deployment)."""


@dataclass(frozen=True, slots=True)
class ContractArtifact:
    """One contract's published artefact (see the module docstring for the JSON form)."""

    name: str
    """Contract name, e.g. "RewardDistributor"."""
    source_name: str
    """The contract's own source, as a key of `sources`."""
    abi: tuple[dict[str, Any], ...]
    """JSON ABI."""
    bytecode: bytes
    """Init code."""
    deployed_bytecode: bytes
    """Runtime code before the immutables are appended."""
    compiler_version: str
    """Vyper's long version, e.g. "0.4.3+commit.bff19ea2"."""
    settings: dict[str, Any]
    """Compiler settings that shaped the output."""
    sources: dict[str, str]
    """Package-relative source path -> sha256 hex of its bytes (UTF-8 text as read)."""
    libraries: dict[str, str]
    """Distribution name -> version of the packages sources were read from (snekmate)."""
    integrity: str
    """Vyper's integrity sum over the sources."""

    def compiled(self) -> CompiledContract:
        """What the chain backends deploy and decode with."""
        return CompiledContract(self.name, self.abi, self.bytecode, self.deployed_bytecode)

    def to_json(self) -> dict[str, Any]:
        """The JSON object written as `<name>.json`."""
        return {
            "format": ARTIFACT_FORMAT,
            "contractName": self.name,
            "sourceName": self.source_name,
            "compiler": {"name": "vyper", "version": self.compiler_version, "settings": self.settings},
            "libraries": dict(sorted(self.libraries.items())),
            "sources": {path: {"sha256": digest} for path, digest in sorted(self.sources.items())},
            "integrity": self.integrity,
            "abi": list(self.abi),
            "bytecode": "0x" + self.bytecode.hex(),
            "deployedBytecode": "0x" + self.deployed_bytecode.hex(),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ContractArtifact:
        """Parse an artefact object; ValueError/KeyError/TypeError on a malformed one."""
        if doc.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"format is {doc.get('format')!r}, expected {ARTIFACT_FORMAT!r}")
        compiler = doc["compiler"]
        if compiler["name"] != "vyper":
            raise ValueError(f"compiler is {compiler['name']!r}, expected 'vyper'")
        return cls(
            name=str(doc["contractName"]),
            source_name=str(doc["sourceName"]),
            abi=tuple(dict(entry) for entry in doc["abi"]),
            bytecode=_hex_bytes(doc["bytecode"]),
            deployed_bytecode=_hex_bytes(doc["deployedBytecode"]),
            compiler_version=str(compiler["version"]),
            settings=dict(compiler["settings"]),
            sources={str(p): str(v["sha256"]) for p, v in doc["sources"].items()},
            libraries={str(k): str(v) for k, v in doc["libraries"].items()},
            integrity=str(doc["integrity"]),
        )


def _hex_bytes(text: Any) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x"):
        raise ValueError("bytecode must be a 0x-prefixed hex string")
    return bytes.fromhex(text[2:])


def encode_json(obj: Any) -> bytes:
    """How artefact files are written: 2-space indent, sorted keys, UTF-8, final newline.

    Deterministic, so a fresh build of unchanged sources rewrites identical bytes.
    """
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def sha256_file_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.cache
def _index(directory: Path) -> dict[str, Any]:
    path = directory / INDEX_FILE
    try:
        doc: dict[str, Any] = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot read contract artefact index {path}: {exc}; rebuild with `{BUILD_COMMAND}`"
        ) from exc
    if doc.get("format") != INDEX_FORMAT or not isinstance(doc.get("contracts"), dict):
        raise ConfigError(f"{path} is not a {INDEX_FORMAT} index; rebuild with `{BUILD_COMMAND}`")
    return doc


def artifact_names(directory: Path = ARTIFACTS_DIR) -> list[str]:
    """Names of the contracts with a published artefact, sorted."""
    return sorted(_index(directory)["contracts"])


@functools.cache
def load_artifact(name: str, directory: Path = ARTIFACTS_DIR) -> ContractArtifact:
    """The artefact of contract `name`, checked against the index's sha256.

    ConfigError (one line) for an unknown name — listing the known ones — and for a file
    that is missing, malformed or not the bytes the index records.
    """
    entries = _index(directory)["contracts"]
    entry = entries.get(name)
    if entry is None:
        raise ConfigError(
            f"no contract named {name!r}; known: {', '.join(sorted(entries))}"
        )
    path = directory / str(entry["file"])
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read contract artefact {path}: {exc}") from exc
    if sha256_file_hex(data) != entry["sha256"]:
        raise ConfigError(
            f"{path} does not match the sha256 in {INDEX_FILE}; rebuild with `{BUILD_COMMAND}`"
        )
    try:
        artifact = ContractArtifact.from_json(json.loads(data))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"invalid contract artefact {path}: {exc}") from exc
    if artifact.name != name:
        raise ConfigError(f"{path} holds contract {artifact.name!r}, not {name!r}")
    return artifact


@functools.cache
def compiled(name: str) -> CompiledContract:
    """The packaged contract `name` as the backends use it (loaded from its artefact)."""
    return load_artifact(name).compiled()


__all__ = [
    "ARTIFACTS_DIR",
    "ARTIFACT_FORMAT",
    "BUILD_COMMAND",
    "INDEX_FILE",
    "INDEX_FORMAT",
    "CompiledContract",
    "ContractArtifact",
    "artifact_names",
    "compiled",
    "encode_json",
    "load_artifact",
]
