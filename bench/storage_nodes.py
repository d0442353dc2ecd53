"""Transfers through real storage nodes: `depin storage node` processes on 127.0.0.1.

Used by `bench/storage.py --nodes`. Starts 8 node processes (generated keys, one placer
authorised), puts and gets 1 MiB and 64 MiB objects through `storage.placer.Placer` (4/5/6/8,
8 MiB segments: encode, Merkle roots, orders, 8 PUTs per segment, acks; reads verify roots),
and prints MB/s beside writing (with fsync) and reading the same bytes on local disk.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from opendepin.chain.accounts import Signer
from opendepin.identity import DeviceKey, save_keystore
from opendepin.network.settings import load_settings
from opendepin.storage.directory import NodeDirectory
from opendepin.storage.metadata import Metadata
from opendepin.storage.placer import Placer, PlacerConfig

NODES = 8
PASS_ENV = "BENCH_NODE_PASSPHRASE"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_nodes(root: Path, placer: str) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    env = {**os.environ, PASS_ENV: "bench-only-passphrase"}
    procs, urls = [], []
    for i in range(NODES):
        directory = root / f"node{i}"
        keystore = root / f"node{i}.json"
        save_keystore(DeviceKey.generate(), keystore, env[PASS_ENV], scrypt_n=2**10)
        port = _free_port()
        args = [
            sys.executable, "-m", "opendepin", "storage", "node", "--dir", str(directory),
            "--port", str(port), "--key", str(keystore), "--passphrase-env", PASS_ENV,
            "--rpc-url", "", "--placer", placer, "--capacity", str(4 << 30),
        ]  # fmt: skip
        log = (root / f"node{i}.log").open("ab")
        procs.append(subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT))
        urls.append(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 120
    for url in urls:
        while True:
            try:
                httpx.get(url + "/v1/node", timeout=1.0)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"node at {url} did not start") from None
                time.sleep(0.2)
    return procs, urls


def _disk(root: Path, data: bytes) -> tuple[float, float]:
    path = root / "plain.bin"
    t = time.perf_counter()
    with path.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    write = time.perf_counter() - t
    t = time.perf_counter()
    assert path.read_bytes() == data
    read = time.perf_counter() - t
    path.unlink()
    return write, read


def transfers() -> None:
    settings = load_settings(None)
    placer_key = Signer.generate()
    root = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    procs, urls = _start_nodes(root, placer_key.address)
    try:
        n = settings.network
        directory = NodeDirectory(urls, network=n.network_id, chain_id=n.chain_id)
        metadata = Metadata(f"sqlite:///{root / 'meta.db'}")
        config = PlacerConfig.from_settings(settings)
        metadata.create_bucket("bench", int(time.time() * 1000))
        with Placer(metadata, directory, placer_key, config, seed=1) as placer:
            placer.put_object("bench", "warm-up", [b"x"])  # node directory, connections, schema
            for mib in (1, 64):
                data = os.urandom(mib << 20)
                t = time.perf_counter()
                placer.put_object("bench", f"obj{mib}", [data])
                put = time.perf_counter() - t
                t = time.perf_counter()
                assert placer.read_object("bench", f"obj{mib}") == data
                get = time.perf_counter() - t
                dw, dr = _disk(root, data)
                mb = len(data) / 1e6
                print(
                    f"{mib:3d} MiB object via {NODES} nodes ({config.redundancy}): "
                    f"PUT {mb / put:7.1f} MB/s  GET {mb / get:7.1f} MB/s   "
                    f"local disk write+fsync {mb / dw:7.1f} MB/s  read {mb / dr:7.1f} MB/s   "
                    f"ratios {dw / put:.3f} / {dr / get:.3f}"
                )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(60)
        shutil.rmtree(root, ignore_errors=True)
