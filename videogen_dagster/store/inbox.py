"""Where new spec files arrive: a folder (default ``specs/inbox``) or an S3 prefix.

The sensor only needs to list entries cheaply with a version token (so a changed file is
noticed) and read the few that changed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from videogen_dagster.domain.spec_files import SPEC_SUFFIXES


@dataclass(frozen=True)
class InboxEntry:
    """One spec file in the inbox; ``version`` changes whenever its content may have."""

    name: str
    version: str

    @property
    def video_id(self) -> str:
        return Path(self.name).stem


class SpecInbox(ABC):
    @abstractmethod
    def list_entries(self) -> list[InboxEntry]:
        """The spec files present now, sorted by name."""

    @abstractmethod
    def read(self, entry: InboxEntry) -> bytes: ...

    @abstractmethod
    def describe(self, entry: InboxEntry) -> str:
        """The file's location, for error messages."""


class FolderInbox(SpecInbox):
    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def list_entries(self) -> list[InboxEntry]:
        if not self.folder.is_dir():
            return []
        entries = []
        for path in sorted(self.folder.iterdir()):
            if path.suffix.lower() in SPEC_SUFFIXES and path.is_file():
                stat = path.stat()
                entries.append(InboxEntry(path.name, f"{stat.st_mtime_ns}-{stat.st_size}"))
        return entries

    def read(self, entry: InboxEntry) -> bytes:
        return (self.folder / entry.name).read_bytes()

    def describe(self, entry: InboxEntry) -> str:
        return str(self.folder / entry.name)
