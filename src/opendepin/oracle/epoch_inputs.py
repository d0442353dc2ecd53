"""The snapshot stage's work: freeze everything an epoch's computation reads besides reports.

```
input                          from                                                 file
registry at the close block    DeviceRegistry (RegistryClient.snapshot)             snapshot_v1.json
entropy                        close block hash; per kind entropy window, the last  snapshot_v1.json
                               block at or before each window's start
prior cumulative amounts       previous epoch's rewards_v1.json                     prior_v1.json
kind state before the epoch    previous epoch's kinds/<k>/next_state_v1.json, or    kinds/<k>/state_v1.json
                               the kind's initial state
kind external inputs           Kind.external_inputs (e.g. coverage's denylist)      kinds/<k>/<name>
kind chain inputs              Kind.chain_inputs over the epoch's blocks (e.g.      kinds/<k>/<name>
                               usage's CreditsSpent events), read at the close block
```

After this stage the computation is a pure function of files in the epoch directory
(`oracle.recompute`), which is what lets `depin audit` re-run it. Entropy blocks: when
several kinds ask for windows, the snapshot holds the union of their blocks (keyed by number).

Chain inputs (`ChainInputsKind.chain_inputs`, optional) see a `ChainView`: the chain, the
deployment's contract addresses, and the epoch's block range — from the block after the
previous epoch's close block (found on the chain by the same binary search, so it does not
depend on the previous epoch's files; the deployment's first block for epoch 0) to this
epoch's close block. Their files live beside the external inputs and are read back the same
way (`read_kind_files`), so the manifest lists them and `depin audit` recomputes from them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from opendepin.chain.backend import Chain
from opendepin.chain.blocks import close_block, last_block_at_or_before
from opendepin.epochdir import KINDS_DIR, EpochFile, KindFile, kind_path
from opendepin.errors import StageError
from opendepin.network.settings import Settings
from opendepin.proofs.kind import ChainInputsKind, ChainView, Kind
from opendepin.records import EntropyBlock
from opendepin.rewards import files as reward_files
from opendepin.types import Address

RESERVED_NAMES = frozenset(KindFile)
"""Kind file names the oracle writes itself (an external input may not use them)."""


def read_entropy_blocks(
    chain: Chain, epoch_start_unix: int, epoch_seconds: int, window_seconds: int, close_block: int
) -> dict[int, EntropyBlock]:
    """The epoch's entropy blocks for one window length: per window, the last block at or
    before its start, read at (never beyond) the close block so every oracle gets the same set."""
    out: dict[int, EntropyBlock] = {}
    for start in range(epoch_start_unix, epoch_start_unix + epoch_seconds, window_seconds):
        number = last_block_at_or_before(chain, start, close_block)
        if number not in out:
            out[number] = EntropyBlock(number, chain.block_hash(number), chain.timestamp(number))
    return dict(sorted(out.items()))


def entropy_blocks_for(
    chain: Chain, epoch: int, settings: Settings, kinds: Mapping[str, Kind], close_block: int
) -> dict[int, EntropyBlock]:
    """Union of the entropy blocks every kind's window asks for (empty if none asks)."""
    net = settings.network
    out: dict[int, EntropyBlock] = {}
    for name, kind in sorted(kinds.items()):
        window = kind.entropy_window_seconds(settings.kind_section(name))
        if window is not None:
            out.update(
                read_entropy_blocks(
                    chain, net.epoch_start_unix(epoch), net.epoch_seconds, window, close_block
                )
            )
    return dict(sorted(out.items()))


def prior_cumulative(previous_dir: Path | None) -> dict[Address, int]:
    """Cumulative amounts before an epoch: those published by the previous epoch."""
    if previous_dir is None:
        return {}
    path = previous_dir / EpochFile.REWARDS
    if not path.is_file():
        raise StageError(f"the reward file of epoch {previous_dir.name} is missing")
    return {
        Address(o.account): o.cumulative
        for o in reward_files.RewardFile.from_bytes(path.read_bytes()).owners
    }


def state_before(
    kind: Kind, name: str, previous_dir: Path | None, settings: Settings
) -> bytes | None:
    """A kind's state before an epoch: the previous epoch's next state, else its initial state."""
    if previous_dir is not None:
        path = previous_dir / kind_path(name, KindFile.NEXT_STATE)
        if path.is_file():
            return path.read_bytes()
    return kind.initial_state(settings.kind_section(name))


@dataclass(frozen=True, slots=True)
class KindFiles:
    """A kind's frozen files for one epoch."""

    state: bytes | None
    inputs: Mapping[str, bytes]


def kind_files_for(
    kinds: Mapping[str, Kind], previous_dir: Path | None, settings: Settings
) -> dict[str, KindFiles]:
    """Per kind: the state before the epoch and the external inputs to freeze."""
    out: dict[str, KindFiles] = {}
    for name, kind in sorted(kinds.items()):
        inputs = dict(kind.external_inputs(settings.kind_section(name)))
        for file_name in inputs:
            _check_name(name, file_name, "external input")
        out[name] = KindFiles(state_before(kind, name, previous_dir, settings), inputs)
    return out


def _check_name(kind: str, file_name: str, what: str) -> None:
    if "/" in file_name or file_name.startswith(".") or file_name in RESERVED_NAMES:
        raise StageError(f"kind {kind}: {what} name {file_name!r} is not allowed")


def epoch_block_range(
    chain: Chain, epoch: int, settings: Settings, close: int, first_block: int
) -> tuple[int, int]:
    """[from, to] blocks of an epoch: after the previous epoch's close block (the deployment's
    first block for epoch 0, or when that is later) up to `close`, this epoch's close block."""
    start = first_block
    if epoch > 0:
        start = max(first_block, close_block(chain, settings.network.epoch_end_unix(epoch - 1)) + 1)
    return start, close


def chain_inputs_for(
    kinds: Mapping[str, Kind], settings: Settings, view: ChainView, files: Mapping[str, KindFiles]
) -> dict[str, KindFiles]:
    """`files` with each kind's chain inputs (`ChainInputsKind.chain_inputs`) added to its
    inputs; StageError when a name is reserved or taken by an external input."""
    out = dict(files)
    for name, kind in sorted(kinds.items()):
        if not isinstance(kind, ChainInputsKind):
            continue
        chained = dict(kind.chain_inputs(settings.kind_section(name), view))
        if not chained:
            continue
        before = out.get(name, KindFiles(None, {}))
        for file_name in chained:
            _check_name(name, file_name, "chain input")
            if file_name in before.inputs:
                raise StageError(
                    f"kind {name}: chain input {file_name!r} is also an external input"
                )
        out[name] = KindFiles(before.state, {**before.inputs, **chained})
    return out


def kind_file_paths(name: str, files: KindFiles) -> dict[str, bytes]:
    """Relative path -> bytes of a kind's frozen files."""
    out = {kind_path(name, n): data for n, data in sorted(files.inputs.items())}
    if files.state is not None:
        out[kind_path(name, KindFile.STATE)] = files.state
    return out


def read_kind_files(directory: Path, kinds: Mapping[str, Kind]) -> dict[str, KindFiles]:
    """The kinds' frozen files of an epoch directory (what `kind_files_for` wrote)."""
    out: dict[str, KindFiles] = {}
    for name in sorted(kinds):
        folder = directory / KINDS_DIR / name
        state_path = folder / KindFile.STATE
        inputs: dict[str, bytes] = {}
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if (
                    path.is_file()
                    and path.name not in RESERVED_NAMES
                    and not path.name.startswith(".")
                ):
                    inputs[path.name] = path.read_bytes()
        out[name] = KindFiles(state_path.read_bytes() if state_path.is_file() else None, inputs)
    return out
