"""Helpers for the usage kind's tests: a small signed world.

`World` has one gateway (a generated secp256k1 `DeviceKey` registered as kind "usage", which
signs GET orders as the placer) and storage nodes (kind "storage"), a consumer account, and
the frozen chain input (`CreditsSpentInput`) the snapshot stage would have written: the
gateway an authorised spender, a price, and the `CreditsSpent` events the test adds. It builds
real signed reports and orders and runs `KIND.compute` exactly as the oracle does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from opendepin.crypto import keccak256
from opendepin.identity import DeviceKey
from opendepin.network.settings import Settings
from opendepin.proofs.kind import KindJob, KindResult
from opendepin.proofs.usage.chaininput import CREDITS_SPENT_FILE, CreditsSpentInput, SpendEvent
from opendepin.proofs.usage.kind import KIND
from opendepin.proofs.usage.payload import egress_payload, spend_payload, usage_payload
from opendepin.proofs.usage.settings import UsageSection
from opendepin.records import ChainSnapshot, DeviceRecord, IngestedReport
from opendepin.reports.eip712 import sign_report
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.storage.orders import Action, OrderLimit, new_piece_id, new_serial
from opendepin.storage.pricing import Prices, charge
from opendepin.types import ONE_TOKEN, Address, DeviceId, Epoch, ProofKind

EPOCH = 3
OWNER = Address("0x" + "0c" * 20)
PRICE = 100_000
"""Credits per whole token."""
POOL = 1_000 * ONE_TOKEN
GB = 10**9


@dataclass
class World:
    section: UsageSection = field(default_factory=UsageSection)
    settings: Settings = field(default_factory=Settings)
    gateway: DeviceKey = field(default_factory=DeviceKey.generate)
    nodes: list[DeviceKey] = field(default_factory=list)
    account: DeviceId = field(default_factory=lambda: DeviceKey.generate().device_id)
    spenders: set[DeviceId] = field(default_factory=set)
    events: list[SpendEvent] = field(default_factory=list)
    price: int = PRICE
    seqs: dict[str, int] = field(default_factory=dict)
    extra_records: list[DeviceRecord] = field(default_factory=list)
    usage_ref: bytes = field(default_factory=lambda: keccak256(b"usage file"))

    @classmethod
    def make(cls, nodes: int = 2, **section: Any) -> World:
        world = cls(UsageSection(**section))
        world.nodes = [DeviceKey.generate() for _ in range(nodes)]
        world.spenders = {world.gateway.device_id}
        return world

    @property
    def prices(self) -> Prices:
        return Prices.from_settings(self.settings)

    def at_ms(self, offset_ms: int = 1_000, epoch: int = EPOCH) -> int:
        return self.settings.network.epoch_window_ms(epoch)[0] + offset_ms

    # -- chain ---------------------------------------------------------------------------

    def snapshot(self) -> ChainSnapshot:
        records = [DeviceRecord(self.gateway.device_id, OWNER, "usage", 0, True)]
        records += [DeviceRecord(k.device_id, OWNER, "storage", 0, True) for k in self.nodes]
        records += self.extra_records
        return ChainSnapshot(
            block_number=999,
            entropy=b"\x07" * 32,
            devices={r.device: r for r in records},
            entropy_blocks={},
        )

    def spent_on_chain(
        self, credits: int, account: DeviceId | None = None, ref: bytes | None = None
    ) -> None:
        """A CreditsSpent event by the gateway in the epoch's blocks."""
        self.events.append(
            SpendEvent(
                100 + len(self.events),
                0,
                account or self.account,
                self.gateway.device_id,
                credits,
                self.usage_ref if ref is None else ref,
            )
        )

    def chain_input(self) -> CreditsSpentInput:
        return CreditsSpentInput(10, 999, self.price, frozenset(self.spenders), tuple(self.events))

    # -- reports -------------------------------------------------------------------------

    def report(
        self,
        key: DeviceKey,
        payload: dict[str, Any],
        at_ms: int | None = None,
        seq: int | None = None,
    ) -> IngestedReport:
        if seq is None:
            seq = self.seqs.get(key.device_id, 0)
            self.seqs[key.device_id] = seq + 1
        report = Report(
            network_id=self.settings.network.network_id,
            chain_id=self.settings.network.chain_id,
            device=key.device_id,
            kind=ProofKind("usage"),
            epoch=Epoch(EPOCH),
            seq=seq,
            timestamp_ms=self.at_ms() if at_ms is None else at_ms,
            payload=canonical_payload(payload),
        )
        return IngestedReport(sign_report(report, key))

    def usage(
        self,
        node: DeviceKey | DeviceId,
        stored_byte_ms: int,
        egress: int,
        credits: int | None = None,
    ) -> IngestedReport:
        address = node if isinstance(node, str) else node.device_id
        if credits is None:
            credits = charge(stored_byte_ms, egress, self.prices)
        return self.report(self.gateway, usage_payload(address, egress, stored_byte_ms, credits))

    def spend(
        self, credits: int, account: DeviceId | None = None, ref: bytes | None = None
    ) -> IngestedReport:
        return self.report(
            self.gateway,
            spend_payload(account or self.account, credits, self.usage_ref if ref is None else ref),
        )

    def order(
        self, node: DeviceKey, max_bytes: int, signer: DeviceKey | None = None, **fields: Any
    ) -> OrderLimit:
        net = self.settings.network
        order = OrderLimit(
            network=net.network_id,
            chain_id=net.chain_id,
            placer=self.gateway.device_id,
            node=node.device_id,
            piece=new_piece_id(),
            action=Action.GET,
            max_bytes=max_bytes,
            expires_ms=self.at_ms(3_600_000),
            serial=new_serial(),
        )
        return replace(order, **fields).signed(signer or self.gateway)

    def egress(
        self, node: DeviceKey, served: list[tuple[OrderLimit, int]], gateway: DeviceId | None = None
    ) -> IngestedReport:
        return self.report(node, egress_payload(gateway or self.gateway.device_id, served))

    # -- compute -------------------------------------------------------------------------

    def job(
        self,
        reports: list[IngestedReport],
        pool: int = POOL,
        inputs: dict[str, bytes] | None = None,
    ) -> KindJob:
        return KindJob(
            epoch=Epoch(EPOCH),
            reports=reports,
            snapshot=self.snapshot(),
            settings=self.settings,
            section=self.section,
            inputs={CREDITS_SPENT_FILE: self.chain_input().to_bytes()}
            if inputs is None
            else inputs,
            pool=pool,
        )

    def compute(self, reports: list[IngestedReport], pool: int = POOL) -> KindResult:
        return KIND.compute(self.job(reports, pool))


def reasons(result: KindResult) -> list[str | None]:
    return [None if v.reason is None else str(v.reason) for v in result.verdicts]
