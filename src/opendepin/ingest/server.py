"""Running the ingest app: `serve` in the foreground, `IngestServer` in a background thread.

`IngestServer` binds a free loopback port itself (so tests and the demo never race for a
fixed port), runs uvicorn in a daemon thread and waits until it accepts connections. Both
start an ingest app's signature workers (`ingest.workers`) with the server (`serve` waits
until they answer, `IngestServer` lets them boot while uvicorn does):

    with IngestServer(app) as server:
        httpx.post(f"{server.url}/v1/reports", json=report_json)
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from opendepin.errors import DepinError
from opendepin.ingest.pipeline import IngestPipeline

STARTUP_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0
_POLL_SECONDS = 0.01


def serve(app: FastAPI, host: str, port: int, log_level: str = "info") -> None:
    """Serve `app` with uvicorn until interrupted (one process, one event loop; an ingest
    app's signature workers are started first, so the first batches do not wait for them)."""
    pipeline = getattr(app.state, "pipeline", None)
    if isinstance(pipeline, IngestPipeline):
        pipeline.start_workers()
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False)
    uvicorn.Server(config).run()


class IngestServer:
    """uvicorn serving `app` on a free port in a background thread (a context manager)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except (OSError, OverflowError) as exc:  # taken, not ours to bind, or not a port
            self._sock.close()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DepinError(f"cannot listen on {host}:{port}: {reason}") from exc
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> IngestServer:
        pipeline = getattr(self.app.state, "pipeline", None)
        if isinstance(pipeline, IngestPipeline):
            pipeline.start_workers(wait=False)  # they start while uvicorn does
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._sock.close()
                raise DepinError(f"ingest server did not start on {self.url}")
            time.sleep(_POLL_SECONDS)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(SHUTDOWN_TIMEOUT_SECONDS)
        self._sock.close()

    def __enter__(self) -> IngestServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
