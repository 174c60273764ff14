"""Turns a store URI (a folder path, or ``s3://bucket/prefix``) into a ``Store``."""

from __future__ import annotations

from videogen_dagster.store.base import Store
from videogen_dagster.store.local import LocalStore


def open_store(
    uri: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None
) -> Store:
    """The store named by ``uri``; ``s3_*`` apply only to ``s3://`` URIs."""
    if uri.startswith("s3://"):
        from videogen_dagster.store.s3 import S3Store

        return S3Store.from_uri(uri, endpoint_url=s3_endpoint_url, region_name=s3_region)
    if "://" in uri:
        raise ValueError(f"unsupported store URI {uri!r}: use a folder path or s3://bucket/prefix")
    return LocalStore(uri)
