"""The demo's demand side: consumers who pay for storage, a gateway that charges them.

`depin demo` runs storage nodes (`proofs.storage.simulation`); this module puts consumers on
them, the way the real S3 gateway does (`storage.gateway`, `storage.settlement`), on the
demo's chain and clock:

```
deploy      each consumer gets tokens from [chain] genesis_allocations
epoch 0 h0  each consumer burns tokens for credits (Credits.burnForCredits); the gateway
            (the simulated placer's key) is registered as a device of kind "usage" and
            authorised as a Credits spender through the governance timelock
every epoch h1   every consumer PUTs objects (the placer erasure-codes them onto the nodes;
                 the nodes file their placement reports as usual)
            h12  every consumer lists its objects and GETs each back: the gateway signs a GET
                 order per piece it fetches, the node serves it and keeps the order
            h18  (from epoch 1) the first consumer deletes its oldest object: billing stops
epoch E+1 h1     the gateway settles E: per account stored byte-ms and egress → credits
                 (`pricing.charge`), per node its pieces' byte-ms and egress → its share; the
                 usage_v1 file (`settlement.usage_document`, canonical JSON) goes to
                 <data_dir>/gateway/usage/E/; each account's credits are spent on chain,
                 min(charged, balance), citing keccak256(file); the rest stays owed
            h2   the gateway files usage reports (per node) and spend reports (per account);
                 every node files its served GET orders of E as egress reports
```

The oracles verify them with the `usage` kind and its pool pays the nodes for what the
consumers paid (its unused part flows to the proof pools). The last consumer buys too few
credits to pay its bill: its spend is partial and the rest stays owed (a consumer that does
not pay cannot make the nodes be paid for it). The last epoch's usage is settled in the epoch
after the demo, so the summary shows it as charged and not yet spent.

What this leaves out (the real gateway has it): a delete here only stops billing, the pieces
stay on the nodes until their term ends (the simulated placer has no removal path); a node's
stored byte-ms count the pieces the placer holds for the object at settlement time (repairs in
between are not time-weighted).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from opendepin.canonical import canonical_json
from opendepin.chain.accounts import Signer
from opendepin.crypto import keccak256
from opendepin.identity import DeviceKey, KeyType
from opendepin.network.settings import Settings
from opendepin.proofs.kind import SimHour
from opendepin.proofs.storage.simnodes import SimNode, StoredObject
from opendepin.proofs.storage.simulation import StorageSimulation
from opendepin.proofs.usage.payload import (
    MAX_ORDERS_PER_REPORT,
    egress_payload,
    spend_payload,
    usage_payload,
)
from opendepin.reports.eip712 import sign_report
from opendepin.reports.envelope import Report, canonical_payload
from opendepin.sim.keys import sim_secret
from opendepin.storage import erasure, merkle
from opendepin.storage.credits import CreditsLedger, CreditsRefused, onboard_gateway
from opendepin.storage.metering import Usage
from opendepin.storage.orders import Action, OrderLimit
from opendepin.storage.pricing import Prices, charge
from opendepin.storage.settlement import SettlementConfig, usage_document, write_usage_file
from opendepin.types import ONE_TOKEN, Address, DeviceId, Epoch, ProofKind

USAGE: Final = ProofKind("usage")
DEFAULT_CONSUMERS: Final = 3
MAX_CONSUMERS: Final = 100
GENESIS_TOKENS: Final = 10_000 * ONE_TOKEN
"""Each consumer's genesis allocation."""
CREDIT_TOKENS: Final = 2_000 * ONE_TOKEN
"""What a paying consumer burns for credits."""
SHORT_CREDIT_TOKENS: Final = 1 * ONE_TOKEN
"""What the last consumer burns: too little for its bill (its spends are partial)."""
DEMO_STORED_GB_MONTH_CREDITS: Final = 300_000_000_000
DEMO_EGRESS_GB_CREDITS: Final = 10_000_000_000
"""Demo prices, far above Storj's ($4/TB-month, $7/TB): the demo's objects are kilobytes and
live a day, and at list prices they would cost no whole credit."""
OBJECTS_PER_EPOCH: Final = 2
MIN_OBJECT_BYTES: Final = 24 * 1024
MAX_OBJECT_BYTES: Final = 96 * 1024
PUT_HOUR: Final = 1
READ_HOUR: Final = 12
DELETE_HOUR: Final = 18
SETTLE_HOUR: Final = 1
"""Hour of E + 1 in which the gateway spends for E (after the hour's delivery, so the spend
blocks come after the hour's entropy block); its reports follow in the next hour."""
ORDER_TTL_MS: Final = 3_600_000
REPORT_OFFSET_MS: Final = 120_000
"""Consumer-side reports are signed this long after their hour's start."""
SEED_SALT: Final = 0xC0A5


def consumer_signers(seed: int, count: int) -> list[Signer]:
    """The demo's consumer accounts (simulation keys: never for real value)."""
    return [Signer.from_private_bytes(sim_secret(seed, "consumer", i)) for i in range(count)]


@dataclass(slots=True)
class ConsumerObject:
    """An object a consumer stored through the gateway."""

    account: str
    key: str
    index: int
    """Index in the placer's objects."""
    size: int
    stored_ms: int
    deleted_ms: int | None = None


@dataclass(slots=True)
class Served:
    """A GET order a node served: what it files as egress evidence after the epoch."""

    epoch: int
    order: OrderLimit
    nbytes: int


@dataclass(frozen=True, slots=True)
class ConsumerSummary:
    """The demand side at the demo's end (credits in credits, tokens in base units)."""

    consumers: int
    objects_put: int
    bytes_put: int
    objects_listed: int
    """Objects the consumers' last listing showed (deleted ones excluded)."""
    reads: int
    reads_intact: int
    """GETs that returned the stored bytes exactly."""
    deleted: int
    tokens_burned: str
    credits_bought: int
    credits_charged: int
    """Charged for the settled epochs."""
    credits_spent: int
    credits_owed: int
    """Charged and not collected (accounts without enough credits)."""
    settled_epochs: list[int]
    unsettled_charges: int
    """The last epoch's usage, settled only in the epoch after the demo (credits)."""
    usage_paid: str
    """Usage rewards the oracles paid the nodes (base units), from the reward files."""
    egress_reports: int
    genesis_minted: str


@dataclass(slots=True)
class _Account:
    signer: Signer
    credit_tokens: int
    objects: list[ConsumerObject] = field(default_factory=list)


class DemoConsumers:
    """Consumers, the gateway's metering and its settlement (see the module docstring)."""

    def __init__(
        self, *, seed: int, count: int, storage: StorageSimulation, settings: Settings,
        data_dir: Path,
    ) -> None:  # fmt: skip
        self.storage = storage
        self.settings = settings
        self.prices = Prices.from_settings(settings)
        self.signer = storage.placer.signer  # the placer is the consumers' gateway
        self.key = DeviceKey.from_private_bytes(KeyType.SECP256K1, self.signer.private_bytes())
        self.accounts = [
            _Account(s, SHORT_CREDIT_TOKENS if i == count - 1 and count > 1 else CREDIT_TOKENS)
            for i, s in enumerate(consumer_signers(seed, count))
        ]
        net = settings.network
        self.config = SettlementConfig(
            network=net.network_id,
            chain_id=net.chain_id,
            genesis_unix=net.genesis_unix,
            epoch_seconds=net.epoch_seconds,
            data_dir=data_dir,
            prices=self.prices,
        )
        self._rng = random.Random(seed ^ SEED_SALT)
        self._seq = 0
        self._served: dict[int, list[Served]] = {}
        """Node index -> GET orders it served (not yet filed)."""
        self._pending: list[Report] = []
        """Reports to file in the next hour."""
        self._settled: set[int] = set()
        """Epochs settled so far."""
        self.tokens_burned = 0
        self.credits_bought = 0
        self.credits_charged = 0
        self.credits_spent = 0
        self.reads = 0
        self.reads_intact = 0
        self.listed = 0
        self.egress_reports = 0
        self._egress_log: dict[tuple[int, str, bool], int] = {}
        """(epoch, account or node, is a node's piece) -> bytes downloaded."""

    # -- set-up -------------------------------------------------------------------------

    @staticmethod
    def allocations(seed: int, count: int) -> dict[str, int]:
        """The consumers' `[chain] genesis_allocations`."""
        return {s.address: GENESIS_TOKENS for s in consumer_signers(seed, count)}

    def register(self, net: Any, owner: Signer, deadline: int, gas_wei: int) -> None:
        """Register the gateway (kind usage, owned by `owner`), authorise it as a Credits
        spender through the timelock, and fund every consumer's and the gateway's gas."""
        for account in [self.signer, *(a.signer for a in self.accounts)]:
            net.chain.fund(account.address, gas_wei)
        onboard_gateway(
            net.chain, net.deployment, self.key, owner=owner, governance=net.governance,
            deadline=deadline,  # a salt from the key: the same seed gives the same blocks
            salt=keccak256(b"opendepin-demo:spender:" + self.signer.address.encode()),
        )  # fmt: skip

    # -- each hour ------------------------------------------------------------------------

    def before_reports(self, hour: SimHour) -> None:
        """What consumers do at the hour's start (before the nodes sign their reports)."""
        start_ms = hour.hour_start_unix * 1_000
        if hour.hour == PUT_HOUR:
            for account in self.accounts:
                self._put(account, hour, start_ms)
        elif hour.hour == READ_HOUR:
            self._list_and_read(hour, start_ms + REPORT_OFFSET_MS)
        elif hour.hour == DELETE_HOUR and hour.epoch >= 1:
            live = [o for o in self.accounts[0].objects if o.deleted_ms is None]
            if live:
                live[0].deleted_ms = start_ms

    def hour_reports(self, hour: SimHour) -> list[Report]:
        """The reports the gateway and the nodes file this hour (queued the hour before)."""
        out, self._pending = self._pending, []
        return out

    def after_delivery(self, net: Any, hour: SimHour) -> None:
        """Chain work after the hour's delivery: the first purchase, and settling E − 1."""
        ledger = CreditsLedger(net.chain, net.deployment)
        if hour.epoch == 0 and hour.hour == 0:
            for account in self.accounts:
                bought = ledger.buy(account.credit_tokens, sender=account.signer)
                self.tokens_burned += bought.tokens
                self.credits_bought += bought.credits
        if hour.hour == SETTLE_HOUR and hour.epoch >= 1:
            self._settle(ledger, hour.epoch - 1, hour)

    # -- consumers ------------------------------------------------------------------------

    def _put(self, account: _Account, hour: SimHour, now_ms: int) -> None:
        blobs = [
            self._rng.randbytes(self._rng.randint(MIN_OBJECT_BYTES, MAX_OBJECT_BYTES))
            for _ in range(OBJECTS_PER_EPOCH)
        ]
        first = len(self.storage.placer.objects)
        self.storage.placer.upload(blobs, self.storage.nodes, now_ms)
        for i, blob in enumerate(blobs):
            key = f"epoch-{hour.epoch}/object-{i}.bin"
            account.objects.append(ConsumerObject(account.signer.address, key, first + i,
                                                  len(blob), now_ms))  # fmt: skip

    def _list_and_read(self, hour: SimHour, now_ms: int) -> None:
        listed = 0
        for account in self.accounts:
            live = sorted((o for o in account.objects if o.deleted_ms is None), key=lambda o: o.key)
            listed += len(live)
            for obj in live:
                data = self._get(obj, int(hour.epoch), now_ms)
                self.reads += 1
                self.reads_intact += data == self.storage.placer.objects[obj.index].data
        self.listed = listed

    def _get(self, obj: ConsumerObject, epoch: int, now_ms: int) -> bytes | None:
        """Read an object as the gateway does: per segment, `required` verified pieces, each
        fetched under a GET order it signs; egress is metered per account and node."""
        placer, nodes = self.storage.placer, self.storage.nodes
        r = placer.redundancy
        stored: StoredObject = placer.objects[obj.index]
        parts = []
        for segment in stored.segments:
            pieces: dict[int, bytes] = {}
            for number, (node_index, placement) in sorted(segment.healthy.items()):
                if len(pieces) == r.required:
                    break
                node: SimNode = nodes[node_index]
                order = OrderLimit(
                    network=placer.network_id, chain_id=placer.chain_id,
                    placer=placer.address, node=node.device_id, piece=placement.piece,
                    action=Action.GET, max_bytes=placement.size,
                    expires_ms=now_ms + ORDER_TTL_MS, serial=self._rng.randbytes(16),
                ).signed(self.signer)  # fmt: skip
                data = node.serve(placement.piece)
                if data is None:
                    continue
                self._served.setdefault(node_index, []).append(Served(epoch, order, len(data)))
                self._egress(node.device_id, epoch, len(data), piece=True)
                if merkle.merkle_root(data) == placement.root:
                    pieces[number] = data
            try:
                parts.append(erasure.decode_segment(pieces, r.required, r.total, segment.length))
            except ValueError:
                return None
        self._egress(obj.account, epoch, obj.size, piece=False)
        return b"".join(parts)

    # -- metering -------------------------------------------------------------------------

    def _egress(self, who: str, epoch: int, nbytes: int, *, piece: bool) -> None:
        k = (epoch, who, piece)
        self._egress_log[k] = self._egress_log.get(k, 0) + nbytes

    def _usage(self, epoch: int) -> tuple[dict[str, Usage], dict[str, Usage]]:
        """(per account, per node) usage of `epoch`: byte-ms of what was live, egress."""
        start_ms, end_ms = self.config.clock.window_ms(epoch)
        log = self._egress_log
        placer = self.storage.placer
        stored_a: dict[str, int] = {}
        stored_n: dict[str, int] = {}
        for account in self.accounts:
            for obj in account.objects:
                live_from = max(start_ms, obj.stored_ms)
                live_to = min(end_ms, obj.deleted_ms if obj.deleted_ms is not None else end_ms)
                if live_to <= live_from:
                    continue
                ms = live_to - live_from
                stored_a[obj.account] = stored_a.get(obj.account, 0) + obj.size * ms
                for segment in placer.objects[obj.index].segments:
                    for node_index, placement in segment.healthy.values():
                        node = str(self.storage.nodes[node_index].device_id)
                        stored_n[node] = stored_n.get(node, 0) + placement.size * ms
        accounts: dict[str, Usage] = {
            a.signer.address: Usage(stored_a.get(a.signer.address, 0),
                                    log.get((epoch, a.signer.address, False), 0))
            for a in self.accounts
        }  # fmt: skip
        node_ids = {str(n.device_id) for n in self.storage.nodes}
        nodes = {
            n: Usage(stored_n.get(n, 0), log.get((epoch, n, True), 0))
            for n in sorted(node_ids)
            if stored_n.get(n, 0) or log.get((epoch, n, True), 0)
        }
        return accounts, nodes

    # -- settlement -----------------------------------------------------------------------

    def _settle(self, ledger: CreditsLedger, epoch: int, hour: SimHour) -> None:
        """Settle `epoch` as `storage.settlement` does: file, spends, then (next hour) reports."""
        accounts, nodes = self._usage(epoch)
        charged = self._charges(accounts)
        plan = {a: min(c, ledger.balance(Address(a))) for a, c in charged.items() if c > 0}
        doc = usage_document(
            self.config, epoch, self.key.device_id, accounts, nodes, sum(plan.values())
        )
        data = canonical_json(doc)
        write_usage_file(self.config.data_dir, epoch, data)
        ref = keccak256(data)
        spent: dict[str, int] = {}
        for account, amount in sorted(plan.items()):
            if amount <= 0:
                continue
            try:
                event = ledger.spend(Address(account), amount, ref, sender=self.signer)
            except CreditsRefused:
                continue  # nothing spent: stays owed
            spent[account] = event.amount
        self.credits_charged += sum(charged.values())
        self.credits_spent += sum(spent.values())
        self._settled.add(epoch)
        ts = (hour.hour_start_unix + 3_600) * 1_000 + REPORT_OFFSET_MS
        reports = [usage_payload(n["node"], n["egress_bytes"], n["stored_byte_ms"], n["credits"])
                   for n in doc["nodes"]]  # fmt: skip
        reports += [spend_payload(a, c, ref) for a, c in sorted(spent.items())]
        for payload in reports:
            self._pending.append(self._sign(self.key, self._next_seq(), hour.epoch, ts, payload))
            ts += 1
        for node_index, served in sorted(self._served.items()):
            node = self.storage.nodes[node_index]
            mine = [s for s in served if s.epoch == epoch]
            self._served[node_index] = [s for s in served if s.epoch != epoch]
            for i in range(0, len(mine), MAX_ORDERS_PER_REPORT):
                chunk = [(s.order, s.nbytes) for s in mine[i : i + MAX_ORDERS_PER_REPORT]]
                payload = egress_payload(self.key.device_id, chunk)
                self._pending.append(self._sign(node.key, node.next_seq, hour.epoch, ts, payload))
                node.next_seq += 1
                self.egress_reports += 1
                ts += 1

    def _charges(self, accounts: dict[str, Usage]) -> dict[str, int]:
        """Account -> the credits its usage costs (`pricing.charge`)."""
        return {a: charge(u.stored_byte_ms, u.egress_bytes, self.prices) for a, u in accounts.items()}

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _sign(
        self, key: DeviceKey, seq: int, epoch: Epoch, ts_ms: int, payload: dict[str, Any]
    ) -> Report:
        net = self.settings.network
        report = Report(
            network_id=net.network_id, chain_id=net.chain_id, device=DeviceId(key.device_id),
            kind=USAGE, epoch=epoch, seq=seq, timestamp_ms=ts_ms,
            payload=canonical_payload(payload),
        )  # fmt: skip
        return sign_report(report, key)

    # -- summary --------------------------------------------------------------------------

    def summary(self, last_epoch: int, usage_paid: int) -> ConsumerSummary:
        objects = [o for a in self.accounts for o in a.objects]
        unsettled = 0
        if last_epoch >= 0 and last_epoch not in self._settled:
            unsettled = sum(self._charges(self._usage(last_epoch)[0]).values())
        return ConsumerSummary(
            consumers=len(self.accounts),
            objects_put=len(objects),
            bytes_put=sum(o.size for o in objects),
            objects_listed=self.listed,
            reads=self.reads,
            reads_intact=self.reads_intact,
            deleted=sum(o.deleted_ms is not None for o in objects),
            tokens_burned=str(self.tokens_burned),
            credits_bought=self.credits_bought,
            credits_charged=self.credits_charged,
            credits_spent=self.credits_spent,
            credits_owed=self.credits_charged - self.credits_spent,
            settled_epochs=sorted(self._settled),
            unsettled_charges=unsettled,
            usage_paid=str(usage_paid),
            egress_reports=self.egress_reports,
            genesis_minted=str(GENESIS_TOKENS * len(self.accounts)),
        )


__all__ = [
    "DEFAULT_CONSUMERS",
    "MAX_CONSUMERS",
    "ConsumerSummary",
    "DemoConsumers",
    "consumer_signers",
]

