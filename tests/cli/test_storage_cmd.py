"""`depin storage node`: a user's mistake is one `error:` line and exit 1, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from opendepin.identity import DeviceKey, save_keystore

PASSPHRASE = "a test passphrase"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NODE_PASS": PASSPHRASE}
    return subprocess.run(
        [sys.executable, "-m", "opendepin", "storage", "node", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    path = tmp_path / "key.json"
    save_keystore(DeviceKey.generate(), path, PASSPHRASE, scrypt_n=2**10)
    return path


def one_error_line(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use(tmp_path: Path, keystore: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = run("--dir", str(tmp_path / "d"), "--port", port, "--key", str(keystore))
    one_error_line(result, "already in use")


def test_bad_placer_address(tmp_path: Path, keystore: Path) -> None:
    args = ("--dir", str(tmp_path / "d"), "--port", "0", "--key", str(keystore), "--placer", "0x12")
    one_error_line(run(*args), "--port 0 is out of range")
    rest = ("--dir", str(tmp_path / "d"), "--key", str(keystore), "--placer", "0x12")
    one_error_line(run(*rest, "--passphrase-env", "NODE_PASS"), "placer '0x12'")


def test_wrong_passphrase_and_unset_variable(tmp_path: Path, keystore: Path) -> None:
    base = ("--dir", str(tmp_path / "d"), "--key", str(keystore))
    one_error_line(run(*base, "--passphrase-env", "NODE_PASS_UNSET"), "NODE_PASS_UNSET is not set")
    env_wrong = {**os.environ, "NODE_PASS": "wrong"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "opendepin",
            "storage",
            "node",
            *base,
            "--passphrase-env",
            "NODE_PASS",
        ],
        capture_output=True,
        text=True,
        env=env_wrong,
        timeout=120,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error:"), result.stderr
