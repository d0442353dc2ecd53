"""Running a storage node: its key, its directory, the HTTP server and the report loop.

`open_key` finds the node's device key (D/device.json unless `--key` names another keystore;
created at first start when the passphrase variable is set), `prepare_directory` writes
D/agent.toml so `depin agent register --dir D` registers the node on chain like any device,
and `serve` runs uvicorn in the foreground with the reporter on the same event loop.

**Shutdown.** SIGTERM or SIGINT stops accepting connections, lets requests in flight finish
(an upload being written completes and is committed; at most `SHUTDOWN_GRACE_SECONDS`),
stops the reporter (reports not yet delivered stay in node.db) and returns, so the process
exits 0. uvicorn's own handler re-raises the signal after its graceful shutdown, which would
end the process with the signal's status; `_Server` keeps the graceful part only.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Final

import uvicorn

from opendepin.agent.config import save_config
from opendepin.errors import ConfigError
from opendepin.http.graceful import GracefulServer
from opendepin.identity import DeviceKey, KeyType, load_keystore, save_keystore
from opendepin.identity.keystore import DEFAULT_SCRYPT_N
from opendepin.storage.node.config import AGENT_TOML, KEYSTORE_FILE, STATE_DB, NodeConfig
from opendepin.storage.node.reporter import NodeReporter, agent_config
from opendepin.storage.node.server import NodeApp, create_app
from opendepin.storage.node.store import PieceStore

log = logging.getLogger("opendepin.storage.node")

SHUTDOWN_GRACE_SECONDS: Final = 30
"""Longest wait for requests in flight after SIGTERM."""


def open_key(
    directory: Path,
    key_path: Path | None,
    passphrase: str | None,
    *,
    scrypt_n: int = DEFAULT_SCRYPT_N,
) -> DeviceKey:
    """The node's secp256k1 device key: `key_path` (a keystore) or D/device.json, created there
    with `passphrase` when neither exists. ConfigError when it cannot be had."""
    path = key_path or directory / KEYSTORE_FILE
    if not path.exists():
        if key_path is not None:
            raise ConfigError(f"no keystore at {key_path}")
        if not passphrase:
            raise ConfigError(f"no node key at {path}: set the passphrase variable to create one")
        key = DeviceKey.generate(KeyType.SECP256K1)
        directory.mkdir(parents=True, exist_ok=True)
        save_keystore(key, path, passphrase, scrypt_n=scrypt_n)
        log.info("created node key %s in %s", key.device_id, path)
        return key
    if not passphrase:
        raise ConfigError(f"set the passphrase variable to unlock {path}")
    key = load_keystore(path, passphrase)
    if key.type is not KeyType.SECP256K1:
        raise ConfigError(
            f"{path}: a storage node's key must be secp256k1 (its acks are EVM signatures)"
        )
    own = directory / KEYSTORE_FILE
    if key_path is not None and not own.exists():
        # the same encrypted keystore in D, where `depin agent register --dir D` looks for it
        directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(key_path, own)
        own.chmod(0o600)
    return key


def prepare_directory(config: NodeConfig) -> None:
    """Create the node directory and write D/agent.toml when it is missing."""
    config.directory.mkdir(parents=True, exist_ok=True)
    if not (config.directory / AGENT_TOML).exists():
        save_config(agent_config(config), config.directory)


def node_app(config: NodeConfig, key: DeviceKey) -> NodeApp:
    """The node of `config` with its real reporter (ingest URLs, RPC, D/node.db)."""

    def factory(store: PieceStore) -> NodeReporter:
        return NodeReporter(config, key, store, state_path=config.directory / STATE_DB)

    return NodeApp(config, key, reporter_factory=factory)


_Server = GracefulServer
"""uvicorn that exits cleanly on SIGTERM/SIGINT (`opendepin.http.graceful`)."""


def serve(node: NodeApp) -> None:
    """Serve `node` in the foreground until SIGTERM/SIGINT (then return normally)."""
    config = uvicorn.Config(
        create_app(node),
        host=node.config.host,
        port=node.config.port,
        lifespan="on",
        access_log=False,
        log_level="warning",
        h11_max_incomplete_event_size=node.config.max_header_bytes,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )
    _Server(config).run()


__all__ = ["node_app", "open_key", "prepare_directory", "serve"]
