"""opendepin: an open framework and reference network for Decentralized Physical Infrastructure.

Devices send signed reports; independent oracles verify them with pure, reproducible rules,
turn valid work into integer token rewards, publish a Merkle root of cumulative rewards that
M of N oracles sign, and owners claim on an EVM chain. See DESIGN.md for the map.

The names a network builder needs are here, flat (imported on first use, so `import
opendepin` stays cheap):

```
define a network    Settings, load_settings, Section
chains, contracts   EmbeddedChain, RpcChain, deploy_network, Deployment, Signer
run an oracle       Oracle (Oracle.build), audit_epoch
run a device        DeviceAgent, DeviceKey, KeyType
write a kind        Kind, KindBase, KindJob, KindResult, Explanation, Verdict, SharedReason,
                    DeviceBehaviour, SimModel, SimSpec, SimHour, SimDevice, installed_kinds, get_kind
simulate            run_demo, build_network, register_devices, make_oracle
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opendepin.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Settings": "opendepin.network.settings",
    "Section": "opendepin.network.settings",
    "load_settings": "opendepin.network.settings",
    "EmbeddedChain": "opendepin.chain.embedded",
    "RpcChain": "opendepin.chain.rpc",
    "deploy_network": "opendepin.chain.deploy",
    "Deployment": "opendepin.chain.deploy",
    "Signer": "opendepin.chain.accounts",
    "Oracle": "opendepin.oracle.node",
    "audit_epoch": "opendepin.oracle.audit",
    "DeviceAgent": "opendepin.agent.device",
    "DeviceKey": "opendepin.identity.keys",
    "KeyType": "opendepin.identity.keys",
    "Kind": "opendepin.proofs.kind",
    "KindBase": "opendepin.proofs.kind",
    "KindJob": "opendepin.proofs.kind",
    "KindResult": "opendepin.proofs.kind",
    "Explanation": "opendepin.proofs.kind",
    "DeviceBehaviour": "opendepin.proofs.kind",
    "SimModel": "opendepin.proofs.kind",
    "SimSpec": "opendepin.proofs.kind",
    "SimHour": "opendepin.proofs.kind",
    "SimDevice": "opendepin.proofs.kind",
    "Verdict": "opendepin.records",
    "SharedReason": "opendepin.reasons",
    "installed_kinds": "opendepin.proofs.registry",
    "get_kind": "opendepin.proofs.registry",
    "run_demo": "opendepin.sim.demo",
    "build_network": "opendepin.sim.network",
    "register_devices": "opendepin.sim.network",
    "make_oracle": "opendepin.sim.network",
}

__all__ = [
    "Deployment",
    "DeviceAgent",
    "DeviceBehaviour",
    "DeviceKey",
    "EmbeddedChain",
    "Explanation",
    "KeyType",
    "Kind",
    "KindBase",
    "KindJob",
    "KindResult",
    "Oracle",
    "RpcChain",
    "Section",
    "Settings",
    "SharedReason",
    "Signer",
    "SimDevice",
    "SimHour",
    "SimModel",
    "SimSpec",
    "Verdict",
    "__version__",
    "audit_epoch",
    "build_network",
    "deploy_network",
    "get_kind",
    "installed_kinds",
    "load_settings",
    "make_oracle",
    "register_devices",
    "run_demo",
]


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from opendepin.agent.device import DeviceAgent
    from opendepin.chain.accounts import Signer
    from opendepin.chain.deploy import Deployment, deploy_network
    from opendepin.chain.embedded import EmbeddedChain
    from opendepin.chain.rpc import RpcChain
    from opendepin.identity.keys import DeviceKey, KeyType
    from opendepin.network.settings import Section, Settings, load_settings
    from opendepin.oracle.audit import audit_epoch
    from opendepin.oracle.node import Oracle
    from opendepin.proofs.kind import (
        DeviceBehaviour,
        Explanation,
        Kind,
        KindBase,
        KindJob,
        KindResult,
        SimDevice,
        SimHour,
        SimModel,
        SimSpec,
    )
    from opendepin.proofs.registry import get_kind, installed_kinds
    from opendepin.reasons import SharedReason
    from opendepin.records import Verdict
    from opendepin.sim.demo import run_demo
    from opendepin.sim.network import build_network, make_oracle, register_devices
