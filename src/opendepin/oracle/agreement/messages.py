"""The signed messages of input agreement: batches, signature chains, round records.

A **batch** is one oracle's report set for an epoch, frozen when its agreement starts: the
newline-delimited wire lines it would serve from `/v1/epochs/{e}/reports` and `/conflicts`,
named by the sha256 of its bytes. Three kinds of signature, each over its own domain so one
can never be passed off as another:

```
origin  keccak256("opendepin-agreement-origin\\n" ‖ network ‖ "\\n" ‖ chain id ‖ "\\n" ‖ epoch ‖ "\\n" ‖ batch)
relay   keccak256("opendepin-agreement-relay\\n"  ‖ network ‖ … ‖ epoch ‖ "\\n" ‖ batch ‖ "\\n" ‖ origin)
record  keccak256("opendepin-agreement-record\\n" ‖ sha256(canonical record without its signature))
```

A **chain** is a batch with its origin's signature first, then relay signatures, all by
distinct oracles of the network's set. A **round record** is what one oracle publishes for
round r: the chains it relays in that round (its own batch's one-signature chain in round 0),
signed as a whole so receivers know whose round r they have — also when it relays nothing.

Everything here that reads a peer's bytes is total: `parse_record` answers a reason for any
input, and caps how much it looks at.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from opendepin import jsonlimits
from opendepin.canonical import canonical_json, sha256_hex
from opendepin.chain.accounts import AccountLike
from opendepin.crypto import keccak256
from opendepin.http.schema import HASH32_LOWER_PATTERN
from opendepin.identity.address import checksum
from opendepin.identity.signatures import SIGNATURE_BYTES, recover_address
from opendepin.types import Address

RECORD_FORMAT: Final = "agreement_round_v1"
MAX_RECORD_BYTES: Final = 1 << 20
"""Largest round record read from a peer (a record lists at most 2 chains per oracle)."""
MAX_CHAINS_PER_ORIGIN: Final = 2
"""Distinct batches kept per origin: two already prove equivocation, more only cost work."""
BATCH_NAME = re.compile(HASH32_LOWER_PATTERN)
"""A batch's name: `0x` + the sha256 of its bytes, 64 lowercase hex (use `fullmatch`)."""
_HEXSIG = re.compile(r"^0x[0-9a-f]{130}$")


@dataclass(frozen=True, slots=True)
class Domain:
    """What every agreement signature is bound to besides the epoch."""

    network_id: str
    chain_id: int

    def _prefix(self, kind: str, epoch: int) -> bytes:
        return f"opendepin-agreement-{kind}\n{self.network_id}\n{self.chain_id}\n{epoch}\n".encode()

    def origin_digest(self, epoch: int, batch: str) -> bytes:
        return keccak256(self._prefix("origin", epoch) + batch.encode())

    def relay_digest(self, epoch: int, batch: str, origin: str) -> bytes:
        return keccak256(self._prefix("relay", epoch) + f"{batch}\n{origin.lower()}".encode())

    def record_digest(self, body: dict[str, Any]) -> bytes:
        return keccak256(b"opendepin-agreement-record\n" + bytes.fromhex(sha256_hex(canonical_json(body))))


@dataclass(frozen=True, slots=True)
class SignedChain:
    """A batch digest with its origin's and relayers' signatures, in signing order."""

    batch: str
    """`0x` + sha256 of the batch bytes."""
    origin: Address
    signatures: tuple[str, ...]
    """`0x`-hex 65-byte signatures: the origin's, then one per relayer."""
    reports: int = 0
    """Lines in the batch, as its origin says (a hint for the fetch; checked on arrival)."""
    size: int = 0
    """Bytes of the batch, as its origin says (the fetch refuses more)."""

    def to_obj(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            "origin": self.origin,
            "signatures": list(self.signatures),
            "reports": self.reports,
            "bytes": self.size,
        }

    def signers(self, domain: Domain, epoch: int) -> tuple[Address, ...] | None:
        """Who signed, in order (origin first), or None if any signature fails or repeats."""
        out: list[Address] = []
        for i, sig in enumerate(self.signatures):
            digest = (
                domain.origin_digest(epoch, self.batch)
                if i == 0
                else domain.relay_digest(epoch, self.batch, self.origin)
            )
            recovered = recover_address(digest, bytes.fromhex(sig[2:]))
            who = Address(recovered) if recovered is not None else None
            if who is None or (i == 0 and who != self.origin) or who in out:
                return None
            out.append(who)
        return tuple(out)

    def extended(self, domain: Domain, epoch: int, signer: AccountLike) -> SignedChain:
        """This chain with `signer`'s relay signature appended."""
        sig = signer.sign_digest(domain.relay_digest(epoch, self.batch, self.origin))
        return SignedChain(self.batch, self.origin, (*self.signatures, "0x" + sig.hex()), self.reports, self.size)


def origin_chain(domain: Domain, epoch: int, batch: str, reports: int, size: int, signer: AccountLike) -> SignedChain:
    """The one-signature chain an oracle starts for its own batch."""
    sig = signer.sign_digest(domain.origin_digest(epoch, batch))
    return SignedChain(batch, Address(signer.address), ("0x" + sig.hex(),), reports, size)


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """One oracle's message for one round of one epoch."""

    epoch: int
    round: int
    oracle: Address
    chains: tuple[SignedChain, ...]
    signature: str = ""

    def body(self, domain: Domain) -> dict[str, Any]:
        return {
            "format": RECORD_FORMAT,
            "network": domain.network_id,
            "chain_id": domain.chain_id,
            "epoch": self.epoch,
            "round": self.round,
            "oracle": self.oracle,
            "chains": [c.to_obj() for c in self.chains],
        }

    def signed(self, domain: Domain, signer: AccountLike) -> RoundRecord:
        sig = signer.sign_digest(domain.record_digest(self.body(domain)))
        return RoundRecord(self.epoch, self.round, self.oracle, self.chains, "0x" + sig.hex())

    def to_bytes(self, domain: Domain) -> bytes:
        return canonical_json({**self.body(domain), "signature": self.signature})


def _chain_of(obj: object) -> SignedChain | str:
    if not isinstance(obj, dict) or set(obj) != {"batch", "origin", "signatures", "reports", "bytes"}:
        return "a chain needs exactly batch, origin, signatures, reports, bytes"
    batch, origin, sigs = obj["batch"], obj["origin"], obj["signatures"]
    if not isinstance(batch, str) or BATCH_NAME.fullmatch(batch) is None:
        return "batch is not 0x + 64 lowercase hex"
    if not isinstance(origin, str):
        return "origin is not an address"
    try:
        origin_addr = Address(checksum(origin))
    except ValueError:
        return "origin is not an address"
    if origin_addr != origin:
        return "origin is not EIP-55 checksummed"
    if not isinstance(sigs, list) or not 1 <= len(sigs) <= 64:
        return "signatures must be a list of 1..64"
    if not all(isinstance(s, str) and _HEXSIG.match(s) for s in sigs):
        return f"a signature is not 0x + {2 * SIGNATURE_BYTES} lowercase hex"
    counts = [obj["reports"], obj["bytes"]]
    if not all(type(c) is int and 0 <= c < 1 << 48 for c in counts):
        return "reports and bytes must be integers in [0, 2^48)"
    return SignedChain(batch, origin_addr, tuple(sigs), counts[0], counts[1])


def parse_record(data: bytes, domain: Domain, epoch: int, round_: int, oracles: Sequence[str]) -> RoundRecord | str:
    """The verified record in `data` for (epoch, round) by one of `oracles`, or why not.

    Checks the shape, the binding (format, network, chain, epoch, round) and the record's
    signature; the chains' own signatures are checked by the protocol, which knows how long
    a chain must be in each round.
    """
    if len(data) > MAX_RECORD_BYTES:
        return f"record larger than {MAX_RECORD_BYTES} bytes"
    try:
        obj = jsonlimits.loads(data)
    except ValueError as exc:
        return f"not JSON: {str(exc)[:80]}"
    want = {"format", "network", "chain_id", "epoch", "round", "oracle", "chains", "signature"}
    if not isinstance(obj, dict) or set(obj) != want:
        return "a record has exactly the fields " + ", ".join(sorted(want))
    if obj["format"] != RECORD_FORMAT or obj["network"] != domain.network_id or obj["chain_id"] != domain.chain_id:
        return "record is for another format, network or chain"
    if obj["epoch"] != epoch or obj["round"] != round_ or type(obj["epoch"]) is not int or type(obj["round"]) is not int:
        return f"record is not for epoch {epoch} round {round_}"
    oracle, sig, raw_chains = obj["oracle"], obj["signature"], obj["chains"]
    if oracle not in oracles:
        return "record is not by one of the network's oracles"
    if not isinstance(sig, str) or not _HEXSIG.match(sig):
        return "record signature is not 0x + 130 lowercase hex"
    if not isinstance(raw_chains, list) or len(raw_chains) > MAX_CHAINS_PER_ORIGIN * len(oracles):
        return f"chains must be a list of at most {MAX_CHAINS_PER_ORIGIN} per oracle"
    chains: list[SignedChain] = []
    for raw in raw_chains:
        chain = _chain_of(raw)
        if isinstance(chain, str):
            return chain
        chains.append(chain)
    record = RoundRecord(epoch, round_, Address(oracle), tuple(chains), sig)
    if recover_address(domain.record_digest(record.body(domain)), bytes.fromhex(sig[2:])) != oracle:
        return "record signature does not recover to its oracle"
    return record


__all__ = [
    "BATCH_NAME",
    "MAX_CHAINS_PER_ORIGIN",
    "MAX_RECORD_BYTES",
    "Domain",
    "RoundRecord",
    "SignedChain",
    "origin_chain",
    "parse_record",
]
