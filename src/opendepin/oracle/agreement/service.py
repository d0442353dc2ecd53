"""Running the agreement rounds for one epoch: files, peers, deadlines.

`step` does as much as it can without waiting and returns the decision once the last round
ended (None before). The runner calls it on every `advance`, so an oracle progresses as its
peers publish, and sequential callers (the demo runs every oracle in one loop) progress too.
State lives in the epoch directory, written before anything is served, so a restarted
oracle resumes the same rounds and never publishes two different records for one round:

```
epochs/<e>/agreement/batches/<sha256>.jsonl   batches: our own, and every one we accepted
epochs/<e>/agreement/round_<r>.json           our signed record for round r (immutable)
epochs/<e>/agreement/state_v1.json            round, accepted chains, who we heard from, start
epochs/<e>/agreement/agreement_v1.json        the decision (canonical; the same at every honest oracle)
epochs/<e>/agreement/agreement_evidence_v1.json   equivocating oracles' origin signatures
```

Round r ends when this oracle holds every oracle's record for it, or at its deadline,
`start + (r + 1) × network.agreement_round_seconds` by this oracle's wall clock, where `start`
is when it first found the epoch's ingest closed. Every peer answer is bounded (record size,
batch size as its chain declares up to `MAX_BATCH_BYTES`, the time left in the round) and a
failure is logged and counted, never raised: a peer that fails is asked again on the next
step until the round ends.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from opendepin import jsonlimits
from opendepin.canonical import canonical_json
from opendepin.chain.accounts import AccountLike
from opendepin.errors import PeerError, StoreError
from opendepin.http.client import download_bounded, read_bounded
from opendepin.http.peerauth import signed_headers
from opendepin.oracle.agreement import delta
from opendepin.oracle.agreement.messages import (
    BATCH_NAME,
    MAX_RECORD_BYTES,
    Domain,
    RoundRecord,
    SignedChain,
    origin_chain,
    parse_record,
)
from opendepin.oracle.agreement.protocol import Decision, Rounds
from opendepin.oracle.sync import MAX_PEER_LINE_BYTES
from opendepin.store.files import atomic_write, fsync_dir
from opendepin.types import Address

log = logging.getLogger(__name__)

AGREEMENT_DIR: Final = "agreement"
STATE_FILE: Final = "state_v1.json"
DECISION_FILE: Final = "agreement_v1.json"
EVIDENCE_FILE: Final = "agreement_evidence_v1.json"
ROUND_PATH: Final = "/v1/epochs/{epoch}/agreement/rounds/{round}"
BATCH_PATH: Final = "/v1/epochs/{epoch}/agreement/batches/{batch}"
DECISION_PATH: Final = "/v1/epochs/{epoch}/agreement"
MAX_BATCH_BYTES: Final = 2 << 30
"""Largest batch fetched from a peer (the chain's declared size is checked against it first).
No line of an accepted batch is longer than `sync.MAX_PEER_LINE_BYTES` (one signed report):
the download refuses it, so every reader of a held batch is bounded per line."""
RECORD_CALL_SECONDS: Final = 5.0
"""Longest single record fetch (records are small); a batch may use what is left of the round."""
STEP_WAIT_SECONDS: Final = 3.0
"""Longest one `step` waits for its concurrent polls before handing back (and asking again)."""


_IN_FLIGHT: set[Path] = set()
"""Batches being downloaded by this process (a poll left running by an earlier step included)."""
_IN_FLIGHT_LOCK = threading.Lock()


def agreement_dir(epoch_dir: Path) -> Path:
    return epoch_dir / AGREEMENT_DIR


def batch_path(epoch_dir: Path, batch: str) -> Path:
    """Where batch `0x<sha256>` is kept (the name is the digest, so it is traversal-safe)."""
    return agreement_dir(epoch_dir) / "batches" / f"{batch[2:]}.jsonl"


def round_path(epoch_dir: Path, round_: int) -> Path:
    return agreement_dir(epoch_dir) / f"round_{round_}.json"


@dataclass(frozen=True, slots=True)
class AgreedBatch:
    origin: str
    batch: str
    reports: int
    size: int


@dataclass(frozen=True, slots=True)
class AgreedSet:
    """The decision as sealing reads it from `agreement_v1.json` (ours, or a peer's when
    recovering): every accepted batch, and the ones whose reports are sealed."""

    epoch: int
    batches: tuple[AgreedBatch, ...]
    sealed: tuple[AgreedBatch, ...]
    equivocators: tuple[str, ...]


def parse_agreed(data: bytes, epoch: int, oracles: Sequence[str] | None = None) -> AgreedSet | str:
    """The `agreement_v1` decision in `data` for `epoch`, or why it is not one (total)."""
    if len(data) > MAX_RECORD_BYTES:
        return "decision too large"
    try:
        obj = jsonlimits.loads(data)
    except ValueError:
        return "decision is not JSON"
    if not isinstance(obj, dict) or obj.get("format") != "agreement_v1" or obj.get("epoch") != epoch:
        return f"not an agreement_v1 decision for epoch {epoch}"
    raw, sealed, equiv = obj.get("batches"), obj.get("sealed"), obj.get("equivocating_oracles")
    if not isinstance(raw, list) or not isinstance(sealed, list) or not isinstance(equiv, list):
        return "batches, sealed and equivocating_oracles must be lists"
    batches: list[AgreedBatch] = []
    for b in raw:
        if not isinstance(b, dict) or set(b) != {"origin", "batch", "reports", "bytes"}:
            return "a batch entry has exactly origin, batch, reports, bytes"
        origin, digest, n, size = b["origin"], b["batch"], b["reports"], b["bytes"]
        if not isinstance(digest, str) or BATCH_NAME.fullmatch(digest) is None or not isinstance(origin, str):
            return "a batch entry names no valid batch or origin"
        if oracles is not None and origin not in oracles:
            return "a batch's origin is not an oracle"
        if type(n) is not int or type(size) is not int or not (n >= 0 and 0 <= size <= MAX_BATCH_BYTES):
            return "a batch's counts are out of range"
        batches.append(AgreedBatch(origin, digest, n, size))
    by_digest = {b.batch: b for b in batches}
    if not all(isinstance(d, str) and d in by_digest for d in sealed):
        return "a sealed batch is not among the batches"
    return AgreedSet(
        epoch, tuple(batches), tuple(by_digest[d] for d in sealed), tuple(str(e) for e in equiv)
    )


def read_agreed(epoch_dir: Path) -> AgreedSet | None:
    """The decision recorded in `epoch_dir` (None before agreement ended, or without peers)."""
    path = agreement_dir(epoch_dir) / DECISION_FILE
    if not path.is_file():
        return None
    agreed = parse_agreed(path.read_bytes(), int(epoch_dir.name))
    if isinstance(agreed, str):
        raise StoreError(f"{path}: {agreed}")
    return agreed


@dataclass
class StepReport:
    """What one `step` did (for the stage's details, logs and `oracle.metrics`)."""

    round: int = 0
    fetched_records: int = 0
    fetched_batches: int = 0
    fetched_bytes: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    peer_errors: int = 0
    """Failed peer calls of either kind (`record_errors` + `batch_errors`)."""
    record_errors: int = 0
    """Round-record fetches that failed (transport, size, deadline)."""
    batch_errors: int = 0
    """Batch downloads that failed (transport, size, deadline)."""
    rounds_ended_early: int = 0
    """Rounds this step ended because every oracle's record was held."""
    rounds_ended_at_deadline: int = 0
    """Rounds this step ended because their deadline passed first."""


class Agreement:
    """One oracle's agreement on one epoch's inputs with its peers."""

    def __init__(
        self,
        *,
        domain: Domain,
        epoch: int,
        epoch_dir: Path,
        oracles: Sequence[Address],
        faulty: int,
        signer: AccountLike,
        peers: Sequence[str],
        http: httpx.Client,
        round_seconds: float,
        own_lines: Callable[[], Iterable[bytes]],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.domain = domain
        self.epoch = epoch
        self.dir = epoch_dir
        self.signer = signer
        self.peers = tuple(p.rstrip("/") for p in peers)
        self.http = http
        self.round_seconds = round_seconds
        self.own_lines = own_lines
        self.clock = clock
        self.rounds = Rounds(domain, epoch, tuple(sorted(oracles)), faulty, Address(signer.address))
        self.start = 0.0
        self.peer_of: dict[str, Address] = {}
        self.report = StepReport()
        self._lock = threading.Lock()
        self._generation = 0
        self._open = -1
        """The poll generation whose results still count (-1: none; see `_poll_all`)."""
        self._held: dict[bytes, bytes] | None = None
        self._held_lock = threading.Lock()

    # -- state ------------------------------------------------------------------------

    def _state_path(self) -> Path:
        return agreement_dir(self.dir) / STATE_FILE

    def _save(self) -> None:
        obj = {
            **self.rounds.to_obj(),
            "epoch": self.epoch,
            "oracles": list(self.rounds.oracles),
            "faulty": self.rounds.faulty,
            "me": self.rounds.me,
            "start": self.start,
        }
        atomic_write(self._state_path(), canonical_json(obj))

    def _begin(self) -> None:
        """Load the state, or start: freeze our batch and publish our round-0 record."""
        path = self._state_path()
        if path.is_file():
            obj = json.loads(path.read_bytes())
            self.rounds.load(obj)
            self.start = float(obj["start"])
            return
        self.start = self.clock()
        batches = agreement_dir(self.dir) / "batches"
        batches.mkdir(parents=True, exist_ok=True)
        tmp = batches / ".own.part"
        digest, size, count = hashlib.sha256(), 0, 0
        with open(tmp, "wb") as fh:
            for line in self.own_lines():
                fh.write(line)
                digest.update(line)
                size += len(line)
                count += 1
        batch = "0x" + digest.hexdigest()
        tmp.replace(batch_path(self.dir, batch))
        fsync_dir(batches)
        chain = origin_chain(self.domain, self.epoch, batch, count, size, self.signer)
        self.rounds.accept(chain, 0, count, size)
        self._publish(0, [chain])
        self.rounds.hear(self.rounds.me, 0)
        self._save()

    def _publish(self, round_: int, chains: Sequence[SignedChain]) -> None:
        path = round_path(self.dir, round_)
        if path.is_file():  # published before a crash: never sign a second record
            return
        record = RoundRecord(self.epoch, round_, self.rounds.me, tuple(chains)).signed(self.domain, self.signer)
        atomic_write(path, record.to_bytes(self.domain))

    # -- the rounds -------------------------------------------------------------------

    def deadline(self, round_: int) -> float:
        return self.start + (round_ + 1) * self.round_seconds

    def step(self) -> Decision | None:
        """Advance as far as possible now; the decision once the last round has ended."""
        self.report = StepReport()
        self._begin()
        while not self.rounds.done:
            q = self.rounds.round
            self.report.round = q
            if not (self.rounds.heard_all(q) or self.clock() >= self.deadline(q)):
                self._poll_all(q)
            if self.rounds.heard_all(q):
                self.report.rounds_ended_early += 1
            elif self.clock() >= self.deadline(q):
                self.report.rounds_ended_at_deadline += 1
            else:
                self._save()
                return None
            self._end_round(q)
        return self._decide()

    def _end_round(self, q: int) -> None:
        if q < self.rounds.last_round:
            relays = [c.extended(self.domain, self.epoch, self.signer) for c in self.rounds.relays(q + 1)]
            self._publish(q + 1, relays)
            self.rounds.hear(self.rounds.me, q + 1)
        self.rounds.round = q + 1
        self._save()

    def _decide(self) -> Decision:
        decision = self.rounds.decide()
        adir = agreement_dir(self.dir)
        atomic_write(adir / EVIDENCE_FILE, canonical_json(decision.evidence(self.domain)))
        atomic_write(adir / DECISION_FILE, canonical_json(decision.summary()))
        return decision

    def _headers(self, url: str) -> dict[str, str]:
        return signed_headers(self.signer, "GET", url)

    def _left(self, q: int) -> float:
        return max(0.05, self.deadline(q) - self.clock())

    def _poll_all(self, q: int) -> None:
        """Ask every peer not yet heard in round q at once, each in its own thread, and wait
        at most `STEP_WAIT_SECONDS`: one slow or dripping peer can never keep this oracle from
        asking the others again within the round. A poll still running when the wait ends is
        left to finish on its own; what it learns is dropped (a batch it downloaded stays on
        disk, checked against its digest, and is found by the next step)."""
        pending = [p for p in self.peers if self.peer_of.get(p) not in self.rounds.heard.get(q, set())]
        if not pending:
            return
        with self._lock:
            self._generation += 1
            self._open = self._generation
        pool = ThreadPoolExecutor(max_workers=len(pending), thread_name_prefix=f"agree-{self.epoch}")
        futures = [pool.submit(self._poll, peer, q, self._generation) for peer in pending]
        wait(futures, timeout=min(self._left(q), STEP_WAIT_SECONDS))
        with self._lock:
            self._open = -1
        pool.shutdown(wait=False, cancel_futures=True)

    def _poll(self, peer: str, q: int, generation: int) -> None:
        """Ask `peer` for its round-q record once; accept what it relays (fetching batches).
        State changes only under the lock and only while `generation` is the open one."""
        url = peer + ROUND_PATH.format(epoch=self.epoch, round=q)
        try:
            status, body = read_bounded(
                self.http, "GET", url, max_bytes=MAX_RECORD_BYTES,
                deadline_seconds=min(RECORD_CALL_SECONDS, self._left(q)), headers=self._headers(url),
            )
        except PeerError as exc:
            with self._lock:
                self.report.peer_errors += 1
                self.report.record_errors += 1
            log.info("epoch %d round %d: %s", self.epoch, q, exc)
            return
        if status != 200:  # not there yet (404) or refusing us: ask again on the next step
            return
        record = parse_record(body, self.domain, self.epoch, q, self.rounds.oracles)
        with self._lock:
            if isinstance(record, str):
                self.report.refused[record] += 1
                log.warning("epoch %d round %d: %s served an unusable record: %s", self.epoch, q, peer, record)
                return
            if self._open != generation or record.oracle in self.rounds.heard.get(q, set()) or record.oracle == self.rounds.me:
                return
            self.peer_of[peer] = record.oracle
            self.report.fetched_records += 1
            wanted = []
            for chain in record.chains:
                why = self.rounds.check(chain, q)
                if why is None:
                    wanted.append(chain)
                elif why != "already accepted":
                    self.report.refused[why] += 1
        complete = True
        for chain in wanted:
            fetched = self._fetch(peer, chain, q)
            with self._lock:
                if self._open != generation:
                    return
                if fetched is None:
                    complete = False  # ask this peer again on the next step, until the deadline
                elif self.rounds.check(chain, q) is None:
                    self.rounds.accept(chain, q, *fetched)
        with self._lock:
            if complete and self._open == generation:
                self.rounds.hear(record.oracle, q)

    def _fetch(self, peer: str, chain: SignedChain, q: int) -> tuple[int, int] | None:
        """(lines, bytes) of `chain`'s batch, downloaded from `peer` if not held; None if it
        could not be had (oversize, wrong digest, too slow, refused)."""
        path = batch_path(self.dir, chain.batch)
        if path.is_file():
            data_size = path.stat().st_size
            with open(path, "rb") as fh:
                lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b""))
            return lines, data_size
        if chain.size > MAX_BATCH_BYTES:
            self.report.refused["batch too large"] += 1
            return None
        with _IN_FLIGHT_LOCK:  # one download per batch in this process, whichever step started it
            if path in _IN_FLIGHT:
                return None
            _IN_FLIGHT.add(path)
        try:
            return self._download(peer, chain, q, path)
        finally:
            with _IN_FLIGHT_LOCK:
                _IN_FLIGHT.discard(path)

    def _held_lines(self) -> dict[bytes, bytes]:
        """sha256 → line over the batches held when first asked (once per step)."""
        with self._held_lock:
            if self._held is None:
                self._held = delta.held_lines(sorted(agreement_dir(self.dir).joinpath("batches").glob("*.jsonl")))
            return self._held

    def _download(self, peer: str, chain: SignedChain, q: int, path: Path) -> tuple[int, int] | None:
        url = peer + BATCH_PATH.format(epoch=self.epoch, batch=chain.batch)
        path.parent.mkdir(parents=True, exist_ok=True)
        if chain.size >= delta.MIN_DELTA_BYTES:
            try:
                held = self._held_lines()
                got = delta.fetch_by_difference(
                    self.http, url, path, chain.batch, chain.size, held,
                    lambda method, u: signed_headers(self.signer, method, u), self._left(q), MAX_PEER_LINE_BYTES,
                )
            except PeerError as exc:
                got = None
                log.info("epoch %d round %d: batch %s by difference from %s: %s", self.epoch, q, chain.batch[:18], peer, exc)
            if got is not None:
                with self._lock:
                    self.report.fetched_batches += 1
                    self.report.fetched_bytes += got[2]
                return got[0], got[1]
        try:
            _, size, lines = download_bounded(
                self.http, url, path, max_bytes=min(MAX_BATCH_BYTES, max(chain.size, 1)),
                deadline_seconds=self._left(q), headers=self._headers(url), expect_sha256=chain.batch[2:],
                max_line_bytes=MAX_PEER_LINE_BYTES,
            )
        except PeerError as exc:
            with self._lock:
                self.report.peer_errors += 1
                self.report.batch_errors += 1
            log.warning("epoch %d round %d: batch %s from %s: %s", self.epoch, q, chain.batch[:18], peer, exc)
            return None
        with self._lock:
            self.report.fetched_batches += 1
            self.report.fetched_bytes += size
        return lines, size


def iter_batch_lines(epoch_dir: Path, batch: str) -> Iterable[bytes]:
    """The lines (without newline) of a held batch."""
    with open(batch_path(epoch_dir, batch), "rb") as fh:
        for line in fh:
            line = line.rstrip(b"\n")
            if line:
                yield line


__all__ = [
    "AGREEMENT_DIR",
    "BATCH_PATH",
    "DECISION_FILE",
    "DECISION_PATH",
    "EVIDENCE_FILE",
    "ROUND_PATH",
    "AgreedBatch",
    "AgreedSet",
    "Agreement",
    "StepReport",
    "agreement_dir",
    "batch_path",
    "iter_batch_lines",
    "parse_agreed",
    "read_agreed",
    "round_path",
]
