"""The devnet's usage wiring, in process: the gateway is a registered "usage" device and an
authorised Credits spender, meters requests, refuses accounts without credits, and settles an
epoch (the settlement's clock moved past its end) into a spend and reports the oracle takes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from opendepin.chain.accounts import Signer
from opendepin.crypto import keccak256
from opendepin.rewards.files import RewardFile
from opendepin.storage.credits import CreditsLedger
from opendepin.storage.devnet import Devnet, node_ids

from .harness import free_port_range

LINES: list[str] = []


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    net = Devnet(tmp_path / "d", nodes=2, port=free_port_range(4), echo=LINES.append)
    try:
        yield net.start()
    finally:
        net.close()


def _client(creds: dict[str, str], key_id: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=creds["endpoint_url"],
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name=creds["region"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_devnet_meters_refuses_and_settles(devnet: Devnet) -> None:
    assert devnet.chain is not None and devnet.deployment is not None
    assert devnet.gateway is not None and devnet.settlement is not None
    ledger = CreditsLedger(devnet.chain, devnet.deployment)
    gateway = devnet.settlement.gateway
    assert ledger.is_spender(gateway)
    creds = devnet.credentials
    s3 = _client(creds, creds["aws_access_key_id"], creds["aws_secret_access_key"])
    bucket = creds["bucket_prefix"] + "usage"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"z" * 50_000)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"z" * 50_000

    poor = Signer.generate().address
    key, secret = devnet.gateway.keys.create(poor, time.time_ns() // 1_000_000)
    with pytest.raises(ClientError) as info:
        _client(creds, key.access_key_id, secret).create_bucket(Bucket="poor-usage-bucket")
    assert f"account {poor} has no credits left" in info.value.response["Error"]["Message"]

    settlement = devnet.settlement
    epoch = settlement.config.clock.epoch_at_ms(time.time_ns() // 1_000_000)
    end = settlement.config.clock.window_ms(epoch)[1]
    settlement.clock_ms = lambda: end + 1_000
    consumer = ledger.spends()
    settled = devnet.settle(epoch)
    spends = ledger.spends()
    assert len(spends) == len(consumer) + 1
    assert spends[-1].usage_ref == keccak256(settled.path.read_bytes())
    assert spends[-1].spender == gateway
    assert settlement.agent.pending == 0
    (line,) = [x for x in LINES if x.startswith("settled")]
    reports = len(settled.document["nodes"]) + 1  # one usage report per node, one spend
    assert f"reports {reports} accepted, 0 rejected, 0 queued" in line, line
    served = httpx.get(f"{creds['endpoint_url']}/v1/usage/{epoch}", timeout=10)
    assert served.status_code == 200 and served.content == settled.path.read_bytes()

    rerun = devnet.settle(epoch)  # under a new event loop: nothing spent or filed twice
    assert rerun.usage_ref == settled.usage_ref and len(ledger.spends()) == len(spends)
    assert LINES[-1].endswith("reports 0 accepted, 0 rejected, 0 queued"), LINES[-1]


def test_devnet_epochs_settle_usage_and_pay_nodes_on_their_own(tmp_path: Path) -> None:
    """With short epochs the devnet's epoch driver does everything: the gateway settles the
    epoch of the requests in the next one, the oracle runs both, and the run of the next one
    pays the nodes the usage the consumer paid for (usage rewards in its reward file)."""
    lines: list[str] = []
    net = Devnet(tmp_path / "e", nodes=2, port=free_port_range(4), echo=lines.append,
                 epoch_seconds=60)  # fmt: skip
    try:
        net.start()
        assert net.oracle is not None and net.settlement is not None
        creds = net.credentials
        s3 = _client(creds, creds["aws_access_key_id"], creds["aws_secret_access_key"])
        bucket = creds["bucket_prefix"] + "epochs"
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"e" * 200_000)
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"e" * 200_000
        used = net.settlement.config.clock.epoch_at_ms(time.time_ns() // 1_000_000)
        deadline = time.monotonic() + 420
        while time.monotonic() < deadline and (used + 1) not in net.settled_epochs:
            time.sleep(1)
        assert (used + 1) in net.settled_epochs, lines[-10:]
        assert net.settlement.last_settled_epoch() is not None
        rewards = RewardFile.from_bytes(
            (net.oracle.runner.epoch_dir(used + 1) / "rewards_v1.json").read_bytes()
        )
        usage = {d.device for o in rewards.owners for d in o.devices if d.kind == "usage"}
        assert usage and usage <= set(node_ids(net))  # the nodes, not the gateway
        assert any(x.startswith(f"epoch     {used + 1}: root 0x") for x in lines), lines
    finally:
        net.close()
