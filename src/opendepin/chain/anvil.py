"""A local anvil node the project starts and stops itself (tests, `depin chain anvil`).

anvil comes from the npm package `@foundry-rs/anvil`, installed into `tools/node_modules`
(`cd tools && npm install`). It is always started with `--prune-history`: without it anvil
keeps every state in memory and on disk under `~/.foundry`. anvil's own dev accounts are
never used; callers fund their generated accounts with `anvil_setBalance`
(`RpcChain.fund`).

`AnvilProcess` is a context manager: it picks a free port, starts anvil, waits until it
answers `eth_chainId`, and kills it on exit, so no test ever leaves a node running. A port
that is already taken is refused before anvil starts (saying so when what listens there is
a chain node), and an interruption during startup (Ctrl-C) still stops the child.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from opendepin.errors import ChainError, ConfigError

ANVIL_ENV = "DEPIN_ANVIL"
"""Environment variable that may name the anvil executable explicitly."""

PROJECT_ROOT = Path(__file__).resolve().parents[3]
TOOLS_NODE_MODULES = PROJECT_ROOT / "tools" / "node_modules"
TOOLS_ANVIL = TOOLS_NODE_MODULES / ".bin" / "anvil"
"""npm's launcher (a node script that spawns the platform binary)."""
STARTUP_TIMEOUT_SECONDS = 30.0
STARTUP_POLL_SECONDS = 0.05
STOP_TIMEOUT_SECONDS = 5.0


def find_anvil() -> Path:
    """The anvil executable: $DEPIN_ANVIL, the npm tools' native binary or launcher, or PATH.

    The platform binary (`@foundry-rs/anvil-<platform>/bin/anvil`) is preferred over npm's
    node launcher: one process to start and stop instead of two.
    """
    explicit = os.environ.get(ANVIL_ENV)
    candidates = [Path(explicit)] if explicit else []
    candidates.extend(sorted(TOOLS_NODE_MODULES.glob("@foundry-rs/anvil-*/bin/anvil")))
    candidates.append(TOOLS_ANVIL)
    on_path = shutil.which("anvil")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ConfigError(
        f"anvil not found (looked at ${ANVIL_ENV}, {TOOLS_ANVIL}, PATH); "
        "install it with `cd tools && npm install`"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def anvil_command(executable: Path, port: int, chain_id: int, host: str = "127.0.0.1") -> list[str]:
    """The command line we always use (note `--prune-history`)."""
    return [
        str(executable),
        "--host",
        host,
        "--port",
        str(port),
        "--chain-id",
        str(chain_id),
        "--prune-history",
        "--silent",
    ]


class AnvilProcess:
    """`with AnvilProcess(chain_id=31337) as node: RpcChain(node.url)`."""

    def __init__(self, chain_id: int = 31337, port: int | None = None, host: str = "127.0.0.1"):
        self.chain_id = chain_id
        self.host = host
        self.port = port if port is not None else free_port(host)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start anvil and wait until it answers; ChainError if the port is taken or it fails."""
        executable = find_anvil()
        self._refuse_taken_port()
        cmd = anvil_command(executable, self.port, self.chain_id, self.host)
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: stop() ends it and any child
        )
        try:
            self._wait_until_answering()
        except BaseException:  # a failed start, or Ctrl-C meanwhile: never leave it running
            self.stop()
            raise

    def _wait_until_answering(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise ChainError(f"anvil exited with {self._proc.returncode}: {err.strip()}")
            if self._answers():
                return
            time.sleep(STARTUP_POLL_SECONDS)
        raise ChainError(f"anvil did not answer on {self.url} within {STARTUP_TIMEOUT_SECONDS} s")

    def _refuse_taken_port(self) -> None:
        """ChainError if something listens on our port already (a chain node, or anything).

        Without this a second node on the port of a running one with the same chain id
        would look started: the old node answers the readiness probe while the new one
        fails to bind and exits.
        """
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.port))
                return
            except OSError as exc:
                in_use = exc.errno == errno.EADDRINUSE
                reason = exc.strerror or str(exc)
        serving = self._chain_id_at_url()
        if serving is not None:
            raise ChainError(
                f"{self.url} already serves a chain (chain id {serving}); "
                "stop that node or choose another port"
            )
        if in_use:
            raise ChainError(
                f"port {self.port} on {self.host} is already in use (not by a chain node); "
                "choose another port"
            )
        raise ChainError(f"cannot listen on {self.host}:{self.port}: {reason}")

    def _chain_id_at_url(self) -> int | None:
        """The chain id the node at our URL reports, None if nothing answers as a node."""
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
        req = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=1) as resp:
                return int(json.loads(resp.read())["result"], 16)
        except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError):
            return None

    def _answers(self) -> bool:
        return self._chain_id_at_url() == self.chain_id

    def running(self) -> bool:
        """True while the anvil process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> AnvilProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
