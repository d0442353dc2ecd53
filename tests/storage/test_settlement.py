"""Settlement end to end: credits bought on the embedded chain, S3 requests through boto3 to a
real gateway over real nodes, `settle` → usage file, CreditsSpent with the file's digest,
usage reports accepted by a real ingest app; a second settle spends nothing; an account that
could not pay (or never had credits) is refused, and nothing changes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from opendepin.agent import IngestSender
from opendepin.canonical import canonical_json
from opendepin.chain import EmbeddedChain, Signer, deploy_network
from opendepin.chain.governance import GovernanceClient, Operation, Proposal
from opendepin.crypto import keccak256
from opendepin.ingest import RegistryMirror, create_app
from opendepin.network.settings import Settings
from opendepin.records import DeviceRecord
from opendepin.reports.verify import PayloadRegistry
from opendepin.storage.credits import CreditsLedger
from opendepin.storage.gateway.credits_check import CreditsCheck
from opendepin.storage.metadata import Metadata
from opendepin.storage.metering import Metering
from opendepin.storage.pricing import Prices
from opendepin.storage.settlement import (
    Settlement,
    SettlementConfig,
    SettlementError,
    read_usage_file,
)
from opendepin.store import Store
from opendepin.types import ONE_TOKEN, Address

from .cluster import Cluster
from .gateway.harness import GatewayServer

PRICES = Prices(stored_gb_month_credits=10**9, egress_gb_credits=10**7)
GAS = 10**21
OBJECT = b"x" * 100_000


def usage_payloads() -> PayloadRegistry:
    """The usage kind's validator when it is installed, else the generic path (any payload)."""
    registry = PayloadRegistry()
    try:
        from opendepin.proofs.registry import get_kind

        registry.register("usage", get_kind("usage").validate_payload)
    except Exception:
        registry.register("usage", lambda payload: None)
    return registry


@dataclass
class World:
    settings: Settings
    chain: EmbeddedChain
    ledger: CreditsLedger
    gateway: GatewayServer
    meter: Metering
    settlement: Settlement
    check: CreditsCheck
    ingest: Store
    client: httpx.AsyncClient
    offset_ms: list[int]
    holder: Signer

    def settle_after_epoch(self, epoch: int) -> None:
        end = self.settlement.config.clock.window_ms(epoch)[1]
        self.offset_ms[0] = end + 1_000 - self.settlement.metering.clock_ms()


@pytest.fixture
def world(cluster: Cluster, tmp_path: Path) -> Iterator[World]:
    holder = Signer.generate()
    settings = Settings(chain={"genesis_allocations": {holder.address: str(100 * ONE_TOKEN)}})
    n = settings.network
    chain = EmbeddedChain(n.chain_id)
    gov = Signer.generate()
    oracles = [Signer.generate().address for _ in range(settings.chain.oracle_threshold)]
    gateway_key = cluster.placer_key
    for account in (gov, gateway_key, holder):
        chain.fund(account.address, GAS)
    deployment = deploy_network(chain, settings, gov, oracles, gov.address)
    timelock = GovernanceClient(chain, deployment.address("Timelock"))
    op = Operation.of(
        Proposal.set_spender(deployment.address("Credits"), gateway_key.address, True)
    )
    timelock.propose(op, sender=gov)
    timelock.execute_operation(op, sender=gov)
    ledger = CreditsLedger(chain, deployment)

    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    metadata = Metadata(url)
    offset = [0]

    def clock() -> int:
        import time

        return time.time_ns() // 1_000_000 + offset[0]

    meter = Metering(metadata.engine)
    records = [DeviceRecord(gateway_key.address, Address(gov.address), "usage", 0, True)]
    records += [
        DeviceRecord(x.node, Address(gov.address), "storage", 0, True) for x in cluster.nodes
    ]
    ingest = Store(tmp_path / "ingest")
    app = create_app(settings, ingest, RegistryMirror(records), payload_registry=usage_payloads())
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    config = SettlementConfig(
        n.network_id, n.chain_id, n.genesis_unix, n.epoch_seconds, tmp_path / "data", PRICES
    )
    settlement = Settlement(
        meter,
        ledger,
        gateway_key,
        config,
        sender=IngestSender("http://ingest", client),
        clock_ms=clock,
    )
    check = CreditsCheck(ledger.balance, settlement.owed, ttl_ms=0)
    gw = GatewayServer(cluster, url, tmp_path, authoriser=check)
    gw.usage = meter  # type: ignore[assignment]
    gw.start()
    assert gw.placer is not None
    gw.placer.on_fetch = meter.record_fetch
    try:
        yield World(
            settings, chain, ledger, gw, meter, settlement, check, ingest, client, offset, holder
        )
    finally:
        gw.stop()
        settlement.close()
        asyncio.run(client.aclose())
        ingest.close()
        metadata.close()


def consumer(world: World, tokens: int) -> tuple[Signer, Any]:
    """A consumer holding `tokens` (burned for credits) and a boto3 client of its account."""
    who = Signer.generate()
    world.chain.fund(who.address, GAS)
    if tokens:
        world.ledger.token.transfer(who.address, tokens, sender=world.holder)
        world.ledger.buy(tokens, sender=who)
    return who, world.gateway.client(who.address)


def denied(call: Any) -> str:
    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    return str(error["Message"])


def test_settle_spends_once_files_reports_and_refuses_who_cannot_pay(world: World) -> None:
    alice, s3a = consumer(world, ONE_TOKEN)  # 100_000 credits
    bob, s3b = consumer(world, ONE_TOKEN // 50_000)  # 2 credits: cannot pay what he uses
    for who, s3 in ((alice, s3a), (bob, s3b)):
        bucket = "b-" + who.address[2:10].lower()
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=OBJECT)
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == OBJECT
    epoch = world.settlement.config.clock.epoch_at_ms(world.meter.clock_ms())

    with pytest.raises(SettlementError) as early:
        world.settlement.settle(epoch)
    assert early.value.code == "epoch_open"

    world.settle_after_epoch(epoch)
    before = world.ledger.balance(alice.address)
    settled = world.settlement.settle(epoch)
    data = read_usage_file(world.settlement.config.data_dir, epoch)
    assert data is not None and data == settled.path.read_bytes()
    doc = json.loads(data)
    assert canonical_json(doc) == data and doc["format"] == "usage_v1"
    assert settled.usage_ref == keccak256(data)
    accounts = {a["account"]: a for a in doc["accounts"]}
    assert set(accounts) == {alice.address, bob.address}
    assert accounts[alice.address]["egress_bytes"] == len(OBJECT)
    assert accounts[alice.address]["stored_byte_ms"] > 0
    assert doc["nodes"] and all(x["stored_byte_ms"] > 0 for x in doc["nodes"])
    assert sum(x["egress_bytes"] for x in doc["nodes"]) >= len(OBJECT)
    charged = accounts[alice.address]["credits"]
    assert 0 < charged < before

    spends = world.ledger.spends()
    assert {(s.account, s.amount, s.usage_ref) for s in spends} == {
        (alice.address, charged, keccak256(data)),
        (bob.address, 2, keccak256(data)),
    }
    assert all(s.spender == world.settlement.gateway for s in spends)
    assert world.ledger.balance(alice.address) == before - charged
    assert world.ledger.balance(bob.address) == 0
    assert settled.unpaid == [bob.address]
    assert {a.account: a.state for a in settled.accounts} == {
        alice.address: "paid",
        bob.address: "partial",
    }
    total = sum(x["credits"] for x in doc["nodes"])
    assert 0 < total <= charged + 2  # nodes are claimed no more than is collected

    result = asyncio.run(world.settlement.deliver())
    assert result.rejected == () and result.pending == 0
    assert result.accepted == len(doc["nodes"]) + 2

    again = world.settlement.settle(epoch)  # a rerun: same file, no second spend, no new report
    assert again.usage_ref == settled.usage_ref and len(world.ledger.spends()) == 2
    assert world.settlement.file_reports(epoch) == 0

    world.settle_after_epoch(epoch + 1)  # a second settlement filed in the same oracle epoch
    with pytest.raises(SettlementError) as twice:
        world.settlement.settle(epoch + 1)
    assert twice.value.code == "one_per_epoch" and len(world.ledger.spends()) == 2

    # bob still owes what he used beyond his 2 credits: refused, and nothing changes
    debt = accounts[bob.address]["credits"] - 2
    assert debt > 0 and world.settlement.owed(bob.address) >= debt  # (+ usage since the epoch)
    message = denied(
        lambda: s3b.put_object(Bucket="b-" + bob.address[2:10].lower(), Key="k2", Body=b"y")
    )
    assert f"account {bob.address} has no credits left" in message
    s3a.list_buckets()  # alice still has credits


def test_a_crash_after_the_spend_is_found_on_chain_not_spent_again(world: World) -> None:
    alice, s3 = consumer(world, ONE_TOKEN)
    s3.create_bucket(Bucket="crash-bucket")
    s3.put_object(Bucket="crash-bucket", Key="k", Body=OBJECT)
    epoch = world.settlement.config.clock.epoch_at_ms(world.meter.clock_ms())
    world.settle_after_epoch(epoch)
    settled = world.settlement.build(epoch)
    (line,) = settled.accounts
    # the spend is mined, then the process dies before recording it
    world.ledger.spend(
        Address(alice.address), line.charged, settled.usage_ref, world.settlement.key
    )
    lines = world.settlement.spend(epoch)
    assert [(x.state, x.spent) for x in lines] == [("paid", line.charged)]
    assert len(world.ledger.spends()) == 1


def test_an_account_without_credits_is_refused_and_nothing_changes(world: World) -> None:
    poor, s3 = consumer(world, 0)
    events = world.meter.account_usage(0, 2**62)
    message = denied(lambda: s3.create_bucket(Bucket="poor-bucket"))
    assert message.startswith(f"account {poor.address} has no credits left")
    assert world.gateway.gateway is not None
    assert world.gateway.gateway.metadata.bucket("poor-bucket") is None
    assert world.meter.account_usage(0, 2**62) == events
    non_address = world.gateway.client("alice")
    assert "is not a chain address" in denied(non_address.list_buckets)


def test_the_usage_file_is_served_by_the_gateway(world: World) -> None:
    _, s3 = consumer(world, ONE_TOKEN)
    s3.create_bucket(Bucket="served-bucket")
    epoch = world.settlement.config.clock.epoch_at_ms(world.meter.clock_ms())
    world.settle_after_epoch(epoch)
    settled = world.settlement.settle(epoch)
    from opendepin.storage.gateway.app import GatewayApp

    assert world.gateway.gateway is not None
    app = GatewayApp(world.gateway.gateway, usage_data=world.settlement.config.data_dir)

    async def fetch(path: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as c:
            return await c.get("http://gw" + path)

    ok = asyncio.run(fetch(f"/v1/usage/{epoch}"))
    assert ok.status_code == 200 and ok.content == settled.path.read_bytes()
    assert asyncio.run(fetch(f"/v1/usage/{epoch + 1}")).status_code == 404


def test_an_account_with_nothing_left_at_settlement_is_unpaid_and_not_spent(world: World) -> None:
    from opendepin.storage.gateway.hooks import UsageEvent

    carol = Signer.generate().address  # used the gateway, then her credits went elsewhere
    now = world.meter.clock_ms()
    world.meter.record(UsageEvent(carol, "PutObject", "b", "k", 10**6, 0, 10**6, now, "r1"))
    epoch = world.settlement.config.clock.epoch_at_ms(now)
    world.settle_after_epoch(epoch)
    settled = world.settlement.settle(epoch)
    (line,) = settled.accounts
    assert (line.account, line.state, line.spent) == (carol, "unpaid", 0) and line.charged > 0
    assert settled.unpaid == [carol]
    assert world.ledger.spends() == []
    assert world.settlement.owed(carol) >= line.charged
    result = asyncio.run(world.settlement.deliver())
    assert result.rejected == () and result.accepted == len(settled.document["nodes"])


def test_usage_document_sorts_by_address_value_and_caps_node_shares(tmp_path: Path) -> None:
    from opendepin.storage.metering import Usage
    from opendepin.storage.settlement import usage_document

    config = SettlementConfig("net", 1, 0, 86_400, tmp_path, Prices(10**9, 10**9))
    upper, lower = "0x" + "B" * 40, "0x" + "a" * 40  # "B" < "a" as text, 0xbb.. > 0xaa..
    nodes = {upper: Usage(0, 3 * 10**5), lower: Usage(0, 10**5)}  # raw 300_000 and 100_000
    doc = usage_document(config, 7, "0x" + "c" * 40, {upper: Usage(0, 10)}, nodes, 200_000)
    assert [x["node"] for x in doc["nodes"]] == [lower, upper]
    assert [x["credits"] for x in doc["nodes"]] == [50_000, 150_000]  # scaled to what is paid
    uncapped = usage_document(config, 7, "0x" + "c" * 40, {}, nodes, 10**9)
    assert [x["credits"] for x in uncapped["nodes"]] == [100_000, 300_000]
    assert doc["accounts"] == [
        {"account": upper, "credits": 10, "stored_byte_ms": 0, "egress_bytes": 10}
    ]
