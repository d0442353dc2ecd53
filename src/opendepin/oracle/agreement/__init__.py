"""Input agreement between oracles that tolerates f = N − M faulty ones (`docs/agreement.md`).

`messages` (signed batches, chains and round records), `protocol` (the rounds as a pure state
machine), `service` (running them for one epoch: files, peers, deadlines), `routes` (what an
oracle serves its peers). The `agree` stage runs it; the `seal` stage seals its decision.
"""
