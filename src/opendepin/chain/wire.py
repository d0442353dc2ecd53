"""What `RpcChain` puts on the wire: keep-alive JSON-RPC over HTTP, and EIP-1559 bytes.

**Transport.** `KeepAliveProvider` is a web3 provider that keeps its HTTP/1.1 connections
open between requests (a small pool, one connection per concurrent caller), so a
transaction's round trips cost what the node takes to answer, not a TCP handshake and a
stack of request-library layers each (`http11.Http11Connection`: one write per request,
only the response headers JSON-RPC needs parsed). It raises only three kinds of error, which
`RpcChain` turns into one line naming the URL:

- `ConnectionError` / `TimeoutError` — the node was not reached, or did not answer in time
  (worth retrying; the OS reason, "[Errno 111] Connection refused", is in the message);
- `EndpointError` — the URL is malformed or the server answered with an HTTP error status:
  it is not a JSON-RPC endpoint, and retrying cannot help;
- `ValueError` — the answer was not a JSON-RPC object (or larger than `MAX_RESPONSE_BYTES`).

A pooled connection the server has meanwhile closed fails on its next use before any
answer arrives; such a request is repeated once on a fresh connection. That repeat is
byte-identical, so for `eth_sendRawTransaction` it carries the same transaction hash and a
node can never execute it twice.

**Transactions.** `sign_1559` builds and signs a type-2 (EIP-1559) transaction: RLP of
(chain id, nonce, priority fee, max fee, gas, to, value, data, access list), prefixed with
0x02, keccak-256, secp256k1 (RFC 6979, low s) — the same bytes eth-account produces, in a
fraction of its time (a test checks the two agree).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import coincurve
from web3._utils.encoding import Web3JsonEncoder
from web3.providers import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from opendepin.chain.http11 import Http11Connection, StaleConnection, TooLarge
from opendepin.crypto import keccak256

MAX_RESPONSE_BYTES = 128 * 1024 * 1024
"""Largest JSON-RPC answer read (a wide `eth_getLogs` is the big one); beyond it, ValueError."""
POOL_IDLE_MAX = 8
"""Idle connections kept open per provider."""
TX_TYPE_1559 = 2

_STALE_CONNECTION_ERRORS = (StaleConnection, BrokenPipeError, ConnectionAbortedError)
"""A pooled connection the server closed while idle: nothing of the answer arrived."""


class EndpointError(Exception):
    """The URL cannot work (malformed) or the server answered with an HTTP error status."""


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str
    port: int | None
    path: str
    authorization: str | None
    """A Basic `Authorization` header value when the URL carries user:password."""


def _parse_url(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise EndpointError(f"Invalid URL {url!r}: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise EndpointError(f"Invalid URL {url!r}: no http:// or https:// scheme")
    if not parts.hostname:
        raise EndpointError(f"Invalid URL {url!r}: no host")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    authorization = None
    if parts.username is not None:
        userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(userinfo.encode()).decode()
    return _Target(parts.scheme, parts.hostname, port, path, authorization)


class KeepAliveProvider(JSONBaseProvider):
    """JSON-RPC over persistent HTTP/1.1 connections (thread-safe: a pool of them)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        super().__init__()
        self.endpoint_uri = url
        """The node's URL (named in every error message)."""
        self._timeout_s = timeout_s
        self._idle: list[Http11Connection] = []
        self._guard = threading.Lock()
        self._ids = itertools.count(1)
        self._target: _Target | None = None
        self._headers = ""

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        body = json.dumps(request, cls=Web3JsonEncoder).encode()
        answer = json.loads(self.post(body))
        if not isinstance(answer, dict):
            raise ValueError(f"not a JSON-RPC answer: {str(answer)[:80]}")
        return cast(RPCResponse, answer)

    def post(self, body: bytes) -> bytes:
        """POST `body`, return the response body; a stale pooled connection is retried once."""
        if self._target is None:
            self._target = _parse_url(str(self.endpoint_uri))
            auth = self._target.authorization
            self._headers = "Connection: keep-alive\r\n" + (
                f"Authorization: {auth}\r\n" if auth is not None else ""
            )
        conn, reused = self._take()
        try:
            return self._exchange(conn, body)
        except _STALE_CONNECTION_ERRORS:
            if not reused:
                raise
        return self._exchange(self._new(), body)  # the server closed an idle connection

    def _exchange(self, conn: Http11Connection, body: bytes) -> bytes:
        target = self._target
        assert target is not None
        try:
            answer = conn.post(target.path, body, self._headers, MAX_RESPONSE_BYTES)
        except TooLarge as exc:
            raise ValueError(str(exc)) from exc
        except (TimeoutError, ConnectionError):
            raise
        except OSError as exc:  # refused, unreachable, unresolvable, TLS: all "not reached"
            raise ConnectionError(str(exc)) from exc
        if not answer.will_close:
            self._give_back(conn)
        if not 200 <= answer.status < 300:
            raise EndpointError(f"{answer.status} {answer.reason} (HTTP error from the server)")
        return answer.body

    def _take(self) -> tuple[Http11Connection, bool]:
        with self._guard:
            if self._idle:
                return self._idle.pop(), True
        return self._new(), False

    def _new(self) -> Http11Connection:
        target = self._target
        assert target is not None
        return Http11Connection(
            target.host, target.port, self._timeout_s, tls=target.scheme == "https"
        )

    def _give_back(self, conn: Http11Connection) -> None:
        with self._guard:
            if len(self._idle) < POOL_IDLE_MAX:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        """Close every idle connection (busy ones close when their request ends)."""
        with self._guard:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


# -- EIP-1559 transactions ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tx1559:
    """The fields of a type-2 transaction this project sends (no value, no access list)."""

    chain_id: int
    """EIP-155 chain id (replay protection across chains)."""
    nonce: int
    """Sender's transaction count this transaction takes."""
    max_priority_fee: int
    """Tip per gas to the block producer, wei."""
    max_fee: int
    """Most paid per gas (base fee + tip), wei."""
    gas: int
    """Gas limit."""
    to: bytes | None
    """20-byte destination, None for a contract creation."""
    data: bytes
    """Call data (or init code)."""


def sign_1559(tx: Tx1559, private_key: bytes) -> tuple[bytes, bytes]:
    """(raw signed transaction, its 32-byte hash)."""
    fields: list[Any] = [
        _uint(tx.chain_id),
        _uint(tx.nonce),
        _uint(tx.max_priority_fee),
        _uint(tx.max_fee),
        _uint(tx.gas),
        b"" if tx.to is None else tx.to,
        b"",  # value: 0
        tx.data,
        [],  # access list
    ]
    prefix = bytes([TX_TYPE_1559])
    digest = keccak256(prefix + _rlp(fields))
    signature = coincurve.PrivateKey(private_key).sign_recoverable(digest, hasher=None)
    r, s, y_parity = signature[:32], signature[32:64], signature[64]
    raw = prefix + _rlp([*fields, _uint(y_parity), r.lstrip(b"\0"), s.lstrip(b"\0")])
    return raw, keccak256(raw)


def _uint(value: int) -> bytes:
    """An RLP integer: big-endian, no leading zero bytes (0 is the empty string)."""
    if value < 0:
        raise ValueError("negative integer in a transaction")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def _rlp(item: bytes | list[Any]) -> bytes:
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _rlp_length(len(item), 0x80) + item
    payload = b"".join(_rlp(part) for part in item)
    return _rlp_length(len(payload), 0xC0) + payload


def _rlp_length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded = _uint(length)
    return bytes([offset + 55 + len(encoded)]) + encoded


# -- receipts -------------------------------------------------------------------------

MAX_RECEIPT_LOGS = 10_000
"""More logs than this in one receipt is not an answer we act on."""


class MalformedAnswer(ValueError):
    """The node's answer is not what JSON-RPC promises (a receipt missing a field, bad hex)."""


@dataclass(frozen=True, slots=True)
class NodeLog:
    """One log of a receipt, as the node sent it (hex decoded)."""

    address: bytes
    """20-byte emitting contract."""
    topics: tuple[bytes, ...]
    """32-byte topics."""
    data: bytes
    """Non-indexed data."""
    log_index: int
    """Position in the block."""


@dataclass(frozen=True, slots=True)
class NodeReceipt:
    """The fields of `eth_getTransactionReceipt` a transaction's outcome needs."""

    tx_hash: bytes
    """32-byte hash (checked to be the one asked for)."""
    status: bool
    """True for success, False for a revert."""
    block_number: int
    """Block it was mined in."""
    gas_used: int
    """Gas it used."""
    contract_address: bytes | None
    """20-byte created contract, for a deployment."""
    logs: tuple[NodeLog, ...]
    """Its logs, in order."""


def parse_receipt(obj: Any, tx_hash: bytes) -> NodeReceipt:
    """A receipt object from the node, checked field by field; MalformedAnswer otherwise."""
    if not isinstance(obj, dict):
        raise MalformedAnswer("receipt is not an object")
    got = _data(obj.get("transactionHash"), "transactionHash", 32)
    if got != tx_hash:
        raise MalformedAnswer(f"receipt is for 0x{got.hex()}, not 0x{tx_hash.hex()}")
    raw_logs = obj.get("logs")
    if not isinstance(raw_logs, list) or len(raw_logs) > MAX_RECEIPT_LOGS:
        raise MalformedAnswer("receipt logs are not a list (or too many)")
    logs = []
    for log in raw_logs:
        if not isinstance(log, dict):
            raise MalformedAnswer("a receipt log is not an object")
        topics = log.get("topics")
        if not isinstance(topics, list) or len(topics) > 4:
            raise MalformedAnswer("receipt log topics are not a list of at most 4")
        logs.append(
            NodeLog(
                _data(log.get("address"), "log address", 20),
                tuple(_data(t, "log topic", 32) for t in topics),
                _data(log.get("data"), "log data", None),
                _number(log.get("logIndex"), "logIndex"),
            )
        )
    created = obj.get("contractAddress")
    return NodeReceipt(
        tx_hash=got,
        status=_number(obj.get("status"), "status") == 1,
        block_number=_number(obj.get("blockNumber"), "blockNumber"),
        gas_used=_number(obj.get("gasUsed"), "gasUsed"),
        contract_address=None if created is None else _data(created, "contractAddress", 20),
        logs=tuple(logs),
    )


def _number(value: Any, field: str) -> int:
    if isinstance(value, str) and value.startswith("0x") and 2 < len(value) <= 66:
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise MalformedAnswer(f"receipt {field} is not a hex quantity: {str(value)[:80]!r}")


def _data(value: Any, field: str, size: int | None) -> bytes:
    if isinstance(value, str) and value.startswith("0x"):
        try:
            out = bytes.fromhex(value[2:])
        except ValueError:
            out = None
        if out is not None and (size is None or len(out) == size):
            return out
    raise MalformedAnswer(f"receipt {field} is not {size or 'some'}-byte hex: {str(value)[:80]!r}")
