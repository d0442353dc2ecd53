"""Signature exchange between oracles: only an oracle's signature over OUR claim is kept."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from opendepin.chain.accounts import Signer
from opendepin.crypto import keccak256
from opendepin.oracle.attestations import (
    Attestation,
    AttestationBook,
    AttestationReason,
    AttestationRejected,
    EpochClaim,
    attestation_router,
    exchange,
)


def _digest(claim: EpochClaim) -> bytes:
    # Any injective digest works for the book; the runner passes the distributor's EIP-712 one.
    return keccak256(
        claim.epoch.to_bytes(32, "big") + claim.root + claim.cumulative_total.to_bytes(32, "big") + claim.manifest_hash
    )


def _claim(root_byte: int = 1, epoch: int = 0) -> EpochClaim:
    return EpochClaim(epoch=epoch, root=bytes([root_byte]) * 32, cumulative_total=10**18, manifest_hash=b"\x07" * 32)


def _att(signer: Signer, claim: EpochClaim) -> Attestation:
    return Attestation(claim=claim, signer=signer.address, signature=signer.sign_digest(_digest(claim)))


@pytest.fixture()
def oracles() -> list[Signer]:
    return [Signer.generate() for _ in range(3)]


def test_accept_peer_signature_over_same_claim(oracles: list[Signer]) -> None:
    book = AttestationBook([o.address for o in oracles], _digest)
    book.set_own(_att(oracles[0], _claim()))
    book.accept(_att(oracles[1], _claim()))
    signers = [a.signer for a in book.collected(0)]
    assert sorted(signers, key=lambda a: int(a, 16)) == signers
    assert set(signers) == {oracles[0].address, oracles[1].address}


def test_accept_rejects_non_oracle_signer(oracles: list[Signer]) -> None:
    book = AttestationBook([o.address for o in oracles], _digest)
    book.set_own(_att(oracles[0], _claim()))
    with pytest.raises(AttestationRejected) as info:
        book.accept(_att(Signer.generate(), _claim()))
    assert info.value.reason is AttestationReason.NOT_AN_ORACLE
    assert len(book.collected(0)) == 1


def test_accept_rejects_wrong_root(oracles: list[Signer]) -> None:
    book = AttestationBook([o.address for o in oracles], _digest)
    book.set_own(_att(oracles[0], _claim(root_byte=1)))
    with pytest.raises(AttestationRejected) as info:
        book.accept(_att(oracles[1], _claim(root_byte=2)))
    assert info.value.reason is AttestationReason.WRONG_CLAIM


def test_accept_rejects_signature_of_another_oracle(oracles: list[Signer]) -> None:
    book = AttestationBook([o.address for o in oracles], _digest)
    book.set_own(_att(oracles[0], _claim()))
    forged = Attestation(claim=_claim(), signer=oracles[1].address, signature=_att(oracles[2], _claim()).signature)
    with pytest.raises(AttestationRejected) as info:
        book.accept(forged)
    assert info.value.reason is AttestationReason.BAD_SIGNATURE


def test_accept_rejects_unrecoverable_signature(oracles: list[Signer]) -> None:
    book = AttestationBook([o.address for o in oracles], _digest)
    book.set_own(_att(oracles[0], _claim()))
    garbage = Attestation(claim=_claim(), signer=oracles[1].address, signature=b"\x00" * 64 + b"\x1b")
    with pytest.raises(AttestationRejected) as info:
        book.accept(garbage)
    assert info.value.reason is AttestationReason.BAD_SIGNATURE
    assert len(book.collected(0)) == 1


def test_accept_before_own_claim_is_not_ready(oracles: list[Signer]) -> None:
    book = AttestationBook([o.address for o in oracles], _digest)
    with pytest.raises(AttestationRejected) as info:
        book.accept(_att(oracles[1], _claim()))
    assert info.value.reason is AttestationReason.NOT_READY


def _app(book: AttestationBook) -> FastAPI:
    app = FastAPI()
    app.include_router(attestation_router(book))
    return app


def test_post_attestation_over_http_rejects_wrong_root_with_problem_json(oracles: list[Signer]) -> None:
    book = AttestationBook([o.address for o in oracles], _digest)
    book.set_own(_att(oracles[0], _claim(root_byte=1)))
    client = TestClient(_app(book))
    bad = client.post("/v1/attestations", json=_att(oracles[1], _claim(root_byte=9)).to_json())
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["title"] == "wrong_claim"
    assert bad.json()["type"] == "urn:opendepin:attestation:wrong_claim"
    outsider = client.post("/v1/attestations", json=_att(Signer.generate(), _claim(root_byte=1)).to_json())
    assert outsider.json()["title"] == "not_an_oracle"
    good = client.post("/v1/attestations", json=_att(oracles[1], _claim(root_byte=1)).to_json())
    assert good.status_code == 202
    listed = client.get("/v1/attestations/0").json()
    assert {a["signer"] for a in listed["attestations"]} == {oracles[0].address, oracles[1].address}
    assert client.get("/v1/attestations/5").status_code == 404
    malformed = client.post("/v1/attestations", json={"epoch": 0})
    assert malformed.json()["title"] == "malformed"


def test_exchange_pushes_and_pulls_signatures(oracles: list[Signer]) -> None:
    addresses = [o.address for o in oracles]
    book_a = AttestationBook(addresses, _digest)
    book_b = AttestationBook(addresses, _digest)
    book_a.set_own(_att(oracles[0], _claim()))
    book_b.set_own(_att(oracles[1], _claim()))
    with TestClient(_app(book_b)) as client_b:
        outcome = exchange(book_a, 0, ["http://oracle-b"], client_b)
    assert outcome == {"http://oracle-b": "ok"}
    assert len(book_a.collected(0)) == 2
    assert len(book_b.collected(0)) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"attestations": [1]}',
        b'{"attestations": "x"}',
        b'{"epoch": 1e400, "root": "0x00", "attestations": [{"signer": 1, "signature": 2}]}',
        b'{"epoch": true, "attestations": [{}]}',
        b"not json",
        b"[" * 100_000,
    ],
)
def test_exchange_survives_any_peer_answer(oracles: list[Signer], body: bytes) -> None:
    from fastapi import Response

    hostile = FastAPI()

    @hostile.get("/v1/attestations/{epoch}")
    def answer(epoch: int) -> Response:
        return Response(body, media_type="application/json")

    @hostile.post("/v1/attestations")
    def swallow() -> Response:
        return Response(b"{}", media_type="application/json")

    book = AttestationBook([o.address for o in oracles], _digest)
    book.set_own(_att(oracles[0], _claim()))
    with TestClient(hostile) as client:
        outcome = exchange(book, 0, ["http://hostile"], client)
    assert outcome["http://hostile"] != "ok"
    assert len(book.collected(0)) == 1  # nothing but our own signature


@pytest.mark.parametrize("epoch", ["1e400", "-1", "1.5", "true", '"12x"', str(2**64)])
def test_post_attestation_with_an_impossible_epoch_is_a_422(oracles: list[Signer], epoch: str) -> None:
    book = AttestationBook([o.address for o in oracles], _digest)
    book.set_own(_att(oracles[0], _claim()))
    att = _att(oracles[1], _claim()).to_json()
    fields = {k: v for k, v in att.items() if k != "epoch"}
    body = '{"epoch": ' + epoch + ", " + json.dumps(fields)[1:]
    with TestClient(_app(book)) as client:
        resp = client.post("/v1/attestations", content=body, headers={"content-type": "application/json"})
    assert resp.status_code == 422, resp.text
    assert resp.json()["type"].endswith(":malformed")
