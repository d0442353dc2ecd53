"""Any k of n pieces suffice: with n − k of the devnet's nodes stopped an object still reads
back byte for byte through the gateway; with one more stopped it cannot (the test would
pass vacuously if the stopped nodes held nothing). In-process: `Devnet.stop_node`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from opendepin.storage.devnet import Devnet

from .harness import free_port_range


@pytest.fixture
def devnet(tmp_path: Path) -> Iterator[Devnet]:
    net = Devnet(tmp_path / "d", nodes=8, port=free_port_range(10), echo=lambda _line: None)
    try:
        yield net.start()
    finally:
        net.close()


def _client(creds: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=creds["endpoint_url"],
        aws_access_key_id=creds["aws_access_key_id"],
        aws_secret_access_key=creds["aws_secret_access_key"],
        region_name=creds["region"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_object_readable_with_n_minus_k_nodes_stopped(devnet: Devnet) -> None:
    s3 = _client(devnet.credentials)
    bucket = devnet.credentials["bucket_prefix"] + "degraded"
    s3.create_bucket(Bucket=bucket)
    data = os.urandom(2_500_000)
    s3.put_object(Bucket=bucket, Key="obj", Body=data)
    assert devnet.gateway is not None
    redundancy = devnet.gateway.placer.config.redundancy
    k, n = redundancy.required, redundancy.total
    assert (k, n) == (4, 8)
    for i in range(n - k):
        devnet.stop_node(i)
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == data
    devnet.stop_node(n - k)  # now fewer than k pieces are reachable
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="obj")["Body"].read()
    devnet.start_node(n - k)
    devnet.gateway.placer.directory.refresh()
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == data


def test_nodes_are_registered_storage_devices(devnet: Devnet) -> None:
    assert devnet.chain is not None and devnet.deployment is not None
    registry = devnet.deployment.registry(devnet.chain)
    for node in devnet.nodes:
        record = registry.device_info(node.key.device_id)
        assert record.kind == "storage" and record.active
