"""Objects stream: a 40 MiB multipart upload and its download through boto3, with the
gateway's Python allocations traced.

The client runs in its own process (its buffers do not count); the gateway and the eight
nodes run here under tracemalloc, so the peak includes the nodes' receive buffers too. With
2 MiB segments and 5 MiB parts the peak stays under half the object (measured ≈ 16 MiB up,
≈ 10 MiB down; with 4 MiB segments it doubles: it follows the segment size, not the object
size), and the data round-trips bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

from opendepin.storage.gateway.context import GatewayConfig

from ..cluster import Cluster
from .harness import GatewayServer

MIB = 1024 * 1024
OBJECT_BYTES = 40 * MIB
SEGMENT = 2 * MIB
CLIENT = """
import hashlib, json, sys
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
url, key_id, secret, src, dst, what = sys.argv[1:7]
s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id=key_id, aws_secret_access_key=secret,
                  region_name="us-east-1",
                  config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
cfg = TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20, max_concurrency=1)
if what == "up":
    s3.create_bucket(Bucket="large")
    s3.upload_file(src, "large", "forty", Config=cfg)
else:
    s3.download_file("large", "forty", dst, Config=cfg)
head = s3.head_object(Bucket="large", Key="forty")
print(json.dumps({"etag": head["ETag"], "size": head["ContentLength"]}))
"""


def test_forty_mib_multipart_streams(nodes: Cluster, tmp_path: Path) -> None:
    src, dst = tmp_path / "in.bin", tmp_path / "out.bin"
    with src.open("wb") as fh:
        for _ in range(OBJECT_BYTES // MIB):
            fh.write(os.urandom(MIB))
    g = GatewayServer(
        nodes, f"sqlite:///{tmp_path / 'g.db'}", tmp_path, segment_size=SEGMENT,
        config=GatewayConfig(),
    ).start()  # fmt: skip
    try:
        key_id, secret = g.new_key("big")
        peaks = {}
        tracemalloc.start()
        try:
            for what in ("up", "down"):
                started = time.monotonic()
                tracemalloc.reset_peak()
                out = subprocess.run(
                    [sys.executable, "-c", CLIENT, g.url, key_id, secret, str(src), str(dst), what],
                    capture_output=True, timeout=600, check=False,
                )  # fmt: skip
                peaks[what] = tracemalloc.get_traced_memory()[1]
                assert out.returncode == 0, out.stderr.decode()[-2000:]
                print(f"40 MiB {what} in {time.monotonic() - started:.1f} s, traced peak "
                      f"{peaks[what] / MIB:.1f} MiB")  # fmt: skip
        finally:
            tracemalloc.stop()
        result = json.loads(out.stdout)
        assert result["size"] == OBJECT_BYTES and result["etag"].endswith('-8"')
        digest = hashlib.md5(src.read_bytes()).hexdigest()
        assert hashlib.md5(dst.read_bytes()).hexdigest() == digest
        for what, peak in peaks.items():
            assert peak < OBJECT_BYTES // 2, f"{what}: peak {peak / MIB:.1f} MiB for 40 MiB"
        assert g.placer is not None
        row = g.placer.metadata.get_object("large", "forty")
        assert row is not None
        assert all(s.length <= SEGMENT for s in g.placer.metadata.segments(row.id))
    finally:
        g.stop()
