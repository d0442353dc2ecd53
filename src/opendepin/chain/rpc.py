"""`RpcChain`: any EVM JSON-RPC node (anvil, an L2, mainnet) through web3.py.

Transactions are signed locally (eth-account, from the `Signer`'s key); the node never
holds a key. For each transaction:

1. **Revert check and gas**: `eth_estimateGas`; a revert there raises
   `TransactionReverted(reason)` before anything is signed, so a failing call costs nothing
   and consumes no nonce. Gas limit = estimate × `GAS_MARGIN_PERCENT` / 100.
2. **Fees** (EIP-1559): max fee = 2 × the latest base fee + the node's suggested priority fee.
3. **Nonce**: kept per sender in this object (first value from `eth_getTransactionCount`
   at "pending"), advanced only once a transaction is accepted, re-read after any doubt.
   If the node says "nonce too low" and does not know our hash, someone else (another
   process with the same key) used the nonce: ours can never run, so it is re-signed with
   a fresh nonce (`STALE_NONCE_ATTEMPTS` times at most).
4. **Send, safely**: the signed raw bytes are sent; on a transport failure the *same* raw
   transaction is re-sent (same hash, so a node can never execute it twice). "already
   known" or "nonce too low" answers are accepted as sent only if the node knows our hash.
5. **Receipt polling**: nodes (anvil included) answer with the hash before the receipt
   exists, so the receipt is polled with a growing interval until `receipt_timeout_s`.
   A mined transaction with status 0 is replayed with `eth_call` at its block to recover
   the revert string.

JSON-RPC batches are never used for transactions.

A node that cannot be reached (refused, unresolvable, timing out after the retries) or that
does not speak JSON-RPC over HTTP raises `ChainError` naming the URL, never a transport
library's exception: `RpcChain(url)` already asks the node for its chain id, so a wrong
`--rpc` or `chain.rpc_url` fails there with one line.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from eth_account import Account
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.providers import BaseProvider, HTTPProvider

from opendepin.chain._book import ContractBook, abi_of, resolve
from opendepin.chain.abi import decode_revert
from opendepin.chain.accounts import AccountLike
from opendepin.chain.artifacts import CompiledContract
from opendepin.chain.backend import Event, Receipt
from opendepin.errors import ChainError, TransactionReverted
from opendepin.types import Address

GAS_MARGIN_PERCENT = 125
"""Gas limit sent = estimate × this / 100 (state can move between estimate and inclusion)."""
BASE_FEE_MULTIPLIER = 2
"""max fee = base fee × this + priority fee: survives several full blocks of base-fee rise."""
SEND_ATTEMPTS = 5
RETRY_BACKOFF_S = 0.2
RECEIPT_TIMEOUT_S = 120.0
RECEIPT_POLL_FIRST_S = 0.01
RECEIPT_POLL_MAX_S = 0.5
HTTP_TIMEOUT_S = 30.0

_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    ProviderConnectionError,
    ConnectionError,
    TimeoutError,
    TimeExhausted,
)
_ALREADY_SENT_MARKERS = ("already known", "known transaction", "already imported")
_NONCE_TOO_LOW_MARKERS = ("nonce too low", "nonce is too low", "invalid nonce")

_ERRNO_PATTERN = re.compile(r"\[Errno -?\d+\] [^'\")(]+")
"""The OS reason inside a requests/urllib3 connection error ("[Errno 111] Connection refused")."""

STALE_NONCE_ATTEMPTS = 3
"""How often a transaction is re-signed after another one took its nonce."""

T = TypeVar("T")


class StaleNonce(ChainError):
    """The nonce was used by a different transaction (ours was not and cannot be executed)."""


class RpcChain:
    """A chain reached over JSON-RPC."""

    def __init__(
        self,
        url: str | None = None,
        *,
        provider: BaseProvider | None = None,
        receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
    ) -> None:
        if provider is None:
            if url is None:
                raise ValueError("RpcChain needs a url or a provider")
            provider = HTTPProvider(url, request_kwargs={"timeout": HTTP_TIMEOUT_S})
        self.url: str = url if url is not None else _provider_name(provider)
        """Where the node is (the provider's endpoint when one was injected), for messages."""
        self.w3 = Web3(provider)
        self._receipt_timeout_s = receipt_timeout_s
        try:
            self._chain_id: int = self._retry(lambda: int(self.w3.eth.chain_id))
        except ValueError as exc:  # an answer, but not a JSON-RPC one
            raise ChainError(
                f"{self.url} is not a JSON-RPC node (eth_chainId failed: {_short(exc)})"
            ) from exc
        self._book = ContractBook()
        self._nonces: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- chain state ------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        return self._chain_id

    def block_number(self) -> int:
        return self._retry(lambda: int(self.w3.eth.block_number))

    def _get_block(self, number: int | None) -> Any:
        block = self._retry(lambda: self.w3.eth.get_block("latest" if number is None else number))
        if block is None:
            raise ChainError(f"block {number} not found")
        return block

    def block_hash(self, number: int | None = None) -> bytes:
        return bytes(self._get_block(number)["hash"])

    def timestamp(self, number: int | None = None) -> int:
        return int(self._get_block(number)["timestamp"])

    def balance(self, address: Address) -> int:
        return int(self._retry(lambda: self.w3.eth.get_balance(to_checksum_address(address))))

    def fund(self, address: Address, wei: int) -> None:
        """Set a balance with `anvil_setBalance` (anvil/hardhat-style dev nodes only)."""
        try:
            self._rpc("anvil_setBalance", [to_checksum_address(address), hex(wei)])
        except Web3RPCError as exc:
            raise ChainError(
                f"this node cannot set balances ({exc}); fund {address} yourself"
            ) from exc

    def code(self, address: Address) -> bytes:
        return bytes(self._retry(lambda: self.w3.eth.get_code(to_checksum_address(address))))

    def nonce(self, address: Address) -> int:
        """The node's pending transaction count for `address`."""
        return int(
            self._retry(
                lambda: self.w3.eth.get_transaction_count(to_checksum_address(address), "pending")
            )
        )

    # -- contracts --------------------------------------------------------------------

    def attach(self, contract: str | CompiledContract, address: Address) -> None:
        self._book.add(address, resolve(contract))

    def deploy(self, contract: str | CompiledContract, *args: Any, sender: AccountLike) -> Address:
        compiled = resolve(contract)
        data = compiled.bytecode + abi_of(compiled).encode_constructor(args)
        receipt = self._send(None, data, sender, on_mined=None, compiled=compiled)
        if receipt.contract_address is None:
            raise ChainError("deployment receipt carries no contract address")
        return receipt.contract_address

    def call(self, address: Address, fn: str, *args: Any) -> Any:
        function = self._book.abi(address).function(fn, len(args))
        tx = {"to": to_checksum_address(address), "data": function.encode_call(args)}
        out = self._against_head(lambda: self.w3.eth.call(tx))  # type: ignore[arg-type]
        return function.decode_output(bytes(out))

    def transact(self, address: Address, fn: str, *args: Any, sender: AccountLike) -> Receipt:
        data = self._book.abi(address).function(fn, len(args)).encode_call(args)
        return self._send(to_checksum_address(address), data, sender, on_mined=None)

    def get_logs(
        self, address: Address, event: str, from_block: int = 0, to_block: int | None = None
    ) -> list[Event]:
        ev = self._book.abi(address).event(event)
        latest = self.block_number()
        last = latest if to_block is None else min(to_block, latest)
        if from_block > last:
            return []  # nodes reject ranges past their head
        params = {
            "address": to_checksum_address(address),
            "fromBlock": from_block,
            "toBlock": last,
            "topics": ["0x" + ev.topic.hex()],
        }
        logs = self._retry(lambda: self.w3.eth.get_logs(params))  # type: ignore[arg-type]
        out: list[Event] = []
        for log in logs:
            decoded = self._book.decode_log(
                log["address"],
                [bytes(t) for t in log["topics"]],
                bytes(log["data"]),
                block_number=int(log["blockNumber"]),
                log_index=int(log["logIndex"]),
                tx_hash=bytes(log["transactionHash"]),
            )
            if decoded is not None:
                out.append(decoded)
        return out

    # -- transactions -----------------------------------------------------------------

    def _lock_for(self, address: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(address.lower(), threading.Lock())

    def _send(
        self,
        to: str | None,
        data: bytes,
        sender: AccountLike,
        *,
        on_mined: Callable[[Receipt], None] | None,
        compiled: CompiledContract | None = None,
    ) -> Receipt:
        frm = to_checksum_address(sender.address)
        call: dict[str, Any] = {"from": frm, "data": data}
        if to is not None:
            call["to"] = to
        estimate = int(self._against_head(lambda: self.w3.eth.estimate_gas(call)))  # type: ignore[arg-type]
        base_fee = int(self._get_block(None).get("baseFeePerGas", 0))
        priority = int(self._retry(lambda: self.w3.eth.max_priority_fee))
        tx: dict[str, Any] = {
            "chainId": self._chain_id,
            "from": frm,
            "data": data,
            "value": 0,
            "gas": estimate * GAS_MARGIN_PERCENT // 100,
            "maxFeePerGas": base_fee * BASE_FEE_MULTIPLIER + priority,
            "maxPriorityFeePerGas": priority,
            "type": 2,
        }
        if to is not None:
            tx["to"] = to
        with self._lock_for(frm):
            for attempt in range(STALE_NONCE_ATTEMPTS):
                cached = self._nonces.get(frm.lower())
                nonce = self.nonce(Address(frm)) if cached is None else cached
                tx["nonce"] = nonce
                signed = Account.sign_transaction(tx, sender.private_bytes())
                raw, tx_hash = bytes(signed.raw_transaction), bytes(signed.hash)
                try:
                    self.send_raw(raw, tx_hash)
                    break
                except StaleNonce:
                    # Another transaction (not ours: the node does not know our hash) took
                    # this nonce, so ours can never execute; re-sign with a fresh nonce.
                    self._nonces.pop(frm.lower(), None)
                    if attempt == STALE_NONCE_ATTEMPTS - 1:
                        raise
                except BaseException:
                    self._nonces.pop(frm.lower(), None)  # re-read from the node next time
                    raise
            self._nonces[frm.lower()] = nonce + 1
        receipt = self.wait_for_receipt(tx_hash)
        if not receipt["status"]:
            raise TransactionReverted(self._replay_reason(call, int(receipt["blockNumber"])))
        created = receipt.get("contractAddress")
        if created and compiled is not None:
            self._book.add(created, compiled)
        return self._receipt(receipt, Address(to_checksum_address(created)) if created else None)

    def send_raw(self, raw: bytes, tx_hash: bytes) -> bytes:
        """Send a signed transaction, re-sending the same bytes on transport failures.

        Returns the hash. Never sends a different transaction: a retry is byte-identical,
        and an "already known"/"nonce too low" answer counts as sent only when the node
        knows `tx_hash`.
        """
        last: BaseException | None = None
        for attempt in range(SEND_ATTEMPTS):
            try:
                self.w3.eth.send_raw_transaction(raw)
                return tx_hash
            except _TRANSPORT_ERRORS as exc:
                last = exc
            except requests.RequestException as exc:  # bad URL or an HTTP error status
                raise ChainError(
                    f"could not send transaction 0x{tx_hash.hex()} to {self.url}: {_short(exc)}"
                ) from exc
            except Web3RPCError as exc:
                message = str(exc).lower()
                if any(m in message for m in _ALREADY_SENT_MARKERS):
                    return tx_hash
                if any(m in message for m in _NONCE_TOO_LOW_MARKERS):
                    if self._node_knows(tx_hash):
                        return tx_hash
                    raise StaleNonce(f"nonce of 0x{tx_hash.hex()} already used: {exc}") from exc
                raise ChainError(f"node refused transaction 0x{tx_hash.hex()}: {exc}") from exc
            if self._node_knows(tx_hash):
                return tx_hash
            time.sleep(RETRY_BACKOFF_S * (attempt + 1))
        raise ChainError(
            f"could not send transaction 0x{tx_hash.hex()} to {self.url}: "
            f"{_short(last) if last is not None else 'no answer'}"
        ) from last

    def _node_knows(self, tx_hash: bytes) -> bool:
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
            return True
        except TransactionNotFound:
            return False
        except _TRANSPORT_ERRORS:
            return False

    def wait_for_receipt(self, tx_hash: bytes) -> Any:
        """Poll for the receipt of `tx_hash` (growing interval, up to the timeout)."""
        deadline = time.monotonic() + self._receipt_timeout_s
        interval = RECEIPT_POLL_FIRST_S
        while True:
            try:
                return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                pass
            except _TRANSPORT_ERRORS:
                pass
            if time.monotonic() > deadline:
                raise ChainError(
                    f"no receipt for 0x{tx_hash.hex()} after {self._receipt_timeout_s} s"
                )
            time.sleep(interval)
            interval = min(interval * 2, RECEIPT_POLL_MAX_S)

    def _replay_reason(self, call: dict[str, Any], block: int) -> str:
        try:
            self.w3.eth.call(call, block)  # type: ignore[arg-type]
        except (ContractLogicError, Web3RPCError) as exc:
            return _revert_reason(exc)
        except _TRANSPORT_ERRORS:
            pass
        return "reverted on chain (reason unavailable)"

    def _receipt(self, raw: Any, created: Address | None) -> Receipt:
        tx_hash = bytes(raw["transactionHash"])
        events: list[Event] = []
        for log in raw["logs"]:
            ev = self._book.decode_log(
                log["address"],
                [bytes(t) for t in log["topics"]],
                bytes(log["data"]),
                block_number=int(raw["blockNumber"]),
                log_index=int(log["logIndex"]),
                tx_hash=tx_hash,
            )
            if ev is not None:
                events.append(ev)
        return Receipt(
            tx_hash, True, int(raw["gasUsed"]), int(raw["blockNumber"]), tuple(events), created
        )

    # -- plumbing ---------------------------------------------------------------------

    def _rpc(self, method: str, params: list[Any]) -> Any:
        response = self._retry(lambda: self.w3.provider.make_request(method, params))  # type: ignore[arg-type]
        if "error" in response:
            raise Web3RPCError(str(response["error"]))
        return response.get("result")

    def _against_head(self, fn: Callable[[], T]) -> T:
        """A call or gas estimate at the latest block; reverts become TransactionReverted.

        A node that keeps only the latest state (anvil with --prune-history) answers
        "BlockOutOfRangeError" when another process mined a block between its choosing
        "latest" and executing the call: that is a race, not a revert, so it is retried.
        """
        for attempt in range(SEND_ATTEMPTS):
            try:
                return self._retry(fn)
            except (ContractLogicError, Web3RPCError) as exc:
                if "BlockOutOfRange" in str(exc) and attempt < SEND_ATTEMPTS - 1:
                    time.sleep(RETRY_BACKOFF_S * (attempt + 1))
                    continue
                raise TransactionReverted(_revert_reason(exc)) from exc
        raise AssertionError("unreachable")

    def _retry(self, fn: Callable[[], T]) -> T:
        """Retry a read (idempotent) call on transport failures.

        ChainError naming the URL once the attempts are used up, or at once when the request
        cannot succeed (a malformed URL, an HTTP error status: not a JSON-RPC endpoint).
        """
        for attempt in range(SEND_ATTEMPTS):
            try:
                return fn()
            except _TRANSPORT_ERRORS as exc:
                if attempt == SEND_ATTEMPTS - 1:
                    raise ChainError(
                        f"cannot reach the JSON-RPC node at {self.url}: {_short(exc)}"
                    ) from exc
                time.sleep(RETRY_BACKOFF_S * (attempt + 1))
            except requests.RequestException as exc:
                raise ChainError(f"JSON-RPC node at {self.url} failed: {_short(exc)}") from exc
        raise AssertionError("unreachable")


def _provider_name(provider: BaseProvider) -> str:
    """An injected provider's endpoint (HTTPProvider), else its class name."""
    endpoint = getattr(provider, "endpoint_uri", None)
    return str(endpoint) if endpoint else type(provider).__name__


def _short(exc: BaseException) -> str:
    """One line about a transport failure: the OS reason when there is one, else the message.

    requests wraps a refused connection in three layers of reprs; "[Errno 111] Connection
    refused" is what a person needs.
    """
    text = " ".join(str(exc).split())
    found = _ERRNO_PATTERN.findall(text)
    if found:
        return str(found[-1]).strip()
    return text or type(exc).__name__


def _revert_reason(exc: BaseException) -> str:
    """The revert string carried by a web3 error (from its data, else its message)."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return decode_revert(bytes.fromhex(data[2:]))
        except ValueError:
            pass
    message = str(getattr(exc, "message", None) or exc)
    for prefix in ("execution reverted: ", "execution reverted"):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message
