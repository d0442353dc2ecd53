"""Real S3 clients against `depin storage devnet`, configured only from D/credentials.json:
boto3, the AWS CLI (its default multipart and aws-chunked streaming uploads) and rclone."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from .harness import VENV_BIN, DevnetProcess

AWS = VENV_BIN / "aws"
CLI_TIMEOUT_SECONDS = 300


def test_credentials_file_is_private_and_complete(devnet: DevnetProcess) -> None:
    mode = stat.S_IMODE(devnet.credentials_path.stat().st_mode)
    assert mode == 0o600
    c = devnet.credentials
    assert set(c) == {
        "endpoint_url",
        "aws_access_key_id",
        "aws_secret_access_key",
        "region",
        "bucket_prefix",
    }
    assert c["endpoint_url"] == f"http://127.0.0.1:{devnet.port}"
    assert c["region"] == "us-east-1"
    lines = devnet.output().splitlines()
    assert sum(line.startswith("node ") for line in lines) == devnet.nodes
    assert any(line.startswith("gateway ") for line in lines)
    assert any(line.startswith("oracle ") for line in lines)


def test_boto3_put_get_list_delete(devnet: DevnetProcess, bucket: str) -> None:
    s3 = devnet.client()
    blobs = {f"dir/{i}.bin": os.urandom(size) for i, size in enumerate([0, 1, 70_000, 3_000_001])}
    for key, data in blobs.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    for key, data in blobs.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert {o["Key"]: o["Size"] for o in listed["Contents"]} == {
        k: len(v) for k, v in blobs.items()
    }
    s3.delete_object(Bucket=bucket, Key="dir/2.bin")
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=bucket, Key="dir/2.bin")
    assert err.value.response["Error"]["Code"] == "NoSuchKey"
    left = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(o["Key"] for o in left) == ["dir/0.bin", "dir/1.bin", "dir/3.bin"]


def test_boto3_wrong_secret_is_refused(devnet: DevnetProcess, bucket: str) -> None:
    import boto3
    from botocore.config import Config

    c = devnet.credentials
    bad = boto3.client(
        "s3",
        endpoint_url=c["endpoint_url"],
        aws_access_key_id=c["aws_access_key_id"],
        aws_secret_access_key="x" * 40,
        region_name=c["region"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as err:
        bad.list_objects_v2(Bucket=bucket)
    assert err.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def _aws(devnet: DevnetProcess, *args: str) -> str:
    cmd = [str(AWS), "--endpoint-url", devnet.credentials["endpoint_url"], *args]
    done = subprocess.run(
        cmd,
        env=devnet.aws_env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"{' '.join(args)}: {done.stderr[-2000:]}"
    return done.stdout


@pytest.mark.skipif(not AWS.exists(), reason="the AWS CLI (pip awscli, dev extra) is not installed")
def test_aws_cli_cp_sync_ls_rm(devnet: DevnetProcess, bucket: str, tmp_path: Path) -> None:
    up = tmp_path / "up"
    (up / "sub").mkdir(parents=True)
    big = os.urandom(20 * 1024 * 1024 + 5)  # above the CLI's 8 MiB threshold: multipart
    (up / "big.bin").write_bytes(big)
    (up / "sub" / "small.txt").write_bytes(b"hello devnet\n")
    (up / "sub" / "mid.bin").write_bytes(os.urandom(300_000))  # one aws-chunked PUT
    quiet = "--only-show-errors"
    _aws(devnet, "s3", "cp", str(up / "big.bin"), f"s3://{bucket}/one/big.bin", quiet)
    _aws(devnet, "s3", "sync", str(up), f"s3://{bucket}/tree", quiet)
    listing = _aws(devnet, "s3", "ls", f"s3://{bucket}/", "--recursive")
    keys = {line.split()[-1]: int(line.split()[-2]) for line in listing.splitlines() if line}
    assert keys == {
        "one/big.bin": len(big),
        "tree/big.bin": len(big),
        "tree/sub/small.txt": 13,
        "tree/sub/mid.bin": 300_000,
    }
    down = tmp_path / "down"
    _aws(devnet, "s3", "sync", f"s3://{bucket}/tree", str(down), quiet)
    _aws(devnet, "s3", "cp", f"s3://{bucket}/one/big.bin", str(tmp_path / "back.bin"), quiet)
    assert (tmp_path / "back.bin").read_bytes() == big
    assert not filecmp.dircmp(up, down).diff_files
    for rel in ("big.bin", "sub/small.txt", "sub/mid.bin"):
        assert (down / rel).read_bytes() == (up / rel).read_bytes()
    _aws(devnet, "s3", "rm", f"s3://{bucket}/tree", "--recursive", quiet)
    _aws(devnet, "s3", "rm", f"s3://{bucket}/one/big.bin", quiet)
    assert _aws(devnet, "s3", "ls", f"s3://{bucket}/", "--recursive").strip() == ""


RCLONE = shutil.which("rclone")


@pytest.mark.skipif(
    RCLONE is None,
    reason="rclone is not installed (Debian package rclone; scripts/bootstrap.sh installs it "
    "with OPENDEPIN_NEED_RCLONE=1 or in CI)",
)
def test_rclone_copy_up_list_copy_back(devnet: DevnetProcess, bucket: str, tmp_path: Path) -> None:
    assert RCLONE is not None
    up = tmp_path / "up"
    (up / "nested" / "deeper").mkdir(parents=True)
    files = {
        "a.bin": os.urandom(150_000),
        "nested/b.txt": b"rclone was here\n",
        "nested/deeper/c.bin": os.urandom(6 * 1024 * 1024),
        "empty": b"",
    }
    for rel, data in files.items():
        (up / rel).write_bytes(data)

    def rclone(*args: str) -> str:
        done = subprocess.run(
            [RCLONE, "--config", os.devnull, *args],
            env=devnet.rclone_env(),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_SECONDS,
            check=False,
        )
        assert done.returncode == 0, f"rclone {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    rclone("copy", str(up), f"devnet:{bucket}/tree")
    listed = json.loads(rclone("lsjson", "-R", "--files-only", f"devnet:{bucket}/tree"))
    assert {e["Path"]: e["Size"] for e in listed} == {k: len(v) for k, v in files.items()}
    down = tmp_path / "down"
    rclone("copy", f"devnet:{bucket}/tree", str(down))
    for rel, data in files.items():
        assert (down / rel).read_bytes() == data
    rclone("check", str(up), f"devnet:{bucket}/tree")
