"""Settlement: after an epoch, charge every account for what it used, on chain, and say so.

```
settle(E)   (E has ended; each step persisted, so a rerun resumes where a crash stopped)
  1 build     metering → per account (stored byte-ms, egress) → credits = pricing.charge
              per node (stored byte-ms of its pieces, egress downloaded from it) → its share
              the usage file usage_v1 (canonical JSON) → <data>/usage/E/usage_v1.<sha256-16>.json
              usage_ref = keccak256(file bytes); the plan (per account: charged, to spend)
  2 spend     per account: a CreditsSpent(account, gateway, usage_ref) already on chain? done.
              else Credits.spend(min(charged, balance)) — 0 credits left: recorded unpaid
  3 report    signed reports of kind "usage" (the gateway's placer key as a usage device):
              {"type": "usage", node, egress_bytes, stored_byte_ms, credits} per node,
              {"type": "spend", account, credits, usage_ref} per account actually spent;
              queued in the device spool, delivered to the oracles' ingests (`deliver`)
```

**Node shares.** A node's credits start as `charge(its stored byte-ms, its egress)`. Nodes
hold erasure-coded pieces (more bytes than the objects), so these sum to more than the
accounts pay; the gateway claims no more than it expects to collect: when they exceed the
planned spends `P`, each node gets `raw_n · P // Σ raw` (rounded down).

**Which epoch the oracles see.** The spends are mined and the reports signed when settlement
runs, i.e. in a later epoch (normally E + 1); both carry that epoch, so the oracles match a
settlement's reports with its `CreditsSpent` events of the same epoch. The oracles take one
settlement per gateway and epoch, so a second one filed in the same epoch is refused
(`one_per_epoch`: a backlog is settled one epoch per epoch), and so is a new one while an
earlier one is unfinished (`unfinished`: rerun that first).

**Exactly once.** The plan is written in the same transaction as the file's row; a spend is
marked done after it is mined, and before spending the chain is searched for the spend (a
crash after mining and before marking is found there, never spent again). Reports are
queued before the epoch is marked reported; a crash between files them again, which the
oracles reject as duplicates.

**Unpaid.** What a settlement could not collect stays owed (`owed`): the credit check
(`gateway.credits_check.CreditsCheck`) refuses the account until its credits cover it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    func,
    insert,
    select,
    update,
)

from opendepin.agent.config import AgentConfig
from opendepin.agent.device import DeviceAgent, FlushResult
from opendepin.agent.sender import FanoutSender, IngestSender, ReportSender
from opendepin.canonical import canonical_json, sha256_hex
from opendepin.chain.accounts import Signer
from opendepin.crypto import keccak256
from opendepin.errors import InputError
from opendepin.identity import DeviceKey, KeyType
from opendepin.identity.address import checksum
from opendepin.network.clock import EpochClock
from opendepin.storage.credits import CreditsLedger, CreditsRefused
from opendepin.storage.metering import Metering, Usage, wall_clock_ms
from opendepin.storage.pricing import Prices, charge
from opendepin.types import Address

USAGE_FORMAT: Final = "usage_v1"
USAGE_KIND: Final = "usage"
"""The report kind (and device kind) of usage reports."""
AGENT_DB: Final = "usage-agent.db"
"""The gateway's device state (sequence numbers, report spool) under its data directory."""
MAX_USAGE_FILE_BYTES: Final = 64 * 1024 * 1024
DEFAULT_PRICES: Final = Prices()
_FILE_NAME: Final = re.compile(r"^usage_v1\.([0-9a-f]{16})\.json$")

settlement_schema = MetaData()

settlements = Table(
    "settlements",
    settlement_schema,
    Column("epoch", BigInteger, primary_key=True),
    Column("gateway", String(42), nullable=False),
    Column("usage_ref", String(66), nullable=False),
    Column("file", String(64), nullable=False),
    Column("from_block", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("reported", Integer, nullable=False),
    Column("filed_epoch", BigInteger, nullable=True),
    # the epoch its reports were signed in (one settlement per gateway and oracle epoch)
)

settlement_accounts = Table(
    "settlement_accounts",
    settlement_schema,
    Column("epoch", BigInteger, nullable=False),
    Column("account", String(42), nullable=False),
    Column("charged", BigInteger, nullable=False),
    Column("spent", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),  # planned | paid | partial | unpaid
    Column("block", BigInteger, nullable=True),
    PrimaryKeyConstraint("epoch", "account"),
)


class SettlementError(InputError):
    """A settlement that cannot run (epoch not over, a tampered file, no spender rights)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class SettlementConfig:
    """What a gateway's settlement needs to know."""

    network: str
    chain_id: int
    genesis_unix: int
    epoch_seconds: int
    data_dir: Path
    """Where usage files go (`<data_dir>/usage/<epoch>/`) and the device state lives."""
    prices: Prices = DEFAULT_PRICES
    ingest_urls: tuple[str, ...] = ()

    @property
    def clock(self) -> EpochClock:
        return EpochClock(self.genesis_unix, self.epoch_seconds)


@dataclass(frozen=True, slots=True)
class AccountLine:
    account: str
    charged: int
    spent: int
    state: str
    block: int | None


@dataclass(frozen=True, slots=True)
class Settled:
    """One epoch's settlement as recorded."""

    epoch: int
    usage_ref: bytes
    path: Path
    document: dict[str, Any]
    accounts: tuple[AccountLine, ...]
    reported: bool

    @property
    def unpaid(self) -> list[str]:
        """Accounts that could not pay all they were charged (state partial or unpaid)."""
        return [a.account for a in self.accounts if a.state in ("partial", "unpaid")]


def _address_order(item: tuple[str, Usage]) -> str:
    """Addresses sort by their value (lower-case hex), not by their EIP-55 spelling."""
    return item[0].lower()


def usage_document(
    config: SettlementConfig,
    epoch: int,
    gateway: str,
    accounts: dict[str, Usage],
    nodes: dict[str, Usage],
    collectable: int,
) -> dict[str, Any]:
    """The usage_v1 document (see the module docstring for node shares)."""
    prices = config.prices
    raw = {n: charge(u.stored_byte_ms, u.egress_bytes, prices) for n, u in nodes.items()}
    total = sum(raw.values())
    shares = raw if total <= collectable else {n: c * collectable // total for n, c in raw.items()}
    return {
        "format": USAGE_FORMAT,
        "network": config.network,
        "chain_id": config.chain_id,
        "epoch": epoch,
        "gateway": gateway,
        "accounts": [
            {
                "account": a,
                "credits": charge(u.stored_byte_ms, u.egress_bytes, prices),
                "stored_byte_ms": u.stored_byte_ms,
                "egress_bytes": u.egress_bytes,
            }
            for a, u in sorted(accounts.items(), key=_address_order)
        ],
        "nodes": [
            {
                "node": n,
                "credits": shares[n],
                "stored_byte_ms": u.stored_byte_ms,
                "egress_bytes": u.egress_bytes,
            }
            for n, u in sorted(nodes.items(), key=_address_order)
        ],
    }


def usage_dir(data_dir: Path, epoch: int) -> Path:
    return data_dir / "usage" / str(epoch)


def read_usage_file(data_dir: Path, epoch: int) -> bytes | None:
    """The usage file of `epoch` (its name's sha256 prefix checked), or None."""
    folder = usage_dir(data_dir, epoch)
    try:
        names = sorted(p.name for p in folder.iterdir() if _FILE_NAME.match(p.name))
    except OSError:
        return None
    for name in names:
        path = folder / name
        try:
            if path.stat().st_size > MAX_USAGE_FILE_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        match = _FILE_NAME.match(name)
        if match is not None and sha256_hex(data)[:16] == match.group(1):
            return data
    return None


def _write_file(folder: Path, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"usage_v1.{sha256_hex(data)[:16]}.json"
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def write_usage_file(data_dir: Path, epoch: int, data: bytes) -> Path:
    """Write an epoch's usage file under `data_dir` (content-addressed, fsynced); its path."""
    return _write_file(usage_dir(data_dir, epoch), data)


def _by_address(usage: dict[str, Usage]) -> dict[str, Usage]:
    """Usage keyed by checksummed address (accounts that are no address cannot pay: dropped)."""
    out: dict[str, Usage] = {}
    for account, u in usage.items():
        try:
            address = str(checksum(account))
        except ValueError:
            continue
        old = out.get(address, Usage(0, 0))
        out[address] = Usage(
            old.stored_byte_ms + u.stored_byte_ms, old.egress_bytes + u.egress_bytes
        )
    return out


def gateway_agent(
    config: SettlementConfig, key: Signer, sender: ReportSender | None
) -> DeviceAgent:
    """The gateway as a device of kind "usage" (its placer key; state in `<data>/usage-agent.db`)."""
    urls = config.ingest_urls
    if sender is None and urls:
        senders = [IngestSender(u) for u in urls]
        sender = senders[0] if len(senders) == 1 else FanoutSender(senders)
    agent_config = AgentConfig(
        network_id=config.network,
        chain_id=config.chain_id,
        kind=USAGE_KIND,
        key_type="secp256k1",
        epoch_seconds=config.epoch_seconds,
        genesis_unix=config.genesis_unix,
        ingest_url=urls[0] if urls else "",
        extra_ingest_urls=tuple(urls[1:]),
    )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    device = DeviceKey.from_private_bytes(KeyType.SECP256K1, key.private_bytes())
    return DeviceAgent(device, agent_config, sender=sender, state_path=config.data_dir / AGENT_DB)


class Settlement:
    """A gateway's settlements (see the module docstring); tables in the metering's database."""

    def __init__(
        self,
        metering: Metering,
        ledger: CreditsLedger,
        key: Signer,
        config: SettlementConfig,
        *,
        sender: ReportSender | None = None,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.metering = metering
        self.engine = metering.engine
        self.ledger = ledger
        self.key = key
        self.gateway = str(checksum(key.address))
        self.config = config
        self.clock_ms = clock_ms
        self.agent = gateway_agent(config, key, sender)
        self._fresh_senders = sender is None
        """Without an injected sender, every `deliver` opens (and closes) its own HTTP clients:
        it may run under a new event loop each time (`asyncio.run` per command)."""
        settlement_schema.create_all(self.engine)

    def close(self) -> None:
        self.agent.close()

    # ---- the steps -----------------------------------------------------------------------

    def settle(self, epoch: int) -> Settled:
        """Build (once), spend (each account once) and queue the reports of `epoch`."""
        self.build(epoch)
        self.spend(epoch)
        self.file_reports(epoch)
        settled = self.load(epoch)
        assert settled is not None
        return settled

    def build(self, epoch: int) -> Settled:
        """The epoch's usage file and spending plan (made once; later calls load them)."""
        existing = self.load(epoch)
        if existing is not None:
            return existing
        clock = self.config.clock
        start_ms, end_ms = clock.window_ms(epoch)
        if epoch < 0 or self.clock_ms() < end_ms:
            raise SettlementError(
                "epoch_open", f"epoch {epoch} has not ended yet (until {end_ms} ms)"
            )
        self._one_per_epoch(epoch)
        self.metering.sync_pieces()
        accounts = _by_address(self.metering.account_usage(start_ms, end_ms))
        nodes = self.metering.node_usage(start_ms, end_ms)
        charged = {
            a: charge(u.stored_byte_ms, u.egress_bytes, self.config.prices)
            for a, u in accounts.items()
        }
        plan = {
            a: min(c, max(0, self.ledger.balance(Address(a)))) for a, c in charged.items() if c > 0
        }
        doc = usage_document(self.config, epoch, self.gateway, accounts, nodes, sum(plan.values()))
        data = canonical_json(doc)
        path = _write_file(usage_dir(self.config.data_dir, epoch), data)
        ref = keccak256(data)
        with self.engine.begin() as conn:
            conn.execute(
                insert(settlements).values(
                    epoch=epoch,
                    gateway=self.gateway,
                    usage_ref="0x" + ref.hex(),
                    file=path.name,
                    from_block=self.ledger.chain.block_number(),
                    created_ms=self.clock_ms(),
                    reported=0,
                )
            )
            rows = [
                {"epoch": epoch, "account": a, "charged": c, "spent": 0,
                 "state": "planned" if plan.get(a, 0) > 0 else "unpaid", "block": None}
                for a, c in sorted(charged.items()) if c > 0
            ]  # fmt: skip
            if rows:
                conn.execute(insert(settlement_accounts), rows)
        settled = self.load(epoch)
        assert settled is not None
        return settled

    def spend(self, epoch: int) -> list[AccountLine]:
        """Spend every planned account's credits once (see "Exactly once")."""
        settled = self.load(epoch)
        if settled is None:
            raise SettlementError("not_built", f"epoch {epoch} has no usage file yet")
        from_block = self._from_block(epoch)
        done = {
            (s.account, s.usage_ref): s
            for s in self.ledger.spends(from_block)
            if s.spender == self.key.address
        }
        for line in settled.accounts:
            if line.state != "planned":
                continue
            found = done.get((Address(line.account), settled.usage_ref))
            if found is not None:
                state = "paid" if found.amount >= line.charged else "partial"
                self._mark(epoch, line.account, found.amount, state, found.block_number)
                continue
            amount = min(line.charged, self.ledger.balance(Address(line.account)))
            if amount <= 0:
                self._mark(epoch, line.account, 0, "unpaid", None)
                continue
            try:
                spent = self.ledger.spend(
                    Address(line.account), amount, settled.usage_ref, self.key
                )
            except CreditsRefused as exc:
                if exc.code == "insufficient_credits":
                    self._mark(epoch, line.account, 0, "unpaid", None)
                    continue
                raise SettlementError(exc.code, str(exc)) from exc
            state = "paid" if spent.amount >= line.charged else "partial"
            self._mark(epoch, line.account, spent.amount, state, spent.block_number)
        after = self.load(epoch)
        assert after is not None
        return list(after.accounts)

    def file_reports(self, epoch: int) -> int:
        """Queue the epoch's usage and spend reports (once); how many were queued."""
        settled = self.load(epoch)
        if settled is None or settled.reported:
            return 0
        if any(a.state == "planned" for a in settled.accounts):
            raise SettlementError("not_spent", f"epoch {epoch}: spends are still pending")
        ref = "0x" + settled.usage_ref.hex()
        payloads: list[dict[str, Any]] = [
            {"type": "usage", "node": n["node"], "egress_bytes": n["egress_bytes"],
             "stored_byte_ms": n["stored_byte_ms"], "credits": n["credits"]}
            for n in settled.document["nodes"]
        ] + [
            {"type": "spend", "account": a.account, "credits": a.spent, "usage_ref": ref}
            for a in settled.accounts if a.spent > 0
        ]  # fmt: skip
        reports = [self.agent.build_report(p) for p in payloads]
        if reports:
            self.agent.enqueue(reports)
        with self.engine.begin() as conn:
            conn.execute(
                update(settlements)
                .where(settlements.c.epoch == epoch)
                .values(reported=1, filed_epoch=self.agent.epoch_at(self.agent.clock.now_ms()))
            )
        return len(reports)

    async def deliver(self) -> FlushResult:
        """Send the queued reports to the ingests (what is not accepted stays queued)."""
        urls = self.config.ingest_urls
        if not self._fresh_senders:
            return await self.agent.flush(force=True)
        if not urls:
            return FlushResult(0, (), self.agent.pending, "no ingest")
        senders = [IngestSender(u) for u in urls]
        self.agent.sender = senders[0] if len(senders) == 1 else FanoutSender(senders)
        try:
            return await self.agent.flush(force=True)
        finally:
            for one in senders:
                await one.client.aclose()

    # ---- reading -------------------------------------------------------------------------

    def load(self, epoch: int) -> Settled | None:
        """The recorded settlement of `epoch` (SettlementError if its file was altered)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(settlements).where(settlements.c.epoch == epoch)).first()
            if row is None:
                return None
            lines = conn.execute(
                select(settlement_accounts)
                .where(settlement_accounts.c.epoch == epoch)
                .order_by(settlement_accounts.c.account)
            ).all()
        path = usage_dir(self.config.data_dir, epoch) / row.file
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SettlementError("missing_file", f"{path}: {exc}") from exc
        ref = bytes.fromhex(row.usage_ref[2:])
        if keccak256(data) != ref:
            raise SettlementError("altered_file", f"{path} no longer hashes to {row.usage_ref}")
        return Settled(
            epoch,
            ref,
            path,
            json.loads(data),
            tuple(AccountLine(r.account, r.charged, r.spent, r.state, r.block) for r in lines),
            bool(row.reported),
        )

    def last_settled_epoch(self) -> int | None:
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(settlements.c.epoch))).scalar()
        return None if value is None else int(value)

    def owed(self, account: str) -> int:
        """Credits `account` owes and has not paid: usage since the last settled epoch (charged
        now) plus what settlements could not collect."""
        last = self.last_settled_epoch()
        clock = self.config.clock
        since = clock.start_unix(0) * 1000 if last is None else clock.window_ms(last)[1]
        now = self.clock_ms()
        usage = self.metering.account_usage(since, max(now, since), account).get(account)
        current = (
            0
            if usage is None
            else charge(usage.stored_byte_ms, usage.egress_bytes, self.config.prices)
        )
        try:
            address = str(checksum(account))
        except ValueError:
            return current
        a = settlement_accounts.c
        with self.engine.connect() as conn:
            debt = conn.execute(
                select(func.sum(a.charged - a.spent)).where(
                    a.account == address, a.state != "planned"
                )
            ).scalar()
        return current + int(debt or 0)

    def _one_per_epoch(self, epoch: int) -> None:
        """Refuse a second settlement while another is unfinished or was filed this epoch.

        The oracles accept one usage report per (gateway, node) and one usage file per gateway
        and epoch: two settlements filed in one epoch would void each other (`duplicate`,
        `mixed_usage_ref`). A backlog is settled one epoch at a time."""
        now_epoch = self.agent.epoch_at(self.agent.clock.now_ms())
        s = settlements.c
        with self.engine.connect() as conn:
            other = conn.execute(
                select(s.epoch, s.reported, s.filed_epoch).where(
                    s.epoch != epoch, (s.reported == 0) | (s.filed_epoch == now_epoch)
                )
            ).first()
        if other is None:
            return
        if not other.reported:
            raise SettlementError(
                "unfinished", f"finish the settlement of epoch {other.epoch} first (rerun it)"
            )
        raise SettlementError(
            "one_per_epoch",
            f"epoch {other.epoch} was settled in this epoch ({now_epoch}) already; the oracles take "
            f"one settlement per gateway and epoch: settle epoch {epoch} in the next one",
        )

    def _from_block(self, epoch: int) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(settlements.c.from_block).where(settlements.c.epoch == epoch)
            ).scalar()
        return int(value or 0)

    def _mark(self, epoch: int, account: str, spent: int, state: str, block: int | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(settlement_accounts)
                .where(
                    settlement_accounts.c.epoch == epoch, settlement_accounts.c.account == account
                )
                .values(spent=spent, state=state, block=block)
            )


__all__ = [
    "USAGE_FORMAT",
    "USAGE_KIND",
    "AccountLine",
    "Settled",
    "Settlement",
    "SettlementConfig",
    "SettlementError",
    "read_usage_file",
    "usage_dir",
    "usage_document",
    "write_usage_file",
]
