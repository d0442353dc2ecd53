"""Oracle signatures over an epoch's root, and their exchange between oracles.

Each oracle computes an epoch on its own and signs the EIP-712 message
`EpochRoot(epoch, root, cumulativeTotal, manifestHash)` (the digest comes from
`DistributorClient.epoch_root_digest`). The RewardDistributor accepts a root only with M
distinct oracle signatures, so the oracles must exchange them:

```
oracle A ── POST /v1/attestations {claim, signer, signature} ──▶ oracle B
             B accepts it only if the signature recovers to `signer`, `signer` is one of the
             configured oracles, and the claim equals B's OWN claim for that epoch
oracle A ◀── GET /v1/attestations/{epoch} ── whatever signatures B holds (A re-checks them)
```

A peer never trusts another peer's word: every signature it holds was recovered and
matched against the claim it computed itself. The POSTed body is read strictly
(`parse_posted`: exactly the six fields of `AttestationIn`, hex as its schema says), so the
published OpenAPI schema is exactly what a peer accepts. Whichever oracle first holds M signatures
submits; the others see `next_epoch` advance and stop.

`AttestationBook` is one oracle's memory of claims and signatures (thread-safe, never
shared between oracles); `attestation_router` serves it over HTTP; `exchange` pushes our
signature to peers and pulls theirs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from opendepin import jsonlimits
from opendepin.errors import PeerError, Rejected
from opendepin.http.client import read_bounded
from opendepin.http.problems import (
    BODY_TOO_LARGE,
    INVALID_REQUEST,
    NOT_JSON,
    ProblemType,
    openapi_responses,
    problem_response,
)
from opendepin.http.schema import (
    DECIMAL_PATTERN,
    HASH32_PATTERN,
    INT64_LIMIT,
    SIGNATURE65_PATTERN,
    UINT256_LIMIT,
    ChecksumAddress,
    Hash32,
    Hash32Out,
    Signature65,
    Signature65Out,
    Uint256Decimal,
)
from opendepin.http.schema import (
    Address as AddressIn,
)
from opendepin.identity.address import checksum
from opendepin.identity.signatures import SIGNATURE_BYTES, recover_address
from opendepin.types import Address

PEER_TIMEOUT_SECONDS = 5.0
"""How long one HTTP call to a peer oracle may take before we move on."""


class AttestationReason(StrEnum):
    """Why a peer's attestation was refused (stable values, sent over HTTP)."""

    MALFORMED = "malformed"
    """The request body is not a well-formed attestation."""
    NOT_READY = "not_ready"
    """We have not computed this epoch yet; the peer should retry later."""
    WRONG_CLAIM = "wrong_claim"
    """The signed (root, cumulative total, manifest hash) differs from ours."""
    BAD_SIGNATURE = "bad_signature"
    """The signature cannot be recovered, or recovers to another address than `signer`."""
    NOT_AN_ORACLE = "not_an_oracle"
    """The signer is not one of the configured oracles."""

    def problem(self, status: int) -> ProblemType:
        """The problem type answering with this reason (`urn:opendepin:attestation:<reason>`)."""
        return ProblemType(self.value, self.value, status, "attestation")


class AttestationRejected(Rejected):
    """A peer's attestation was refused; `code` is an AttestationReason value."""

    def __init__(self, reason: AttestationReason, message: str) -> None:
        super().__init__(reason.value, message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EpochClaim:
    """What the oracles sign for one epoch (the fields of EIP-712 `EpochRoot`)."""

    epoch: int
    """Epoch number."""
    root: bytes
    """32-byte Merkle root over (owner, cumulative amount)."""
    cumulative_total: int
    """Sum of all cumulative amounts in the tree, base units."""
    manifest_hash: bytes
    """32-byte keccak256 of the epoch manifest's canonical bytes."""

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "root": "0x" + self.root.hex(),
            "cumulative_total": str(self.cumulative_total),
            "manifest_hash": "0x" + self.manifest_hash.hex(),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> EpochClaim:
        """Parse; raises AttestationRejected(MALFORMED) on any problem."""
        try:
            if not isinstance(obj, dict):
                raise TypeError("a claim is a JSON object")
            claim = cls(
                epoch=_uint(obj["epoch"], MAX_EPOCH),
                root=_hex32(obj["root"]),
                cumulative_total=_uint(obj["cumulative_total"], MAX_UINT256),
                manifest_hash=_hex32(obj["manifest_hash"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AttestationRejected(AttestationReason.MALFORMED, f"bad claim: {exc}") from exc
        if claim.epoch < 0 or claim.cumulative_total < 0:
            raise AttestationRejected(AttestationReason.MALFORMED, "negative epoch or total")
        return claim


@dataclass(frozen=True, slots=True)
class Attestation:
    """One oracle's signature over one epoch claim."""

    claim: EpochClaim
    """The signed claim."""
    signer: Address
    """The oracle address the signature recovers to."""
    signature: bytes
    """65-byte r‖s‖v signature over the claim's EIP-712 digest."""

    def to_json(self) -> dict[str, Any]:
        return {**self.claim.to_json(), "signer": self.signer, "signature": "0x" + self.signature.hex()}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Attestation:
        """Parse; raises AttestationRejected(MALFORMED) on any problem."""
        claim = EpochClaim.from_json(obj)
        try:
            if not isinstance(obj["signer"], str) or not isinstance(obj["signature"], str):
                raise TypeError("signer and signature are strings")
            signer = Address(checksum(obj["signer"]))
            signature = bytes.fromhex(_strip0x(obj["signature"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AttestationRejected(AttestationReason.MALFORMED, f"bad signer: {exc}") from exc
        if len(signature) != SIGNATURE_BYTES:
            raise AttestationRejected(AttestationReason.MALFORMED, "signature must be 65 bytes")
        return cls(claim=claim, signer=signer, signature=signature)


MAX_EPOCH = 2**63 - 1
"""Largest epoch number a claim may carry (it is stored in a signed 64-bit column)."""
MAX_UINT256 = 2**256 - 1
MAX_ATTESTATIONS_BYTES = 1 << 20
"""Largest `GET /v1/attestations/{epoch}` answer read from a peer."""
PEER_DEADLINE_SECONDS = 10.0
"""Total time one attestation request to a peer may take."""

DigestFn = Callable[[EpochClaim], bytes]
"""Maps a claim to the 32-byte EIP-712 digest the distributor checks."""


class AttestationBook:
    """One oracle's claims and the verified signatures it holds, per epoch."""

    def __init__(self, oracles: Iterable[str], digest: DigestFn) -> None:
        self._oracles = frozenset(Address(checksum(a)) for a in oracles)
        self._digest = digest
        self._claims: dict[int, EpochClaim] = {}
        self._sigs: dict[int, dict[Address, bytes]] = {}
        self._lock = threading.Lock()

    @property
    def oracles(self) -> frozenset[Address]:
        return self._oracles

    def set_own(self, attestation: Attestation) -> None:
        """Record our own claim and signature for an epoch (checked like any other)."""
        with self._lock:
            existing = self._claims.get(attestation.claim.epoch)
            if existing is not None and existing != attestation.claim:
                raise AttestationRejected(
                    AttestationReason.WRONG_CLAIM, "our own claim for this epoch changed"
                )
            self._claims[attestation.claim.epoch] = attestation.claim
        self.accept(attestation)

    def claim(self, epoch: int) -> EpochClaim | None:
        with self._lock:
            return self._claims.get(epoch)

    def forget(self, epoch: int) -> None:
        """Drop our claim and every signature held for `epoch` (we are re-sealing it)."""
        with self._lock:
            self._claims.pop(epoch, None)
            self._sigs.pop(epoch, None)

    def accept(self, attestation: Attestation) -> None:
        """Keep a signature after checking it; raises AttestationRejected with the reason."""
        claim = attestation.claim
        with self._lock:
            own = self._claims.get(claim.epoch)
        if own is None:
            raise AttestationRejected(
                AttestationReason.NOT_READY, f"epoch {claim.epoch} not computed here yet"
            )
        if own != claim:
            raise AttestationRejected(
                AttestationReason.WRONG_CLAIM,
                f"epoch {claim.epoch}: peer signed root 0x{claim.root.hex()}, "
                f"ours is 0x{own.root.hex()}",
            )
        if attestation.signer not in self._oracles:
            raise AttestationRejected(
                AttestationReason.NOT_AN_ORACLE, f"{attestation.signer} is not an oracle"
            )
        recovered = recover_address(self._digest(claim), attestation.signature)
        if recovered is None or Address(recovered) != attestation.signer:
            raise AttestationRejected(
                AttestationReason.BAD_SIGNATURE,
                f"signature recovers to {recovered}, not {attestation.signer}",
            )
        with self._lock:
            self._sigs.setdefault(claim.epoch, {})[attestation.signer] = attestation.signature

    def collected(self, epoch: int) -> list[Attestation]:
        """Verified signatures for an epoch, sorted by signer address ascending.

        Ascending signer order is what the distributor expects (it enforces distinct
        signers cheaply by requiring strictly increasing recovered addresses).
        """
        with self._lock:
            claim = self._claims.get(epoch)
            sigs = dict(self._sigs.get(epoch, {}))
        if claim is None:
            return []
        return [
            Attestation(claim=claim, signer=s, signature=sigs[s])
            for s in sorted(sigs, key=lambda a: int(a, 16))
        ]


class AttestationIn(BaseModel):
    """The body of `POST /v1/attestations`: one oracle's signature over its epoch claim.

    Schema only: the route reads the body with `parse_posted`, which accepts exactly what
    this schema does, except what a pattern cannot say (an address's EIP-55 checksum, an
    integer above its maximum given as a decimal string, a JSON number such as `1.0` that
    JSON Schema counts as an integer) — those the server refuses as `malformed`.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    epoch: Annotated[int, Field(ge=0, lt=INT64_LIMIT)] | Annotated[str, Field(pattern=DECIMAL_PATTERN)] = Field(
        description="Epoch number, as a JSON integer or a decimal string (at most 2**63 - 1)."
    )
    root: Hash32 = Field(description="Merkle root over (owner, cumulative amount).")
    cumulative_total: (
        Annotated[str, Field(pattern=DECIMAL_PATTERN)] | Annotated[int, Field(ge=0, lt=UINT256_LIMIT)]
    ) = Field(description="Sum of all cumulative amounts, base units: a decimal string (or JSON integer) <= 2**256 - 1.")
    manifest_hash: Hash32 = Field(description="keccak256 of the epoch manifest's canonical bytes.")
    signer: AddressIn = Field(description="The oracle whose key made the signature.")
    signature: Signature65 = Field(description="EIP-712 signature of EpochRoot(epoch, root, cumulativeTotal, manifestHash).")


class AttestationPosted(BaseModel):
    """`POST /v1/attestations` answer (202): the signature was verified and is kept."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["accepted"]
    epoch: int = Field(ge=0, description="Epoch the signature is for.")


class HeldSignature(BaseModel):
    """One verified signature this oracle holds."""

    model_config = ConfigDict(extra="forbid")

    signer: ChecksumAddress
    signature: Signature65Out


class EpochAttestations(BaseModel):
    """`GET /v1/attestations/{epoch}` answer: our claim for the epoch and every signature of it
    we verified (ours included), sorted by signer address ascending."""

    model_config = ConfigDict(extra="forbid")

    epoch: int = Field(ge=0, description="Epoch number.")
    root: Hash32Out = Field(description="Merkle root over (owner, cumulative amount).")
    cumulative_total: Uint256Decimal
    manifest_hash: Hash32Out = Field(description="keccak256 of the epoch manifest's canonical bytes.")
    attestations: list[HeldSignature]


POSTED_FIELDS: Final = frozenset(AttestationIn.model_fields)
"""The fields of a POSTed attestation, every one required, no other allowed."""
_HEX32_POSTED = re.compile(HASH32_PATTERN)
_SIGNATURE_POSTED = re.compile(SIGNATURE65_PATTERN)


def parse_posted(obj: dict[str, Any]) -> Attestation:
    """A POSTed attestation, read as strictly as `AttestationIn` says; AttestationRejected(MALFORMED)
    otherwise. (`Attestation.from_json` alone is lenient: it also reads a peer's GET answer,
    whose entries share the claim's fields.)"""
    if obj.keys() != POSTED_FIELDS:
        missing = sorted(POSTED_FIELDS - obj.keys())
        unknown = sorted(k for k in obj if k not in POSTED_FIELDS)
        raise AttestationRejected(
            AttestationReason.MALFORMED, f"missing fields {missing}, unknown fields {unknown}"
        )
    for name, pattern, what in (
        ("root", _HEX32_POSTED, "0x + 64 hex digits"),
        ("manifest_hash", _HEX32_POSTED, "0x + 64 hex digits"),
        ("signature", _SIGNATURE_POSTED, "0x + 130 hex digits"),
    ):
        value = obj[name]
        if type(value) is not str or pattern.fullmatch(value) is None:
            raise AttestationRejected(AttestationReason.MALFORMED, f"{name} must be {what}")
    return Attestation.from_json(obj)


POST_PROBLEMS = openapi_responses(
    NOT_JSON,
    AttestationReason.NOT_READY.problem(409),
    BODY_TOO_LARGE,
    INVALID_REQUEST,
    *(
        r.problem(422)
        for r in (
            AttestationReason.MALFORMED,
            AttestationReason.WRONG_CLAIM,
            AttestationReason.BAD_SIGNATURE,
            AttestationReason.NOT_AN_ORACLE,
        )
    ),
)
"""The problems `POST /v1/attestations` answers with (400/413 come from `ingest.limits`'s
body guard, 422 invalid-request from a body that is not a JSON object)."""
GET_PROBLEMS = openapi_responses(AttestationReason.NOT_READY.problem(404), INVALID_REQUEST)


def attestation_router(book: AttestationBook) -> APIRouter:
    """FastAPI routes `POST /v1/attestations` and `GET /v1/attestations/{epoch}` over `book`."""
    router = APIRouter(tags=["oracle"])

    @router.post(
        "/v1/attestations",
        summary="Give this oracle a peer's signature over an epoch claim",
        status_code=202,
        response_model=AttestationPosted,
        responses=POST_PROBLEMS,
    )
    def post_attestation(
        body: Annotated[dict[str, Any], WithJsonSchema(AttestationIn.model_json_schema())],
    ) -> JSONResponse:
        try:
            att = parse_posted(body)
            book.accept(att)
        except AttestationRejected as exc:
            status = 409 if exc.reason is AttestationReason.NOT_READY else 422
            return problem_response(exc.reason.problem(status), exc.message)
        return JSONResponse({"status": "accepted", "epoch": att.claim.epoch}, status_code=202)

    @router.get(
        "/v1/attestations/{epoch}",
        summary="The signatures this oracle holds for an epoch",
        response_model=EpochAttestations,
        responses=GET_PROBLEMS,
    )
    def get_attestations(epoch: int) -> JSONResponse:
        claim = book.claim(epoch)
        if claim is None:
            return problem_response(
                AttestationReason.NOT_READY.problem(404), f"epoch {epoch} not computed here"
            )
        return JSONResponse(
            {
                **claim.to_json(),
                "attestations": [
                    {"signer": a.signer, "signature": "0x" + a.signature.hex()}
                    for a in book.collected(epoch)
                ],
            }
        )

    return router


def exchange(
    book: AttestationBook, epoch: int, peers: Sequence[str], client: httpx.Client
) -> dict[str, str]:
    """Push our signatures for `epoch` to every peer URL and pull theirs.

    Returns, per peer URL, a short outcome ("ok", or the reason it failed) for logs.
    Unreachable peers are not an error: the exchange is retried on the next round.
    """
    outcomes: dict[str, str] = {}
    mine = book.collected(epoch)
    for peer in peers:
        base = peer.rstrip("/")
        try:
            for att in mine:
                read_bounded(
                    client, "POST", f"{base}/v1/attestations", json=att.to_json(),
                    max_bytes=MAX_ATTESTATIONS_BYTES, deadline_seconds=PEER_DEADLINE_SECONDS,
                )
            status, content = read_bounded(
                client, "GET", f"{base}/v1/attestations/{epoch}",
                max_bytes=MAX_ATTESTATIONS_BYTES, deadline_seconds=PEER_DEADLINE_SECONDS,
            )
        except PeerError as exc:
            outcomes[peer] = f"unreachable: {exc}"
            continue
        if status != 200:
            outcomes[peer] = f"http {status}"
            continue
        outcomes[peer] = _accept_answer(book, content)
    return outcomes


def _accept_answer(book: AttestationBook, content: bytes) -> str:
    """Accept every valid signature in a peer's answer; "ok" or the last problem (total)."""
    try:
        body = jsonlimits.loads(content)
    except ValueError as exc:
        return f"unreadable: {exc}"
    if not isinstance(body, dict) or not isinstance(body.get("attestations"), list):
        return f"{AttestationReason.MALFORMED}: not an attestations object"
    outcome = "ok"
    for entry in body["attestations"]:
        if not isinstance(entry, dict):
            outcome = AttestationReason.MALFORMED.value
            continue
        try:
            book.accept(Attestation.from_json({**body, **entry}))
        except AttestationRejected as exc:
            outcome = exc.code
    return outcome


def _strip0x(value: str) -> str:
    return value[2:] if value.startswith(("0x", "0X")) else value


def _uint(value: Any, maximum: int) -> int:
    """A non-negative integer given as a JSON integer or a decimal string, at most `maximum`."""
    if type(value) is int:
        number = value
    elif type(value) is str and value.isascii() and value.isdigit() and len(value) <= 80:
        number = int(value)
    else:
        raise ValueError(f"expected a non-negative integer, got {type(value).__name__}")
    if not 0 <= number <= maximum:
        raise ValueError(f"{number} is out of range [0, {maximum}]")
    return number


def _hex32(value: Any) -> bytes:
    if type(value) is not str or len(value) > 66:
        raise ValueError("expected 0x + 64 hex digits")
    raw = bytes.fromhex(_strip0x(value))
    if len(raw) != 32:
        raise ValueError("expected 32 bytes")
    return raw
