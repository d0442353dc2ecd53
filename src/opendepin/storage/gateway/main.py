"""Assembling and running a gateway: metadata database, node directory, placer key, access
keys (sealed by the master key), the ASGI app, and uvicorn in the foreground.

`open_gateway` is what `depin storage gateway` and the tests call; `serve` runs it until
SIGTERM/SIGINT, finishing the requests in flight (an acknowledged object is already
committed, so a harder stop loses nothing acknowledged either).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import uvicorn

from opendepin.http.graceful import GracefulServer
from opendepin.storage.directory import NodeDirectory
from opendepin.storage.gateway.app import GatewayApp
from opendepin.storage.gateway.context import Gateway, GatewayConfig
from opendepin.storage.gateway.hooks import ALLOW_ALL, NO_USAGE, Authoriser, UsageSink
from opendepin.storage.gateway.keys import KeyStore, load_master_key
from opendepin.storage.metadata import Metadata
from opendepin.storage.placer import FetchHook, Placer, PlacerConfig, PlacerKey

DEFAULT_PORT: Final = 9000
DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_MASTER_KEY: Final = Path("gateway-master.key")
SHUTDOWN_GRACE_SECONDS: Final = 30
MAX_HEADER_BYTES: Final = 64 * 1024


def open_gateway(
    metadata: Metadata,
    node_urls: Sequence[str],
    placer_key: PlacerKey,
    placer_config: PlacerConfig,
    master_key_path: Path,
    config: GatewayConfig | None = None,
    *,
    authoriser: Authoriser = ALLOW_ALL,
    usage: UsageSink = NO_USAGE,
    on_fetch: FetchHook | None = None,
) -> Gateway:
    """A gateway over `metadata` and the nodes (the master key file created on first start).

    `authoriser` and `usage` are the request hooks (`hooks`; credits: `credits_check`,
    metering: `opendepin.storage.metering.Metering`), `on_fetch` the placer's download hook
    (`Metering.record_fetch`: node egress).

    Uploads a crashed predecessor left pending (older than an hour) are cleaned up here.
    """
    directory = NodeDirectory(
        list(node_urls), network=placer_config.network, chain_id=placer_config.chain_id
    )
    directory.refresh()
    placer = Placer(metadata, directory, placer_key, placer_config)
    placer.on_fetch = on_fetch
    keys = KeyStore(metadata.engine, load_master_key(master_key_path))
    placer.clean_abandoned()
    placer.flush_deletes()
    return Gateway(placer, keys, config, authoriser=authoriser, usage=usage)


_Server = GracefulServer
"""uvicorn that exits cleanly on SIGTERM/SIGINT (`opendepin.http.graceful`)."""


def server(
    gateway: Gateway, host: str, port: int, *, usage_data: Path | None = None
) -> uvicorn.Server:
    """The gateway's uvicorn server; `usage_data`: serve the usage files under it."""
    config = uvicorn.Config(
        GatewayApp(gateway, usage_data=usage_data),
        host=host,
        port=port,
        lifespan="on",
        access_log=False,
        log_level="warning",
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    return _Server(config)


def serve(
    gateway: Gateway,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    usage_data: Path | None = None,
) -> None:
    """Serve in the foreground until SIGTERM/SIGINT (then return normally)."""
    server(gateway, host, port, usage_data=usage_data).run()


__all__ = ["DEFAULT_MASTER_KEY", "DEFAULT_PORT", "open_gateway", "serve", "server"]
