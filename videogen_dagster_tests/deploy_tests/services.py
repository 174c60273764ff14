"""Postgres and Redis from the OS packages, started on 127.0.0.1 for one test and stopped after.

Nothing here installs them: ``.ci/run`` does (``apt-get install postgresql redis-server``), and
the deployment tests are skipped with the reason when a binary is missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps it off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


def missing_services() -> list[str]:
    """What the deployment tests need and this machine lacks."""
    missing = []
    if postgres_bin() is None:
        missing.append("postgresql (apt-get install postgresql)")
    if shutil.which("redis-server") is None:
        missing.append("redis-server (apt-get install redis-server)")
    for module in ("dagster_celery", "dagster_postgres"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"{module} (pip install -e '.[deploy]')")
    return missing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway cluster, owned by the ``postgres`` user (the server refuses to run as root)
    in a folder of its own that user can reach (pytest's are private to root); yields a
    ``postgresql+psycopg2://`` URL of the database ``dagster``."""
    bin_dir = postgres_bin()
    assert bin_dir is not None, "postgresql is not installed"
    user = pwd.getpwnam("postgres")
    folder = Path(tempfile.mkdtemp(prefix="videogen-postgres-"))
    folder.chmod(0o755)
    data = folder / "data"
    data.mkdir()
    os.chown(folder, user.pw_uid, user.pw_gid)
    os.chown(data, user.pw_uid, user.pw_gid)
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "--auth=trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    log = open(folder / "postgres.log", "wb")  # noqa: SIM115 - closed after the server stops
    server = subprocess.Popen(
        [
            *as_postgres,
            str(bin_dir / "postgres"),
            "-D", str(data),
            "-p", str(port),
            "-h", "127.0.0.1",
            "-k", str(folder),
            "-c", "fsync=off",
            "-c", "max_connections=200",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_for_port(port, server, "postgres")
        for _ in range(100):
            created = subprocess.run(
                [*as_postgres, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                 "-U", "postgres", "dagster"],
                capture_output=True,
            )  # fmt: skip
            if created.returncode == 0:
                break
            time.sleep(0.2)  # the server listens a moment before it accepts logins
        else:
            raise RuntimeError(f"createdb failed: {created.stderr.decode()}")
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/dagster"
    finally:
        _stop(server)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A Redis without persistence on 127.0.0.1; yields its ``redis://`` URL."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_for_port(port, server, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(server)
