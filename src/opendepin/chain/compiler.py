"""Compiling Vyper: the build of the published artefacts, and throwaway test contracts.

opendepin never compiles its own contracts at run time: backends load the checked-in
artefacts (`opendepin.chain.artifacts`). This module is what builds them and what the test
suite uses to check them against a fresh compile:

- `compile_package_contract(name)` compiles `chain/contracts/<name>.vy` with the pinned
  Vyper (0.4.3) and settings (`COMPILER_SETTINGS`: optimise for gas, EVM version prague —
  the compiler's own defaults, written down so a later default cannot change the build),
  resolving `import snekmate…` on `sys.path` (the pinned snekmate 0.1.2), and records the
  sha256 of every source file the compile read. It is never cached: it is the reference the
  artefacts are checked against.
- `compile_source(source, name)` compiles a contract given as text (the tests' small
  backend-exercise contracts), memoised per process.

Importing this module does not import Vyper; the first compile does.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from opendepin.chain.artifacts import CompiledContract, ContractArtifact
from opendepin.errors import ConfigError

CONTRACTS_DIR = Path(__file__).parent / "contracts"
"""Where the network's Vyper sources live (shipped as package data)."""
CONTRACTS_PACKAGE_PATH = "opendepin/chain/contracts"
"""The contracts' directory as a package path: the prefix of their `sources` keys."""

OPTIMIZE = "gas"
EVM_VERSION = "prague"
COMPILER_SETTINGS: dict[str, Any] = {"optimize": OPTIMIZE, "evmVersion": EVM_VERSION}
"""The settings the artefacts are built with (recorded in each, with the pragma-set ones)."""
LIBRARY_DISTRIBUTIONS = ("snekmate",)
"""Packages whose modules the contracts import; their versions go into the artefacts."""

__all__ = [
    "COMPILER_SETTINGS",
    "CONTRACTS_DIR",
    "CompiledContract",
    "compile_package_contract",
    "compile_source",
    "contract_names",
]

_memory: dict[tuple[str, str], CompiledContract] = {}
_lock = threading.Lock()


def contract_names() -> list[str]:
    """Names of the contract sources shipped with the package."""
    return sorted(p.stem for p in CONTRACTS_DIR.glob("*.vy"))


def compile_package_contract(name: str) -> ContractArtifact:
    """Compile `chain/contracts/<name>.vy` fresh into the artefact it should publish."""
    path = CONTRACTS_DIR / f"{name}.vy"
    if not path.is_file():
        raise ConfigError(
            f"no contract source named {name!r} in {CONTRACTS_DIR}; known: {', '.join(contract_names())}"
        )
    data, outputs = _compile_file(path.resolve())
    from vyper.utils import get_long_version

    search = _search_paths()
    sources: dict[str, str] = {}
    inputs: Iterable[Any] = [*data.resolved_imports.compiler_inputs, data.file_input]
    for inp in inputs:
        if inp.from_builtin:  # interfaces inside the compiler: fixed by its version
            continue
        sources[_package_path(Path(inp.resolved_path), search)] = inp.sha256sum
    return ContractArtifact(
        name=name,
        source_name=f"{CONTRACTS_PACKAGE_PATH}/{name}.vy",
        abi=tuple(outputs["abi"]),
        bytecode=_hex(outputs["bytecode"]),
        deployed_bytecode=_hex(outputs["bytecode_runtime"]),
        compiler_version=get_long_version(),
        settings=_settings_record(data.settings),
        sources=sources,
        libraries={dist: _version(dist) for dist in LIBRARY_DISTRIBUTIONS},
        integrity=str(outputs["integrity"]),
    )


def compile_source(source: str, name: str) -> CompiledContract:
    """Compile Vyper `source` named `name` (the tests' throwaway contracts); memoised."""
    key = (name, source)
    with _lock:
        hit = _memory.get(key)
        if hit is not None:
            return hit
        import vyper

        out = vyper.compile_code(
            source,
            contract_path=f"{name}.vy",
            output_formats=["abi", "bytecode", "bytecode_runtime"],
        )
        compiled = CompiledContract(
            name=name,
            abi=tuple(out["abi"]),
            bytecode=_hex(out["bytecode"]),
            runtime_bytecode=_hex(out["bytecode_runtime"]),
        )
        _memory[key] = compiled
        return compiled


# -- internals ------------------------------------------------------------------------------


def _search_paths() -> list[Path]:
    """Where imports resolve: the contracts' own directory, then `sys.path`."""
    return [CONTRACTS_DIR.resolve(), *(Path(p).resolve() for p in sys.path if p and Path(p).is_dir())]


def _compile_file(path: Path) -> tuple[Any, dict[str, Any]]:
    from vyper.compiler import outputs_from_compiler_data
    from vyper.compiler.input_bundle import FilesystemInputBundle
    from vyper.compiler.phases import CompilerData
    from vyper.compiler.settings import OptimizationLevel, Settings

    bundle = FilesystemInputBundle(_search_paths())
    settings = Settings(optimize=OptimizationLevel.from_string(OPTIMIZE), evm_version=EVM_VERSION)
    data = CompilerData(bundle.load_file(path), bundle, settings=settings)
    outputs = outputs_from_compiler_data(
        data, output_formats=["abi", "bytecode", "bytecode_runtime", "integrity"]
    )
    return data, outputs


def _package_path(resolved: Path, search: list[Path]) -> str:
    """`resolved` relative to the search path it came from, `/`-separated."""
    contracts = CONTRACTS_DIR.resolve()
    if resolved.is_relative_to(contracts):
        return f"{CONTRACTS_PACKAGE_PATH}/{resolved.relative_to(contracts).as_posix()}"
    bases = [s for s in search if resolved.is_relative_to(s)]
    if not bases:  # pragma: no cover - vyper only resolves inside the search paths
        raise ConfigError(f"source {resolved} is outside every search path")
    return resolved.relative_to(max(bases, key=lambda p: len(p.parts))).as_posix()


def _settings_record(settings: Any) -> dict[str, Any]:
    """The effective settings (requested plus pragma-set), defaults spelled out."""
    return {
        **COMPILER_SETTINGS,
        "evmVersion": settings.evm_version or EVM_VERSION,
        "optimize": str(settings.optimize),
        "experimentalCodegen": bool(settings.experimental_codegen),
        "enableDecimals": bool(settings.get_enable_decimals()),
        "nonreentrancyByDefault": bool(settings.nonreentrancy_by_default),
        "bytecodeMetadata": True,
    }


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:  # pragma: no cover - pinned dependency
        return "none"
