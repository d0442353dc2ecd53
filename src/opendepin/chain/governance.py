"""Governance: parameter changes scheduled through the network's `Timelock`.

After `deploy_network` the Token, DeviceRegistry, RewardDistributor and Credits are owned
by the Timelock (snekmate's `timelock_controller`), so every parameter setter — oracle set
and threshold, guardian, credit price and spenders, registry fees and cooldown, token
minters — can only be called *by the timelock*. A change therefore takes two transactions:

1. a **proposer** `schedule`s an *operation* — (target, value, payload, predecessor, salt)
   — with a delay of at least `get_minimum_delay()` seconds;
2. once the chain's clock has reached `schedule time + delay` the operation is **ready**,
   and an **executor** `execute`s it with exactly the same fields; the timelock then calls
   `target` with `payload` and marks the operation done. Until then anyone can see the
   pending change on chain (`CallScheduled`), and a canceller can `cancel` it.

An operation is named by its **id**, computed here exactly as the contract does
(`hash_operation`): `keccak256(abi_encode(target, value, payload, predecessor, salt))`, and
for a batch `keccak256(abi_encode(targets[], values[], payloads[], predecessor, salt))`.
The salt makes otherwise identical operations distinct (a done operation can never be
scheduled again); the predecessor, when non-zero, is the id of an operation that must be
done first.

`Proposal` builds the calldata of the common changes from the *target contract's* ABI, so
callers never hand-encode: ``Proposal.set_price(credits, 5)`` is a `Call` whose payload is
exactly what ``Credits.set_price(5)`` sends. An `Operation` (one call or a batch, with salt
and predecessor) is what a proposer schedules and an executor later executes;
`GovernanceClient` does both on any `Chain` backend.

`proposals.json` in the network directory records every proposal made through the CLI
(`ProposalRecord`: calls, salt, predecessor, delay, ready time), so `depin chain gov
execute OPERATION-ID` needs nothing else; the chain stays the source of truth for state.

Limits: payloads are at most `MAX_PAYLOAD_BYTES` (the contract's `Bytes[1_024]`); calls
carry no native value (`Chain.transact` sends none; no parameter change needs it).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address

from opendepin.chain._book import abi_of
from opendepin.chain.accounts import AccountLike
from opendepin.chain.artifacts import compiled
from opendepin.chain.backend import Chain, Receipt
from opendepin.crypto import keccak256
from opendepin.errors import ChainError, ConfigError, InputError
from opendepin.types import Address

MAX_PAYLOAD_BYTES = 1_024
"""The timelock's `payload: Bytes[1_024]`: the longest calldata one call may carry."""
MAX_BATCH_CALLS = 255
"""The timelock's `DynArray[..., max_value(uint8)]` bound on a batch."""
OPERATION_ID_BYTES = 32
ZERO_BYTES32 = bytes(OPERATION_ID_BYTES)
NO_PREDECESSOR = ZERO_BYTES32
"""Predecessor of an operation that depends on no other."""
DONE_TIMESTAMP = 1
"""`get_timestamp(id)` of an executed operation (0 = unknown or cancelled)."""

PROPOSER_ROLE = keccak256(b"PROPOSER_ROLE")
EXECUTOR_ROLE = keccak256(b"EXECUTOR_ROLE")
CANCELLER_ROLE = keccak256(b"CANCELLER_ROLE")
TIMELOCK_CONTRACT = "Timelock"


class OperationState(StrEnum):
    """Where an operation stands on chain (snekmate's `OperationState`)."""

    UNSET = "unset"
    """Never scheduled, or cancelled."""
    WAITING = "waiting"
    """Scheduled; its delay has not passed yet."""
    READY = "ready"
    """Scheduled and executable now."""
    DONE = "done"
    """Executed."""


# Flag values of the contract's `OperationState` (2**index).
_STATE_FLAGS = {
    1: OperationState.UNSET,
    2: OperationState.WAITING,
    4: OperationState.READY,
    8: OperationState.DONE,
}


def _bytes32(value: bytes, what: str) -> bytes:
    if len(value) != OPERATION_ID_BYTES:
        raise InputError(f"{what} must be {OPERATION_ID_BYTES} bytes, got {len(value)}")
    return bytes(value)


def _address(value: str, what: str) -> Address:
    try:
        return Address(to_checksum_address(value))
    except (ValueError, TypeError) as exc:
        raise InputError(f"{what} {value!r} is not a 20-byte hex address") from exc


def new_salt() -> bytes:
    """A fresh random 32-byte salt (so the same change can be proposed again later)."""
    return secrets.token_bytes(OPERATION_ID_BYTES)


@dataclass(frozen=True, slots=True)
class Call:
    """One call the timelock will make: `target.<function>(args)` as raw calldata."""

    target: Address
    """Contract the timelock calls."""
    calldata: bytes
    """ABI-encoded call (selector + arguments), at most `MAX_PAYLOAD_BYTES`."""
    summary: str = ""
    """Human-readable form, e.g. "Credits.set_price(5)" (not part of the operation id)."""

    def __post_init__(self) -> None:
        if len(self.calldata) > MAX_PAYLOAD_BYTES:
            raise InputError(
                f"calldata of {self.summary or self.target} is {len(self.calldata)} bytes; "
                f"the timelock takes at most {MAX_PAYLOAD_BYTES}"
            )


def encode_call(contract: str, function: str, *args: Any) -> bytes:
    """Calldata of `<contract>.<function>(args)` from the packaged contract's ABI."""
    abi = abi_of(compiled(contract))
    try:
        return abi.function(function, len(args)).encode_call(args)
    except (AttributeError, TypeError) as exc:
        raise InputError(f"{contract}.{function}: {exc}") from exc


def _call(target: Address, contract: str, function: str, *args: Any) -> Call:
    shown = ", ".join(
        "[" + ", ".join(str(a) for a in arg) + "]" if isinstance(arg, list) else str(arg)
        for arg in args
    )
    return Call(
        _address(target, f"{contract} address"),
        encode_call(contract, function, *args),
        f"{contract}.{function}({shown})",
    )


def _non_negative(value: int, what: str) -> int:
    if value < 0:
        raise InputError(f"{what} must not be negative, got {value}")
    return value


class Proposal:
    """Builders of the common parameter changes (each returns one `Call`).

    Arguments are checked where the contract would revert anyway, so a bad proposal fails
    here with a clear message rather than after the delay, at execution.
    """

    @staticmethod
    def set_oracles(distributor: Address, oracles: Sequence[Address], threshold: int) -> Call:
        """RewardDistributor: replace the oracle set and the signature threshold M."""
        members = [_address(o, "oracle") for o in oracles]
        if len({m.lower() for m in members}) != len(members):
            raise InputError("oracle addresses must be distinct")
        if not 1 <= threshold <= len(members):
            raise InputError(
                f"threshold must be between 1 and the {len(members)} oracles, got {threshold}"
            )
        return _call(distributor, "RewardDistributor", "set_oracles", members, threshold)

    @staticmethod
    def set_guardian(distributor: Address, guardian: Address) -> Call:
        """RewardDistributor: the account that may pause root submission and claims."""
        return _call(
            distributor, "RewardDistributor", "set_guardian", _address(guardian, "guardian")
        )

    @staticmethod
    def set_spender(credits: Address, spender: Address, allowed: bool) -> Call:
        """Credits: authorise (or revoke) a service that burns credits for usage."""
        return _call(credits, "Credits", "set_spender", _address(spender, "spender"), allowed)

    @staticmethod
    def set_price(credits: Address, credits_per_token: int) -> Call:
        """Credits: credits minted per whole token burned."""
        if credits_per_token <= 0:
            raise InputError(f"credits per token must be positive, got {credits_per_token}")
        return _call(credits, "Credits", "set_price", credits_per_token)

    @staticmethod
    def set_onboarding_fee(registry: Address, fee: int) -> Call:
        """DeviceRegistry: tokens (base units) burned to register a device."""
        return _call(registry, "DeviceRegistry", "set_onboarding_fee", _non_negative(fee, "fee"))

    @staticmethod
    def set_location_fee(registry: Address, fee: int) -> Call:
        """DeviceRegistry: tokens (base units) burned per location assertion."""
        return _call(registry, "DeviceRegistry", "set_location_fee", _non_negative(fee, "fee"))

    @staticmethod
    def set_location_cooldown(registry: Address, seconds: int) -> Call:
        """DeviceRegistry: minimum seconds between two location assertions of a device."""
        return _call(
            registry,
            "DeviceRegistry",
            "set_location_cooldown",
            _non_negative(seconds, "cooldown"),
        )

    @staticmethod
    def set_minter(token: Address, minter: Address, allowed: bool) -> Call:
        """Token: grant or revoke the right to mint (the distributor holds it)."""
        return _call(token, "Token", "set_minter", _address(minter, "minter"), allowed)

    @staticmethod
    def update_delay(timelock: Address, seconds: int) -> Call:
        """Timelock: the minimum delay of later operations (the timelock calls itself)."""
        return _call(timelock, TIMELOCK_CONTRACT, "update_delay", _non_negative(seconds, "delay"))

    @staticmethod
    def transfer_ownership(contract: str, target: Address, new_owner: Address) -> Call:
        """Any of the four owned contracts: hand ownership away from the timelock."""
        return _call(target, contract, "transfer_ownership", _address(new_owner, "new owner"))


def operation_id(
    target: Address,
    calldata: bytes,
    *,
    salt: bytes = ZERO_BYTES32,
    predecessor: bytes = NO_PREDECESSOR,
    value: int = 0,
) -> bytes:
    """The timelock's `hash_operation(target, value, calldata, predecessor, salt)`."""
    return keccak256(
        encode(
            ["address", "uint256", "bytes", "bytes32", "bytes32"],
            [
                target,
                value,
                calldata,
                _bytes32(predecessor, "predecessor"),
                _bytes32(salt, "salt"),
            ],
        )
    )


def operation_id_batch(
    calls: Sequence[Call],
    *,
    salt: bytes = ZERO_BYTES32,
    predecessor: bytes = NO_PREDECESSOR,
) -> bytes:
    """The timelock's `hash_operation_batch(targets, values, payloads, predecessor, salt)`."""
    return keccak256(
        encode(
            ["address[]", "uint256[]", "bytes[]", "bytes32", "bytes32"],
            [
                [c.target for c in calls],
                [0] * len(calls),
                [c.calldata for c in calls],
                _bytes32(predecessor, "predecessor"),
                _bytes32(salt, "salt"),
            ],
        )
    )


@dataclass(frozen=True, slots=True)
class Operation:
    """What a proposer schedules and an executor later executes: one call or a batch.

    A single call is scheduled with `schedule`, several with `schedule_batch`; the two
    hash differently, so the same one call as a batch is a different operation.
    """

    calls: tuple[Call, ...]
    """The calls, in execution order (at least one)."""
    salt: bytes = field(default=ZERO_BYTES32)
    """32 bytes that make this operation distinct from an otherwise identical one."""
    predecessor: bytes = field(default=NO_PREDECESSOR)
    """Id of an operation that must be done before this one executes (zero: none)."""

    def __post_init__(self) -> None:
        if not self.calls:
            raise InputError("an operation needs at least one call")
        if len(self.calls) > MAX_BATCH_CALLS:
            raise InputError(f"a batch holds at most {MAX_BATCH_CALLS} calls")
        _bytes32(self.salt, "salt")
        _bytes32(self.predecessor, "predecessor")

    @classmethod
    def of(
        cls, *calls: Call, salt: bytes | None = None, predecessor: bytes = NO_PREDECESSOR
    ) -> Operation:
        """An operation of `calls` with a fresh random salt unless one is given."""
        return cls(tuple(calls), new_salt() if salt is None else salt, predecessor)

    @property
    def is_batch(self) -> bool:
        return len(self.calls) != 1

    @property
    def id(self) -> bytes:
        """The 32-byte operation id, as the timelock computes it."""
        if self.is_batch:
            return operation_id_batch(self.calls, salt=self.salt, predecessor=self.predecessor)
        only = self.calls[0]
        return operation_id(
            only.target, only.calldata, salt=self.salt, predecessor=self.predecessor
        )

    @property
    def summary(self) -> str:
        return "; ".join(c.summary or f"call {c.target}" for c in self.calls)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": "0x" + self.id.hex(),
            "calls": [
                {"target": c.target, "calldata": "0x" + c.calldata.hex(), "summary": c.summary}
                for c in self.calls
            ],
            "salt": "0x" + self.salt.hex(),
            "predecessor": "0x" + self.predecessor.hex(),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Operation:
        """Inverse of `to_dict`; InputError if the recorded id does not match the fields."""
        try:
            op = cls(
                tuple(
                    Call(
                        _address(str(c["target"]), "target"),
                        _hex_bytes(str(c["calldata"])),
                        str(c.get("summary", "")),
                    )
                    for c in doc["calls"]
                ),
                _hex_bytes(str(doc["salt"])),
                _hex_bytes(str(doc["predecessor"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed operation record: {exc}") from exc
        recorded = doc.get("id")
        if recorded is not None and _hex_bytes(str(recorded)) != op.id:
            raise InputError(f"operation record {recorded} does not hash to its id")
        return op

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)


def _hex_bytes(text: str) -> bytes:
    body = text[2:] if text.startswith(("0x", "0X")) else text
    try:
        return bytes.fromhex(body)
    except ValueError as exc:
        raise InputError(f"{text!r} is not hex") from exc


class GovernanceClient:
    """Typed client of the Timelock: schedule, execute, cancel, and read operation states.

    The single-call methods mirror the contract (`schedule(target, calldata, …)`); the
    `propose`/`execute_operation`/`cancel` trio takes an `Operation` and picks the single
    or batch entry point itself. `sender` must hold the proposer (schedule), executor
    (execute) or canceller (cancel) role; otherwise the call reverts with
    "access_control: account is missing role".
    """

    def __init__(self, chain: Chain, address: Address) -> None:
        self.chain = chain
        self.address = Address(to_checksum_address(address))
        chain.attach(TIMELOCK_CONTRACT, self.address)

    def _call(self, fn: str, *args: Any) -> Any:
        return self.chain.call(self.address, fn, *args)

    def _send(self, fn: str, *args: Any, sender: AccountLike) -> Receipt:
        return self.chain.transact(self.address, fn, *args, sender=sender)

    # -- reads ------------------------------------------------------------------------

    def min_delay(self) -> int:
        """Minimum delay, seconds, a newly scheduled operation must wait."""
        return int(self._call("get_minimum_delay"))

    def ready_at(self, op_id: bytes) -> int:
        """Unix time the operation becomes ready (0: unset or cancelled; 1: done)."""
        return int(self._call("get_timestamp", _bytes32(op_id, "operation id")))

    def state(self, op_id: bytes) -> OperationState:
        """The operation's state at the latest block."""
        flag = int(self._call("get_operation_state", _bytes32(op_id, "operation id")))
        return _STATE_FLAGS[flag]

    def is_operation(self, op_id: bytes) -> bool:
        return bool(self._call("is_operation", _bytes32(op_id, "operation id")))

    def is_pending(self, op_id: bytes) -> bool:
        """Scheduled and not yet executed (waiting or ready)."""
        return bool(self._call("is_operation_pending", _bytes32(op_id, "operation id")))

    def is_ready(self, op_id: bytes) -> bool:
        return bool(self._call("is_operation_ready", _bytes32(op_id, "operation id")))

    def is_done(self, op_id: bytes) -> bool:
        return bool(self._call("is_operation_done", _bytes32(op_id, "operation id")))

    def has_role(self, role: bytes, account: Address) -> bool:
        return bool(self._call("hasRole", _bytes32(role, "role"), account))

    def is_proposer(self, account: Address) -> bool:
        return self.has_role(PROPOSER_ROLE, account)

    def is_executor(self, account: Address) -> bool:
        return self.has_role(EXECUTOR_ROLE, account) or self.has_role(
            EXECUTOR_ROLE, Address("0x0000000000000000000000000000000000000000")
        )

    @staticmethod
    def operation_id(
        target: Address,
        calldata: bytes,
        *,
        salt: bytes = ZERO_BYTES32,
        predecessor: bytes = NO_PREDECESSOR,
    ) -> bytes:
        """Id of a single-call operation, computed locally (see `operation_id`)."""
        return operation_id(target, calldata, salt=salt, predecessor=predecessor)

    @staticmethod
    def operation_id_batch(
        calls: Sequence[Call], *, salt: bytes = ZERO_BYTES32, predecessor: bytes = NO_PREDECESSOR
    ) -> bytes:
        """Id of a batch operation, computed locally (see `operation_id_batch`)."""
        return operation_id_batch(calls, salt=salt, predecessor=predecessor)

    # -- single calls -----------------------------------------------------------------

    def schedule(
        self,
        target: Address,
        calldata: bytes,
        *,
        salt: bytes,
        delay: int | None = None,
        predecessor: bytes = NO_PREDECESSOR,
        sender: AccountLike,
    ) -> Receipt:
        """Schedule one call; `delay` defaults to the minimum delay."""
        Call(Address(target), calldata)  # size check
        wait = self.min_delay() if delay is None else delay
        return self._send(
            "schedule",
            target,
            0,
            calldata,
            _bytes32(predecessor, "predecessor"),
            _bytes32(salt, "salt"),
            _non_negative(wait, "delay"),
            sender=sender,
        )

    def execute(
        self,
        target: Address,
        calldata: bytes,
        *,
        salt: bytes,
        predecessor: bytes = NO_PREDECESSOR,
        sender: AccountLike,
    ) -> Receipt:
        """Execute a ready single-call operation (reverts "… operation is not ready" before)."""
        return self._send(
            "execute",
            target,
            0,
            calldata,
            _bytes32(predecessor, "predecessor"),
            _bytes32(salt, "salt"),
            sender=sender,
        )

    # -- batches ----------------------------------------------------------------------

    def schedule_batch(
        self,
        calls: Sequence[Call],
        *,
        salt: bytes,
        delay: int | None = None,
        predecessor: bytes = NO_PREDECESSOR,
        sender: AccountLike,
    ) -> Receipt:
        """Schedule several calls as one operation (executed together, in order)."""
        wait = self.min_delay() if delay is None else delay
        return self._send(
            "schedule_batch",
            [c.target for c in calls],
            [0] * len(calls),
            [c.calldata for c in calls],
            _bytes32(predecessor, "predecessor"),
            _bytes32(salt, "salt"),
            _non_negative(wait, "delay"),
            sender=sender,
        )

    def execute_batch(
        self,
        calls: Sequence[Call],
        *,
        salt: bytes,
        predecessor: bytes = NO_PREDECESSOR,
        sender: AccountLike,
    ) -> Receipt:
        return self._send(
            "execute_batch",
            [c.target for c in calls],
            [0] * len(calls),
            [c.calldata for c in calls],
            _bytes32(predecessor, "predecessor"),
            _bytes32(salt, "salt"),
            sender=sender,
        )

    # -- operations -------------------------------------------------------------------

    def propose(
        self, operation: Operation, *, delay: int | None = None, sender: AccountLike
    ) -> Receipt:
        """Schedule `operation` (single or batch); `delay` defaults to the minimum delay."""
        if operation.is_batch:
            return self.schedule_batch(
                operation.calls,
                salt=operation.salt,
                delay=delay,
                predecessor=operation.predecessor,
                sender=sender,
            )
        only = operation.calls[0]
        return self.schedule(
            only.target,
            only.calldata,
            salt=operation.salt,
            delay=delay,
            predecessor=operation.predecessor,
            sender=sender,
        )

    def execute_operation(self, operation: Operation, *, sender: AccountLike) -> Receipt:
        """Execute a ready `operation` (single or batch)."""
        if operation.is_batch:
            return self.execute_batch(
                operation.calls,
                salt=operation.salt,
                predecessor=operation.predecessor,
                sender=sender,
            )
        only = operation.calls[0]
        return self.execute(
            only.target,
            only.calldata,
            salt=operation.salt,
            predecessor=operation.predecessor,
            sender=sender,
        )

    def cancel(self, op_id: bytes, *, sender: AccountLike) -> Receipt:
        """Cancel a pending operation (cancellers only; proposers are cancellers)."""
        return self._send("cancel", _bytes32(op_id, "operation id"), sender=sender)


class OperationNotReady(ChainError):
    """An operation cannot be executed now: still waiting, unknown/cancelled, or done."""

    def __init__(self, op_id: bytes, state: OperationState, ready_at: int, now: int) -> None:
        self.op_id = op_id
        self.state = state
        self.ready_at = ready_at
        """Unix time it becomes ready (meaningful while WAITING)."""
        self.now = now
        """The chain's latest block time when checked."""
        shown = "0x" + op_id.hex()
        if state is OperationState.WAITING:
            message = (
                f"operation {shown} is not ready until {format_unix(ready_at)} "
                f"({ready_at - now} s after the chain's latest block)"
            )
        elif state is OperationState.DONE:
            message = f"operation {shown} was already executed"
        else:
            message = (
                f"operation {shown} is not scheduled on this chain (never proposed, or cancelled)"
            )
        super().__init__(message)


def format_unix(seconds: int) -> str:
    """A unix time as ISO-8601 UTC, to the second."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def require_ready(client: GovernanceClient, op_id: bytes) -> None:
    """Raise `OperationNotReady` unless `op_id` is executable at the chain's latest block."""
    state = client.state(op_id)
    if state is not OperationState.READY:
        raise OperationNotReady(op_id, state, client.ready_at(op_id), client.chain.timestamp())


# -- the network directory's record of proposals -----------------------------------------

PROPOSALS_FILE = "proposals.json"
PROPOSALS_FORMAT = "proposals_v1"


@dataclass(frozen=True, slots=True)
class ProposalRecord:
    """One proposal as kept in `proposals.json`: enough to execute it by id alone."""

    operation: Operation
    """The scheduled operation (calls, salt, predecessor)."""
    change: str
    """The change's name as proposed, e.g. "set-price"."""
    args: tuple[str, ...]
    """The change's arguments as given."""
    delay: int
    """Delay it was scheduled with, seconds."""
    ready_at: int
    """Unix time it becomes executable."""
    scheduled_block: int
    """Block the schedule transaction was mined in."""
    proposer: Address
    """Account that scheduled it."""
    executed_block: int | None = None
    """Block the execute transaction was mined in (None until then)."""

    @property
    def id(self) -> bytes:
        return self.operation.id

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.operation.to_dict(),
            "change": self.change,
            "args": list(self.args),
            "delay": self.delay,
            "ready_at": self.ready_at,
            "scheduled_block": self.scheduled_block,
            "proposer": self.proposer,
            "executed_block": self.executed_block,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ProposalRecord:
        try:
            executed = doc.get("executed_block")
            return cls(
                Operation.from_dict(doc),
                str(doc["change"]),
                tuple(str(a) for a in doc["args"]),
                int(doc["delay"]),
                int(doc["ready_at"]),
                int(doc["scheduled_block"]),
                _address(str(doc["proposer"]), "proposer"),
                None if executed is None else int(executed),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"malformed proposal record: {exc}") from exc


def load_proposals(network_dir: Path) -> list[ProposalRecord]:
    """The proposals recorded in `network_dir` (empty if there is no file yet)."""
    path = network_dir / PROPOSALS_FILE
    if not path.is_file():
        return []
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != PROPOSALS_FORMAT:
        raise ConfigError(f"{path} is not a {PROPOSALS_FORMAT} file")
    try:
        return [ProposalRecord.from_dict(p) for p in doc["proposals"]]
    except (InputError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def save_proposals(network_dir: Path, records: Sequence[ProposalRecord]) -> Path:
    """Write `records` to `network_dir/proposals.json` atomically."""
    network_dir.mkdir(parents=True, exist_ok=True)
    path = network_dir / PROPOSALS_FILE
    doc = {"format": PROPOSALS_FORMAT, "proposals": [r.to_dict() for r in records]}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    return path
