"""Proof kinds: one package per resource, each a `ProofModule` (see `proofs.base`)."""
