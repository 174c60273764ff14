"""The store in S3 (or any S3-compatible endpoint), built on dagster-aws's ``S3Resource``.

Keys live under ``s3://bucket/prefix/``; ``validate_key`` keeps every key under the prefix.
A PUT and a completed multipart upload replace an object in one step, so a reader never sees
half of a file under its final key; an upload killed midway leaves only an invisible
incomplete multipart upload (expire those with a bucket lifecycle rule).

ffmpeg works on local files: ``local_path`` downloads a temporary copy, and results are
uploaded with ``write_file``.
"""

from __future__ import annotations

import mimetypes
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any, Self

from videogen_dagster.domain.spec_files import SPEC_SUFFIXES
from videogen_dagster.store.base import Store, StoreUnavailableError, validate_key
from videogen_dagster.store.inbox import InboxEntry, SpecInbox

#: How often ``append_line`` re-reads and retries when another writer got in first.
APPEND_ATTEMPTS = 20

_CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".png": "image/png",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".txt": "text/plain; charset=utf-8",
}


def content_type_for(key: str) -> str:
    """The Content-Type an object is written with when the caller names none."""
    suffix = PurePosixPath(key).suffix.lower()
    return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix``; the prefix is '' or ends with '/'."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an S3 URI: {uri!r} (expected s3://bucket/prefix)")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"S3 URI {uri!r} names no bucket")
    prefix = prefix.strip("/")
    if prefix:
        validate_key(prefix)
    return bucket, f"{prefix}/" if prefix else ""


def s3_client(endpoint_url: str | None = None, region_name: str | None = None) -> Any:
    """A boto3 S3 client from dagster-aws, credentials from the usual AWS environment."""
    from dagster_aws.s3 import S3Resource

    return S3Resource(endpoint_url=endpoint_url, region_name=region_name).get_client()


def _is_missing(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in ("404", "NoSuchKey", "NotFound")


def _is_conflict(error: Exception) -> bool:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    return code in ("412", "PreconditionFailed", "409", "ConditionalRequestConflict")


_REFUSED_CREDENTIALS = {
    "403",
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
}


def _unavailable(location: _S3Location, error: Exception) -> StoreUnavailableError | None:
    """The one line a user acts on when ``error`` means the store as a whole cannot be used.

    None for errors about one object (a missing key, a lost conditional write). Never names a
    credential's value, only where credentials come from.
    """
    from botocore.exceptions import (
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import ConnectionError as EndpointUnreachable

    store = f"S3 store s3://{location.bucket}/{location.prefix}"
    endpoint = location.client.meta.endpoint_url
    if isinstance(error, EndpointUnreachable):
        return StoreUnavailableError(
            f"{store}: cannot reach the endpoint {endpoint} ({type(error).__name__}): "
            "check VIDEOGEN_S3_ENDPOINT_URL and that the server is running"
        )
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return StoreUnavailableError(
            f"{store}: no usable AWS credentials ({error}): set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or an AWS profile)"
        )
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code == "NoSuchBucket":
            return StoreUnavailableError(
                f"{store}: the bucket {location.bucket!r} does not exist at {endpoint}: "
                "create it, or give --store or VIDEOGEN_STORE an existing bucket"
            )
        if code in _REFUSED_CREDENTIALS:
            return StoreUnavailableError(
                f"{store}: {endpoint} refused the request ({code}): check AWS_ACCESS_KEY_ID, "
                "AWS_SECRET_ACCESS_KEY and the bucket's permissions"
            )
    return None


class _S3Location:
    """A bucket and a key prefix, reached through one boto3 client."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self._bucket_checked = False

    @classmethod
    def from_uri(
        cls, uri: str, endpoint_url: str | None = None, region_name: str | None = None
    ) -> Self:
        bucket, prefix = parse_s3_uri(uri)
        return cls(s3_client(endpoint_url, region_name), bucket, prefix)

    @contextmanager
    def _calling(self) -> Iterator[None]:
        """A call to the endpoint: an unusable store reads as one line."""
        try:
            yield
        except Exception as error:
            unavailable = _unavailable(self, error)
            if unavailable is not None:
                raise unavailable from None
            raise


class S3Store(_S3Location, Store):
    """Objects under ``s3://bucket/prefix/``; see the module docstring for atomicity."""

    def __repr__(self) -> str:
        return f"S3Store('s3://{self.bucket}/{self.prefix}')"

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            with self._calling():
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if not _is_missing(error):
                raise
            # A HEAD of a key in a missing bucket is a bare 404 too: make sure, once, that
            # "absent" is not "the bucket is gone" (read as "never registered" otherwise).
            if not self._bucket_checked:
                self.check_usable()
                self._bucket_checked = True
            return False
        return True

    def read_bytes(self, key: str) -> bytes:
        return self._get(key)[0]

    def _get(self, key: str) -> tuple[bytes, str | None]:
        """The object's bytes and ETag; ``FileNotFoundError`` naming the key when absent."""
        from botocore.exceptions import ClientError

        try:
            with self._calling():
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
                body = response["Body"].read()
        except ClientError as error:
            if _is_missing(error):
                raise FileNotFoundError(f"no object {key!r} in {self!r}") from error
            raise
        return body, response.get("ETag")

    def write_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        with self._calling():
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(key),
                Body=data,
                ContentType=content_type or content_type_for(key),
            )
        return self.uri(key)

    def write_file(self, key: str, path: Path, content_type: str | None = None) -> str:
        # upload_file switches to multipart for big files; S3 shows the object only once
        # CompleteMultipartUpload succeeds, so the key never holds a partial file.
        with self._calling():
            self.client.upload_file(
                str(path),
                self.bucket,
                self._key(key),
                ExtraArgs={"ContentType": content_type or content_type_for(key)},
            )
        return self.uri(key)

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        from botocore.exceptions import ClientError

        with tempfile.TemporaryDirectory(prefix="videogen-s3-") as folder:
            # Same file name as the key: ffmpeg picks demuxers by suffix.
            path = Path(folder) / PurePosixPath(key).name
            try:
                with self._calling():
                    self.client.download_file(self.bucket, self._key(key), str(path))
            except ClientError as error:
                if _is_missing(error):
                    raise FileNotFoundError(f"no object {key!r} in {self!r}") from error
                raise
            yield path

    def append_line(self, key: str, line: str) -> None:
        """Read, append, write back only if nobody wrote in between (S3 conditional writes).

        ``IfMatch`` (the ETag read) or ``IfNoneMatch="*"`` (the object did not exist) makes a
        concurrent append fail with 412/409 instead of being lost; we then re-read and retry.
        Safe for concurrent writers on AWS S3 and on endpoints that honour conditional
        writes (MinIO, moto); an endpoint that ignores them loses a racing line.
        """
        from botocore.exceptions import ClientError

        record = line.rstrip("\n") + "\n"
        for _ in range(APPEND_ATTEMPTS):
            try:
                current, etag = self._get(key)
                condition = {"IfMatch": etag} if etag else {}
            except FileNotFoundError:
                current, condition = b"", {"IfNoneMatch": "*"}
            try:
                with self._calling():
                    self.client.put_object(
                        Bucket=self.bucket,
                        Key=self._key(key),
                        Body=current + record.encode("utf-8"),
                        ContentType=content_type_for(key),
                        **condition,
                    )
            except ClientError as error:
                if _is_conflict(error):
                    continue
                raise
            return
        raise RuntimeError(
            f"append to {self.uri(key)} lost the race {APPEND_ATTEMPTS} times in a row"
        )

    def list_keys(self, prefix: str) -> Iterator[str]:
        base = self._key(prefix.rstrip("/")) + "/" if prefix.strip("/") else self.prefix
        keys = []
        paginator = self.client.get_paginator("list_objects_v2")
        with self._calling():
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
                keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", ()))
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        with self._calling():
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def check_usable(self) -> None:
        """The bucket exists and these credentials may use it (one HEAD request)."""
        from botocore.exceptions import ClientError

        try:
            with self._calling():
                self.client.head_bucket(Bucket=self.bucket)
        except ClientError as error:
            # HEAD answers carry no error body: a missing bucket is a bare 404.
            if _is_missing(error):
                error.response.setdefault("Error", {})["Code"] = "NoSuchBucket"
            raise _unavailable(self, error) or error from None

    # Conditional writes: ``IfNoneMatch="*"`` creates only a missing object, ``IfMatch`` acts
    # only on the ETag read; a lost race answers 412 (409 while another write is in flight).

    def create_exclusive(self, key: str, data: bytes) -> str | None:
        return self._put_if(key, data, IfNoneMatch="*")

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            body, etag = self._get(key)
        except FileNotFoundError:
            return None
        return body, etag or ""

    def replace_if(self, key: str, data: bytes, version: str) -> str | None:
        return self._put_if(key, data, IfMatch=version)

    def delete_if(self, key: str, version: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            with self._calling():
                self.client.delete_object(Bucket=self.bucket, Key=self._key(key), IfMatch=version)
        except ClientError as error:
            if _is_conflict(error) or _is_missing(error):
                return False
            raise
        return True

    def _put_if(self, key: str, data: bytes, **condition: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            with self._calling():
                response = self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    Body=data,
                    ContentType=content_type_for(key),
                    **condition,
                )
        except ClientError as error:
            if _is_conflict(error) or _is_missing(error):
                return None
            raise
        return response["ETag"]


class S3Inbox(_S3Location, SpecInbox):
    """Spec files directly under ``s3://bucket/prefix/``, versioned by their ETag.

    dagster-aws's ``get_s3_keys`` returns only keys modified after a cursor key, so it cannot
    tell that an existing spec changed; the ETag does, and one listing call gives all of them.
    """

    def list_entries(self) -> list[InboxEntry]:
        entries = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix, Delimiter="/"):
            for item in page.get("Contents", ()):
                name = item["Key"][len(self.prefix) :]
                if PurePosixPath(name).suffix.lower() in SPEC_SUFFIXES:
                    entries.append(InboxEntry(name, item["ETag"].strip('"')))
        return sorted(entries, key=lambda entry: entry.name)

    def read(self, entry: InboxEntry) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + entry.name)
        return response["Body"].read()

    def describe(self, entry: InboxEntry) -> str:
        return f"s3://{self.bucket}/{self.prefix}{entry.name}"
