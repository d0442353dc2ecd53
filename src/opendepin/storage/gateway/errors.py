"""S3 errors: a stable code, an HTTP status and the XML body S3 clients parse.

Every refusal the gateway makes is an `S3Error`; the app turns it into

```xml
<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>…</Message><Resource>/bucket/key</Resource>
<RequestId>…</RequestId></Error>
```

with the status S3 uses for that code (`STATUS`). Clients (boto3's `ClientError`, the AWS
CLI, rclone) branch on `Code`, so codes are exactly S3's; the message is for people.
"""

from __future__ import annotations

from typing import Final

from opendepin.errors import DepinError

STATUS: Final[dict[str, int]] = {
    "AccessDenied": 403,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "BadDigest": 400,
    "BucketAlreadyExists": 409,
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "EntityTooLarge": 400,
    "EntityTooSmall": 400,
    "IncompleteBody": 400,
    "InternalError": 500,
    "InvalidAccessKeyId": 403,
    "InvalidArgument": 400,
    "InvalidBucketName": 400,
    "InvalidDigest": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "KeyTooLongError": 400,
    "MalformedXML": 400,
    "MetadataTooLarge": 400,
    "MethodNotAllowed": 405,
    "MissingContentLength": 411,
    "MissingSecurityHeader": 400,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "NotImplemented": 501,
    "PreconditionFailed": 412,
    "RequestTimeTooSkewed": 403,
    "RequestTimeout": 400,
    "ServiceUnavailable": 503,
    "SignatureDoesNotMatch": 403,
    "SlowDown": 503,
    "XAmzContentSHA256Mismatch": 400,
}
"""The HTTP status of each S3 error code the gateway uses."""


class S3Error(DepinError):
    """A request refused with S3 error `code` (an S3 code, a key of `STATUS`)."""

    def __init__(self, code: str, message: str, **extra: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.extra = extra
        """Additional child elements of <Error> (e.g. BucketName, Key, UploadId)."""

    @property
    def status(self) -> int:
        return STATUS.get(self.code, 400)


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", BucketName=bucket)


def no_such_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", Key=key)


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed.",
        UploadId=upload_id[:64],
    )


def access_denied(message: str = "Access Denied") -> S3Error:
    return S3Error("AccessDenied", message)


__all__ = ["STATUS", "S3Error", "access_denied", "no_such_bucket", "no_such_key", "no_such_upload"]
