"""The store: where every file the pipeline makes lives, under one root (a folder or an S3 prefix).

Keys are relative POSIX paths (``<video_id>/final.mp4``); ``validate_key`` is the one gate that
keeps a key built from user input from leaving the root. Writes are atomic: a reader sees the
old object, the new one, or none, never half of one.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

_SEGMENT = re.compile(r"^[A-Za-z0-9_.@=+-]+$")


class StoreKeyError(ValueError):
    """A key that could name something outside the store's root."""


class StoreUnavailableError(Exception):
    """The store cannot be used at all: not a folder, not writable, no such bucket, credentials
    refused, endpoint unreachable.

    An error of the environment, not of one file or one call: the message is one line that
    names the store and what to change, and retrying the step cannot help.
    """


def validate_key(key: str) -> str:
    """``key`` unchanged if it is a safe relative path, else ``StoreKeyError``."""
    if not key or key.startswith("/") or "\\" in key or "\x00" in key:
        raise StoreKeyError(f"unsafe store key {key!r}: must be a relative path")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.match(segment):
            raise StoreKeyError(f"unsafe store key {key!r}: bad path segment {segment!r}")
    return key


class Store(ABC):
    """A flat key → bytes store with atomic writes; see ``layout`` for the keys."""

    @abstractmethod
    def uri(self, key: str) -> str:
        """Where ``key`` lives, for people and the manifest (a path or ``s3://`` URI)."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def read_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def write_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        """Write atomically and return the object's URI."""

    @abstractmethod
    def write_file(self, key: str, path: Path, content_type: str | None = None) -> str:
        """Copy a local file into the store atomically and return the object's URI."""

    @abstractmethod
    def local_path(self, key: str) -> AbstractContextManager[Path]:
        """A local file holding the object, for ffmpeg (a temporary copy from a remote store)."""

    @abstractmethod
    def append_line(self, key: str, line: str) -> None:
        """Append one line (a JSON record) to a log object."""

    @abstractmethod
    def list_keys(self, prefix: str) -> Iterator[str]:
        """Keys under ``prefix`` (a folder-like prefix ending in ``/``), sorted."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; no error when it is absent."""

    @abstractmethod
    def check_usable(self) -> None:
        """Raise ``StoreUnavailableError`` unless files can be written here; run before a render."""

    # Conditional writes, for claims that several processes race for (see ``claims``).
    # A version is an opaque token of one state of an object (an ETag, a content digest).

    @abstractmethod
    def create_exclusive(self, key: str, data: bytes) -> str | None:
        """Create ``key`` holding ``data`` only if it does not exist; its version, else None."""

    @abstractmethod
    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and version, or None when it does not exist."""

    @abstractmethod
    def replace_if(self, key: str, data: bytes, version: str) -> str | None:
        """Replace ``key`` only if it still is at ``version``; the new version, else None."""

    @abstractmethod
    def delete_if(self, key: str, version: str) -> bool:
        """Delete ``key`` only if it still is at ``version``; whether it was deleted."""

    def read_text(self, key: str) -> str:
        return self.read_bytes(key).decode("utf-8")

    def write_text(self, key: str, text: str, content_type: str = "text/plain") -> str:
        return self.write_bytes(key, text.encode("utf-8"), content_type)
