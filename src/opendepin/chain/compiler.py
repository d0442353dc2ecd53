"""Compiling the network's Vyper contracts, once per process, cached on disk.

The contracts in `chain/contracts/*.vy` are compiled with the pinned Vyper (0.4.3) against
the pinned snekmate (0.1.2), found on `sys.path`. Compilation takes seconds per contract,
so the result (ABI, init bytecode, runtime bytecode) is kept twice:

- in memory for the life of the process (every backend and client shares it), and
- on disk as JSON under `<data_dir>/cache/contracts/`, keyed by a sha256 over the Vyper
  version, the snekmate version and the contract's source text plus every other `.vy` file
  beside it (a contract may import its neighbours). A stale key is simply a miss.

The disk cache lives inside the project's data directory, never in the home directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from opendepin.errors import ConfigError

CONTRACTS_DIR = Path(__file__).parent / "contracts"
"""Where the network's Vyper sources live (shipped as package data)."""

DATA_DIR_ENV = "DEPIN_STORE__DATA_DIR"
"""Environment variable naming the data directory (same as the settings' store.data_dir)."""

DEFAULT_DATA_DIR = Path(".data")
CACHE_SUBDIR = Path("cache") / "contracts"


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
    """Code stored at the contract's address after deployment."""


_memory: dict[str, CompiledContract] = {}
_lock = threading.Lock()


def default_cache_dir() -> Path:
    """`<data_dir>/cache/contracts`, with data_dir from DEPIN_STORE__DATA_DIR or `.data`."""
    return Path(os.environ.get(DATA_DIR_ENV, str(DEFAULT_DATA_DIR))) / CACHE_SUBDIR


def contract_names() -> list[str]:
    """Names of the contracts shipped with the package."""
    return sorted(p.stem for p in CONTRACTS_DIR.glob("*.vy"))


def compile_contract(name: str, cache_dir: Path | None = None) -> CompiledContract:
    """Compile `chain/contracts/<name>.vy` (memory cache, then disk cache, then vyper)."""
    path = CONTRACTS_DIR / f"{name}.vy"
    if not path.is_file():
        raise ConfigError(
            f"no contract named {name!r} in {CONTRACTS_DIR}; known: {', '.join(contract_names())}"
        )
    neighbours = sorted(p for p in CONTRACTS_DIR.glob("*.vy") if p != path)
    extra = "".join(p.name + "\0" + p.read_text() for p in neighbours)
    return compile_source(path.read_text(), name, cache_dir=cache_dir, _key_extra=extra, _path=path)


def compile_source(
    source: str,
    name: str,
    *,
    cache_dir: Path | None = None,
    _key_extra: str = "",
    _path: Path | None = None,
) -> CompiledContract:
    """Compile Vyper `source` named `name` (used for tests' throwaway contracts too)."""
    key = _cache_key(source + "\0" + _key_extra, name)
    with _lock:
        hit = _memory.get(key)
        if hit is not None:
            return hit
        directory = cache_dir if cache_dir is not None else default_cache_dir()
        cache_file = directory / f"{name}-{key[:32]}.json"
        compiled = _read_cache(cache_file, name)
        if compiled is None:
            compiled = _compile(source, name, _path)
            _write_cache(cache_file, compiled)
        _memory[key] = compiled
        return compiled


def _cache_key(text: str, name: str) -> str:
    import vyper

    h = hashlib.sha256()
    for part in (vyper.__version__, _snekmate_version(), name, text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def _snekmate_version() -> str:
    try:
        return metadata.version("snekmate")
    except metadata.PackageNotFoundError:  # pragma: no cover - pinned dependency
        return "none"


def _compile(source: str, name: str, path: Path | None) -> CompiledContract:
    import vyper
    from vyper.compiler.input_bundle import FilesystemInputBundle

    search = [CONTRACTS_DIR, *(Path(p) for p in sys.path if p and Path(p).is_dir())]
    out = vyper.compile_code(
        source,
        contract_path=str(path) if path is not None else f"{name}.vy",
        input_bundle=FilesystemInputBundle(search),
        output_formats=["abi", "bytecode", "bytecode_runtime"],
    )
    return CompiledContract(
        name=name,
        abi=tuple(out["abi"]),
        bytecode=bytes.fromhex(out["bytecode"].removeprefix("0x")),
        runtime_bytecode=bytes.fromhex(out["bytecode_runtime"].removeprefix("0x")),
    )


def _read_cache(path: Path, name: str) -> CompiledContract | None:
    try:
        raw = json.loads(path.read_text())
        return CompiledContract(
            name=name,
            abi=tuple(raw["abi"]),
            bytecode=bytes.fromhex(raw["bytecode"]),
            runtime_bytecode=bytes.fromhex(raw["runtime_bytecode"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(path: Path, compiled: CompiledContract) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(
            json.dumps(
                {
                    "abi": list(compiled.abi),
                    "bytecode": compiled.bytecode.hex(),
                    "runtime_bytecode": compiled.runtime_bytecode.hex(),
                }
            )
        )
        tmp.replace(path)
    except OSError:  # a read-only data dir only costs a recompile next time
        pass
