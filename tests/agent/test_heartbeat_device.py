"""The heartbeat device side: the liveness challenge read from the device's chain connection.

Runs on the in-process `EmbeddedChain`; the oracle's own snapshot reader
(`read_entropy_blocks`) then shows that what the device signed is what the verifier accepts.
"""

from __future__ import annotations

from opendepin.agent import AgentConfig, DeviceAgent, ManualClock
from opendepin.agent.device import ENTROPY_BEAT_DELAY_SECONDS, entropy_window_start_unix
from opendepin.chain.embedded import EmbeddedChain
from opendepin.errors import ChainError
from opendepin.identity import DeviceKey
from opendepin.network.settings import load_settings
from opendepin.oracle.epoch_inputs import read_entropy_blocks
from opendepin.proofs.heartbeat import HeartbeatReason, verify
from opendepin.proofs.heartbeat.kind import FixedPosition
from opendepin.records import ChainSnapshot, DeviceRecord, IngestedReport
from opendepin.types import Address

LIVE = {"liveness_window_seconds": 300}
OFF = {"liveness_window_seconds": 0}
LAT_E7, LON_E7 = 473_769_000, 85_417_000


def live_config() -> AgentConfig:
    settings = load_settings(None, heartbeat=LIVE)
    return AgentConfig.from_settings(settings, kind="heartbeat", key_type="secp256k1").with_updates(
        lat_e7=LAT_E7, lon_e7=LON_E7
    )


def off_config() -> AgentConfig:
    settings = load_settings(None, heartbeat=OFF)
    return AgentConfig.from_settings(settings, kind="heartbeat", key_type="secp256k1").with_updates(
        lat_e7=LAT_E7, lon_e7=LON_E7
    )


def test_init_copies_the_entropy_window_only_when_liveness_is_on() -> None:
    default = AgentConfig.from_settings(load_settings(None), kind="heartbeat", key_type="secp256k1")
    assert default.entropy_window_seconds == 3_600  # liveness is on by default
    assert live_config().entropy_window_seconds == 3_600
    assert off_config().entropy_window_seconds is None


def test_without_liveness_the_payload_is_the_fixed_position_only() -> None:
    assert FixedPosition(off_config()).payloads(0) == [{"lat_e7": LAT_E7, "lon_e7": LON_E7}]


def test_entropy_window_start_tiles_each_epoch_from_its_start() -> None:
    # genesis 1000, epochs of 7200 s, windows of 3600 s
    assert entropy_window_start_unix(1_000_000, 1_000, 7_200, 3_600) == 1_000
    assert entropy_window_start_unix(4_600_000, 1_000, 7_200, 3_600) == 4_600
    assert entropy_window_start_unix(8_199_999, 1_000, 7_200, 3_600) == 4_600
    assert entropy_window_start_unix(8_200_000, 1_000, 7_200, 3_600) == 8_200
    # windows that do not divide the epoch restart at each epoch's start
    assert entropy_window_start_unix(8_100_000, 1_000, 7_200, 5_000) == 6_000
    assert entropy_window_start_unix(8_300_000, 1_000, 7_200, 5_000) == 8_200


def test_run_beats_just_after_each_window_start_with_an_entropy_window(
    key: DeviceKey, config: AgentConfig, clock: ManualClock
) -> None:
    hourly = config.with_updates(entropy_window_seconds=3_600)
    plain = DeviceAgent(key, config, clock=clock)
    timed = DeviceAgent(key, hourly, clock=clock)
    try:
        start = (config.genesis_unix + 5 * config.epoch_seconds) * 1000
        beat = start + 1_234_000
        assert plain.next_beat_ms(beat, 3_600_000) == beat + 3_600_000
        assert timed.next_beat_ms(beat, 3_600_000) == start + (3_600 + ENTROPY_BEAT_DELAY_SECONDS) * 1000
        last_hour = start + (config.epoch_seconds - 60) * 1000
        assert timed.next_beat_ms(last_hour, 3_600_000) == start + (config.epoch_seconds + ENTROPY_BEAT_DELAY_SECONDS) * 1000
    finally:
        plain.close()
        timed.close()


def test_the_device_signs_the_hours_block_and_the_verifier_accepts_it() -> None:
    config = live_config()
    epoch = 2
    start = config.genesis_unix + epoch * config.epoch_seconds
    chain = EmbeddedChain(config.chain_id, genesis_timestamp=start - 100)
    device = FixedPosition(config, chain)
    key = DeviceKey.generate()
    clock = ManualClock(start * 1000)
    agent = DeviceAgent(key, config, clock=clock, payload_source=lambda ts: device.payloads(ts)[0])
    reports = []
    try:
        for hour in range(3):
            chain.time_travel(start + hour * 3_600 - chain.now() - 5)
            chain.mine()  # the hour's entropy block, 5 s before the hour
            chain.time_travel(30)
            chain.mine()  # a later block the device must not use for this hour
            clock.advance(start + hour * 3_600 + 20 - clock.now_ms() / 1000)
            reports.append(agent.beat())
    finally:
        agent.close()
    blocks = read_entropy_blocks(chain, start, config.epoch_seconds, 3_600, chain.block_number())
    assert [r.payload_obj()["challenge_block"] for r in reports] == list(blocks)[:3]
    record = DeviceRecord(key.device_id, Address("0x" + "0c" * 20), "heartbeat", _cell(), True)
    snap = ChainSnapshot(chain.block_number(), chain.block_hash(), {key.device_id: record}, blocks)
    settings = load_settings(None, heartbeat=LIVE)
    verdicts = verify([IngestedReport(r) for r in reports], snap, settings)
    assert all(v.valid for v in verdicts), verdicts
    # the same heartbeat against another chain's blocks is refused
    other = {n: type(b)(n, bytes(32), b.timestamp) for n, b in blocks.items()}
    refused = verify([IngestedReport(reports[0])], ChainSnapshot(1, bytes(32), {key.device_id: record}, other), settings)
    assert refused[0].reason == HeartbeatReason.BAD_CHALLENGE


def _cell() -> int:
    from opendepin.geo import cell_of

    return cell_of(LAT_E7, LON_E7, 12)


def test_an_unreachable_chain_leaves_the_challenge_out_instead_of_stopping_the_device() -> None:
    class Down:
        def block_number(self) -> int:
            raise ChainError("connection refused")

    device = FixedPosition(live_config(), Down())  # type: ignore[arg-type]
    assert device.payloads(live_config().genesis_unix * 1000) == [{"lat_e7": LAT_E7, "lon_e7": LON_E7}]
