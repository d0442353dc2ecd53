"""Recovering an epoch this oracle sealed differently from the root the chain settled.

Agreement (`oracle.agreement`) gives honest oracles identical inputs while its synchrony
assumption holds. When it did not — this oracle was cut off during the rounds, or restarted
past their deadlines — it may have sealed a set the others did not, and M other oracles
settled a root it cannot reproduce. It is not stuck: the settled root is the ground truth
(M oracles signed it), so the oracle asks each peer for its decision
(`GET /v1/epochs/{e}/agreement`), fetches the batches it lacks, re-seals exactly that set,
recomputes, and keeps it if — and only if — the root and manifest hash it now computes are
the ones settled (`RootSubmitted` emits the manifest hash: equal roots over different inputs
are a divergence too). Later
epochs it prepared on top of the wrong rewards are reset to be recomputed (their sealed inputs
stay: they do not depend on this epoch). A peer's decision is untrusted input like any other:
bounded, parsed totally, its batches checked against their digests, and in the end judged by
the chain's root alone. A peer that fails to serve (unreachable, unusable decision, batch
not had or not matching its digest) counts as a `recovery` peer error (`oracle.metrics`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

import httpx

from opendepin import jsonlimits
from opendepin.canonical import canonical_json
from opendepin.chain.accounts import AccountLike
from opendepin.errors import DepinError, PeerError
from opendepin.http.client import download_bounded, read_bounded
from opendepin.http.peerauth import signed_headers
from opendepin.oracle.agreement.service import (
    BATCH_PATH,
    DECISION_FILE,
    DECISION_PATH,
    MAX_BATCH_BYTES,
    AgreedSet,
    agreement_dir,
    batch_path,
    parse_agreed,
)
from opendepin.oracle.attestations import AttestationBook, EpochClaim
from opendepin.oracle.metrics import OracleMetrics, PeerErrorKind
from opendepin.oracle.stages import Stage
from opendepin.oracle.sync import MAX_PEER_LINE_BYTES
from opendepin.store.files import atomic_write
from opendepin.store.ledger import StageLedger
from opendepin.types import Address


class Recovering(Protocol):
    """What recovery uses of its oracle's runner."""

    http: httpx.Client
    signer: AccountLike
    ledger: StageLedger
    book: AttestationBook
    metrics: OracleMetrics

    @property
    def peers(self) -> tuple[str, ...]: ...

    @property
    def oracles(self) -> frozenset[Address]: ...

    def epoch_dir(self, epoch: int) -> Path: ...

    def prepare(self, epoch: int) -> EpochClaim: ...

    def reseal(self, epoch: int) -> None: ...

log = logging.getLogger(__name__)

RECOVERY_DEADLINE_SECONDS = 120.0
"""Time one peer gets to serve its decision and the batches this oracle lacks."""


def _fetch_decision(runner: Recovering, peer: str, epoch: int) -> tuple[bytes, AgreedSet] | None:
    url = peer.rstrip("/") + DECISION_PATH.format(epoch=epoch)
    try:
        status, body = read_bounded(
            runner.http, "GET", url, max_bytes=4 << 20, deadline_seconds=30.0,
            headers=signed_headers(runner.signer, "GET", url),
        )
        obj = jsonlimits.loads(body) if status == 200 else None
    except (PeerError, ValueError) as exc:
        runner.metrics.peer_error(PeerErrorKind.RECOVERY)
        log.warning("epoch %d: recovery: %s: %s", epoch, peer, exc)
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("agreement"), dict):
        return None
    data = canonical_json(obj["agreement"])
    agreed = parse_agreed(data, epoch, sorted(runner.oracles))
    if isinstance(agreed, str):
        runner.metrics.peer_error(PeerErrorKind.RECOVERY)
        log.warning("epoch %d: recovery: %s served no usable decision: %s", epoch, peer, agreed)
        return None
    return data, agreed


def _fetch_batches(runner: Recovering, peer: str, epoch: int, agreed: AgreedSet) -> bool:
    directory = runner.epoch_dir(epoch)
    for b in agreed.sealed:
        path = batch_path(directory, b.batch)
        if path.is_file():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        url = peer.rstrip("/") + BATCH_PATH.format(epoch=epoch, batch=b.batch)
        try:
            download_bounded(
                runner.http, url, path, max_bytes=min(MAX_BATCH_BYTES, max(b.size, 1)),
                deadline_seconds=RECOVERY_DEADLINE_SECONDS, headers=signed_headers(runner.signer, "GET", url),
                expect_sha256=b.batch[2:], max_line_bytes=MAX_PEER_LINE_BYTES,
            )
        except PeerError as exc:
            runner.metrics.peer_error(PeerErrorKind.RECOVERY)
            log.warning("epoch %d: recovery: batch %s from %s: %s", epoch, b.batch[:18], peer, exc)
            return False
    return True


def _reset_from(runner: Recovering, epoch: int) -> None:
    """Forget this epoch's seal, compute and sign, and later unsettled epochs' derived stages."""
    runner.ledger.forget(epoch, [Stage.SEAL, Stage.COMPUTE, Stage.SIGN])
    runner.book.forget(epoch)
    later = epoch + 1
    while runner.epoch_dir(later).is_dir() and runner.ledger.done(later, Stage.SUBMIT) is None:
        runner.ledger.forget(later, [Stage.SNAPSHOT, Stage.COMPUTE, Stage.SIGN])
        runner.book.forget(later)
        later += 1


def recover(runner: Recovering, epoch: int, root: bytes, manifest_hash: bytes | None = None) -> EpochClaim | None:
    """Re-seal `epoch` from the first peer decision that reproduces the settled `root` (and
    `manifest_hash`, the settled event's, when known); the new claim, or None if none does."""
    adir = agreement_dir(runner.epoch_dir(epoch))
    ours = adir / DECISION_FILE
    replaced = adir / "agreement_v1.replaced.json"
    if ours.is_file() and not replaced.is_file():
        atomic_write(replaced, ours.read_bytes())
    for peer in runner.peers:
        fetched = _fetch_decision(runner, peer, epoch)
        if fetched is None or not _fetch_batches(runner, peer, epoch, fetched[1]):
            continue
        atomic_write(ours, fetched[0])
        _reset_from(runner, epoch)
        try:
            runner.reseal(epoch)
            claim = runner.prepare(epoch)
        except DepinError as exc:
            log.warning("epoch %d: recovery from %s failed: %s", epoch, peer, exc)
            continue
        if claim.root == root and manifest_hash in (None, claim.manifest_hash):
            log.warning("epoch %d: recovered: re-sealed the set %s agreed on; our root now matches the chain", epoch, peer)
            runner.ledger.put(f"recovered:{epoch}", json.dumps({"from": peer}))
            return claim
        log.warning(
            "epoch %d: recovery: %s's agreed set gives root 0x%s manifest 0x%s, not the settled one",
            epoch, peer, claim.root.hex(), claim.manifest_hash.hex(),
        )
    return None


__all__ = ["recover"]
