"""A configurable malicious oracle, for attacking honest `depin oracle serve` processes.

It holds a real oracle key of the network's set (so its signatures verify and its requests
pass peer authentication) and answers every oracle-to-oracle route the way its configuration
says — never honestly. Run it as its own process:

```
python -m opendepin.sim.byzantine CONFIG.json
```

CONFIG (JSON): `secret_file` (hex of its key; a test generates it), `network_id`, `chain_id`,
`distributor` (address), `oracles` (the set, checksummed), `port`, `records`, `attestations`,
`extra` (up to two files of signed report lines only this oracle holds: its batches) and
`peers` (honest URLs it pushes wrong attestations to).

`records` — what it does in the agreement rounds (`/v1/epochs/{e}/agreement/rounds/{r}`):

| value         | behaviour |
|---------------|-----------|
| `equivocate`  | round 0: one batch to the lowest honest oracle, ANOTHER (both signed as origin) to the rest |
| `selective`   | round 0: its batch only to the lowest honest oracle; nothing to the others |
| `late`        | nothing in round 0; in round 1 its batch with its origin signature alone (too late) |
| `forged`      | round 0: a chain whose signature is not its own; round 1: a chain signing twice |
| `withhold`    | 404 for everything |
| `malformed`   | bodies that are no record: `[]`, `{"attestations":[1]}`, `"epoch": 1e400`, deep nesting, bytes |
| `drip`        | one byte every 4 s (a per-read timeout never fires) |
| `huge`        | a 300 MiB body |

`attestations` — `GET /v1/attestations/{e}` (and, for `wrong_claim`, what it POSTs to peers is
a correctly signed attestation of a claim that is not the honest one): `wrong_claim`,
`malformed`, `drip`, `huge`, `withhold`. Every other route (report export, decisions for
recovery) answers garbage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from opendepin.chain import eip712
from opendepin.chain.accounts import Signer
from opendepin.http.peerauth import HEADER_ORACLE
from opendepin.oracle.agreement.messages import Domain, RoundRecord, SignedChain, origin_chain
from opendepin.types import Address

RECORD_BEHAVIOURS = ("equivocate", "selective", "late", "forged", "withhold", "malformed", "drip", "huge")
ATTESTATION_BEHAVIOURS = ("wrong_claim", "malformed", "drip", "huge", "withhold")
HUGE_BYTES = 300 << 20
DRIP_SECONDS = 4.0
GARBAGE = (b"[]", b'{"attestations":[1]}', b'{"epoch": 1e400, "attestations": []}', b"[" * 200_000, b"\xff\xfe\x00")


@dataclass
class Byzantine:
    """The malicious oracle's state: its key, its batches, its configured behaviours."""

    signer: Signer
    domain: Domain
    distributor: str
    oracles: list[str]
    records: str
    attestations: str
    batches: list[bytes]

    def digest(self, i: int) -> str:
        return "0x" + hashlib.sha256(self.batches[i]).hexdigest()

    def chain(self, epoch: int, i: int) -> SignedChain:
        data = self.batches[i]
        return origin_chain(self.domain, epoch, self.digest(i), data.count(b"\n"), len(data), self.signer)

    def record(self, epoch: int, round_: int, chains: list[SignedChain]) -> bytes:
        rec = RoundRecord(epoch, round_, Address(self.signer.address), tuple(chains)).signed(self.domain, self.signer)
        return rec.to_bytes(self.domain)

    def honest(self) -> list[str]:
        return sorted(o for o in self.oracles if o != self.signer.address)


def _drip() -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for _ in range(150):
            yield b"{"
            await asyncio.sleep(DRIP_SECONDS)

    return gen()


def _huge() -> Iterator[bytes]:
    chunk = b"a" * (1 << 20)
    for _ in range(HUGE_BYTES >> 20):
        yield chunk


def create_app(b: Byzantine) -> FastAPI:
    """The malicious oracle's routes."""
    app = FastAPI()
    garbage = itertools.cycle(GARBAGE)

    def hostile(mode: str) -> Response:
        if mode == "drip":
            return StreamingResponse(_drip(), media_type="application/json")
        if mode == "huge":
            return StreamingResponse(_huge(), media_type="application/json")
        if mode == "withhold":
            return Response(status_code=404)
        return Response(next(garbage), media_type="application/json")

    @app.get("/v1/epochs/{epoch}/agreement/rounds/{round_}")
    def rounds(request: Request, epoch: int, round_: int) -> Response:
        first = request.headers.get(HEADER_ORACLE, "") == (b.honest() or [""])[0]
        mode = b.records
        if mode not in ("equivocate", "selective", "late", "forged"):
            return hostile(mode)
        chains: list[SignedChain] = []
        if mode == "equivocate" and round_ == 0:
            chains = [b.chain(epoch, 0 if first else 1)]
        elif mode == "selective" and round_ == 0:
            if not first:
                return Response(status_code=404)
            chains = [b.chain(epoch, 0)]
        elif mode == "late":
            if round_ != 1:
                return Response(status_code=404)
            chains = [b.chain(epoch, 0)]  # its origin signature alone: one short of round 1's rule
        elif mode == "forged":
            own = b.chain(epoch, 0)
            if round_ == 0:
                other = Signer.generate().sign_digest(b.domain.origin_digest(epoch, own.batch))
                chains = [SignedChain(own.batch, own.origin, ("0x" + other.hex(),), own.reports, own.size)]
            else:
                chains = [SignedChain(own.batch, own.origin, (own.signatures[0],) * 2, own.reports, own.size)]
        return Response(b.record(epoch, round_, chains), media_type="application/json")

    @app.get("/v1/epochs/{epoch}/agreement/batches/{batch}")
    def batches(epoch: int, batch: str) -> Response:
        for i in range(len(b.batches)):
            if batch == b.digest(i):
                return Response(b.batches[i], media_type="application/x-ndjson")
        return Response(status_code=404)

    @app.get("/v1/attestations/{epoch}")
    def attestations(epoch: int) -> Response:
        if b.attestations == "wrong_claim":
            wrong = _wrong(b, epoch)
            body = {**{k: wrong[k] for k in ("epoch", "root", "cumulative_total", "manifest_hash")},
                    "attestations": [{"signer": wrong["signer"], "signature": wrong["signature"]}]}
            return Response(json.dumps(body), media_type="application/json")
        return hostile(b.attestations)

    @app.post("/v1/attestations")
    def take(request: Request) -> Response:
        return Response(next(garbage), status_code=200, media_type="application/json")

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    def anything_else(path: str) -> Response:
        return hostile("malformed")

    return app


def _wrong(b: Byzantine, epoch: int) -> dict[str, Any]:
    """A correctly signed attestation of a claim no honest oracle computed."""
    root, manifest, total = b"\x66" * 32, b"\x77" * 32, 10**24
    digest = eip712.epoch_root_digest(b.domain.chain_id, b.distributor, epoch, root, total, manifest)
    sig = b.signer.sign_digest(digest)
    return {
        "epoch": epoch,
        "root": "0x" + root.hex(),
        "cumulative_total": str(total),
        "manifest_hash": "0x" + manifest.hex(),
        "signer": b.signer.address,
        "signature": "0x" + sig.hex(),
    }


def push_wrong_claims(b: Byzantine, peers: list[str], epochs: int = 3, every: float = 2.0) -> None:
    """Forever: POST the wrong claims' attestations to every honest peer (they must refuse)."""
    import time

    import httpx

    with httpx.Client(timeout=5.0) as http:
        while True:
            for peer in peers:
                for epoch in range(epochs):
                    with contextlib.suppress(httpx.HTTPError):
                        http.post(peer.rstrip("/") + "/v1/attestations", json=_wrong(b, epoch))
            time.sleep(every)


def load(config: dict[str, Any]) -> Byzantine:
    secret = bytes.fromhex(Path(config["secret_file"]).read_text().strip())
    records, attestations = config.get("records", "withhold"), config.get("attestations", "withhold")
    if records not in RECORD_BEHAVIOURS or attestations not in ATTESTATION_BEHAVIOURS:
        raise SystemExit(f"records must be one of {RECORD_BEHAVIOURS}, attestations one of {ATTESTATION_BEHAVIOURS}")
    extra = [Path(p).read_bytes() for p in config.get("extra", [])]
    while len(extra) < 2:
        extra.append(b"")
    return Byzantine(
        signer=Signer.from_private_bytes(secret),
        domain=Domain(str(config["network_id"]), int(config["chain_id"])),
        distributor=str(config["distributor"]),
        oracles=[str(o) for o in config["oracles"]],
        records=records,
        attestations=attestations,
        batches=extra,
    )


def main(argv: list[str]) -> None:
    import uvicorn

    config = json.loads(Path(argv[0]).read_text())
    b = load(config)
    if b.attestations == "wrong_claim" and config.get("peers"):
        threading.Thread(target=push_wrong_claims, args=(b, list(config["peers"])), daemon=True).start()
    uvicorn.run(create_app(b), host="127.0.0.1", port=int(config["port"]), log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
