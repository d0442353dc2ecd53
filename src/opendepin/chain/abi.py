"""ABI encoding and decoding shared by every chain backend.

Both backends speak raw EVM bytes (calldata in, return data and logs out), so encoding,
decoding, event decoding and revert-string decoding live here once:

- functions are looked up by name and argument count (Vyper emits one ABI entry per
  arity for functions with default arguments);
- return values come back as Python values: addresses EIP-55 checksummed, `bytesN` as
  `bytes`, structs as tuples; a single return value is returned bare;
- a revert carrying `Error(string)` becomes its string, anything else its hex.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address

from opendepin.crypto import keccak256

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
"""Selector of Solidity/Vyper's `Error(string)` revert payload."""


def canonical_type(param: Mapping[str, Any]) -> str:
    """ABI type string of one parameter, expanding tuples (structs) recursively."""
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param["components"])
        return f"({inner}){typ[len('tuple') :]}"
    return typ


@functools.lru_cache(maxsize=65_536)
def checksum_address(value: str | bytes) -> str:
    """EIP-55 form of `value`, memoised: the same few addresses recur in every log and result.

    Raises as `to_checksum_address` does for a value that is not an address (not cached).
    """
    return to_checksum_address(value)


def normalise(typ: str, value: Any) -> Any:
    """Turn eth_abi's decoded value into the package's conventions."""
    if typ.endswith("]"):
        base = typ[: typ.rindex("[")]
        return [normalise(base, v) for v in value]
    if typ.startswith("("):
        return tuple(normalise(t, v) for t, v in zip(_split_tuple(typ), value, strict=True))
    if typ == "address":
        return checksum_address(value)
    return value


def _split_tuple(typ: str) -> list[str]:
    inner = typ[1 : typ.rindex(")")]
    parts: list[str] = []
    depth = 0
    start = 0
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    if inner:
        parts.append(inner[start:])
    return parts


@dataclass(frozen=True, slots=True)
class AbiFunction:
    """One callable ABI entry."""

    name: str
    input_types: tuple[str, ...]
    output_types: tuple[str, ...]
    selector: bytes

    def encode_call(self, args: Sequence[Any]) -> bytes:
        return self.selector + encode(list(self.input_types), list(args))

    def decode_output(self, data: bytes) -> Any:
        values = decode(list(self.output_types), data)
        out = [normalise(t, v) for t, v in zip(self.output_types, values, strict=True)]
        if len(out) == 1:
            return out[0]
        return tuple(out) if out else None


@dataclass(frozen=True, slots=True)
class AbiEvent:
    """One event ABI entry."""

    name: str
    topic: bytes
    fields: tuple[tuple[str, str, bool], ...]
    """(name, type, indexed) per field, in declaration order."""

    def decode_log(self, topics: Sequence[bytes], data: bytes) -> dict[str, Any]:
        indexed = [(n, t) for n, t, i in self.fields if i]
        plain = [(n, t) for n, t, i in self.fields if not i]
        args: dict[str, Any] = {}
        for (n, t), topic in zip(indexed, topics[1:], strict=True):
            if t in ("string", "bytes") or t.endswith("]") or t.startswith("("):
                args[n] = bytes(topic)  # dynamic indexed values are only their hash
            else:
                args[n] = _static_topic(t, bytes(topic))
        values = decode([t for _, t in plain], data) if plain else ()
        for (n, t), v in zip(plain, values, strict=True):
            args[n] = normalise(t, v)
        return {n: args[n] for n, _, _ in self.fields}


def _static_topic(typ: str, topic: bytes) -> Any:
    """An indexed static value: addresses and unsigned ints read directly (they are most of
    a receipt's decoding), anything else — or a topic with non-zero padding — via eth_abi."""
    if len(topic) == 32:
        if typ == "address" and not any(topic[:12]):
            return checksum_address(topic[12:])
        if typ.startswith("uint"):
            value = int.from_bytes(topic, "big")
            bits = typ[4:]
            if bits.isdigit() and value < 1 << int(bits):
                return value
    return normalise(typ, decode([typ], topic)[0])


class ContractAbi:
    """Lookup tables over one contract's ABI."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._functions: dict[tuple[str, int], AbiFunction] = {}
        self.events: dict[str, AbiEvent] = {}
        self.events_by_topic: dict[bytes, AbiEvent] = {}
        self.constructor_types: tuple[str, ...] = ()
        for entry in abi:
            kind = entry.get("type")
            if kind == "function":
                ins = tuple(canonical_type(p) for p in entry.get("inputs", ()))
                outs = tuple(canonical_type(p) for p in entry.get("outputs", ()))
                sig = f"{entry['name']}({','.join(ins)})"
                fn = AbiFunction(entry["name"], ins, outs, keccak256(sig.encode())[:4])
                self._functions[(fn.name, len(ins))] = fn
            elif kind == "event":
                fields = tuple(
                    (str(p["name"]), canonical_type(p), bool(p.get("indexed", False)))
                    for p in entry.get("inputs", ())
                )
                sig = f"{entry['name']}({','.join(t for _, t, _ in fields)})"
                ev = AbiEvent(entry["name"], keccak256(sig.encode()), fields)
                self.events[ev.name] = ev
                self.events_by_topic[ev.topic] = ev
            elif kind == "constructor":
                self.constructor_types = tuple(canonical_type(p) for p in entry["inputs"])

    def function(self, name: str, n_args: int) -> AbiFunction:
        fn = self._functions.get((name, n_args))
        if fn is None:
            arities = sorted(k[1] for k in self._functions if k[0] == name)
            if not arities:
                raise AttributeError(f"contract has no function {name!r}")
            raise TypeError(f"{name}() takes {arities} arguments, {n_args} given")
        return fn

    def event(self, name: str) -> AbiEvent:
        ev = self.events.get(name)
        if ev is None:
            raise AttributeError(f"contract has no event {name!r}")
        return ev

    def encode_constructor(self, args: Sequence[Any]) -> bytes:
        if len(args) != len(self.constructor_types):
            raise TypeError(
                f"constructor takes {len(self.constructor_types)} arguments, {len(args)} given"
            )
        return encode(list(self.constructor_types), list(args)) if args else b""


def decode_revert(data: bytes) -> str:
    """The revert string in `data` (`Error(string)`), or a hex rendering of other payloads."""
    if data[:4] == ERROR_STRING_SELECTOR:
        try:
            return str(decode(["string"], data[4:])[0])
        except Exception:  # malformed payload: fall through to hex
            pass
    return "0x" + data.hex() if data else ""
