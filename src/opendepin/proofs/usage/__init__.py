"""The usage kind: providers are paid for the storage and egress consumers paid for.

A gateway meters what consumers used of each storage node, spends the consumers' credits on
chain (`Credits.spend`, citing its usage file's digest) and files what it charged as signed
reports; storage nodes file the gateway-signed GET orders they served as egress evidence.
The oracles match spends to `CreditsSpent` events frozen at the snapshot, cap every node at
what was paid and what it can show, and the `usage` pool pays nodes in proportion to verified
credits — at most the token value of those credits; the rest flows to the proof pools.
See `docs/usage.md`.
"""

from opendepin.proofs.usage.kind import KIND, UsageKind

__all__ = ["KIND", "UsageKind"]
