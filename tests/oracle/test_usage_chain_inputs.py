"""The snapshot stage's chain-input hook, through the real stage on the embedded chain.

Deploy the contracts, authorise a gateway as a Credits spender, buy credits, spend them with a
usage ref in two epochs: each epoch's frozen `kinds/usage/credits_spent_v1.json` lists exactly
its own spends, the spender set and the price at its close block (a later price change does
not change the file), `read_kind_files` hands it back to compute (what `depin audit` reads),
and the usage kind verifies the gateway's spend report against it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from opendepin.canonical import canonical_json
from opendepin.chain import EmbeddedChain, Signer, deploy_network
from opendepin.chain.backend import Chain
from opendepin.chain.blocks import close_block
from opendepin.chain.clients import DistributorClient, RegistryClient
from opendepin.chain.deploy import Deployment
from opendepin.chain.governance import GovernanceClient, Operation, Proposal
from opendepin.crypto import keccak256
from opendepin.epochdir import EpochFile, epoch_dir, kind_path
from opendepin.errors import StageError
from opendepin.identity import DeviceKey
from opendepin.network.settings import NetworkSection, Settings
from opendepin.oracle.epoch_inputs import (
    KindFiles,
    chain_inputs_for,
    epoch_block_range,
    read_kind_files,
)
from opendepin.oracle.stages import snapshot as snapshot_stage
from opendepin.proofs.kind import ChainView, Kind, KindBase, KindJob
from opendepin.proofs.usage.chaininput import CREDITS_SPENT_FILE, parse_credits_spent
from opendepin.proofs.usage.kind import KIND as USAGE
from opendepin.proofs.usage.payload import spend_payload
from opendepin.records import ChainSnapshot, DeviceRecord, IngestedReport
from opendepin.reports.eip712 import sign_report
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.rewards.files import RewardFile
from opendepin.storage.credits import CreditsLedger
from opendepin.types import ONE_TOKEN, Address, Epoch, ProofKind

START = 1_900_000_000
DAY = 86_400
GAS = 10**21


@dataclass
class Ctx:
    """The parts of a `StageContext` the snapshot stage uses (the runner provides them)."""

    settings: Settings
    chain: Chain
    registry: RegistryClient
    distributor: DistributorClient
    modules: dict[str, Kind]
    registry_from_block: int
    data_dir: Path
    contracts: Mapping[str, Address] = field(default_factory=dict)

    def epoch_dir(self, epoch: int) -> Path:
        return epoch_dir(self.data_dir, epoch)


@dataclass
class Net:
    settings: Settings
    chain: EmbeddedChain
    deployment: Deployment
    gov: Signer
    gateway: DeviceKey
    ledger: CreditsLedger
    holder: Signer

    def ctx(self, data_dir: Path, contracts: bool = True) -> Ctx:
        return Ctx(
            self.settings,
            self.chain,
            self.deployment.registry(self.chain),
            self.deployment.distributor(self.chain),
            {"usage": USAGE},
            self.deployment.first_block,
            data_dir,
            dict(self.deployment.addresses) if contracts else {},
        )

    def govern(self, call: object) -> None:
        timelock = GovernanceClient(self.chain, self.deployment.address("Timelock"))
        op = Operation.of(call)
        timelock.propose(op, sender=self.gov)
        timelock.execute_operation(op, sender=self.gov)

    def at(self, unix: int) -> None:
        self.chain.time_travel(unix - self.chain.now())


@pytest.fixture
def net() -> Net:
    holder = Signer.generate()
    settings = Settings(
        network=NetworkSection(genesis_unix=START, epoch_seconds=DAY),
        chain={"genesis_allocations": {holder.address: str(100 * ONE_TOKEN)}},
        pools={"bps": {"usage": 1_000}},
    )
    chain = EmbeddedChain(settings.network.chain_id, genesis_timestamp=START - 1_000)
    gov, gateway = Signer.generate(), DeviceKey.generate()
    for account in (gov, holder, Signer.from_key(gateway)):
        chain.fund(account.address, GAS)
    oracles = [Signer.generate().address for _ in range(settings.chain.oracle_threshold)]
    deployment = deploy_network(chain, settings, gov, oracles, gov.address)
    n = Net(settings, chain, deployment, gov, gateway, CreditsLedger(chain, deployment), holder)
    n.govern(Proposal.set_spender(deployment.address("Credits"), Address(gateway.device_id), True))
    n.ledger.buy(10 * ONE_TOKEN, sender=holder)
    return n


def _spend(net: Net, credits: int, ref: bytes) -> None:
    net.ledger.credits.spend(
        Address(net.holder.address), credits, ref, sender=Signer.from_key(net.gateway)
    )


def _frozen(directory: Path) -> dict[str, object]:
    data = (directory / kind_path("usage", CREDITS_SPENT_FILE)).read_bytes()
    obj = json.loads(data)
    assert data == canonical_json(obj)
    return obj


def _fake_rewards(net: Net, directory: Path, epoch: int) -> None:
    """The previous epoch's reward file the snapshot stage requires (one owner, paid before)."""
    directory.mkdir(parents=True, exist_ok=True)
    file = RewardFile.build(
        network=net.settings.network.network_id, epoch=epoch, emission=0, unallocated=0,
        cumulative={net.gov.address: 1}, epoch_amounts={}, devices={},
    )  # fmt: skip
    (directory / EpochFile.REWARDS).write_bytes(file.to_bytes())


def test_the_snapshot_stage_freezes_each_epochs_own_spends(net: Net, tmp_path: Path) -> None:
    ref0, ref1 = keccak256(b"usage file of epoch 0"), keccak256(b"usage file of epoch 1")
    net.at(START + 100)
    _spend(net, 1_000, ref0)
    net.at(START + DAY + 100)
    _spend(net, 2_500, ref1)
    spend_block = net.chain.block_number()
    net.at(START + 2 * DAY + 10)
    net.chain.mine()
    ctx = net.ctx(tmp_path)

    out0 = snapshot_stage.run(ctx, 0)
    assert kind_path("usage", CREDITS_SPENT_FILE) in out0.details["written"]
    frozen0 = _frozen(ctx.epoch_dir(0))
    assert [s["usage_ref"] for s in frozen0["spends"]] == ["0x" + ref0.hex()]

    _fake_rewards(net, ctx.epoch_dir(0), 0)
    snapshot_stage.run(ctx, 1)
    frozen1 = _frozen(ctx.epoch_dir(1))
    assert frozen1["spends"] == [
        {
            "block": spend_block,
            "log_index": 0,
            "account": net.holder.address,
            "spender": net.gateway.device_id,
            "amount": 2_500,
            "usage_ref": "0x" + ref1.hex(),
        }
    ]
    assert frozen1["spenders"] == [net.gateway.device_id]
    assert frozen1["credits_per_token"] == net.settings.chain.credit_price
    assert frozen1["from_block"] == frozen0["to_block"] + 1

    # what compute and `depin audit` read back: the frozen bytes
    inputs = read_kind_files(ctx.epoch_dir(1), ctx.modules)["usage"].inputs
    assert parse_credits_spent(inputs[CREDITS_SPENT_FILE]).spends[0].amount == 2_500
    report = Report(
        network_id=net.settings.network.network_id, chain_id=net.settings.network.chain_id,
        device=net.gateway.device_id, kind=ProofKind("usage"), epoch=Epoch(1), seq=0,
        timestamp_ms=(START + DAY + 200) * 1_000,
        payload=canonical_payload(spend_payload(net.holder.address, 2_500, ref1)),
    )  # fmt: skip
    snapshot = ChainSnapshot(
        0,
        b"\x00" * 32,
        {
            net.gateway.device_id: DeviceRecord(
                net.gateway.device_id, net.gov.address, "usage", 0, True
            )
        },
        {},
    )
    job = KindJob(Epoch(1), [IngestedReport(sign_report(report, net.gateway))], snapshot, net.settings,
                  USAGE.settings_model(), inputs=inputs, pool=10 * ONE_TOKEN)  # fmt: skip
    assert USAGE.compute(job).verdicts[0].reason is None


def test_the_price_frozen_is_the_price_at_the_close_block(net: Net, tmp_path: Path) -> None:
    net.at(START + DAY + 10)
    net.chain.mine()
    ctx = net.ctx(tmp_path)
    before = USAGE.chain_inputs(
        USAGE.settings_model(), snapshot_stage.chain_view(ctx, 0, _close(net, 0))
    )
    net.govern(Proposal.set_price(net.deployment.address("Credits"), 7))
    net.govern(Proposal.set_price(net.deployment.address("Credits"), 9))
    after = USAGE.chain_inputs(
        USAGE.settings_model(), snapshot_stage.chain_view(ctx, 0, _close(net, 0))
    )
    assert before == after
    assert (
        json.loads(after[CREDITS_SPENT_FILE])["credits_per_token"]
        == net.settings.chain.credit_price
    )
    net.at(START + 2 * DAY + 10)
    net.chain.mine()
    later = USAGE.chain_inputs(
        USAGE.settings_model(), snapshot_stage.chain_view(ctx, 1, _close(net, 1))
    )
    assert json.loads(later[CREDITS_SPENT_FILE])["credits_per_token"] == 9


def _close(net: Net, epoch: int) -> int:
    return close_block(net.chain, net.settings.network.epoch_end_unix(epoch))


def test_an_oracle_without_the_credits_address_cannot_snapshot_usage(
    net: Net, tmp_path: Path
) -> None:
    net.at(START + DAY + 10)
    net.chain.mine()
    with pytest.raises(StageError, match="Credits"):
        snapshot_stage.run(net.ctx(tmp_path, contracts=False), 0)


def test_epoch_block_range_starts_after_the_previous_close_block(net: Net) -> None:
    net.at(START + 2 * DAY + 10)
    net.chain.mine()
    first = net.deployment.first_block
    close0, close1 = _close(net, 0), _close(net, 1)
    assert epoch_block_range(net.chain, 0, net.settings, close0, first) == (first, close0)
    assert epoch_block_range(net.chain, 1, net.settings, close1, first) == (close0 + 1, close1)


class _Chained(KindBase):
    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = files

    def chain_inputs(self, section: object, view: ChainView) -> Mapping[str, bytes]:
        return self.files


def test_chain_input_names_are_checked_and_merged_with_external_inputs(net: Net) -> None:
    view = ChainView(net.chain, {}, 0, 0, 0)
    files = {"heartbeat": KindFiles(None, {"denylist.bin": b"x"})}
    merged = chain_inputs_for(
        {"heartbeat": _Chained({"events_v1.json": b"[]"})}, net.settings, view, files
    )
    assert dict(merged["heartbeat"].inputs) == {"denylist.bin": b"x", "events_v1.json": b"[]"}
    for bad in ("state_v1.json", "../x", ".hidden", "denylist.bin"):
        with pytest.raises(StageError):
            chain_inputs_for({"heartbeat": _Chained({bad: b""})}, net.settings, view, files)
    assert chain_inputs_for({"coverage": KindBase()}, net.settings, view, {}) == {}
