"""Building the published artefacts from source, and checking them against a fresh build.

`build(directory)` compiles every `chain/contracts/*.vy` (`compiler.compile_package_contract`)
and writes `<Name>.json` plus `index.json`; `check(directory)` compiles again and lists every
way the files in `directory` differ from what that fresh build would write (empty: they are
identical). Both are driven by `python -m opendepin.chain.artifacts build|check`; the test
suite runs `check` on the package's own directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opendepin.chain.artifacts import (
    ARTIFACTS_DIR,
    INDEX_FILE,
    INDEX_FORMAT,
    ContractArtifact,
    encode_json,
    sha256_file_hex,
)
from opendepin.chain.compiler import compile_package_contract, contract_names


@dataclass(frozen=True, slots=True)
class BuiltFiles:
    """What a build writes: file name -> bytes, and the artefacts themselves."""

    files: dict[str, bytes]
    artifacts: dict[str, ContractArtifact]


def fresh_build(names: list[str] | None = None) -> BuiltFiles:
    """Compile `names` (default: every packaged contract) and render their files."""
    wanted = names if names is not None else contract_names()
    artifacts = {name: compile_package_contract(name) for name in wanted}
    files = {f"{name}.json": encode_json(a.to_json()) for name, a in artifacts.items()}
    any_artifact = next(iter(artifacts.values()))
    index: dict[str, Any] = {
        "format": INDEX_FORMAT,
        "compiler": {
            "name": "vyper",
            "version": any_artifact.compiler_version,
            "settings": any_artifact.settings,
        },
        "libraries": any_artifact.libraries,
        "contracts": {
            name: {"file": f"{name}.json", "sha256": sha256_file_hex(files[f"{name}.json"])}
            for name in sorted(artifacts)
        },
    }
    files[INDEX_FILE] = encode_json(index)
    return BuiltFiles(files, artifacts)


def build(directory: Path = ARTIFACTS_DIR) -> list[Path]:
    """Write a fresh build into `directory` (stale `<Name>.json` files of removed contracts
    are deleted); returns the paths written."""
    built = fresh_build()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in sorted(built.files.items()):
        path = directory / name
        tmp = path.with_suffix(".json.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        written.append(path)
    for stale in directory.glob("*.json"):
        if stale.name not in built.files:
            stale.unlink()
    return written


def check(directory: Path = ARTIFACTS_DIR, built: BuiltFiles | None = None) -> list[str]:
    """Every difference between `directory` and a fresh build, one line each (empty: none).

    Names the fields that differ (bytecode, abi, sources, …) so a failing check says what
    changed, not only that the bytes did. `built` reuses a `fresh_build()` already made.
    """
    if built is None:
        built = fresh_build()
    problems: list[str] = []
    present = {p.name for p in directory.glob("*.json")}
    for name in sorted(present - set(built.files)):
        problems.append(f"{name}: not produced by the build (a removed contract?)")
    for name, data in sorted(built.files.items()):
        path = directory / name
        if name not in present:
            problems.append(f"{name}: missing")
            continue
        old = path.read_bytes()
        if old == data:
            continue
        problems.append(f"{name}: differs from a fresh build ({_what_differs(old, data)})")
    return problems


def _what_differs(old: bytes, new: bytes) -> str:
    try:
        before, after = json.loads(old), json.loads(new)
    except ValueError:
        return "not JSON"
    if not isinstance(before, dict):
        return "not a JSON object"
    fields = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    return "fields: " + ", ".join(fields) if fields else "formatting only"
