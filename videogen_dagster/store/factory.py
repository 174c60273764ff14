"""Turns a store URI (a folder path, or ``s3://bucket/prefix``) into a ``Store``."""

from __future__ import annotations

from videogen_dagster.store.base import Store, StoreUnavailableError
from videogen_dagster.store.local import LocalStore


def open_store(
    uri: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None
) -> Store:
    """The store named by ``uri``; ``s3_*`` apply only to ``s3://`` URIs.

    Nothing is contacted yet: ``Store.check_usable`` does that. A URI that names no store
    is a ``StoreUnavailableError``, shown to the user as one line.
    """
    if uri.startswith("s3://"):
        from videogen_dagster.store.s3 import S3Store

        try:
            return S3Store.from_uri(uri, endpoint_url=s3_endpoint_url, region_name=s3_region)
        except ValueError as error:
            raise StoreUnavailableError(f"store {uri!r}: {error}") from None
    if "://" in uri:
        raise StoreUnavailableError(
            f"unsupported store URI {uri!r}: use a folder path or s3://bucket/prefix"
        )
    return LocalStore(uri)
