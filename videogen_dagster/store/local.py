"""The default store: a folder on this machine."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from videogen_dagster.store.base import (
    Store,
    StoreKeyError,
    StoreUnavailableError,
    validate_key,
)

#: What an ``OSError`` says about the folder as a whole rather than about one file: the store
#: cannot be used until the user fixes its location or permissions.
_UNUSABLE = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOTDIR,
    errno.EEXIST,
    errno.ENOSPC,
    errno.EDQUOT,
}


class LocalStore(Store):
    """Objects are files under ``root``; writes go to a temporary sibling, then ``os.replace``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        # validate_key already forbids "..": this also refuses a symlink that leads out.
        if not path.is_relative_to(self.root):
            raise StoreKeyError(f"store key {key!r} resolves outside the store root")
        return path

    def uri(self, key: str) -> str:
        return str(self._path(key))

    def exists(self, key: str) -> bool:
        if self._path(key).is_file():
            return True
        if self.root.exists() and not self.root.is_dir():  # not "absent": unusable
            raise self._unusable(NotADirectoryError(errno.ENOTDIR, "Not a directory"), "read")
        return False

    def read_bytes(self, key: str) -> bytes:
        with self._usable(f"read {key}"):
            return self._path(key).read_bytes()

    def _unusable(self, error: OSError, action: str) -> StoreUnavailableError:
        """One line naming the folder and what to change, for the CLI and a step's failure."""
        fix = "give --store or VIDEOGEN_STORE a folder you can write to"
        if self.root.exists() and not self.root.is_dir():
            return StoreUnavailableError(f"store {self.root} is a file, not a folder: {fix}")
        reason = error.strerror or type(error).__name__
        return StoreUnavailableError(f"store folder {self.root}: cannot {action}: {reason}: {fix}")

    @contextmanager
    def _usable(self, action: str) -> Iterator[None]:
        try:
            yield
        except OSError as error:
            if error.errno in _UNUSABLE:
                raise self._unusable(error, action) from None
            raise

    def check_usable(self) -> None:
        with self._usable("create it"):
            self.root.mkdir(parents=True, exist_ok=True)
        with self._usable("write in it"):
            probe = self.root / f".write-check.{secrets.token_hex(8)}.part"
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            probe.unlink()

    @contextmanager
    def _atomic_target(self, key: str) -> Iterator[Path]:
        with self._usable(f"write {key}"):
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._new_partial(path)
            try:
                yield tmp
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)

    @staticmethod
    def _new_partial(path: Path) -> Path:
        """An empty temporary sibling of ``path``, created with the umask's permissions.

        Not mkstemp: its files are 0600 whatever the umask, and final.mp4 and manifest.json
        are meant to be readable by others where the umask says so (0644 under 022).
        """
        tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.part"
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        return tmp

    def write_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        """Durable before it is visible: a paid generation's file is flushed to disk before its
        cache record (written after it) can point at it."""
        with self._atomic_target(key) as tmp, open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return self.uri(key)

    def write_file(self, key: str, path: Path, content_type: str | None = None) -> str:
        with self._atomic_target(key) as tmp:
            shutil.copyfile(path, tmp)
        return self.uri(key)

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"no object {key!r} in {self!r}")
        yield path

    def append_line(self, key: str, line: str) -> None:
        path = self._path(key)
        with self._usable(f"append to {key}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a+b") as f:
                fcntl.flock(f, fcntl.LOCK_EX)  # several runs may append at once
                # A writer killed mid-append leaves a torn last line: end it first, or this
                # record would be glued to it and neither would read back.
                end = f.seek(0, os.SEEK_END)
                torn = end > 0 and f.seek(end - 1) >= 0 and f.read(1) != b"\n"
                record = ("\n" if torn else "") + line.rstrip("\n") + "\n"
                f.write(record.encode("utf-8"))

    # Conditional writes. Creation is exclusive by ``os.link`` of a finished temporary file
    # (like O_EXCL, and a reader never sees the file empty); a replace or delete compares and
    # acts while holding an flock on the folder, so no other conditional write comes between.
    # The version of a file is the digest of its content.

    def create_exclusive(self, key: str, data: bytes) -> str | None:
        with self._usable(f"write {key}"):
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._new_partial(path)
            try:
                tmp.write_bytes(data)
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    return None
            finally:
                tmp.unlink(missing_ok=True)
        return _digest(data)

    def read_versioned(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self.read_bytes(key)
        except FileNotFoundError:
            return None
        return data, _digest(data)

    def replace_if(self, key: str, data: bytes, version: str) -> str | None:
        with self._folder_locked(key):
            if (self.read_versioned(key) or (b"", None))[1] != version:
                return None
            with self._atomic_target(key) as tmp:
                tmp.write_bytes(data)
        return _digest(data)

    def delete_if(self, key: str, version: str) -> bool:
        with self._folder_locked(key):
            if (self.read_versioned(key) or (b"", None))[1] != version:
                return False
            self.delete(key)
        return True

    @contextmanager
    def _folder_locked(self, key: str) -> Iterator[None]:
        folder = self._path(key).parent
        with self._usable(f"lock the folder of {key}"):
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def list_keys(self, prefix: str) -> Iterator[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        if not base.is_dir():
            return iter(())
        keys = (
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.endswith(".part")
        )
        return iter(sorted(keys))

    def delete(self, key: str) -> None:
        with self._usable(f"delete {key}"):
            self._path(key).unlink(missing_ok=True)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
