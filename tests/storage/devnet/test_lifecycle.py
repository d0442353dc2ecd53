"""The devnet process: SIGTERM stops every component and exits 0; a restart on the same
directory keeps the metadata, the nodes' pieces and the access key, so objects read back."""

from __future__ import annotations

import os
from pathlib import Path

from .harness import DevnetProcess


def test_sigterm_exits_zero_and_restart_keeps_objects(tmp_path: Path) -> None:
    d = tmp_path / "d"
    first = DevnetProcess(d, nodes=4).start()
    try:
        creds = first.credentials
        s3 = first.client()
        bucket = creds["bucket_prefix"] + "keep"
        s3.create_bucket(Bucket=bucket)
        data = os.urandom(1_234_567)
        s3.put_object(Bucket=bucket, Key="kept.bin", Body=data)
    finally:
        status = first.stop()
    assert status == 0, first.errors()
    out = first.output().splitlines()
    assert out[-1] == "devnet stopped"
    assert "ready" in out

    second = DevnetProcess(d, nodes=4)
    second.port = first.port  # the same endpoint, as a user re-running the command would
    second.out_path = tmp_path / "second.out"
    second.err_path = tmp_path / "second.err"
    second.start()
    try:
        assert second.credentials["aws_access_key_id"] == creds["aws_access_key_id"]
        got = second.client().get_object(Bucket=bucket, Key="kept.bin")["Body"].read()
        assert got == data
    finally:
        assert second.stop() == 0, second.errors()


def test_port_in_use_is_one_line_error(tmp_path: Path) -> None:
    import socket
    import subprocess

    from .harness import devnet_command, free_port_range

    base = free_port_range(6)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 2))  # one of the nodes' ports
        taken.listen()
        done = subprocess.run(
            [*devnet_command(), "--dir", str(tmp_path / "d"), "--nodes", "4", "--port", str(base)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert str(base + 2) in done.stderr
