"""`depin storage keys …` and `depin storage gateway` as commands; kill -9 loses nothing acknowledged.

The gateway runs as its own process (the real command, over the in-test nodes), is killed
with SIGKILL in the middle of a multipart upload, and restarted on the same database: every
acknowledged object and part is there, and the upload completes.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from opendepin.cli.storage_gateway_cmd import register

from ..cluster import CHAIN_ID, NETWORK, Cluster, free_port
from .harness import make_client
from .test_buckets import code

LAUNCH = (
    "import typer\n"
    "from opendepin.cli.storage_gateway_cmd import register\n"
    "app = typer.Typer()\n"
    "register(app)\n"
    "app()\n"
)


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_keys_new_list_revoke(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'keys.db'}"
    master = tmp_path / "secret" / "master.key"
    runner = CliRunner()
    made = runner.invoke(_app(), ["keys", "new", "--account", "0xabc", "--db", db,
                                  "--master-key", str(master), "--json"])  # fmt: skip
    assert made.exit_code == 0, made.output
    creds = json.loads(made.output)
    assert creds["account"] == "0xabc" and len(creds["aws_secret_access_key"]) == 40
    assert master.stat().st_mode & 0o777 == 0o600 and master.stat().st_size == 32
    raw = (tmp_path / "keys.db").read_bytes()
    assert creds["aws_secret_access_key"].encode() not in raw  # sealed, not stored in clear
    listed = runner.invoke(_app(), ["keys", "list", "--db", db, "--json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.output)
    assert [r["access_key_id"] for r in rows] == [creds["aws_access_key_id"]]
    assert (
        "aws_secret_access_key" not in listed.output
        and creds["aws_secret_access_key"] not in listed.output
    )
    revoked = runner.invoke(_app(), ["keys", "revoke", creds["aws_access_key_id"], "--db", db])
    assert revoked.exit_code == 0
    assert json.loads(runner.invoke(_app(), ["keys", "list", "--db", db, "--json"]).output)[0][
        "revoked_ms"
    ]
    again = runner.invoke(_app(), ["keys", "revoke", creds["aws_access_key_id"], "--db", db])
    assert again.exit_code != 0
    bad = runner.invoke(_app(), ["keys", "new", "--account", "no spaces", "--db", db,
                                 "--master-key", str(master)])  # fmt: skip
    assert bad.exit_code != 0


def _start(args: list[str], port: int, cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LAUNCH, "gateway", *args, "--port", str(port)],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"gateway exited: {proc.stdout.read().decode() if proc.stdout else ''}"
            )
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gateway did not start")


def test_gateway_command_survives_kill_9(nodes: Cluster, tmp_path: Path) -> None:
    key_file = tmp_path / "placer.key"
    key_file.write_text(nodes.placer_key.private_bytes().hex())
    key_file.chmod(0o600)
    config = tmp_path / "network.toml"
    config.write_text(
        f'[network]\nnetwork_id = "{NETWORK}"\nchain_id = {CHAIN_ID}\n'
        "[storage]\nsegment_size = 65536\n"
    )
    db = f"sqlite:///{tmp_path / 'gw.db'}"
    master = tmp_path / "master.key"
    creds = json.loads(
        CliRunner()
        .invoke(
            _app(),
            ["keys", "new", "--account", "acme", "--db", db, "--master-key", str(master), "--json"],
        )
        .output
    )
    args = [
        "--db",
        db,
        "--key",
        str(key_file),
        "--config",
        str(config),
        "--master-key",
        str(master),
    ]
    for n in nodes.nodes:
        args += ["--node", n.url]
    port = free_port()
    proc = _start(args, port, tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        s3: Any = make_client(url, creds["aws_access_key_id"], creds["aws_secret_access_key"])
        s3.create_bucket(Bucket="durable")
        data = os.urandom(300_000)
        s3.put_object(Bucket="durable", Key="whole", Body=data)
        up = s3.create_multipart_upload(Bucket="durable", Key="parts")["UploadId"]
        first, second = os.urandom(70_000), os.urandom(5_000)
        e1 = s3.upload_part(Bucket="durable", Key="parts", UploadId=up, PartNumber=1, Body=first)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc = _start(args, port, tmp_path)
        assert s3.get_object(Bucket="durable", Key="whole")["Body"].read() == data
        assert [
            p["PartNumber"]
            for p in s3.list_parts(Bucket="durable", Key="parts", UploadId=up)["Parts"]
        ] == [1]
        e2 = s3.upload_part(Bucket="durable", Key="parts", UploadId=up, PartNumber=2, Body=second)
        with pytest.raises(ClientError) as exc:  # 70 000 B < 5 MiB: S3's minimum part size
            s3.complete_multipart_upload(
                Bucket="durable", Key="parts", UploadId=up,
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1["ETag"]},
                                           {"PartNumber": 2, "ETag": e2["ETag"]}]},
            )  # fmt: skip
        assert code(exc) == "EntityTooSmall"
        s3.complete_multipart_upload(
            Bucket="durable", Key="parts", UploadId=up,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1["ETag"]}]},
        )  # fmt: skip
        got = s3.get_object(Bucket="durable", Key="parts")
        assert got["Body"].read() == first
        assert got["ETag"] == f'"{hashlib.md5(hashlib.md5(first).digest()).hexdigest()}-1"'
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
