"""Simulation: seeded device populations and whole networks in one process.

`population.Population` derives devices, owners and their (honest or dishonest) reports
from a seed; `network.build_network` deploys a network on an embedded chain and
`network.make_oracle` adds oracles with their own stores; `demo.run_demo` is `depin demo`.
"""

from opendepin.sim.network import (
    OracleNode,
    SimNetwork,
    build_network,
    make_oracle,
    register_devices,
    sim_settings,
)
from opendepin.sim.population import Behaviour, Population, SimDevice, behaviour_plan

__all__ = [
    "Behaviour",
    "OracleNode",
    "Population",
    "SimDevice",
    "SimNetwork",
    "behaviour_plan",
    "build_network",
    "make_oracle",
    "register_devices",
    "sim_settings",
]
