"""Named domain types shared across packages.

They are `NewType`s over built-ins: free at run time, but they make signatures say what a
number or string means (a device id is not any string, base units are not any int).
"""

from __future__ import annotations

from typing import NewType

DeviceId = NewType("DeviceId", str)
"""A device's id: the EIP-55 checksummed 20-byte address derived from its public key."""

Address = NewType("Address", str)
"""An EVM account address, EIP-55 checksummed."""

Epoch = NewType("Epoch", int)
"""Epoch number, counted from 0 at the network's genesis time."""

BaseUnits = NewType("BaseUnits", int)
"""Token amount in base units (10**-18 of a token). Money is never a float."""

ProofKind = NewType("ProofKind", str)
"""Name of a proof kind, e.g. "heartbeat" or "coverage"."""

TOKEN_DECIMALS = 18
ONE_TOKEN = BaseUnits(10**TOKEN_DECIMALS)
