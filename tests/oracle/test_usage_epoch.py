"""An epoch that pays `usage`, end to end through the real oracle pipeline and `depin audit`.

On the embedded chain: a gateway registered as a `usage` device and authorised as a Credits
spender, a consumer who bought credits, a storage node, heartbeat devices. The gateway spends
the consumer's credits with its usage ref inside epoch 0 and files its usage and spend reports;
the oracle (given the deployment's contract addresses) snapshots, seals and computes: the
frozen `kinds/usage/credits_spent_v1.json` is a manifest input, the node is paid the token
value of what was spent, the rest of the usage pool flows to heartbeat (visible in
verdicts_v1.json), and `audit_epoch` recomputes the same root from the directory alone."""

from __future__ import annotations

import json
from pathlib import Path

from opendepin.chain.accounts import Signer
from opendepin.chain.governance import GovernanceClient, Operation, Proposal
from opendepin.crypto import keccak256
from opendepin.epochdir import EpochFile, kind_path
from opendepin.identity import DeviceKey
from opendepin.network.settings import ChainSection, NetworkSection, PoolsSection, Settings
from opendepin.oracle.audit import audit_epoch
from opendepin.proofs.usage.chaininput import CREDITS_SPENT_FILE
from opendepin.proofs.usage.payload import spend_payload, usage_payload
from opendepin.reports.eip712 import sign_report
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.sim.network import SIM_GENESIS_UNIX, build_network, make_oracle, register_devices
from opendepin.storage.credits import CreditsLedger
from opendepin.storage.pricing import Prices, charge
from opendepin.store import LogEntry
from opendepin.types import ONE_TOKEN, Address, Epoch, ProofKind

from .test_runner import _feed

GB = 10**9
MONTH_MS = 30 * 24 * 3_600_000
GAS = 10**21


def test_a_usage_epoch_is_paid_flows_and_audits(tmp_path: Path) -> None:
    holder = Signer.generate()
    settings = Settings(
        network=NetworkSection(network_id="opendepin-demo", genesis_unix=SIM_GENESIS_UNIX),
        pools=PoolsSection(bps={"heartbeat": 6_000, "usage": 2_000}),
        chain=ChainSection(
            onboarding_fee=0, location_fee=0, location_cooldown_seconds=0, oracle_threshold=2,
            genesis_allocations={holder.address: str(100 * ONE_TOKEN)},
        ),
    )  # fmt: skip
    net = build_network(seed=11, devices=6, settings=settings)
    register_devices(net)
    gateway, node = DeviceKey.generate(), DeviceKey.generate()
    owner = net.owners[0]
    registry = net.deployment.registry(net.chain)
    for key, kind in ((gateway, "usage"), (node, "storage")):
        registry.register(key, owner, kind, net.chain.now() + 3_600)
    for account in (holder.address, gateway.device_id):
        net.chain.fund(Address(account), GAS)
    timelock = GovernanceClient(net.chain, net.deployment.address("Timelock"))
    op = Operation.of(
        Proposal.set_spender(net.deployment.address("Credits"), Address(gateway.device_id), True)
    )
    timelock.propose(op, sender=net.governance)
    timelock.execute_operation(op, sender=net.governance)
    ledger = CreditsLedger(net.chain, net.deployment)
    ledger.buy(10 * ONE_TOKEN, sender=holder)

    net.advance_to(net.epoch_start(0) + 600)
    ref = keccak256(b"the gateway's usage file")
    spent = 50_000
    ledger.credits.spend(Address(holder.address), spent, ref, sender=Signer.from_key(gateway))
    stored = 13 * GB * MONTH_MS
    assert charge(stored, 0, Prices.from_settings(settings)) >= spent
    at_ms = (net.epoch_start(0) + 700) * 1_000
    reports = []
    for seq, payload in enumerate(
        [usage_payload(node.device_id, 0, stored, spent), spend_payload(holder.address, spent, ref)]
    ):
        report = Report(
            network_id=settings.network.network_id, chain_id=settings.network.chain_id,
            device=gateway.device_id, kind=ProofKind("usage"), epoch=Epoch(0), seq=seq,
            timestamp_ms=at_ms, payload=canonical_payload(payload),
        )  # fmt: skip
        reports.append(sign_report(report, gateway))

    oracle = make_oracle(net, 0, tmp_path / "oracle")
    assert oracle.runner.contracts == net.deployment.addresses  # Oracle.build passes them
    oracle.store.reports.append([LogEntry.of(r, r.timestamp_ms + 500) for r in reports])
    _feed(net, [oracle], 0)
    oracle.runner.prepare(0)
    oracle.store.close()
    d = oracle.runner.epoch_dir(0)

    manifest = json.loads((d / EpochFile.MANIFEST).read_bytes())
    assert kind_path("usage", CREDITS_SPENT_FILE) in [i["name"] for i in manifest["inputs"]]
    verdicts = json.loads((d / EpochFile.VERDICTS).read_bytes())
    notes = verdicts["kinds"]  # kind notes sit in each kind's entry
    assert notes["usage"]["counts"] == {"valid": 2}
    value = spent * ONE_TOKEN // settings.chain.credit_price
    assert notes["usage"]["pool_used"] == value
    assert notes["usage"]["pool_unused"] == notes["usage"]["pool"] - value
    assert notes["heartbeat"]["pool_inflow"] == {
        "usage": notes["usage"]["pool_unused_to"]["heartbeat"]
    }
    explanations = json.loads((d / EpochFile.EXPLANATIONS).read_bytes())
    paid = {e["device"]: e for e in explanations["kinds"]["usage"]}
    assert paid[node.device_id]["credits"] == spent

    result = audit_epoch(d)
    assert result.ok, result.problems

    frozen = d / kind_path("usage", CREDITS_SPENT_FILE)
    frozen.write_bytes(frozen.read_bytes().replace(b'"amount":50000', b'"amount":50001'))
    tampered = audit_epoch(d)
    assert not tampered.ok
    assert any(CREDITS_SPENT_FILE in p for p in tampered.problems)
