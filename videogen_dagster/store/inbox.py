"""Where new spec files arrive: a folder (default ``specs/inbox``) or an S3 prefix.

The sensor only needs to list entries cheaply with a version token (so a changed file is
noticed) and read the few that changed, each once: the bytes read are the bytes registered.
"""

from __future__ import annotations

import stat
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from videogen_dagster.domain.references import read_reference_file
from videogen_dagster.domain.spec_files import SPEC_SUFFIXES, read_spec_bytes


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
    def read(self, entry: InboxEntry) -> bytes:
        """The entry's content, read once; ``SpecError`` when it is not a file a spec can be."""

    def read_reference(self, entry: InboxEntry, reference: str) -> bytes:
        """The content of ``reference`` (a normalised path relative to the entry's folder)."""
        folder = PurePosixPath(entry.name).parent
        return self.read(InboxEntry((folder / reference).as_posix(), ""))

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
            if path.suffix.lower() not in SPEC_SUFFIXES:
                continue
            try:
                info = path.stat()
            except OSError:  # removed (or a dangling link) since the folder was listed
                continue
            if stat.S_ISREG(info.st_mode):
                entries.append(InboxEntry(path.name, f"{info.st_mtime_ns}-{info.st_size}"))
        return entries

    def read(self, entry: InboxEntry) -> bytes:
        # Listed as a regular file, it may be a FIFO or a link by now: read through one
        # descriptor that is checked and never blocks, and never through a link.
        return read_spec_bytes(self.folder / entry.name, follow_symlinks=False)

    def read_reference(self, entry: InboxEntry, reference: str) -> bytes:
        return read_reference_file(reference, self.folder)

    def describe(self, entry: InboxEntry) -> str:
        return str(self.folder / entry.name)
