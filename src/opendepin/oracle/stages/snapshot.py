"""Snapshot stage: freeze the chain at the close block and each kind's state and inputs.

Reads the chain (registry and entropy at the close block, the entropy blocks kinds ask for),
the previous epoch's `rewards_v1.json` and `kinds/*/next_state_v1.json`; writes
`snapshot_v1.json`, `prior_v1.json`, `kinds/<kind>/state_v1.json` and each kind's external
inputs (`oracle.epoch_inputs`). Input digest: the close block, its hash and the sha256 of the
previous epoch's reward file.

Kinds with chain inputs (`ChainInputsKind.chain_inputs`, e.g. usage's `CreditsSpent` events)
read the epoch's blocks through a `ChainView`; the contract addresses come from the oracle's
`contracts` (the deployment's addresses) when it has them, plus the registry and distributor
it always knows.
"""

from __future__ import annotations

from opendepin.canonical import canonical_json, sha256_hex
from opendepin.chain.blocks import close_block
from opendepin.epochdir import EpochFile
from opendepin.errors import StageError
from opendepin.oracle.epoch_files import atomic_write, prior_to_bytes, snapshot_to_bytes
from opendepin.oracle.epoch_inputs import (
    chain_inputs_for,
    entropy_blocks_for,
    epoch_block_range,
    kind_file_paths,
    kind_files_for,
    prior_cumulative,
)
from opendepin.oracle.stages.base import Stage, StageContext, StageSpec
from opendepin.proofs.kind import ChainView
from opendepin.records import ChainSnapshot
from opendepin.store.ledger import StageOutput
from opendepin.types import Address

SPEC = StageSpec(
    Stage.SNAPSHOT,
    ("chain", "../<e-1>/rewards_v1.json", "../<e-1>/kinds/*/next_state_v1.json"),
    (
        "snapshot_v1.json",
        "prior_v1.json",
        "kinds/*/state_v1.json",
        "kinds/*/<external inputs>",
        "kinds/*/<chain inputs>",
    ),
)


def chain_view(ctx: StageContext, epoch: int, block: int) -> ChainView:
    """What kinds' chain inputs read for `epoch` whose close block is `block`."""
    contracts: dict[str, Address] = dict(ctx.contracts)
    contracts.setdefault("DeviceRegistry", ctx.registry.address)
    contracts.setdefault("RewardDistributor", ctx.distributor.address)
    first = ctx.registry_from_block
    start, end = epoch_block_range(ctx.chain, epoch, ctx.settings, block, first)
    return ChainView(ctx.chain, dict(sorted(contracts.items())), first, start, end)


def run(ctx: StageContext, epoch: int) -> StageOutput:
    """Write the epoch's snapshot, prior totals and kind files; the ledger row's parts."""
    net = ctx.settings.network
    block = close_block(ctx.chain, net.epoch_end_unix(epoch))
    block_hash = ctx.chain.block_hash(block)
    snapshot = ChainSnapshot(
        block_number=block,
        entropy=block_hash,
        devices=ctx.registry.snapshot(block, from_block=ctx.registry_from_block),
        entropy_blocks=entropy_blocks_for(ctx.chain, epoch, ctx.settings, ctx.modules, block),
    )
    d = ctx.epoch_dir(epoch)
    previous = ctx.epoch_dir(epoch - 1) if epoch > 0 else None
    read: dict[str, str] = {}
    if previous is not None:
        rewards = previous / EpochFile.REWARDS
        if not rewards.is_file():
            raise StageError(f"epoch {epoch}: the reward file of epoch {epoch - 1} is missing")
        read[f"../{epoch - 1}/{EpochFile.REWARDS}"] = sha256_hex(rewards.read_bytes())
    written: dict[str, str] = {}
    files_by_kind = kind_files_for(ctx.modules, previous, ctx.settings)
    files_by_kind = chain_inputs_for(
        ctx.modules, ctx.settings, chain_view(ctx, epoch, block), files_by_kind
    )
    for kind, files in files_by_kind.items():
        for rel, data in kind_file_paths(kind, files).items():
            written[rel] = atomic_write(d / rel, data)
    written[EpochFile.SNAPSHOT] = atomic_write(d / EpochFile.SNAPSHOT, snapshot_to_bytes(snapshot))
    written[EpochFile.PRIOR] = atomic_write(
        d / EpochFile.PRIOR, prior_to_bytes(epoch, prior_cumulative(previous))
    )
    read_digest = sha256_hex(
        canonical_json({"block": block, "block_hash": "0x" + block_hash.hex(), "read": read})
    )
    return StageOutput(
        read_digest,
        written[EpochFile.SNAPSHOT],
        {"block": block, "written": dict(sorted(written.items()))},
    )
