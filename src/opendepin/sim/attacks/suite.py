"""Run attack scenarios through the real verifiers and measure what the attackers earn.

A scenario is one attacker (or all of them, `mixed`) mixed into an honest population of one
radio model (`models`), run for E epochs: the same keys, agents (sequence counters, beacon
schedules) and history throughout, the channel re-seeded per epoch, everyone registered at
epoch 0. Every coverage device beacons once an epoch, at its own seeded phase plus up to a
minute of scheduler jitter, with the entropy block of its window
(`scenario.simulated_entropy_blocks`); the history is carried with `history.updated`. Figures
are measured on the **last** epoch (an establishment period does not flatter them):

* **pool share** — attacker shares / all shares of the kind's pool;
* **reward per key** — mean shares per attacker key / mean shares per honest device;
* **honest penalised** — honest devices with any penalty factor < 1, or 0 shares although they
  reported, or an invalid report for an anti-gaming reason (a reason outside the per-report
  physics and bookkeeping rules, `BOOKKEEPING_REASONS`); heartbeat: any reason at all;
* **break-even** — epochs until one attacker key's rewards repay `chain.onboarding_fee +
  chain.location_fee`, at epoch 0's emission and the pool split of the default settings,
  in a network of `network_devices` devices where an honest device earns pool/network_devices
  and the attacker key `reward per key` times that; and the fee that would push break-even past
  one year of epochs.

Targets (printed, never asserted): reward per key ≤ 0.1, pool share < 2 %, honest penalised < 1 %.
Everything is a function of the seed: same seed, same reports, same figures.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any, Final

import numpy as np

from opendepin.crypto import keccak256
from opendepin.network.settings import Settings, load_settings
from opendepin.proofs.coverage.agent import RadioConfig
from opendepin.proofs.coverage.epoch import CoverageResult, verify_epoch
from opendepin.proofs.coverage.history import CoverageHistory
from opendepin.proofs.coverage.params import CoverageParams
from opendepin.proofs.coverage.radio import RadioNode
from opendepin.proofs.coverage.scenario import simulated_entropy_blocks
from opendepin.proofs.heartbeat.kind import KIND as HEARTBEAT
from opendepin.proofs.kind import KindJob
from opendepin.records import ChainSnapshot, DeviceRecord, EntropyBlock, IngestedReport
from opendepin.reports.envelope import Report
from opendepin.sim.attacks import heartbeat as hb
from opendepin.sim.attacks.coverage import (
    COVERAGE_ATTACKERS,
    HONEST,
    NOWHERE,
    CoverageAttacker,
    EpochContext,
    Member,
    asserted_positions,
    make_agent,
    next_due_ms,
    random_schedule,
)
from opendepin.sim.attacks.models import (
    MODELS,
    RadioModel,
    attack_key,
    cell_of,
    honest_grid,
)
from opendepin.types import Address, DeviceId, Epoch

DEFAULT_EPOCHS: Final = 4
DEFAULT_NETWORK_DEVICES: Final = 10_000
EPOCHS_PER_YEAR: Final = 365
TARGET_REWARD_PER_KEY: Final = Fraction(1, 10)
TARGET_POOL_SHARE: Final = Fraction(2, 100)
TARGET_HONEST_PENALISED: Final = Fraction(1, 100)
MIXED: Final = "mixed"
LIVENESS_WINDOW_SECONDS: Final = 1_800
"""Liveness window the suite turns on when the network's default is off: the heartbeat
builder signs within the first half hour after the hour's block."""
BOOKKEEPING_REASONS: Final = frozenset(
    {
        "unknown_device", "inactive_device", "wrong_device_kind", "location_not_asserted",
        "wrong_epoch", "duplicate", "malformed_payload", "wrong_report_kind", "bad_entropy",
        "entropy_expired", "irregular_interval", "unknown_beacon", "invalid_beacon",
        "self_witness", "too_late", "below_min_distance", "max_distance_exceeded",
    }
)
"""Reasons an honest device may meet in normal operation (physics, timing, bookkeeping)."""

SCENARIOS: Final = (*COVERAGE_ATTACKERS, *hb.HEARTBEAT_ATTACKERS, MIXED)
"""Every scenario name, in table order."""


class UnknownScenario(ValueError):
    """A scenario name the suite does not have."""


@dataclass(frozen=True)
class Metrics:
    """Figures of one scenario in one model (last epoch)."""

    scenario: str
    model: str
    kind: str
    attacker_keys: int
    honest_devices: int
    attacker_shares: int
    honest_shares: int
    honest_penalised: int
    """Honest devices penalised (see the module docstring)."""
    pool_tokens: int
    """The kind's pool in base units per epoch (default settings)."""
    fee_tokens: int
    """onboarding_fee + location_fee, base units."""
    network_devices: int
    per_epoch: list[dict[str, float]] = field(default_factory=list)
    """pool share and reward per key per epoch (all epochs)."""
    penalised_by: dict[str, int] = field(default_factory=dict)
    """Why honest devices count as penalised: penalty rule, `zero_shares`, or invalid reason
    (a device may count under several)."""

    @property
    def pool_share(self) -> Fraction:
        total = self.attacker_shares + self.honest_shares
        return Fraction(self.attacker_shares, total) if total else Fraction(0)

    @property
    def reward_per_key(self) -> Fraction:
        if not self.attacker_keys:
            return Fraction(0)
        if not self.honest_shares:
            return Fraction(0) if not self.attacker_shares else Fraction(10**9)
        return Fraction(self.attacker_shares * self.honest_devices, self.attacker_keys * self.honest_shares)

    @property
    def honest_penalised_share(self) -> Fraction:
        return Fraction(self.honest_penalised, self.honest_devices) if self.honest_devices else Fraction(0)

    @property
    def key_tokens_per_epoch(self) -> Fraction:
        """What one attacker key earns per epoch in a network of `network_devices` devices."""
        return self.reward_per_key * Fraction(self.pool_tokens, self.network_devices)

    @property
    def break_even_epochs(self) -> Fraction | None:
        """Epochs to repay the fees (None: never)."""
        per = self.key_tokens_per_epoch
        return Fraction(self.fee_tokens) / per if per > 0 else None

    @property
    def fee_for_one_year(self) -> int:
        """Fees (base units) above which break-even takes more than a year of epochs."""
        return int(self.key_tokens_per_epoch * EPOCHS_PER_YEAR)

    def passes(self) -> dict[str, bool]:
        return {
            "reward_per_key": self.reward_per_key <= TARGET_REWARD_PER_KEY,
            "pool_share": self.pool_share < TARGET_POOL_SHARE,
            "honest_penalised": self.honest_penalised_share < TARGET_HONEST_PENALISED,
        }

    def to_obj(self) -> dict[str, Any]:
        out = asdict(self)
        be = self.break_even_epochs
        out.update(
            pool_share=float(self.pool_share),
            reward_per_key=float(self.reward_per_key),
            honest_penalised_share=float(self.honest_penalised_share),
            break_even_epochs=None if be is None else float(be),
            fee_for_one_year=self.fee_for_one_year,
            passes=self.passes(),
        )
        return out


def _economics(settings: Settings, kind: str) -> tuple[int, int]:
    pool = settings.emission.per_epoch * settings.pools.bps.get(kind, 0) // 10_000
    return pool, settings.chain.onboarding_fee + settings.chain.location_fee


# ---------------------------------------------------------------------------------------------
# Coverage


def penalty_causes(result: CoverageResult, device: DeviceId) -> set[str]:
    """Why an honest `device` counts as penalised in `result` (empty: it does not)."""
    expl = result.explanations.get(device)
    if expl is None:
        return set()
    causes = {
        str(getattr(p, "rule", getattr(p, "reason", "penalty")))
        for p in getattr(expl, "penalties", ())
        if p.factor < 1
    }
    if expl.shares == 0:
        causes.add("zero_shares")
    causes.update(n.reason.value for n in expl.invalid if n.reason.value not in BOOKKEEPING_REASONS)
    return causes


@dataclass
class CoverageRun:
    """The per-epoch outputs of one coverage scenario run (kept for tests and --json)."""

    reports: list[list[Report]] = field(default_factory=list)
    results: list[CoverageResult] = field(default_factory=list)
    roles: dict[DeviceId, str] = field(default_factory=dict)


def run_coverage(
    seed: int, model: RadioModel, attackers: Sequence[str], *, honest: int, epochs: int,
    settings: Settings | None = None,
) -> CoverageRun:
    """Run the coverage scenario; returns every epoch's reports and results."""
    settings = settings if settings is not None else load_settings(None)
    params = CoverageParams.from_settings(settings)
    honest_members = []
    for i, pos in enumerate(honest_grid(seed, model, honest)):
        key = attack_key(seed, model.name, HONEST, i)
        config = RadioConfig(tx_power_cdbm=model.tx_power_cdbm, antenna_gain_cdbi=model.antenna_gain_cdbi)
        agent = make_agent(key, NOWHERE, params, config, seed)  # bound to the channel per epoch
        honest_members.append(Member(key, HONEST, cell_of(*pos), agent, 0, pos))
    rng = np.random.default_rng([seed, 0xB0])
    for m in honest_members:
        m.phase_ms = int(rng.integers(0, params.epoch_seconds * 750))
    gangs: list[CoverageAttacker] = [COVERAGE_ATTACKERS[name](seed, model, params, honest) for name in attackers]
    members: list[Member] = honest_members + [m for g in gangs for m in g.members]
    run = CoverageRun(roles={m.device: m.role for m in members})
    history = CoverageHistory()
    previous: list[Report] = []
    for epoch in range(epochs):
        for g in gangs:
            g.before_epoch(epoch)
        nodes = [RadioNode(m.device, *m.position, model.antenna_gain_cdbi) for m in honest_members if m.position]
        for g in gangs:
            nodes.extend(g.nodes())
        radio = model.radio(nodes, seed=int.from_bytes(keccak256(f"{seed}:{model.name}:{epoch}".encode())[:4], "big"))
        blocks = simulated_entropy_blocks(seed, params, epoch)
        ctx = EpochContext(model, params, epoch, seed, blocks, asserted_positions(members), previous)
        for m in honest_members:
            m.agent.radio = radio
        for g in gangs:
            g.bind(radio, ctx)
        reports = _beacons(members, params, epoch, ctx)
        for m in members:
            reports.extend(m.agent.witnesses(epoch))
        snapshot = _coverage_snapshot(seed, epoch, blocks, members)
        result = verify_epoch([IngestedReport(r) for r in reports], snapshot, params, history)
        history = history.updated(result.activity)
        run.reports.append(reports)
        run.results.append(result)
        previous = reports
    return run


def _beacons(
    members: Sequence[Member], params: CoverageParams, epoch: int, ctx: EpochContext
) -> list[Report]:
    """Every beacon of the epoch, in time order: each agent beacons whenever its schedule
    says it is due (the first epoch's first beacon from its seeded phase when the schedule
    is not random itself)."""
    start_ms, end_ms = params.epoch_start_ms(epoch), params.epoch_end_ms(epoch)
    phase = not random_schedule() and epoch == 0
    heap = [
        (next_due_ms(m.agent.schedule, start_ms + (m.phase_ms if phase else 0)), i)
        for i, m in enumerate(members)
        if m.beacons
    ]
    heapq.heapify(heap)
    out: list[Report] = []
    while heap:
        at_ms, i = heapq.heappop(heap)
        if at_ms >= end_ms:
            continue
        block = ctx.block_at(at_ms)
        agent = members[i].agent
        if block is not None and (beacon := agent.beacon(at_ms, epoch, block.hash, block.number)):
            out.append(beacon)
        heapq.heappush(heap, (max(next_due_ms(agent.schedule, at_ms), at_ms + 1_000), i))
    return out


def _coverage_snapshot(
    seed: int, epoch: int, blocks: Sequence[EntropyBlock], members: Sequence[Member]
) -> ChainSnapshot:
    return ChainSnapshot(
        block_number=1_000 * (epoch + 2),
        entropy=keccak256(b"opendepin:sim:attacks:close:" + f"{seed}:{epoch}".encode()),
        entropy_blocks={b.number: b for b in blocks},
        devices={
            m.device: DeviceRecord(m.device, Address(m.device), "coverage", m.cell, True)
            for m in members
        },
    )


def coverage_metrics(
    run: CoverageRun, scenario: str, model: str, settings: Settings, network_devices: int
) -> Metrics:
    pool, fee = _economics(settings, "coverage")
    honest = [d for d, r in run.roles.items() if r == HONEST]
    attackers = [d for d, r in run.roles.items() if r != HONEST]
    per_epoch = []
    for result in run.results:
        m = _metrics_of(result.shares, honest, attackers, 0, scenario, model, "coverage", pool, fee, network_devices)
        per_epoch.append({"pool_share": float(m.pool_share), "reward_per_key": float(m.reward_per_key)})
    last = run.results[-1]
    causes = [penalty_causes(last, d) for d in honest]
    by: Counter[str] = Counter(c for cs in causes for c in cs)
    penalised = sum(1 for cs in causes if cs)
    out = _metrics_of(last.shares, honest, attackers, penalised, scenario, model, "coverage", pool, fee, network_devices)
    return Metrics(**{**asdict(out), "per_epoch": per_epoch, "penalised_by": dict(sorted(by.items()))})


def _metrics_of(
    shares: Any, honest: Sequence[DeviceId], attackers: Sequence[DeviceId], penalised: int,
    scenario: str, model: str, kind: str, pool: int, fee: int, network_devices: int,
) -> Metrics:
    return Metrics(
        scenario=scenario,
        model=model,
        kind=kind,
        attacker_keys=len(attackers),
        honest_devices=len(honest),
        attacker_shares=sum(shares.get(d, 0) for d in attackers),
        honest_shares=sum(shares.get(d, 0) for d in honest),
        honest_penalised=penalised,
        pool_tokens=pool,
        fee_tokens=fee,
        network_devices=network_devices,
    )


# ---------------------------------------------------------------------------------------------
# Heartbeat


@dataclass
class HeartbeatRun:
    reports: list[list[Report]] = field(default_factory=list)
    shares: list[dict[DeviceId, int]] = field(default_factory=list)
    reasons: list[dict[DeviceId, tuple[str, ...]]] = field(default_factory=list)
    roles: dict[DeviceId, str] = field(default_factory=dict)


def heartbeat_settings(settings: Settings) -> Settings:
    """The settings with the liveness challenge on when the report builder can answer it."""
    current = settings.kind_section("heartbeat")
    if hb.builder_takes_challenge() and getattr(current, "liveness_window_seconds", None) == 0:
        kinds = dict(settings.kinds)
        kinds["heartbeat"] = current.model_copy(
            update={"liveness_window_seconds": LIVENESS_WINDOW_SECONDS}
        )
        return settings.model_copy(update={"kinds": kinds})
    return settings


def run_heartbeat(
    seed: int, attackers: Sequence[str], *, honest: int, epochs: int, settings: Settings | None = None,
) -> HeartbeatRun:
    settings = heartbeat_settings(settings if settings is not None else load_settings(None))
    params = CoverageParams(network=settings.network)
    honest_pop = hb.honest_population(seed, honest)
    gangs = [hb.HEARTBEAT_ATTACKERS[name](seed) for name in attackers]
    run = HeartbeatRun()
    run.roles = {d.device_id: HONEST for d in honest_pop.devices}
    for g in gangs:
        run.roles.update({d.device_id: g.name for d in g.population.devices})
    records = {
        d.device_id: DeviceRecord(d.device_id, Address(d.owner.address), "heartbeat", d.cell, True)
        for pop in [honest_pop, *(g.population for g in gangs)]
        for d in pop.devices
    }
    for epoch in range(epochs):
        blocks = simulated_entropy_blocks(seed, params, epoch)
        reports = [
            r for hour in range(hb.HOURS_PER_DAY)
            for r in hb.hour_reports(honest_pop, settings, epoch, hour, blocks[hour] if hour < len(blocks) else None)
        ]
        for g in gangs:
            reports.extend(g.epoch_reports(settings, epoch, blocks))
        reports.sort(key=lambda r: (r.device, r.seq))
        snapshot = ChainSnapshot(
            block_number=1_000 * (epoch + 2),
            entropy=keccak256(b"opendepin:sim:attacks:hb-close:" + f"{seed}:{epoch}".encode()),
            entropy_blocks={b.number: b for b in blocks},
            devices=records,
        )
        ingested = [IngestedReport(r) for r in reports]
        result = HEARTBEAT.compute(
            KindJob(Epoch(epoch), ingested, snapshot, settings, settings.kind_section("heartbeat"))
        )
        run.reports.append(reports)
        run.shares.append(dict(result.shares))
        run.reasons.append({d: tuple(e.reasons) for d, e in result.explanations.items()})
    return run


def heartbeat_metrics(run: HeartbeatRun, scenario: str, settings: Settings, network_devices: int) -> Metrics:
    pool, fee = _economics(settings, "heartbeat")
    honest = [d for d, r in run.roles.items() if r == HONEST]
    attackers = [d for d, r in run.roles.items() if r != HONEST]
    per_epoch = []
    for shares in run.shares:
        m = _metrics_of(shares, honest, attackers, 0, scenario, "-", "heartbeat", pool, fee, network_devices)
        per_epoch.append({"pool_share": float(m.pool_share), "reward_per_key": float(m.reward_per_key)})
    shares, reasons = run.shares[-1], run.reasons[-1]
    causes = [
        set(reasons.get(d, ())) | ({"zero_shares"} if shares.get(d, 0) == 0 else set()) for d in honest
    ]
    by: Counter[str] = Counter(c for cs in causes for c in cs)
    penalised = sum(1 for cs in causes if cs)
    out = _metrics_of(shares, honest, attackers, penalised, scenario, "-", "heartbeat", pool, fee, network_devices)
    return Metrics(**{**asdict(out), "per_epoch": per_epoch, "penalised_by": dict(sorted(by.items()))})


# ---------------------------------------------------------------------------------------------
# The suite


def check_scenarios(names: Sequence[str]) -> list[str]:
    """`names` (all scenarios when empty), or UnknownScenario naming the first bad one."""
    for name in names:
        if name not in SCENARIOS:
            raise UnknownScenario(f"unknown scenario {name!r}; choose from: {', '.join(SCENARIOS)}")
    return list(names) if names else list(SCENARIOS)


def run_scenario(
    scenario: str, model: str, *, seed: int = 0, honest: int = 64, epochs: int = DEFAULT_EPOCHS,
    network_devices: int = DEFAULT_NETWORK_DEVICES, settings: Settings | None = None,
    heartbeat: bool = True,
) -> list[Metrics]:
    """Figures of one scenario in one model (a heartbeat scenario ignores the radio model;
    `mixed` gives one row per kind, its heartbeat row only with `heartbeat`)."""
    settings = settings if settings is not None else load_settings(None)
    check_scenarios([scenario])
    radio = MODELS[model]
    out = []
    cov = list(COVERAGE_ATTACKERS) if scenario == MIXED else [scenario] if scenario in COVERAGE_ATTACKERS else []
    hbs = list(hb.HEARTBEAT_ATTACKERS) if scenario == MIXED else [scenario] if scenario in hb.HEARTBEAT_ATTACKERS else []
    if cov:
        run = run_coverage(seed, radio, cov, honest=honest, epochs=epochs, settings=settings)
        out.append(coverage_metrics(run, scenario, model, settings, network_devices))
    if hbs and heartbeat:
        hrun = run_heartbeat(seed, hbs, honest=honest, epochs=epochs, settings=settings)
        out.append(heartbeat_metrics(hrun, scenario, settings, network_devices))
    return out


def run_suite(
    scenarios: Sequence[str] = (), models: Sequence[str] = ("project", "rooftop"), *, seed: int = 0,
    honest: int = 64, epochs: int = DEFAULT_EPOCHS, network_devices: int = DEFAULT_NETWORK_DEVICES,
    progress: Callable[[str], None] | None = None,
) -> list[Metrics]:
    """Every (scenario, model) pair; heartbeat scenarios run once (they have no radio model)."""
    names = check_scenarios(scenarios)
    settings = load_settings(None)
    out: list[Metrics] = []
    for name in names:
        for i, model in enumerate(models):
            if name in hb.HEARTBEAT_ATTACKERS and i > 0:
                continue
            if progress is not None:
                progress(f"{name} / {model}")
            rows = run_scenario(
                name, model, seed=seed, honest=honest, epochs=epochs,
                network_devices=network_devices, settings=settings, heartbeat=i == 0,
            )
            out.extend(rows)
    return out


def jobs(scenarios: Sequence[str], models: Sequence[str]) -> int:
    """How many `run_scenario` calls `run_suite` makes (for a progress bar)."""
    names = check_scenarios(scenarios)
    return sum(1 if n in hb.HEARTBEAT_ATTACKERS else len(models) for n in names)
