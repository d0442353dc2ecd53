"""Where the explorer's facts come from: published epoch directories, read and never written.

The explorer is given a directory that is either

* one oracle's data directory — it holds `epochs/<n>/…` (and usually the oracle's `index.db`), or
* a `depin demo --dir` directory — one such data directory per oracle (`oracle-0/`, …).

In the second case every oracle published the same epochs (same bytes, same roots); the
first data directory in name order is the *primary* one the pages are built from, and the
others are compared with it (`Network.agreement`). Nothing here imports the oracle: an epoch
is what its files say (`opendepin.epochdir` names them, `docs/formats.md` describes them).

An epoch is listed once its `manifest_v1.json` exists (the manifest is written last, so its
outputs are complete). A published file that does not parse makes that one epoch unreadable
(`EpochUnreadable`, listed on the network page) rather than breaking the explorer. Parsed
epochs are cached and re-read when the manifest file changes.

Who signed an epoch's root, and whether it is settled on chain, is not in the epoch files: it
is in each oracle's stage ledger (the `submit` stage's details). `settlements` reads it from
an SQLite `index.db` opened read-only, and says nothing (None) when there is none.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from opendepin import jsonlimits
from opendepin.canonical import sha256_hex
from opendepin.epochdir import EPOCHS_DIR, INPUTS_DIR, EpochFile
from opendepin.errors import ConfigError, DepinError
from opendepin.explorer.onchain import OnChain
from opendepin.rewards.files import DeviceReward, EpochManifest, OwnerReward, RewardFile
from opendepin.rewards.merkle import RewardTree

MAX_EPOCH: Final = 2**63 - 1
"""Largest epoch number the explorer accepts in a URL (the ledger's BIGINT)."""
LEDGER_FILE: Final = "index.db"
"""The SQLite index and stage ledger an oracle keeps in its data directory (default URL)."""
SUBMITTED: Final = "submitted"
"""The submit stage's state on the oracle that sent the root (its signers went on chain)."""
CACHED_EPOCHS: Final = 32
"""Parsed epochs kept in memory (oldest dropped first)."""


class EpochNotFound(DepinError):
    """No published epoch of that number in the primary data directory."""


class EpochUnreadable(DepinError):
    """An epoch's published files exist but one of them does not parse (the message says which)."""


@dataclass(frozen=True, slots=True)
class Source:
    """One oracle's data directory."""

    name: str
    """Directory name (e.g. `oracle-0`), shown on the pages."""
    data_dir: Path
    """The directory holding `epochs/`."""


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device as the registry snapshot at the epoch's close block has it."""

    device: str
    owner: str
    kind: str
    location: int
    """H3 cell as an integer (0: no location asserted)."""
    active: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    """One invalid verdict of `verdicts_v1.json` (valid ones are only counted there)."""

    kind: str
    device: str
    seq: int
    reason: str
    details: str


@dataclass(frozen=True, slots=True)
class SealedReport:
    """One device-signed report sealed into the epoch's inputs (`inputs/<kind>_v1.*.jsonl`)."""

    kind: str
    seq: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the oracles' stage ledgers say about an epoch's root on chain."""

    signers: tuple[str, ...]
    """Oracle addresses whose signatures went on chain with the root."""
    state: str
    """The submit stage's state, e.g. `submitted` or `settled_by_peer`."""
    tx: str | None
    """Transaction hash of the submission, when recorded."""


@dataclass
class EpochData:
    """Everything the pages need from one published epoch, parsed once.

    Maps are keyed by the lower-cased address, so a lookup does not depend on checksum case.
    """

    epoch: int
    directory: Path
    manifest: EpochManifest
    manifest_sha256: str
    rewards: RewardFile
    snapshot_block: int
    devices: dict[str, DeviceRecord]
    invalid: dict[str, list[Verdict]]
    """Invalid verdicts by device."""
    counts: dict[str, dict[str, int]]
    """Verdicts by reason (`valid` included), per kind."""
    explanations: dict[str, dict[str, dict[str, Any]]]
    """device -> kind -> the kind's explanation object (`explanations_v1`)."""
    owners: dict[str, OwnerReward]
    device_rewards: dict[str, list[DeviceReward]]
    device_owner: dict[str, str]
    """device -> the owner it was paid to (from the reward file)."""
    _reports: dict[str, list[SealedReport]] | None = field(default=None, repr=False)
    _tree: RewardTree | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def token_symbol(self) -> str:
        chain = self.manifest.parameters.get("chain")
        symbol = chain.get("token_symbol") if isinstance(chain, Mapping) else None
        return symbol if isinstance(symbol, str) and symbol else "tokens"

    def amount_of(self, device: str) -> int:
        """Base units the device earned this epoch (all kinds)."""
        return sum(r.amount for r in self.device_rewards.get(device.lower(), ()))

    def tree(self) -> RewardTree:
        """The reward file's Merkle tree (built on first use; the file has owners)."""
        with self._lock:
            if self._tree is None:
                self._tree = self.rewards.tree()
            return self._tree

    def reports_of(self, device: str) -> list[SealedReport]:
        """The device's sealed reports, in sealed order (the inputs are indexed on first use)."""
        with self._lock:
            if self._reports is None:
                self._reports = _index_reports(self.directory, self.manifest)
            return self._reports.get(device.lower(), [])


def _load(path: Path, fmt: str, key: str = "format") -> dict[str, Any]:
    obj = jsonlimits.loads(path.read_bytes())
    if not isinstance(obj, dict) or obj.get(key) != fmt:
        raise ValueError(f"{key} is not {fmt!r}")
    return obj


def _parse_epoch(epoch: int, directory: Path) -> EpochData:
    name = EpochFile.MANIFEST.value
    try:
        raw = (directory / name).read_bytes()
        manifest = EpochManifest.from_bytes(raw)
        name = EpochFile.REWARDS.value
        rewards = RewardFile.from_bytes((directory / name).read_bytes())
        name = EpochFile.SNAPSHOT.value
        snap = _load(directory / name, "snapshot_v1")
        devices = {
            str(d["device"]).lower(): DeviceRecord(
                str(d["device"]), str(d["owner"]), str(d["kind"]), int(d["location"]), bool(d["active"])
            )
            for d in snap["devices"]
        }
        name = EpochFile.VERDICTS.value
        verdicts = _load(directory / name, "verdicts_v1")
        invalid: dict[str, list[Verdict]] = {}
        counts: dict[str, dict[str, int]] = {}
        for kind, entry in sorted(verdicts["kinds"].items()):
            counts[str(kind)] = {str(r): int(n) for r, n in entry["counts"].items()}
            for row in entry["invalid"]:
                v = Verdict(str(kind), str(row["device"]), int(row["seq"]), str(row["reason"]), str(row.get("details", "")))
                invalid.setdefault(v.device.lower(), []).append(v)
        name = EpochFile.EXPLANATIONS.value
        expl = _load(directory / name, "explanations_v1")
        explanations: dict[str, dict[str, dict[str, Any]]] = {}
        for kind, rows in sorted(expl["kinds"].items()):
            for row in rows:
                if not isinstance(row, dict) or not isinstance(row.get("device"), str):
                    raise ValueError(f"kinds.{kind}: an explanation without a device")
                explanations.setdefault(row["device"].lower(), {})[str(kind)] = row
    except (OSError, ValueError, KeyError, TypeError, AttributeError, DepinError) as exc:
        raise EpochUnreadable(f"epoch {epoch}: {name}: {exc}") from exc
    device_rewards: dict[str, list[DeviceReward]] = {}
    device_owner: dict[str, str] = {}
    for owner in rewards.owners:
        for d in owner.devices:
            device_rewards.setdefault(d.device.lower(), []).append(d)
            device_owner[d.device.lower()] = owner.account
    return EpochData(
        epoch=epoch,
        directory=directory,
        manifest=manifest,
        manifest_sha256=sha256_hex(raw),
        rewards=rewards,
        snapshot_block=int(snap.get("block_number", manifest.snapshot_block)),
        devices=devices,
        invalid=invalid,
        counts=counts,
        explanations=explanations,
        owners={o.account.lower(): o for o in rewards.owners},
        device_rewards=device_rewards,
        device_owner=device_owner,
    )


def _index_reports(directory: Path, manifest: EpochManifest) -> dict[str, list[SealedReport]]:
    """device -> its sealed reports, from every sealed `.jsonl` input the manifest lists."""
    out: dict[str, list[SealedReport]] = {}
    for entry in manifest.inputs:
        if not (entry.name.startswith(f"{INPUTS_DIR}/") and entry.name.endswith(".jsonl")):
            continue
        try:
            lines = (directory / entry.name).read_bytes().splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                obj = orjson.loads(line)
                report = SealedReport(str(obj["kind"]), int(obj["seq"]), int(obj["timestampMs"]))
                out.setdefault(str(obj["device"]).lower(), []).append(report)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # not a report line: the audit says so; the page shows what parses
    return out


def discover(root: Path) -> tuple[Source, ...]:
    """The data directories under `root` (itself, or its children that hold `epochs/`)."""
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory")
    if (root / EPOCHS_DIR).is_dir():
        return (Source(root.resolve().name or str(root), root.resolve()),)
    found = tuple(
        Source(p.name, p.resolve())
        for p in sorted(root.iterdir(), key=lambda p: p.name)
        if p.is_dir() and (p / EPOCHS_DIR).is_dir()
    )
    if not found:
        raise ConfigError(
            f"{root} holds no {EPOCHS_DIR}/ directory nor data directories that do: "
            "pass an oracle's data directory or a `depin demo --dir` directory"
        )
    return found


def epoch_numbers(data_dir: Path) -> list[int]:
    """Epochs of a data directory whose manifest is published, ascending."""
    root = data_dir / EPOCHS_DIR
    try:
        names = [p.name for p in root.iterdir() if p.is_dir()]
    except OSError:
        return []
    numbers = [int(n) for n in names if n.isdigit() and str(int(n)) == n and int(n) <= MAX_EPOCH]
    return sorted(n for n in numbers if (root / str(n) / EpochFile.MANIFEST).is_file())


def settlements(data_dir: Path) -> dict[int, Settlement]:
    """Per epoch, the `submit` stage's record in the data directory's SQLite ledger (read-only)."""
    path = data_dir / LEDGER_FILE
    if not path.is_file():
        return {}
    out: dict[int, Settlement] = {}
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0) as conn:
            rows = conn.execute("SELECT epoch, details FROM stage_runs WHERE stage = 'submit'").fetchall()
    except sqlite3.Error:
        return {}
    for epoch, details in rows:
        try:
            obj = orjson.loads(details)
            signers = tuple(str(s) for s in obj.get("signers", ()))
            tx = obj.get("tx")
            out[int(epoch)] = Settlement(signers, str(obj.get("state", "")), tx if isinstance(tx, str) else None)
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
            continue
    return out


class Network:
    """The published epochs under one explorer directory, parsed on demand and cached."""

    def __init__(self, root: Path, onchain: OnChain | None = None) -> None:
        self.root = root
        self.sources = discover(root)
        self.onchain = onchain
        """Where supply, burns, claims and settled roots are read (None: files only)."""
        self._lock = threading.Lock()
        self._cache: dict[int, tuple[tuple[int, int], EpochData]] = {}

    @property
    def primary(self) -> Source:
        return self.sources[0]

    def epoch_numbers(self) -> list[int]:
        return epoch_numbers(self.primary.data_dir)

    def epoch_dir(self, epoch: int) -> Path:
        return self.primary.data_dir / EPOCHS_DIR / str(epoch)

    def epoch(self, epoch: int) -> EpochData:
        """The parsed epoch; EpochNotFound if unpublished, EpochUnreadable if a file is bad."""
        directory = self.epoch_dir(epoch)
        try:
            st = (directory / EpochFile.MANIFEST).stat()
        except OSError as exc:
            raise EpochNotFound(f"no published epoch {epoch}") from exc
        stamp = (st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._cache.get(epoch)
            if hit is not None and hit[0] == stamp:
                return hit[1]
        data = _parse_epoch(epoch, directory)
        with self._lock:
            self._cache[epoch] = (stamp, data)
            while len(self._cache) > CACHED_EPOCHS:
                del self._cache[next(iter(self._cache))]
        return data

    def readable_epochs(self) -> tuple[list[EpochData], list[str]]:
        """Every published epoch that parses, and one line per epoch that does not."""
        good: list[EpochData] = []
        bad: list[str] = []
        for n in self.epoch_numbers():
            try:
                good.append(self.epoch(n))
            except (EpochUnreadable, EpochNotFound) as exc:
                bad.append(str(exc))
        return good, bad

    def settlements(self) -> dict[int, Settlement]:
        """Per epoch, the submitting oracle's record (state `submitted`: the signatures it sent).

        An oracle that saw a peer settle first records `settled_by_peer` with the signatures
        *it* held, which need not be the ones on chain; it is used only when no data
        directory here holds the submitter's record.
        """
        merged: dict[int, Settlement] = {}
        for source in self.sources:
            for epoch, s in settlements(source.data_dir).items():
                old = merged.get(epoch)
                if old is None or (s.state == SUBMITTED and old.state != SUBMITTED):
                    merged[epoch] = s
        return merged

    def agreement(self, epoch: int) -> list[tuple[str, str | None]]:
        """(source, sha256 of its manifest for `epoch`, None if it has none) for every source."""
        out: list[tuple[str, str | None]] = []
        for source in self.sources:
            path = source.data_dir / EPOCHS_DIR / str(epoch) / EpochFile.MANIFEST
            try:
                out.append((source.name, sha256_hex(path.read_bytes())))
            except OSError:
                out.append((source.name, None))
        return out
