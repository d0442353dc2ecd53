"""A uvicorn server for processes that run in the foreground until SIGTERM or SIGINT.

uvicorn re-raises the signal it handled once it has shut down, which turns a clean stop into
a non-zero exit; storage nodes and the gateway must exit 0 after finishing in-flight
requests. `GracefulServer` handles both signals with uvicorn's own graceful shutdown and
restores the previous handlers afterwards, without re-raising. Off the main thread (tests
that serve in a thread) it leaves signals alone.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Generator

import uvicorn


class GracefulServer(uvicorn.Server):
    """uvicorn with a graceful shutdown on SIGTERM/SIGINT and no re-raised signal after it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


__all__ = ["GracefulServer"]
