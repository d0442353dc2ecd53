"""Recomputing an epoch purely from the files in its directory (the runner and `depin audit`).

The compute stage and an auditor call the same function on the same files, so what the
oracles publish is exactly what anyone re-running the epoch gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from opendepin import jsonlimits
from opendepin.epochdir import INPUTS_DIR, EpochFile
from opendepin.network.settings import Settings
from opendepin.oracle.compute import EpochComputation, compute_epoch
from opendepin.oracle.epoch_files import read_prior, read_snapshot
from opendepin.oracle.epoch_inputs import read_kind_files
from opendepin.proofs.kind import Kind
from opendepin.records import ChainSnapshot, IngestedReport
from opendepin.store.sealing import read_equivocations, read_sealed_reports
from opendepin.types import Epoch


@dataclass(frozen=True, slots=True)
class Recomputed:
    """An epoch recomputed from its files."""

    computation: EpochComputation
    snapshot: ChainSnapshot


def epoch_of(directory: Path) -> Epoch:
    """The epoch number of an epoch directory (its name, else its prior file's)."""
    if directory.name.isdigit():
        return Epoch(int(directory.name))
    obj = jsonlimits.loads((directory / EpochFile.PRIOR).read_bytes())
    return Epoch(int(obj["epoch"]))


def recompute_epoch(directory: Path, settings: Settings, kinds: Mapping[str, Kind]) -> Recomputed:
    """Recompute an epoch from `directory` with `settings` and `kinds`."""
    snapshot = read_snapshot(directory / EpochFile.SNAPSHOT)
    prior = read_prior(directory / EpochFile.PRIOR)
    sealed = read_sealed_reports(directory / INPUTS_DIR)
    reports: dict[str, list[IngestedReport]] = {str(k): v for k, v in sealed.items()}
    files = read_kind_files(directory, kinds)
    computation = compute_epoch(
        epoch_of(directory),
        reports,
        snapshot,
        settings,
        kinds,
        prior,
        states={k: f.state for k, f in files.items()},
        kind_inputs={k: f.inputs for k, f in files.items()},
        equivocations=read_equivocations(directory / INPUTS_DIR),
    )
    return Recomputed(computation, snapshot)


def recompute(
    directory: Path, settings: Settings, kinds: Mapping[str, Kind]
) -> tuple[EpochComputation, ChainSnapshot]:
    """`recompute_epoch` as (computation, snapshot)."""
    again = recompute_epoch(directory, settings, kinds)
    return again.computation, again.snapshot
