"""The wire layer under RpcChain: EIP-1559 bytes, receipt parsing, keep-alive transport.

No chain node here: transactions are compared with eth-account's, and the transport talks
to small in-process HTTP servers that misbehave on purpose.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from opendepin.chain import RpcChain, Signer, wire
from opendepin.chain.anvil import free_port
from opendepin.chain.wire import (
    EndpointError,
    KeepAliveProvider,
    MalformedAnswer,
    Tx1559,
    parse_receipt,
    sign_1559,
)
from opendepin.errors import ChainError

SIGNER = Signer.generate()

uint64 = st.integers(min_value=0, max_value=2**64 - 1)


@settings(max_examples=60, deadline=None)
@given(
    chain_id=st.integers(min_value=1, max_value=2**32),
    nonce=uint64,
    fees=st.tuples(uint64, uint64),
    gas=st.integers(min_value=21_000, max_value=30_000_000),
    to=st.one_of(st.none(), st.binary(min_size=20, max_size=20)),
    data=st.binary(max_size=300),
)
def test_sign_1559_gives_the_bytes_eth_account_gives(
    chain_id: int,
    nonce: int,
    fees: tuple[int, int],
    gas: int,
    to: bytes | None,
    data: bytes,
) -> None:
    priority, max_fee = min(fees), max(fees)
    raw, tx_hash = sign_1559(
        Tx1559(chain_id, nonce, priority, max_fee, gas, to, data), SIGNER.private_bytes()
    )
    reference: dict[str, Any] = {
        "chainId": chain_id,
        "nonce": nonce,
        "maxPriorityFeePerGas": priority,
        "maxFeePerGas": max_fee,
        "gas": gas,
        "value": 0,
        "data": data,
        "type": 2,
    }
    if to is not None:
        reference["to"] = to_checksum_address(to)
    signed = Account.sign_transaction(reference, SIGNER.private_bytes())
    assert raw == bytes(signed.raw_transaction)
    assert tx_hash == bytes(signed.hash)
    assert Account.recover_transaction(raw) == SIGNER.address


def test_sign_1559_refuses_negative_numbers() -> None:
    with pytest.raises(ValueError):
        sign_1559(Tx1559(1, -1, 0, 0, 21_000, None, b""), SIGNER.private_bytes())


TX_HASH = bytes(range(32))


def _receipt(**changes: Any) -> dict[str, Any]:
    good: dict[str, Any] = {
        "transactionHash": "0x" + TX_HASH.hex(),
        "status": "0x1",
        "blockNumber": "0x10",
        "gasUsed": "0x5208",
        "contractAddress": None,
        "logs": [
            {
                "address": "0x" + "11" * 20,
                "topics": ["0x" + "22" * 32],
                "data": "0x",
                "logIndex": "0x0",
            }
        ],
    }
    good.update(changes)
    return good


def test_parse_receipt_reads_a_well_formed_receipt() -> None:
    r = parse_receipt(_receipt(), TX_HASH)
    assert (r.status, r.block_number, r.gas_used, r.contract_address) == (True, 16, 21000, None)
    assert r.logs[0].address == b"\x11" * 20 and r.logs[0].topics == (b"\x22" * 32,)
    assert parse_receipt(_receipt(status="0x0"), TX_HASH).status is False
    created = parse_receipt(_receipt(contractAddress="0x" + "33" * 20), TX_HASH)
    assert created.contract_address == b"\x33" * 20


@pytest.mark.parametrize(
    "receipt",
    [
        None,
        [],
        "0x1",
        _receipt(transactionHash="0x" + "ff" * 32),  # someone else's receipt
        _receipt(transactionHash="0x12"),
        _receipt(status=None),
        _receipt(status="1"),
        _receipt(status="0x"),
        _receipt(blockNumber="0x" + "f" * 100),
        _receipt(gasUsed=21000),
        _receipt(contractAddress="0x1234"),
        _receipt(logs=None),
        _receipt(logs=["x"]),
        _receipt(
            logs=[{"address": "0x" + "11" * 20, "topics": "no", "data": "0x", "logIndex": "0x0"}]
        ),
        _receipt(logs=[{"address": "0x11", "topics": [], "data": "0x", "logIndex": "0x0"}]),
        _receipt(
            logs=[{"address": "0x" + "11" * 20, "topics": ["0x1"], "data": "0x", "logIndex": "0x0"}]
        ),
        _receipt(
            logs=[{"address": "0x" + "11" * 20, "topics": [], "data": "0xzz", "logIndex": "0x0"}]
        ),
        _receipt(logs=[{"address": "0x" + "11" * 20, "topics": [], "data": "0x"}]),
    ],
)
def test_parse_receipt_refuses_malformed_answers(receipt: Any) -> None:
    with pytest.raises(MalformedAnswer):
        parse_receipt(receipt, TX_HASH)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=70),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=16), c, max_size=6),
        max_leaves=20,
    )
)
def test_parse_receipt_is_total(garbage: Any) -> None:
    with contextlib.suppress(MalformedAnswer):
        parse_receipt(garbage, TX_HASH)


# -- transport ------------------------------------------------------------------------


class _Node(BaseHTTPRequestHandler):
    """Answers eth_chainId (0x7a69) over HTTP/1.1 keep-alive, then misbehaves as told."""

    protocol_version = "HTTP/1.1"
    mode = "ok"
    handled: ClassVar[list[int]] = []
    """The client port of each request handled (one port per TCP connection)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = json.loads(body)
        self.handled.append(self.client_address[1])
        if self.mode == "status":
            self._answer(503, b"busy")
            return
        if self.mode == "not-json":
            self._answer(200, b"<html>hello</html>")
            return
        answer = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x7a69"}).encode()
        if self.mode == "huge":
            answer = b" " * (wire.MAX_RESPONSE_BYTES + 10) + answer
        self._answer(200, answer)
        if self.mode == "close-after":
            # Close without announcing it, as a server's idle timeout does.
            self.close_connection = True

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def node(request: pytest.FixtureRequest) -> Iterator[tuple[str, type[_Node]]]:
    handler = type("Handler", (_Node,), {"mode": getattr(request, "param", "ok"), "handled": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_provider_keeps_one_connection_alive(node: tuple[str, type[_Node]]) -> None:
    url, handler = node
    provider = KeepAliveProvider(url, 5.0)
    for _ in range(5):
        assert provider.make_request("eth_chainId", [])["result"] == "0x7a69"  # type: ignore[arg-type]
    assert len(handler.handled) == 5
    assert len(set(handler.handled)) == 1  # every request on the same TCP connection
    provider.close()


@pytest.mark.parametrize("node", ["close-after"], indirect=True)
def test_provider_retries_once_on_a_connection_the_server_closed(
    node: tuple[str, type[_Node]],
) -> None:
    url, handler = node
    provider = KeepAliveProvider(url, 5.0)
    for _ in range(3):
        assert provider.make_request("eth_chainId", [])["result"] == "0x7a69"  # type: ignore[arg-type]
    assert len(handler.handled) == 3  # each request handled once, on a fresh connection
    assert len(set(handler.handled)) == 3


@pytest.mark.parametrize("node", ["status"], indirect=True)
def test_http_error_status_is_one_chain_error_line(node: tuple[str, type[_Node]]) -> None:
    url, handler = node
    with pytest.raises(EndpointError, match="503"):
        KeepAliveProvider(url, 5.0).make_request("eth_chainId", [])  # type: ignore[arg-type]
    with pytest.raises(ChainError, match=f"JSON-RPC node at {url} failed: 503"):
        RpcChain(url)
    assert len(handler.handled) == 2  # not retried: an error status will not change


@pytest.mark.parametrize("node", ["not-json", "huge"], indirect=True)
def test_answer_that_is_not_json_rpc_is_refused(node: tuple[str, type[_Node]]) -> None:
    url, _ = node
    with pytest.raises(ValueError):
        KeepAliveProvider(url, 5.0).make_request("eth_chainId", [])  # type: ignore[arg-type]
    with pytest.raises(ChainError, match="is not a JSON-RPC node"):
        RpcChain(url)


@pytest.mark.parametrize("url", ["localhost8545", "ftp://x", "http://", "http://h:99999999"])
def test_malformed_url_is_one_line(url: str) -> None:
    with pytest.raises(ChainError, match=f"JSON-RPC node at {url} failed: Invalid URL"):
        RpcChain(url)


def test_refused_connection_names_the_os_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("opendepin.chain.rpc.RETRY_BACKOFF_S", 0.0)
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainError) as info:
        RpcChain(url)
    assert (
        str(info.value)
        == f"cannot reach the JSON-RPC node at {url}: [Errno 111] Connection refused"
    )
