"""Simulation: whole networks in one process, from one seed.

`network.build_network` deploys a network on an embedded chain and registers every simulated
device of every kind that runs (each kind's own simulation model, `Kind.simulation`);
`network.make_oracle` adds oracles with their own stores; `demo.run_demo` is `depin demo`;
`keys.sim_secret` derives every simulated key from the seed.
"""
