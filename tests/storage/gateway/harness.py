"""The gateway under test: the real ASGI app served by uvicorn in a thread, over real nodes.

`GatewayServer` builds a `Gateway` over a `Cluster` (tests/storage/cluster.py: real node
servers) and a metadata database, serves it on a free port, and hands out boto3 clients
with fresh access keys (path-style addressing, us-east-1, s3v4, no retries so each refusal
is seen as sent).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import boto3
import uvicorn
from botocore.config import Config

from opendepin.storage.gateway.app import GatewayApp
from opendepin.storage.gateway.context import Gateway, GatewayConfig
from opendepin.storage.gateway.hooks import ALLOW_ALL, Authoriser, UsageLog
from opendepin.storage.gateway.keys import KeyStore, load_master_key
from opendepin.storage.placer import Placer

from ..cluster import Cluster, free_port

REGION = "us-east-1"
SMALL_PART = 64 * 1024
"""Tests shrink S3's 5 MiB minimum part so multipart tests stay small (but one tests 5 MiB)."""


class GatewayServer:
    def __init__(
        self,
        cluster: Cluster,
        database_url: str,
        directory: Path,
        *,
        segment_size: int = 64 * 1024,
        config: GatewayConfig | None = None,
        authoriser: Authoriser = ALLOW_ALL,
    ) -> None:
        self.cluster = cluster
        self.database_url = database_url
        self.directory = directory
        self.segment_size = segment_size
        self.config = config or GatewayConfig(min_part_bytes=SMALL_PART)
        self.authoriser = authoriser
        self.usage = UsageLog()
        self.port = free_port()
        self.placer: Placer | None = None
        self.gateway: Gateway | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GatewayServer:
        """Serve on the chosen port (a port taken meanwhile by another process: a fresh one)."""
        for attempt in range(3):
            try:
                return self._start_once()
            except RuntimeError:
                self.stop()
                if attempt == 2:
                    raise
                self.port = free_port()
        raise AssertionError("unreachable")

    def _start_once(self) -> GatewayServer:
        self.placer = self.cluster.placer(self.database_url, segment_size=self.segment_size)
        keys = KeyStore(self.placer.metadata.engine, load_master_key(self.directory / "master.key"))
        self.gateway = Gateway(
            self.placer, keys, self.config, authoriser=self.authoriser, usage=self.usage
        )
        server = uvicorn.Server(
            uvicorn.Config(
                GatewayApp(self.gateway),
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                lifespan="on",
            )
        )
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.02)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        self._server = self._thread = None
        if self.placer is not None:
            self.placer.close()
            self.placer.metadata.close()
            self.placer = None

    @property
    def keys(self) -> KeyStore:
        assert self.gateway is not None
        return self.gateway.keys

    def new_key(self, account: str) -> tuple[str, str]:
        key, secret = self.keys.create(account, int(time.time() * 1000))
        return key.access_key_id, secret

    def client(self, account: str = "alice", **kwargs: Any) -> Any:
        key_id, secret = self.new_key(account)
        return make_client(self.url, key_id, secret, **kwargs)


def make_client(url: str, key_id: str, secret: str, **config: Any) -> Any:
    options: dict[str, Any] = {
        "signature_version": "s3v4",
        "s3": {"addressing_style": "path"},
        "retries": {"max_attempts": 1, "mode": "standard"},
    }
    options.update(config)
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name=REGION,
        config=Config(**options),
    )


def signed_headers(
    method: str,
    url: str,
    key_id: str,
    secret: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    payload_hash: str | None = None,
) -> dict[str, str]:
    """Headers of a request signed by botocore's own SigV4 signer (for raw httpx requests).

    `payload_hash` sets x-amz-content-sha256 (default: the body's SHA-256); the plain
    `SigV4Auth` keeps a preset value, which is how the aws-chunked tests get their seed.
    """
    import hashlib

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    all_headers = dict(headers or {})
    all_headers["X-Amz-Content-SHA256"] = payload_hash or hashlib.sha256(body).hexdigest()
    request = AWSRequest(method=method, url=url, data=body, headers=all_headers)
    SigV4Auth(Credentials(key_id, secret), "s3", REGION).add_auth(request)
    return dict(request.headers.items())
