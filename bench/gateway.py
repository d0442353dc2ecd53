"""boto3 through `depin storage devnet`, beside the same boto3 client against a bare file server.

    .venv/bin/python bench/gateway.py [--big-mib 1024] [--nodes 8]

Starts a devnet (one process: embedded chain, 8 storage nodes, oracle ingest, S3 gateway) and,
in the same run, a *floor*: a minimal S3-ish HTTP server written here (another process; PUT
writes the body to a file, GET streams it back, no authentication, no erasure coding, no
Merkle roots, no fsync), and measures with one boto3 client each:

- PUT and GET MB/s of 1 MiB and 64 MiB objects;
- 4 KiB PUTs per second;
- peak RSS of each server process (VmHWM) while one `--big-mib` object is PUT and read back.

Every figure is printed beside its floor; the ratio says how far the gateway is from plain
HTTP file transfer on this machine (both servers share its cores with the client).
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

MIB = 1 << 20
SMALL_BYTES = 4096
SMALL_COUNT = 300
ROUNDS = {MIB: 16, 64 * MIB: 2}
READY_TIMEOUT_SECONDS = 180.0


# ---- the floor: a bare S3-ish file server ------------------------------------------------


def _read_body(handler: http.server.BaseHTTPRequestHandler, out: Any) -> int:
    """Copy the request body to `out` (plain or aws-chunked); bytes written."""
    length = int(handler.headers.get("Content-Length", "0"))
    rfile, written = handler.rfile, 0
    if not handler.headers.get("x-amz-content-sha256", "").startswith("STREAMING-"):
        while written < length:
            block = rfile.read(min(MIB, length - written))
            if not block:
                break
            out.write(block)
            written += len(block)
        return written
    while True:  # aws-chunked: "<hex>[;chunk-signature=…]\r\n<data>\r\n" …, then trailers
        size = int(rfile.readline().split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return written
        out.write(rfile.read(size))
        written += size
        rfile.readline()


class _FileHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root = Path(".")

    def log_message(self, *args: Any) -> None:
        return None

    def _path(self) -> Path:
        return self.root / self.path.split("?")[0].lstrip("/").replace("/", "__")

    def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        path = self._path()
        with path.open("wb") as fh:
            _read_body(self, fh)
        self._reply(200, headers={"ETag": '"0"'})

    def do_GET(self) -> None:
        path = self._path()
        if not path.is_file():
            self._reply(404)
            return
        size = path.stat().st_size
        self.send_response(200)
        self.send_header("Content-Length", str(size))
        self.end_headers()
        with path.open("rb") as fh:
            while block := fh.read(MIB):
                self.wfile.write(block)


def serve_files(root: Path, port: int) -> None:
    _FileHandler.root = root
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _FileHandler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    server.serve_forever()


# ---- processes ---------------------------------------------------------------------------


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_range(count: int) -> int:
    for _ in range(200):
        base = random.randrange(20_000, 60_000)
        if all(_free(base + i) for i in range(count)):
            return base
    raise SystemExit("no free port range")


def _devnet_cmd() -> list[str]:
    from opendepin.cli.storage_cmd import app

    if any(c.name == "devnet" for c in app.registered_commands):
        return [sys.executable, "-m", "opendepin", "storage", "devnet"]
    return [sys.executable, "-m", "opendepin.cli.storage_devnet_cmd"]


def _wait_ready(proc: subprocess.Popen[bytes], out: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while "ready" not in out.read_text(errors="replace").splitlines():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"server did not start: {out.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)


def _hwm_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of `pid` in KiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["VmHWM"]


def _client(url: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


# ---- measurements ------------------------------------------------------------------------


def _transfer(s3: Any, bucket: str, size: int, rounds: int) -> tuple[float, float]:
    """(PUT MB/s, GET MB/s) of `rounds` objects of `size` bytes."""
    data = os.urandom(size)
    start = time.perf_counter()
    for i in range(rounds):
        s3.put_object(Bucket=bucket, Key=f"t{size}-{i}", Body=data)
    put = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(rounds):
        got = s3.get_object(Bucket=bucket, Key=f"t{size}-{i}")["Body"].read()
        assert len(got) == size
    get = time.perf_counter() - start
    mb = size * rounds / 1e6
    return mb / put, mb / get


def _small(s3: Any, bucket: str) -> float:
    data = os.urandom(SMALL_BYTES)
    start = time.perf_counter()
    for i in range(SMALL_COUNT):
        s3.put_object(Bucket=bucket, Key=f"small-{i}", Body=data)
    return SMALL_COUNT / (time.perf_counter() - start)


def _big(s3: Any, bucket: str, path: Path, pid: int) -> tuple[int, int, float]:
    """(baseline RSS, peak RSS) in KiB and MB/s of one PUT + GET of the file at `path`."""
    # Reset the high-water mark to the current RSS, so the peak is this transfer's (on an
    # older kernel this fails and the peak is the process's lifetime peak).
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    rss, _ = _hwm_kib(pid)
    size = path.stat().st_size
    start = time.perf_counter()
    with path.open("rb") as fh:
        s3.put_object(Bucket=bucket, Key="big", Body=fh)
    body = s3.get_object(Bucket=bucket, Key="big")["Body"]
    got = 0
    while block := body.read(MIB):
        got += len(block)
    assert got == size
    elapsed = time.perf_counter() - start
    _, hwm = _hwm_kib(pid)
    return rss, hwm, 2 * size / 1e6 / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big-mib", type=int, default=1024, help="Size of the memory test object.")
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--serve-files", nargs=2, metavar=("DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_files:
        serve_files(Path(args.serve_files[0]), int(args.serve_files[1]))
        return
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        root = Path(tmp)
        base = _port_range(args.nodes + 3)
        (root / "files").mkdir()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            dn_out, fs_out = root / "devnet.out", root / "files.out"
            with dn_out.open("wb") as out:
                cmd = [*_devnet_cmd(), "--dir", str(root / "d"), "--nodes", str(args.nodes)]
                dn = subprocess.Popen([*cmd, "--port", str(base)], stdout=out, stderr=out)
            procs.append(dn)
            floor_port = base + args.nodes + 2
            with fs_out.open("wb") as out:
                fs = subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--serve-files",
                        str(root / "files"),
                        str(floor_port),
                    ],
                    stdout=out,
                    stderr=out,
                )
            procs.append(fs)
            _wait_ready(fs, fs_out)
            _wait_ready(dn, dn_out)
            creds = json.loads((root / "d" / "credentials.json").read_text())
            gw = _client(
                creds["endpoint_url"], creds["aws_access_key_id"], creds["aws_secret_access_key"]
            )
            floor = _client(f"http://127.0.0.1:{floor_port}", "bench", "bench")
            bucket = creds["bucket_prefix"] + "bench"
            gw.create_bucket(Bucket=bucket)
            floor.create_bucket(Bucket=bucket)
            print(
                f"boto3 through depin storage devnet ({args.nodes} nodes) vs a bare file server (floor)"
            )
            for size, rounds in ROUNDS.items():
                g_put, g_get = _transfer(gw, bucket, size, rounds)
                f_put, f_get = _transfer(floor, bucket, size, rounds)
                label = f"{size // MIB} MiB"
                print(
                    f"PUT {label:>6}: gateway {g_put:8.1f} MB/s   floor {f_put:8.1f} MB/s   ratio {f_put / g_put:6.1f}"
                )
                print(
                    f"GET {label:>6}: gateway {g_get:8.1f} MB/s   floor {f_get:8.1f} MB/s   ratio {f_get / g_get:6.1f}"
                )
            g_small, f_small = _small(gw, bucket), _small(floor, bucket)
            print(
                f"PUT  4 KiB: gateway {g_small:8.1f} /s     floor {f_small:8.1f} /s     ratio {f_small / g_small:6.1f}"
            )
            big = root / "big.bin"
            with big.open("wb") as fh:
                for _ in range(args.big_mib):
                    fh.write(os.urandom(MIB))
            g_rss, g_hwm, g_rate = _big(gw, bucket, big, dn.pid)
            f_rss, f_hwm, f_rate = _big(floor, bucket, big, fs.pid)
            print(
                f"{args.big_mib} MiB object PUT+GET: devnet process peak RSS {g_hwm / 1024:7.0f} MiB "
                f"(before {g_rss / 1024:.0f} MiB, {g_rate:.1f} MB/s)   floor peak RSS "
                f"{f_hwm / 1024:7.0f} MiB (before {f_rss / 1024:.0f} MiB, {f_rate:.1f} MB/s)"
            )
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
            if procs and procs[0].returncode not in (0, None):
                print(f"devnet exited {procs[0].returncode}")


if __name__ == "__main__":
    main()
