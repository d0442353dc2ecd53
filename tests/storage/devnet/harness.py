"""`depin storage devnet` as a subprocess: free ports, wait for "ready", SIGTERM, exit status.

`DevnetProcess` runs the real command (`depin storage devnet` once it is wired into the
storage group, else `python -m opendepin.cli.storage_devnet_cmd`, the same command), its
output going to files (a pipe nobody reads could fill and stall it), and hands out boto3
clients and environments for the AWS CLI and rclone built from D/credentials.json only.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

START_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 90.0
VENV_BIN = Path(sys.executable).parent


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_range(count: int) -> int:
    """A base port with `count` consecutive free ports from it."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, 60_000)
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports found")


def devnet_command() -> list[str]:
    from opendepin.cli.storage_cmd import app

    wired = any(c.name == "devnet" for c in app.registered_commands)
    if wired:
        return [str(VENV_BIN / "depin"), "storage", "devnet"]
    return [sys.executable, "-m", "opendepin.cli.storage_devnet_cmd"]


class DevnetProcess:
    def __init__(self, directory: Path, nodes: int = 8) -> None:
        self.directory = directory
        self.nodes = nodes
        self.port = free_port_range(nodes + 2)
        self.proc: subprocess.Popen[bytes] | None = None
        self.out_path = directory.parent / f"{directory.name}.out"
        self.err_path = directory.parent / f"{directory.name}.err"

    @property
    def credentials_path(self) -> Path:
        return self.directory / "credentials.json"

    def output(self) -> str:
        return self.out_path.read_text(errors="replace") if self.out_path.exists() else ""

    def errors(self) -> str:
        return self.err_path.read_text(errors="replace")[-4000:] if self.err_path.exists() else ""

    def start(self) -> DevnetProcess:
        cmd = [*devnet_command(), "--dir", str(self.directory), "--nodes", str(self.nodes)]
        cmd += ["--port", str(self.port)]
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while "ready" not in self.output().splitlines():
            if self.proc.poll() is not None:
                raise RuntimeError(f"devnet exited {self.proc.returncode}: {self.errors()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"devnet not ready: {self.output()} {self.errors()}")
            time.sleep(0.2)
        return self

    def stop(self) -> int:
        """SIGTERM, wait, and the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    @property
    def credentials(self) -> dict[str, str]:
        return dict(json.loads(self.credentials_path.read_text()))

    def client(self) -> Any:
        c = self.credentials
        return boto3.client(
            "s3",
            endpoint_url=c["endpoint_url"],
            aws_access_key_id=c["aws_access_key_id"],
            aws_secret_access_key=c["aws_secret_access_key"],
            region_name=c["region"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def aws_env(self) -> dict[str, str]:
        c = self.credentials
        env = dict(os.environ)
        env.pop("AWS_PROFILE", None)
        env.update(
            AWS_ACCESS_KEY_ID=c["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=c["aws_secret_access_key"],
            AWS_DEFAULT_REGION=c["region"],
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        )
        return env

    def rclone_env(self) -> dict[str, str]:
        """A remote named `devnet` from environment variables only (no rclone.conf)."""
        c = self.credentials
        env = {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}  # http: no CA needed
        env.update(
            RCLONE_CONFIG_DEVNET_TYPE="s3",
            RCLONE_CONFIG_DEVNET_PROVIDER="Other",
            RCLONE_CONFIG_DEVNET_ACCESS_KEY_ID=c["aws_access_key_id"],
            RCLONE_CONFIG_DEVNET_SECRET_ACCESS_KEY=c["aws_secret_access_key"],
            RCLONE_CONFIG_DEVNET_ENDPOINT=c["endpoint_url"],
            RCLONE_CONFIG_DEVNET_REGION=c["region"],
            RCLONE_CONFIG_DEVNET_FORCE_PATH_STYLE="true",
        )
        return env
