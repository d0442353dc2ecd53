"""What the oracle adds around the coverage kind: entropy blocks, history and the denylist.

Proof-of-Coverage needs three inputs besides sealed reports and the registry, and the oracle
freezes each of them in the epoch directory at the snapshot stage, so the computation stays
a pure function of files (and `depin audit` can re-run it):

```
input                      where it comes from                                 file
entropy blocks             per entropy window of the epoch, the last block at   snapshot_v1.json
                           or before the window's start, read at close          (entropy_blocks)
coverage history (before)  previous epoch's history ⊕ its published activity,  coverage_history_v1.json
                           pruned to the longest look-back window
denylist                   `[coverage] denylist_path`, signatures checked       denylist_v1.json
                           against `denylist_signers` (absent: empty, v0)       (only when present)
```

The coverage stage publishes `coverage_v1.json` as an output: this epoch's activity (what
the next epoch's history merges in), the denylist version, and one explanation per device
(units, density scale, shares, every invalid report with its reason). Epoch e+1's history is
`history(e).updated(activity(e)).pruned(start(e+1) − longest window)`, so an auditor holding
both directories can check the chain of histories (`check_history_against_previous`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from opendepin import jsonlimits
from opendepin.chain.backend import Chain
from opendepin.errors import InputError
from opendepin.network.settings import Settings
from opendepin.oracle.epoch_files import atomic_write, canonical_json, read_format_file
from opendepin.proofs.base import EntropyBlock
from opendepin.proofs.coverage import (
    DENYLIST_FILENAME,
    CoverageHistory,
    CoverageModule,
    CoverageResult,
    Denylist,
    parse_denylist,
)
from opendepin.proofs.coverage.params import COVERAGE_KIND, MS_PER_SECOND

COVERAGE_HISTORY_FILE: Final = "coverage_history_v1.json"
"""Input: CoverageHistory as it was BEFORE the epoch."""
COVERAGE_FILE: Final = "coverage_v1.json"
"""Output: the epoch's coverage activity, denylist version and per-device explanations."""
DENYLIST_FILE: Final = DENYLIST_FILENAME
"""Input (when the network has a denylist): the signed denylist the epoch was judged by."""
HISTORY_FORMAT: Final = "coverage_history_v1"
COVERAGE_FORMAT: Final = "coverage_v1"


def uses_coverage(modules: Mapping[str, object]) -> bool:
    """True when the oracle runs the coverage kind."""
    return str(COVERAGE_KIND) in modules


# -- entropy blocks -------------------------------------------------------------------------


def last_block_at_or_before(chain: Chain, unix: int, upper: int) -> int:
    """The last block (≤ `upper`) whose timestamp is ≤ `unix` (0 if none is)."""
    lo, hi = 0, upper
    if chain.timestamp(hi) <= unix:
        return hi
    if chain.timestamp(0) > unix:
        return 0
    while hi - lo > 1:  # invariant: timestamp(lo) <= unix < timestamp(hi)
        mid = (lo + hi) // 2
        if chain.timestamp(mid) <= unix:
            lo = mid
        else:
            hi = mid
    return lo


def read_entropy_blocks(
    chain: Chain, epoch_start_unix: int, epoch_seconds: int, window_seconds: int, close_block: int
) -> dict[int, EntropyBlock]:
    """The epoch's entropy blocks: per window, the last block at or before its start.

    Read at (never beyond) the close block, so every oracle gets the same set. Consecutive
    windows can share a block when the chain was idle; the set is keyed by block number.
    """
    out: dict[int, EntropyBlock] = {}
    for start in range(epoch_start_unix, epoch_start_unix + epoch_seconds, window_seconds):
        number = last_block_at_or_before(chain, start, close_block)
        if number not in out:
            out[number] = EntropyBlock(number, chain.block_hash(number), chain.timestamp(number))
    return dict(sorted(out.items()))


# -- history ----------------------------------------------------------------------------------


def history_to_bytes(epoch: int, history: CoverageHistory) -> bytes:
    """Canonical `coverage_history_v1` bytes: the history before `epoch`."""
    return canonical_json({"format": HISTORY_FORMAT, "epoch": epoch, "history": history.to_obj()})


def read_history(path: Path) -> CoverageHistory:
    """Load a `coverage_history_v1` file."""
    obj = read_format_file(path, HISTORY_FORMAT)
    try:
        return CoverageHistory.from_obj(obj["history"])
    except (KeyError, ValueError) as exc:
        raise InputError(f"{path}: malformed {HISTORY_FORMAT}: {exc}") from exc


def read_activity(path: Path) -> CoverageHistory:
    """The `activity` of a published `coverage_v1` file."""
    obj = read_format_file(path, COVERAGE_FORMAT)
    try:
        return CoverageHistory.from_obj(obj["activity"])
    except (KeyError, ValueError) as exc:
        raise InputError(f"{path}: malformed {COVERAGE_FORMAT}: {exc}") from exc


def lookback_seconds(settings: Settings) -> int:
    """Longest window any coverage rule looks back over (history older than this is dropped)."""
    cov = settings.coverage
    return max(cov.reciprocity_window_seconds, cov.density_window_seconds, cov.beacon_interval_seconds)


def history_before(previous_dir: Path | None, epoch_start_unix: int, settings: Settings) -> CoverageHistory:
    """History before an epoch: the previous epoch's history with its activity merged in.

    `previous_dir` is None for epoch 0. A previous epoch that ran no coverage passes its own
    history on unchanged (or none).
    """
    if previous_dir is None:
        return CoverageHistory()
    history_path = previous_dir / COVERAGE_HISTORY_FILE
    history = read_history(history_path) if history_path.is_file() else CoverageHistory()
    activity_path = previous_dir / COVERAGE_FILE
    if activity_path.is_file():
        history = history.updated(read_activity(activity_path))
    cutoff_ms = (epoch_start_unix - lookback_seconds(settings)) * MS_PER_SECOND
    return history.pruned(cutoff_ms)


# -- denylist -------------------------------------------------------------------------------


def network_denylist(settings: Settings) -> dict[str, Any] | None:
    """The network's signed denylist object (signatures checked), or None if there is none."""
    path_text = settings.coverage.denylist_path
    if not path_text:
        return None
    path = Path(path_text)
    if not path.is_file():
        return None
    try:
        obj: dict[str, Any] = jsonlimits.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read denylist {path}: {exc}") from exc
    parse_denylist(obj, settings.coverage.denylist_signers, settings.coverage.denylist_threshold)
    return obj


def read_epoch_denylist(directory: Path, settings: Settings) -> Denylist:
    """The denylist frozen in an epoch directory (signatures re-checked); empty if none."""
    path = directory / DENYLIST_FILE
    if not path.is_file():
        return Denylist()
    try:
        obj = jsonlimits.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read JSON: {exc}") from exc
    return parse_denylist(obj, settings.coverage.denylist_signers, settings.coverage.denylist_threshold)


def freeze_inputs(
    directory: Path, epoch: int, epoch_start_unix: int, settings: Settings
) -> dict[str, str]:
    """Write the epoch's coverage inputs (history before it, denylist); returns name -> sha256."""
    previous = directory.parent / str(epoch - 1) if epoch > 0 else None
    written = {
        COVERAGE_HISTORY_FILE: atomic_write(
            directory / COVERAGE_HISTORY_FILE,
            history_to_bytes(epoch, history_before(previous, epoch_start_unix, settings)),
        )
    }
    denylist = network_denylist(settings)
    if denylist is not None:
        written[DENYLIST_FILE] = atomic_write(directory / DENYLIST_FILE, canonical_json(denylist))
    return written


def module_for_epoch(directory: Path, settings: Settings) -> CoverageModule:
    """The coverage module bound to the history and denylist frozen in `directory`."""
    path = directory / COVERAGE_HISTORY_FILE
    history = read_history(path) if path.is_file() else CoverageHistory()
    return CoverageModule(history=history, denylist=read_epoch_denylist(directory, settings))


# -- output ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoverageOutput:
    """What the coverage stage publishes for one epoch."""

    epoch: int
    result: CoverageResult

    def to_bytes(self) -> bytes:
        """Canonical `coverage_v1` bytes."""
        return canonical_json(
            {
                "format": COVERAGE_FORMAT,
                "epoch": self.epoch,
                "denylist_version": self.result.denylist_version,
                "activity": self.result.activity.to_obj(),
                "explanations": [e.to_obj() for _, e in sorted(self.result.explanations.items())],
            }
        )


def read_explanations(path: Path) -> dict[str, dict[str, Any]]:
    """Device id -> explanation object of a published `coverage_v1` file."""
    obj = read_format_file(path, COVERAGE_FORMAT)
    return {str(e["device"]): e for e in obj.get("explanations", [])}


def check_history_against_previous(directory: Path, epoch: int, settings: Settings) -> str | None:
    """A problem line if `coverage_history_v1.json` is not what the previous epoch implies."""
    path = directory / COVERAGE_HISTORY_FILE
    previous = directory.parent / str(epoch - 1)
    if epoch == 0 or not path.is_file() or not (previous / COVERAGE_FILE).is_file():
        return None
    start = settings.network.epoch_start_unix(epoch)
    expected = history_to_bytes(epoch, history_before(previous, start, settings))
    if path.read_bytes() != expected:
        return f"{COVERAGE_HISTORY_FILE}: differs from epoch {epoch - 1}'s history and activity"
    return None
