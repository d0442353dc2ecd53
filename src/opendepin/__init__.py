"""opendepin: an open framework and reference network for Decentralized Physical Infrastructure.

Devices send signed reports; independent oracles verify them with pure, reproducible rules,
turn valid work into integer token rewards, publish a Merkle root of cumulative rewards that
M of N oracles sign, and owners claim on an EVM chain. See DESIGN.md for the map.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
