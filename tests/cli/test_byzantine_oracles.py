"""Honest `depin oracle serve` processes on anvil against one malicious oracle of the set.

N oracles with threshold M tolerate f = N − M faulty ones. Each scenario runs N − 1 honest
oracle processes and one `opendepin.sim.byzantine` process holding the last oracle key of the
set, configured to misbehave in the agreement rounds (equivocating batches, a batch served
only to one honest oracle, a batch sent too late, forged chains, a one-byte-every-4-s drip,
a 300 MiB body) and on the attestation routes (wrong claims correctly signed, malformed or
huge answers). Two devices report to the honest ingests; the malicious oracle holds two more
reports of its own (valid, signed by a registered device) that only it can offer.

Every scenario asserts: epoch 0 settles on chain with the honest oracles' root, every honest
oracle sealed byte-identical inputs from the same agreement decision, the malicious
oracle's batches are sealed or left out exactly as the rules say, and no honest process
exited or logged a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import h3
import pytest
import tomli_w

from cli.test_multiprocess_network import (
    _DEVICE_ID,
    ORACLE_POLL_SECONDS,
    SCRYPT_N,
    _wait_for,
    cluster,
    wait_for_mirrors,
)
from opendepin.chain.accounts import Signer
from opendepin.chain.anvil import AnvilProcess, free_port
from opendepin.chain.blocks import last_block_at_or_before
from opendepin.chain.deploy import Deployment
from opendepin.chain.rpc import RpcChain
from opendepin.identity.keys import DeviceKey
from opendepin.proofs.heartbeat.payload import make_payload
from opendepin.reports import codec
from opendepin.reports.eip712 import new_signed_report

EPOCH_SECONDS = 3_600
REPORT_GRACE_SECONDS = 600
ROUND_SECONDS = 6
"""`network.agreement_round_seconds`: long enough for honest peers on one loaded machine."""
NETWORK_ID = "anvil-byzantine"
POSITIONS = ((47.3769, 8.5417), (46.9480, 7.4474))


def _network_toml(path: Path, rpc_url: str, genesis_unix: int, threshold: int) -> None:
    path.write_text(
        tomli_w.dumps(
            {
                "network": {"network_id": NETWORK_ID, "genesis_unix": genesis_unix, "epoch_seconds": EPOCH_SECONDS,
                            "agreement_round_seconds": ROUND_SECONDS},
                "chain": {"backend": "rpc", "rpc_url": rpc_url, "oracle_threshold": threshold, "onboarding_fee": 0,
                          "location_fee": 0, "location_cooldown_seconds": 0},
                "pools": {"bps": {"heartbeat": 10_000}},
                "heartbeat": {"min_online_hours": 1},
            }
        )
    )


def _lines(reports: list[object]) -> bytes:
    return b"".join(codec.dumps(r).encode() + b"\n" for r in reports)  # type: ignore[arg-type]


@pytest.mark.anvil
@pytest.mark.slow
@pytest.mark.parametrize(
    ("n", "m", "records", "attestations"),
    [
        pytest.param(3, 2, "equivocate", "wrong_claim", id="n3-equivocating-batches-wrong-claims"),
        pytest.param(3, 2, "selective", "malformed", id="n3-batch-to-one-honest-malformed-attestations"),
        pytest.param(4, 3, "drip", "huge", id="n4-drip-records-huge-attestations"),
        pytest.param(4, 3, "late", "drip", id="n4-late-batch-drip-attestations"),
        pytest.param(4, 3, "forged", "withhold", id="n4-forged-chains-withheld-attestations"),
    ],
)
def test_honest_oracles_settle_identical_inputs_despite_a_malicious_oracle(
    tmp_path: Path, n: int, m: int, records: str, attestations: str
) -> None:
    honest_n = n - 1
    with AnvilProcess(chain_id=31337) as anvil, cluster(tmp_path) as c:
        chain = RpcChain(anvil.url)
        genesis = chain.timestamp(0) - 60
        _network_toml(tmp_path / "network.toml", anvil.url, genesis, m)
        scrypt = ["--scrypt-n", str(SCRYPT_N)]
        names = ["gov", *(f"oracle-{i}" for i in range(honest_n))]
        envs = ["GOV_PASS", *(["ORACLE_PASS"] * honest_n)]
        outputs = c.run_all([["keys", "new", "--out", f"{k}.json", "--passphrase-env", e, *scrypt]
                             for k, e in zip(names, envs, strict=True)])
        address = {k: _DEVICE_ID.search(out).group(1) for k, out in zip(names, outputs, strict=True)}  # type: ignore[union-attr]
        evil = Signer.generate()  # a test key, generated now, written only under tmp_path
        (tmp_path / "evil.key").write_text(evil.private_bytes().hex())
        oracles = [address[f"oracle-{i}"] for i in range(honest_n)] + [evil.address]
        owner = Signer.generate()
        c.run("chain", "fund", *address.values(), evil.address, owner.address)
        c.run("chain", "deploy", "--dir", "net", "--keystore", "gov.json", "--passphrase-env", "GOV_PASS",
              *(arg for o in oracles for arg in ("--oracle", o)))
        deployment = Deployment.load(tmp_path / "net")

        # Two honest devices, registered and located (device signs, owner pays).
        registry = deployment.registry(chain)
        keys = [DeviceKey.generate() for _ in POSITIONS]
        for key, (lat, lon) in zip(keys, POSITIONS, strict=True):
            registry.register(key, owner, "heartbeat", chain.timestamp() + 3_600)
            registry.assert_location(key.device_id, h3.str_to_int(h3.latlng_to_cell(lat, lon, 10)), sender=owner)
        registered_at = chain.block_number()

        ports = [free_port() for _ in range(n)]
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        peers = [arg for u in urls for arg in ("--peer", u)]
        servers = [
            c.start(["oracle", "serve", "--netdir", "net", "--keystore", f"oracle-{i}.json", "--passphrase-env",
                     "ORACLE_PASS", "--port", str(ports[i]), *peers, "--poll-seconds", ORACLE_POLL_SECONDS],
                    f"oracle-{i}.log", {"DEPIN_STORE__DATA_DIR": f"oracle-{i}"})
            for i in range(honest_n)
        ]

        # The epoch's one entropy block (anvil's first: the last at or before genesis, or block
        # 0): every heartbeat names it and is signed within the 300 s liveness window after it.
        block = last_block_at_or_before(chain, genesis, chain.block_number())
        challenge = (block, chain.block_hash(block))

        def report(key: DeviceKey, seq: int, at_ms: int, where: tuple[float, float]) -> object:
            return new_signed_report(key, network_id=NETWORK_ID, chain_id=31337, kind="heartbeat", epoch=0, seq=seq,
                                     timestamp_ms=at_ms, payload=make_payload(*where, challenge=challenge))

        now_ms = int(time.time() * 1000)
        honest_reports = [report(k, s, now_ms + 1_000 * s, POSITIONS[i]) for i, k in enumerate(keys) for s in (1, 2, 3)]
        extra = [report(keys[0], 100, now_ms + 10_000, POSITIONS[0]), report(keys[0], 101, now_ms + 11_000, POSITIONS[0])]
        (tmp_path / "extra-a.jsonl").write_bytes(_lines(extra[:1]))
        (tmp_path / "extra-b.jsonl").write_bytes(_lines(extra[1:]))
        config = {
            "secret_file": str(tmp_path / "evil.key"), "network_id": NETWORK_ID, "chain_id": 31337,
            "distributor": deployment.distributor(chain).address, "oracles": oracles, "port": ports[-1],
            "records": records, "attestations": attestations, "peers": urls[:-1],
            "extra": [str(tmp_path / "extra-a.jsonl"), str(tmp_path / "extra-b.jsonl")],
        }
        (tmp_path / "evil.json").write_text(json.dumps(config))
        evil_log = (tmp_path / "evil.log").open("wb")
        evil_proc = subprocess.Popen([sys.executable, "-m", "opendepin.sim.byzantine", str(tmp_path / "evil.json")],
                                     cwd=tmp_path, stdout=evil_log, stderr=subprocess.STDOUT, start_new_session=True)
        c.background.append((evil_proc, tmp_path / "evil.log"))

        wait_for_mirrors(urls[:-1], len(keys), registered_at, servers, c)
        import httpx

        body = {"reports": [codec.to_json(r) for r in honest_reports]}  # type: ignore[arg-type]
        for u in urls[:-1]:
            answer = httpx.post(f"{u}/v1/reports", json=body, timeout=30.0).json()
            assert answer["accepted"] == len(honest_reports), answer
        c.run("chain", "mine", "--advance-seconds", str(EPOCH_SECONDS + REPORT_GRACE_SECONDS))
        distributor = deployment.distributor(chain)

        def settled_everywhere() -> bool:
            logs = [c.log_of(s) for s in servers]
            return distributor.next_epoch() >= 1 and all(
                "epoch 0: submitted" in text or "epoch 0: settled_by_peer" in text for text in logs
            )

        _wait_for("every honest oracle to see epoch 0 settled", settled_everywhere, servers, c)

        dirs = [tmp_path / f"oracle-{i}" / "epochs" / "0" for i in range(honest_n)]
        decisions = [(d / "agreement" / "agreement_v1.json").read_bytes() for d in dirs]
        assert len(set(decisions)) == 1, "honest oracles decided different batch sets"
        decision = json.loads(decisions[0])
        inputs = [{p.name: p.read_bytes() for p in sorted((d / "inputs").iterdir())} for d in dirs]
        assert all(i == inputs[0] for i in inputs), "honest oracles sealed different inputs"
        sealed = b"".join(v for k, v in inputs[0].items() if k.endswith(".jsonl"))
        counts = json.loads((dirs[0] / "verdicts_v1.json").read_bytes())["kinds"]["heartbeat"]["counts"]
        assert set(counts) == {"valid"}, counts  # every sealed heartbeat answered the liveness challenge
        manifest = json.loads((dirs[0] / "manifest_v1.json").read_bytes())
        assert "0x" + distributor.roots(0).hex() == manifest["root"]
        origins = {b["origin"] for b in decision["batches"]}
        if records == "equivocate":  # both batches reached the honest oracles, so the oracle is out
            assert decision["equivocating_oracles"] == [evil.address]
            evidence = json.loads((dirs[0] / "agreement" / "agreement_evidence_v1.json").read_bytes())
            assert [e["oracle"] for e in evidence["equivocations"]] == [evil.address]
            assert len(evidence["equivocations"][0]["signed"]) == 2
            assert all(_lines([r]) not in sealed for r in extra)
        elif records == "selective":  # one honest oracle got it in time and relayed it: all seal it
            assert evil.address in origins and decision["equivocating_oracles"] == []
            assert _lines(extra[:1]).rstrip(b"\n") in sealed
        else:  # late, forged, dripped: never accepted by anyone
            assert origins == set(oracles[:-1]) and decision["equivocating_oracles"] == []
            assert all(_lines([r]).rstrip(b"\n") not in sealed for r in extra)
        for r in honest_reports:
            assert _lines([r]).rstrip(b"\n") in sealed
        for s in servers:
            assert s.poll() is None, c.log_of(s)[-3000:]
            assert "Traceback" not in c.log_of(s), c.log_of(s)[-3000:]
        assert evil_proc.poll() is None, (tmp_path / "evil.log").read_text()[-2000:]
