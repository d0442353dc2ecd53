"""The S3-compatible gateway over the storage network (`depin storage gateway`).

S3 clients (boto3, the AWS CLI, rclone, s3cmd) talk to it with access keys bound to
consumer accounts; it stores their objects through the placer, erasure-coded across
storage nodes. Modules: `sigv4` (signatures), `keys` (access keys), `app` (the ASGI app and
routing), `buckets`, `objects`, `multipart` (the operations), `body` (checked streaming
bodies), `xml`, `errors`, `hooks` (credits and metering), `main` (assembly and serving).
"""

from opendepin.storage.gateway.app import GatewayApp
from opendepin.storage.gateway.context import Gateway, GatewayConfig
from opendepin.storage.gateway.errors import S3Error
from opendepin.storage.gateway.hooks import Access, Authoriser, UsageEvent, UsageLog, UsageSink
from opendepin.storage.gateway.keys import AccessKey, KeyStore, load_master_key

__all__ = [
    "Access",
    "AccessKey",
    "Authoriser",
    "Gateway",
    "GatewayApp",
    "GatewayConfig",
    "KeyStore",
    "S3Error",
    "UsageEvent",
    "UsageLog",
    "UsageSink",
    "load_master_key",
]
