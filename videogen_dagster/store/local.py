"""The default store: a folder on this machine."""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from videogen_dagster.store.base import Store, StoreKeyError, validate_key
from videogen_dagster.turns import waiting


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
        return self._path(key).is_file()

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    @contextmanager
    def _atomic_target(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
        try:
            yield Path(tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def write_bytes(self, key: str, data: bytes, content_type: str | None = None) -> str:
        """Durable before it is visible: a paid generation's file is flushed to disk before its
        cache record (written after it) can point at it. The flush is a marked wait: it usually
        takes a millisecond, but a busy disk held it for up to a second in the benchmark, and
        a step holding its turn meanwhile would hold up every other step's Python."""
        with self._atomic_target(key) as tmp, open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            with waiting():
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
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)  # several runs may append at once
            f.write(line.rstrip("\n") + "\n")

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
        self._path(key).unlink(missing_ok=True)
