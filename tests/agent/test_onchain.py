from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from opendepin.agent.onchain import cell_of, fetch_rewards
from opendepin.identity import DeviceKey
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
