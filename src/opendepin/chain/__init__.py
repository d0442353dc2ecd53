"""The chain side of opendepin: backends, contracts, typed clients, deployment.

    >>> from opendepin.chain import EmbeddedChain, Signer, deploy_network   # doctest: +SKIP
    >>> chain = EmbeddedChain()                    # or RpcChain("http://127.0.0.1:8545")
    >>> gov = Signer.generate(); chain.fund(gov.address, 10**21)
    >>> d = deploy_network(chain, settings, gov, oracle_addresses, guardian)
    >>> d.distributor(chain).next_epoch()
    0

Everything above the backends talks to the `Chain` protocol (`backend.py`) through the
clients in `clients.py`; `EmbeddedChain` (titanoboa) and `RpcChain` (web3.py) implement it
identically, and `anvil.AnvilProcess` runs a real local node for tests. The contracts
they deploy come from the published artefacts (`artifacts`, compiled once and checked in),
never from a compile at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opendepin.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "AccountLike": "opendepin.chain.accounts",
    "Signer": "opendepin.chain.accounts",
    "AnvilProcess": "opendepin.chain.anvil",
    "CompiledContract": "opendepin.chain.artifacts",
    "ContractArtifact": "opendepin.chain.artifacts",
    "artifact_names": "opendepin.chain.artifacts",
    "load_artifact": "opendepin.chain.artifacts",
    "Chain": "opendepin.chain.backend",
    "Event": "opendepin.chain.backend",
    "Receipt": "opendepin.chain.backend",
    "CreditsClient": "opendepin.chain.clients",
    "CreditsSpent": "opendepin.chain.clients",
    "DistributorClient": "opendepin.chain.clients",
    "RegistryClient": "opendepin.chain.clients",
    "TokenClient": "opendepin.chain.clients",
    "compile_source": "opendepin.chain.compiler",
    "DEPLOYMENT_FILE": "opendepin.chain.deploy",
    "Deployment": "opendepin.chain.deploy",
    "deploy_network": "opendepin.chain.deploy",
    "epoch_root_digest": "opendepin.chain.eip712",
    "epoch_root_typed_data": "opendepin.chain.eip712",
    "register_digest": "opendepin.chain.eip712",
    "register_typed_data": "opendepin.chain.eip712",
    "EmbeddedChain": "opendepin.chain.embedded",
    "Call": "opendepin.chain.governance",
    "GovernanceClient": "opendepin.chain.governance",
    "Operation": "opendepin.chain.governance",
    "OperationState": "opendepin.chain.governance",
    "Proposal": "opendepin.chain.governance",
    "operation_id": "opendepin.chain.governance",
    "operation_id_batch": "opendepin.chain.governance",
    "RpcChain": "opendepin.chain.rpc",
}
"""Name -> its module, imported on first use: `import opendepin.chain.accounts` (or any one
client) then costs only that module, not web3 (`rpc`) with eth_account, aiohttp and
py_ecc, nor Vyper (`compiler`), which the embedded chain never needs."""

__all__ = [
    "DEPLOYMENT_FILE",
    "AccountLike",
    "AnvilProcess",
    "Call",
    "Chain",
    "CompiledContract",
    "ContractArtifact",
    "CreditsClient",
    "CreditsSpent",
    "Deployment",
    "DistributorClient",
    "EmbeddedChain",
    "Event",
    "GovernanceClient",
    "Operation",
    "OperationState",
    "Proposal",
    "Receipt",
    "RegistryClient",
    "RpcChain",
    "Signer",
    "TokenClient",
    "artifact_names",
    "compile_source",
    "deploy_network",
    "epoch_root_digest",
    "epoch_root_typed_data",
    "load_artifact",
    "operation_id",
    "operation_id_batch",
    "register_digest",
    "register_typed_data",
]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from opendepin.chain.accounts import AccountLike, Signer
    from opendepin.chain.anvil import AnvilProcess
    from opendepin.chain.artifacts import (
        CompiledContract,
        ContractArtifact,
        artifact_names,
        load_artifact,
    )
    from opendepin.chain.backend import Chain, Event, Receipt
    from opendepin.chain.clients import (
        CreditsClient,
        CreditsSpent,
        DistributorClient,
        RegistryClient,
        TokenClient,
    )
    from opendepin.chain.compiler import compile_source
    from opendepin.chain.deploy import DEPLOYMENT_FILE, Deployment, deploy_network
    from opendepin.chain.eip712 import (
        epoch_root_digest,
        epoch_root_typed_data,
        register_digest,
        register_typed_data,
    )
    from opendepin.chain.embedded import EmbeddedChain
    from opendepin.chain.governance import (
        Call,
        GovernanceClient,
        Operation,
        OperationState,
        Proposal,
        operation_id,
        operation_id_batch,
    )
    from opendepin.chain.rpc import RpcChain
