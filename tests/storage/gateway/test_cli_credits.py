"""`depin storage gateway --dir NETDIR --rpc URL`: a real gateway process on a real anvil chain
serves an account that bought credits and refuses one that has none (S3 AccessDenied, nothing
stored), through boto3 — the credit check and metering are on only with a network directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
import tomli_w
from botocore.config import Config
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from opendepin.chain import AnvilProcess, RpcChain, Signer, deploy_network
from opendepin.cli.app import app
from opendepin.network.settings import Settings
from opendepin.storage.credits import CreditsLedger

from ..cluster import CHAIN_ID, NETWORK, Cluster

ONE = 10**18
STARTUP_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _s3(url: str, key: dict[str, str]) -> object:
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=key["aws_access_key_id"],
        aws_secret_access_key=key["aws_secret_access_key"],
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    with AnvilProcess(chain_id=CHAIN_ID) as node:
        chain = RpcChain(node.url)
        gov, payer, broke = Signer.generate(), Signer.generate(), Signer.generate()
        for account in (gov, payer):
            chain.fund(account.address, 10**21)
        doc = {
            "network": {"network_id": NETWORK, "chain_id": CHAIN_ID},
            "chain": {
                "backend": "rpc",
                "rpc_url": node.url,
                "oracle_threshold": 1,
                "genesis_allocations": {payer.address: str(100 * ONE)},
            },
        }
        settings = Settings.model_validate(doc)
        (tmp_path / "network.toml").write_text(tomli_w.dumps(doc))
        deployment = deploy_network(chain, settings, gov, [Signer.generate().address], gov.address)
        deployment.save(tmp_path / "net")
        CreditsLedger(chain, deployment).buy(10 * ONE, sender=payer)
        cluster = Cluster(tmp_path / "nodes", 8)
        key_file = tmp_path / "placer.key"
        key_file.write_text(cluster.placer_key.private_bytes().hex())
        db, master = f"sqlite:///{tmp_path / 'gw.db'}", str(tmp_path / "master.key")
        keys = {}
        for name, account in (("payer", payer), ("broke", broke)):
            made = CliRunner().invoke(
                app, ["storage", "keys", "new", "--account", account.address, "--db", db, "--master-key", master, "--json"]
            )
            assert made.exit_code == 0, made.output
            keys[name] = json.loads(made.output)
        port = _free_port()
        args = [
            sys.executable, "-m", "opendepin", "storage", "gateway", "--db", db, "--key", str(key_file),
            "--port", str(port), "--master-key", master, "--config", str(tmp_path / "network.toml"),
            "--dir", str(tmp_path / "net"), "--rpc", node.url, "--data", str(tmp_path / "data"),
            *[a for n in cluster.nodes for a in ("--node", n.url)],
        ]  # fmt: skip
        log = (tmp_path / "gateway.log").open("wb")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                assert proc.poll() is None, (tmp_path / "gateway.log").read_text()
                try:
                    httpx.get(url, timeout=1.0)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "gateway did not start"
                    time.sleep(0.2)
            yield url, keys["payer"], keys["broke"]
        finally:
            proc.terminate()
            proc.wait(60)
            cluster.close()
    assert "metering and credit checks on" in (tmp_path / "gateway.log").read_text()


def test_credits_decide_who_is_served(world: tuple[str, dict[str, str], dict[str, str]]) -> None:
    url, payer, broke = world
    paying = _s3(url, payer)
    paying.create_bucket(Bucket="photos")  # type: ignore[attr-defined]
    paying.put_object(Bucket="photos", Key="cat.jpg", Body=b"meow" * 1000)  # type: ignore[attr-defined]
    got = paying.get_object(Bucket="photos", Key="cat.jpg")["Body"].read()  # type: ignore[attr-defined]
    assert got == b"meow" * 1000
    refused = _s3(url, broke)
    with pytest.raises(ClientError) as err:
        refused.create_bucket(Bucket="free-ride")  # type: ignore[attr-defined]
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    assert "no credits" in err.value.response["Error"]["Message"]
    names = [b["Name"] for b in paying.list_buckets()["Buckets"]]  # type: ignore[attr-defined]
    assert names == ["photos"]  # the refused request created nothing
