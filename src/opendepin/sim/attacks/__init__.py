"""The adversarial scenario suite: smart attackers mixed into honest populations.

`depin sim attacks` (and `bench/attacks.py`) run every attacker against the real coverage and
heartbeat verifiers in two radio models (`models`: the project's ~900 m grid and a denser
rooftop network on a 600 m grid), for several epochs with history carried between them, and
report per scenario the attackers' share of each pool, their reward per key against an honest
device's, the share of honest devices penalised and the epochs until a key repays its fees
(`suite`). The suite is built on public functions only — the agents, the radio, the
heartbeat population's report builder, `verify_epoch` and the heartbeat kind's `compute` — so
it measures whatever rules exist when it runs. See docs/attacks.md.

| scenario          | kind      | keys | radio     | attack |
|-------------------|-----------|------|-----------|--------|
| `spoof_near`      | coverage  | 5    | real      | among honest devices, asserts 20–80 km away; power reduced and RSSI fitted to free space over the asserted distance |
| `ring5`           | coverage  | 5    | none      | cells ~1.5 km apart far from everyone, witnessing only each other with log-distance RSSI/SNR |
| `ring15`          | coverage  | 15   | none      | the same with 15 keys |
| `ring40`          | coverage  | 40   | none      | the same with 40 keys: bigger than `min_cluster_devices` |
| `ring_weak`       | coverage  | 5    | none      | the 5-ring claiming −135 dBm and −25 dB SNR |
| `ring_offchannel` | coverage  | 5    | none      | the 5-ring on a 100 kHz carrier |
| `front10_same`    | coverage  | 10   | one       | one receiver fronting 10 keys asserting 1–3 km around it, identical measurements |
| `front10_noised`  | coverage  | 10   | one       | the same, ±3 dB noise per key and 30 % of receptions dropped |
| `predict`         | coverage  | 10   | none      | witnesses honest beacons computed from public inputs at the predicted time |
| `roof10`          | coverage  | 10   | 10 on one roof | asserting positions 1–3 km apart; mutual witnesses fitted to the asserted distances |
| `witness_only`    | coverage  | 5    | real      | only witnesses, never beacons |
| `mover`           | coverage  | 5    | real      | asserts a new cell 2–5 km from the truth every epoch |
| `hb_spoof`        | heartbeat | 5    | —         | really in Lisbon, asserts and reports Porto |
| `hb_farm30`       | heartbeat | 30   | —         | 30 keys on one machine, same/adjacent cells |
| `hb_parttime`     | heartbeat | 5    | —         | online 12 minutes a day, claims 12 hours |
| `mixed`           | both      | all  |           | every attacker at once |
"""

from opendepin.sim.attacks.models import MODELS, PROJECT, ROOFTOP, RadioModel
from opendepin.sim.attacks.suite import (
    SCENARIOS,
    Metrics,
    UnknownScenario,
    check_scenarios,
    run_scenario,
    run_suite,
)

__all__ = [
    "MODELS",
    "PROJECT",
    "ROOFTOP",
    "SCENARIOS",
    "Metrics",
    "RadioModel",
    "UnknownScenario",
    "check_scenarios",
    "run_scenario",
    "run_suite",
]
