"""`RpcChain`: any EVM JSON-RPC node (anvil, an L2, mainnet), signing locally.

Transactions are signed locally (`wire.sign_1559`, from the `Signer`'s key); the node never
holds a key. Requests go over one pool of keep-alive HTTP connections (`wire.KeepAliveProvider`,
also under `self.w3` for the reads); the transaction path speaks raw JSON-RPC, without
web3.py's formatting layers. For each transaction:

1. **Revert check and gas, before anything is signed.** The gas limit of a (contract,
   function) is estimated once (`eth_estimateGas` × `GAS_MARGIN_PERCENT` / 100) and cached.
   Later transactions to the same function are checked with one `eth_call` *at the cached
   gas limit* on the latest state — the same execution the transaction will have, so it
   succeeds exactly when the transaction would. When that call fails for any reason (a
   revert, out of gas because this call needs more, a pruned-state race) the estimate is
   asked again and decides: a revert there raises `TransactionReverted(reason)` with
   nothing signed and no nonce consumed; otherwise its new limit replaces the cached one. A transaction still mined with status 0 (state moved between check and
   inclusion) drops its cached limit.
2. **Fees** (EIP-1559): max fee = 2 × the latest base fee + the node's suggested priority
   fee, read at most every `FEE_REFRESH_S` (the base fee rises at most 12.5 % a block, so
   2× survives several full blocks). A node that refuses the fee as below the base fee has
   the fees re-read and the transaction re-signed with the *same* nonce: two transactions
   with one nonce can never both execute.
3. **Nonce**: kept per sender in this object (first value from `eth_getTransactionCount`
   at "pending"), advanced only once a transaction is accepted, re-read after any doubt.
   If the node says "nonce too low" and does not know our hash, someone else (another
   process with the same key) used the nonce: ours can never run, so it is re-signed with
   a fresh nonce (`STALE_NONCE_ATTEMPTS` times at most).
4. **Send, safely**: the signed raw bytes are sent; on a transport failure (or a garbled
   answer) the node is first asked whether it knows our hash, and only if not are the
   *same* raw bytes re-sent (same hash, so a node can never execute it twice). "already
   known" or "nonce too low" answers are accepted as sent only if the node knows our hash.
5. **Receipt polling** starts at once (anvil mines on arrival, but may answer the send
   before the block is sealed) and backs off from `RECEIPT_POLL_FIRST_S` to
   `RECEIPT_POLL_MAX_S` until `receipt_timeout_s`. A mined transaction with status 0 is
   replayed with `eth_call` at its block to recover the revert string.

JSON-RPC batches are never used for transactions.

A node that cannot be reached (refused, unresolvable, timing out after the retries) or that
does not speak JSON-RPC over HTTP raises `ChainError` naming the URL, never a transport
library's exception: `RpcChain(url)` already asks the node for its chain id, so a wrong
`--rpc` or `chain.rpc_url` fails there with one line. Everything the node answers on the
transaction path is checked before use (a malformed receipt is a `ChainError`).
"""

from __future__ import annotations

import functools
import itertools
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    TimeExhausted,
    Web3RPCError,
)
from web3.providers import BaseProvider

from opendepin.chain._book import ContractBook, abi_of, resolve
from opendepin.chain.abi import decode_revert
from opendepin.chain.accounts import AccountLike
from opendepin.chain.artifacts import CompiledContract
from opendepin.chain.backend import Event, Receipt
from opendepin.chain.wire import (
    EndpointError,
    KeepAliveProvider,
    MalformedAnswer,
    NodeReceipt,
    Tx1559,
    parse_receipt,
    sign_1559,
)
from opendepin.errors import ChainError, TransactionReverted
from opendepin.types import Address

GAS_MARGIN_PERCENT = 125
"""Gas limit sent = estimate × this / 100 (state can move between estimate and inclusion)."""
BASE_FEE_MULTIPLIER = 2
"""max fee = base fee × this + priority fee: survives several full blocks of base-fee rise."""
FEE_REFRESH_S = 1.0
"""Fees are re-read when older than this (a refusal as too low re-reads them at once)."""
SEND_ATTEMPTS = 5
RETRY_BACKOFF_S = 0.2
RECEIPT_TIMEOUT_S = 120.0
RECEIPT_QUICK_POLLS = 3
"""Receipt polls sent back to back before any sleep (a round trip is the shortest wait)."""
RECEIPT_POLL_FIRST_S = 0.001
"""First sleep after the quick polls missed; doubled after each further miss."""
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
_HOPELESS_ERRORS: tuple[type[BaseException], ...] = (requests.RequestException, EndpointError)
"""The request cannot succeed however often it is repeated (bad URL, HTTP error status)."""
_ALREADY_SENT_MARKERS = ("already known", "known transaction", "already imported")
_NONCE_TOO_LOW_MARKERS = ("nonce too low", "nonce is too low", "invalid nonce")
_FEE_TOO_LOW_MARKERS = (
    "less than block base fee",  # geth, anvil: "max fee per gas less than block base fee"
    "fee cap less than",
    "feecap too low",
    "transaction underpriced",  # below the pool's minimum tip (not a replacement: see below)
)

_ERRNO_PATTERN = re.compile(r"\[Errno -?\d+\] [^'\")(]+")
"""The OS reason inside a requests/urllib3 connection error ("[Errno 111] Connection refused")."""

STALE_NONCE_ATTEMPTS = 3
"""How often a transaction is re-signed (after another one took its nonce, or a fee refusal)."""

T = TypeVar("T")
GasKey = tuple[str, bytes]
"""(contract address lowercased, 4-byte selector): what one cached gas limit is for."""


class StaleNonce(ChainError):
    """The nonce was used by a different transaction (ours was not and cannot be executed)."""


class FeeTooLow(ChainError):
    """The node refused the transaction's fee (below the base fee): it was not accepted."""


class GarbledAnswer(ChainError):
    """The node's answer was not a JSON-RPC object (for a send: it may have arrived)."""


_DOUBT_ERRORS: tuple[type[BaseException], ...] = (*_TRANSPORT_ERRORS, GarbledAnswer)
"""No answer, or one we cannot read: the request may or may not have been acted on."""


class NodeError(Exception):
    """A JSON-RPC error object from the node: `message`, `code`, `data` (revert data)."""

    def __init__(self, message: str, code: Any = None, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data


_UNSURE_ERRORS: tuple[type[BaseException], ...] = (*_DOUBT_ERRORS, *_HOPELESS_ERRORS, NodeError)
"""Asking whether the node knows a hash: any of these means "not that we know"."""


_REFUSED_ERRORS: tuple[type[BaseException], ...] = (NodeError, *_HOPELESS_ERRORS)
"""The node (or the server in front of it) said no."""


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
            provider = KeepAliveProvider(url, HTTP_TIMEOUT_S)
        self.url: str = url if url is not None else _provider_name(provider)
        """Where the node is (the provider's endpoint when one was injected), for messages."""
        self.w3 = Web3(provider)
        self._provider = provider
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
        self._gas: dict[GasKey, int] = {}
        self._fees: tuple[int, int, float] | None = None
        """(max fee, priority fee, monotonic time read), or None: read before the next send."""

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
        except NodeError as exc:
            raise ChainError(
                f"this node cannot set balances ({exc}); fund {address} yourself"
            ) from exc

    def code(self, address: Address) -> bytes:
        return bytes(self._retry(lambda: self.w3.eth.get_code(to_checksum_address(address))))

    def nonce(self, address: Address) -> int:
        """The node's pending transaction count for `address`."""
        params = [to_checksum_address(address), "pending"]
        try:
            answer = self._rpc("eth_getTransactionCount", params)
        except NodeError as exc:
            raise ChainError(f"{self.url} refused eth_getTransactionCount: {exc}") from exc
        return _quantity(answer, "transaction count")

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
        tx = {"to": _checksum(address), "data": "0x" + function.encode_call(args).hex()}
        out = self._against_head(lambda: self._request("eth_call", [tx, "latest"]))
        return function.decode_output(_hex_bytes(out, "call result"))

    def transact(self, address: Address, fn: str, *args: Any, sender: AccountLike) -> Receipt:
        data = self._book.abi(address).function(fn, len(args)).encode_call(args)
        return self._send(_checksum(address), data, sender, on_mined=None)

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
        frm = _checksum(sender.address)
        call: dict[str, Any] = {"from": frm, "data": "0x" + data.hex()}
        if to is not None:
            call["to"] = to
        key: GasKey | None = (to.lower(), data[:4]) if to is not None and len(data) >= 4 else None
        gas = self._checked_gas(call, key)
        with self._lock_for(frm):
            for attempt in range(STALE_NONCE_ATTEMPTS):
                cached = self._nonces.get(frm.lower())
                nonce = self.nonce(Address(frm)) if cached is None else cached
                max_fee, priority = self._fee_caps()
                tx = Tx1559(
                    self._chain_id,
                    nonce,
                    priority,
                    max_fee,
                    gas,
                    None if to is None else bytes.fromhex(to[2:]),
                    data,
                )
                raw, tx_hash = sign_1559(tx, sender.private_bytes())
                try:
                    self.send_raw(raw, tx_hash)
                    break
                except StaleNonce:
                    # Another transaction (not ours: the node does not know our hash) took
                    # this nonce, so ours can never execute; re-sign with a fresh nonce.
                    self._nonces.pop(frm.lower(), None)
                    if attempt == STALE_NONCE_ATTEMPTS - 1:
                        raise
                except FeeTooLow:
                    # Refused, so not in the node: re-sign with fresh fees and the SAME nonce.
                    self._fees = None
                    if attempt == STALE_NONCE_ATTEMPTS - 1:
                        raise
                except BaseException:
                    self._nonces.pop(frm.lower(), None)  # re-read from the node next time
                    raise
            self._nonces[frm.lower()] = nonce + 1
        try:
            receipt = parse_receipt(self.wait_for_receipt(tx_hash), tx_hash)
        except MalformedAnswer as exc:
            raise ChainError(f"{self.url} sent a malformed receipt: {exc}") from exc
        if not receipt.status:
            if key is not None:
                self._gas.pop(key, None)  # re-estimate next time (it may have run out of gas)
            raise TransactionReverted(self._replay_reason(call, receipt.block_number))
        result = self._receipt(receipt)
        if result.contract_address is not None and compiled is not None:
            self._book.add(result.contract_address, compiled)
        return result

    def _checked_gas(self, call: dict[str, Any], key: GasKey | None) -> int:
        """The gas limit for `call`, having checked that it does not revert at that limit.

        TransactionReverted (from the estimate) when it would revert; see the module
        docstring, step 1.
        """
        cached = self._gas.get(key) if key is not None else None
        if cached is not None:
            try:
                self._retry(
                    lambda: self._request("eth_call", [{**call, "gas": hex(cached)}, "latest"])
                )
                return cached
            except (NodeError, GarbledAnswer):
                pass  # a revert, out of gas at this limit, or a race: the estimate decides
        answer = self._against_head(lambda: self._request("eth_estimateGas", [call]))
        gas = _quantity(answer, "gas estimate") * GAS_MARGIN_PERCENT // 100
        if key is not None:
            self._gas[key] = gas
        return gas

    def _fee_caps(self) -> tuple[int, int]:
        """(max fee, priority fee) per gas, re-read when older than FEE_REFRESH_S."""
        fees = self._fees
        now = time.monotonic()
        if fees is None or now - fees[2] > FEE_REFRESH_S:
            base_fee = int(self._get_block(None).get("baseFeePerGas", 0))
            priority = int(self._retry(lambda: self.w3.eth.max_priority_fee))
            fees = (base_fee * BASE_FEE_MULTIPLIER + priority, priority, now)
            self._fees = fees
        return fees[0], fees[1]

    def send_raw(self, raw: bytes, tx_hash: bytes) -> bytes:
        """Send a signed transaction, re-sending the same bytes on transport failures.

        Returns the hash. Never sends a different transaction: a retry is byte-identical
        and made only after the node said it does not know `tx_hash`, and an "already
        known"/"nonce too low" answer counts as sent only when the node knows `tx_hash`.
        FeeTooLow when the node refused the fee (the transaction was not accepted).
        """
        last: BaseException | None = None
        for attempt in range(SEND_ATTEMPTS):
            try:
                self._request("eth_sendRawTransaction", ["0x" + raw.hex()])
                return tx_hash
            except _DOUBT_ERRORS as exc:  # did it arrive? ask below
                last = exc
            except _HOPELESS_ERRORS as exc:
                raise ChainError(
                    f"could not send transaction 0x{tx_hash.hex()} to {self.url}: {_short(exc)}"
                ) from exc
            except NodeError as exc:
                message = str(exc).lower()
                if any(m in message for m in _ALREADY_SENT_MARKERS):
                    return tx_hash
                if any(m in message for m in _NONCE_TOO_LOW_MARKERS):
                    if self._node_knows(tx_hash):
                        return tx_hash
                    raise StaleNonce(f"nonce of 0x{tx_hash.hex()} already used: {exc}") from exc
                if "replacement" not in message and any(m in message for m in _FEE_TOO_LOW_MARKERS):
                    raise FeeTooLow(f"node refused the fee of 0x{tx_hash.hex()}: {exc}") from exc
                raise ChainError(f"node refused transaction 0x{tx_hash.hex()}: {exc}") from exc
            if self._node_knows(tx_hash):
                return tx_hash
            time.sleep(RETRY_BACKOFF_S * (attempt + 1))
        raise ChainError(
            f"could not send transaction 0x{tx_hash.hex()} to {self.url}: "
            f"{_short(last) if last is not None else 'no answer'}"
        ) from last

    def _node_knows(self, tx_hash: bytes) -> bool:
        """True when the node has `tx_hash` (pending or mined); False also when unsure."""
        try:
            return self._request("eth_getTransactionByHash", ["0x" + tx_hash.hex()]) is not None
        except _UNSURE_ERRORS:
            return False

    def wait_for_receipt(self, tx_hash: bytes) -> Any:
        """The node's receipt object for `tx_hash`: polled at once, then with a growing wait."""
        deadline = time.monotonic() + self._receipt_timeout_s
        interval = RECEIPT_POLL_FIRST_S
        params = ["0x" + tx_hash.hex()]
        for poll in itertools.count():
            try:
                receipt = self._request("eth_getTransactionReceipt", params)
                if receipt is not None:
                    return receipt
            except _DOUBT_ERRORS:
                pass
            except _REFUSED_ERRORS as exc:
                raise ChainError(f"receipt of 0x{tx_hash.hex()} refused: {_short(exc)}") from exc
            if time.monotonic() > deadline:
                raise ChainError(
                    f"no receipt for 0x{tx_hash.hex()} after {self._receipt_timeout_s} s"
                )
            if poll + 1 >= RECEIPT_QUICK_POLLS:
                time.sleep(interval)
                interval = min(interval * 2, RECEIPT_POLL_MAX_S)
        raise AssertionError("unreachable")

    def _replay_reason(self, call: dict[str, Any], block: int) -> str:
        try:
            self._request("eth_call", [call, hex(block)])
        except NodeError as exc:
            return _revert_reason(exc)
        except _DOUBT_ERRORS + _HOPELESS_ERRORS:
            pass
        return "reverted on chain (reason unavailable)"

    def _receipt(self, raw: NodeReceipt) -> Receipt:
        events: list[Event] = []
        for log in raw.logs:
            ev = self._book.decode_log(
                log.address,
                log.topics,
                log.data,
                block_number=raw.block_number,
                log_index=log.log_index,
                tx_hash=raw.tx_hash,
            )
            if ev is not None:
                events.append(ev)
        created = (
            Address(to_checksum_address(raw.contract_address)) if raw.contract_address else None
        )
        return Receipt(raw.tx_hash, True, raw.gas_used, raw.block_number, tuple(events), created)

    # -- plumbing ---------------------------------------------------------------------

    def _request(self, method: str, params: list[Any]) -> Any:
        """One raw JSON-RPC request: the result, or NodeError carrying the node's error."""
        try:
            response: Any = self._provider.make_request(method, params)  # type: ignore[arg-type]
        except ValueError as exc:
            raise GarbledAnswer(f"{method} at {self.url}: not a JSON-RPC answer ({exc})") from exc
        if not isinstance(response, dict):
            raise GarbledAnswer(f"{method} at {self.url}: not a JSON-RPC answer")
        error = response.get("error")
        if error is not None:
            if isinstance(error, dict):
                message = str(error.get("message", error))[:2000]
                raise NodeError(message, error.get("code"), error.get("data"))
            raise NodeError(str(error)[:2000])
        return response.get("result")

    def _rpc(self, method: str, params: list[Any]) -> Any:
        """A read (or idempotent dev call) with transport retries; NodeError when refused."""
        return self._retry(lambda: self._request(method, params))

    def _against_head(self, fn: Callable[[], T]) -> T:
        """A call or gas estimate at the latest block; reverts become TransactionReverted.

        A node that keeps only the latest state (anvil with --prune-history) answers
        "BlockOutOfRangeError" when another process mined a block between its choosing
        "latest" and executing the call: that is a race, not a revert, so it is retried.
        """
        for attempt in range(SEND_ATTEMPTS):
            try:
                return self._retry(fn)
            except (ContractLogicError, Web3RPCError, NodeError) as exc:
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
            except _HOPELESS_ERRORS as exc:
                raise ChainError(f"JSON-RPC node at {self.url} failed: {_short(exc)}") from exc
        raise AssertionError("unreachable")


@functools.lru_cache(maxsize=4096)
def _checksum(address: str) -> str:
    """EIP-55 form of `address`, remembered (eth_utils takes ~50 µs per address)."""
    return str(to_checksum_address(address))


def _provider_name(provider: BaseProvider) -> str:
    """An injected provider's endpoint (HTTPProvider), else its class name."""
    endpoint = getattr(provider, "endpoint_uri", None)
    return str(endpoint) if endpoint else type(provider).__name__


def _quantity(value: Any, what: str) -> int:
    """A JSON-RPC quantity ("0x1a") from the node; ChainError if it is not one."""
    if isinstance(value, str) and value.startswith("0x") and 2 < len(value) <= 66:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise ChainError(f"node answered a malformed {what}: {str(value)[:80]!r}")


def _hex_bytes(value: Any, what: str) -> bytes:
    """JSON-RPC data ("0x…") from the node; ChainError if it is not hex."""
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise ChainError(f"node answered a malformed {what}: {str(value)[:80]!r}")


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
    """The revert string carried by a node's error (from its data, else its message)."""
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
