from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from opendepin.agent.onchain import cell_of, fetch_rewards, register_device
from opendepin.chain import EmbeddedChain, RegistryClient, Signer, deploy_network
from opendepin.chain.clients import ZERO_ADDRESS
from opendepin.errors import InputError
from opendepin.identity import DeviceKey
from opendepin.network.settings import Settings
from opendepin.proofs.heartbeat.geo import cell_centre, distance_to_cell_m


def oracle_app(account: str) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/rewards/{who}")
    def rewards(who: str) -> JSONResponse:
        if who != account:
            return JSONResponse({"title": "no_rewards"}, status_code=404)
        return JSONResponse(
            {"account": who, "epoch": 4, "root": "0x" + "00" * 32,
             "cumulative_amount": str(12 * 10**18 + 5), "proof": ["0x" + "ab" * 32]}
        )  # fmt: skip

    return app


def test_fetch_rewards_parses_statement_and_404() -> None:
    account = DeviceKey.generate().device_id
    stranger = DeviceKey.generate().device_id
    transport = httpx.ASGITransport(app=oracle_app(account))

    async def go() -> tuple[object, object]:
        async with httpx.AsyncClient(transport=transport) as client:
            return (
                await fetch_rewards("http://oracle", account.lower(), client),
                await fetch_rewards("http://oracle", stranger, client),
            )

    statement, none = asyncio.run(go())
    assert none is None
    assert statement is not None
    assert statement.cumulative_amount == 12 * 10**18 + 5  # type: ignore[attr-defined]
    assert statement.proof == (b"\xab" * 32,)  # type: ignore[attr-defined]
    assert statement.epoch == 4  # type: ignore[attr-defined]


def test_cell_of_contains_the_position() -> None:
    centre = cell_centre(cell_of(473_769_000, 85_417_000))
    assert centre is not None
    assert distance_to_cell_m(473_769_000, 85_417_000, centre) < 15


def test_register_device_signs_kind_asserts_cell_and_refuses_bad_cell_before_paying() -> None:
    chain = EmbeddedChain()
    gov, owner = Signer.generate(), Signer.generate()
    chain.fund(owner.address, 10**21)
    oracles = [Signer.generate().address for _ in range(2)]
    settings = Settings(chain={"onboarding_fee": 0, "location_fee": 0})
    registry = deploy_network(chain, settings, gov, oracles, gov.address).address("DeviceRegistry")
    device = DeviceKey.generate()
    cell = cell_of(473_769_000, 85_417_000)
    receipts = register_device(chain, registry, device, owner, "heartbeat", location=cell)
    assert len(receipts) == 2
    record = RegistryClient(chain, registry).device_info(device.device_id)
    assert (record.owner, record.kind, record.location) == (owner.address, "heartbeat", cell)

    other = DeviceKey.generate()
    block = chain.block_number()
    with pytest.raises(InputError, match="not a valid H3 cell"):
        register_device(chain, registry, other, owner, "heartbeat", location=cell + 1)
    assert chain.block_number() == block  # nothing was sent
    assert RegistryClient(chain, registry).device_info(other.device_id).owner == ZERO_ADDRESS
