"""Postgres and Redis from the OS packages, started on 127.0.0.1 for one test and stopped after,
and the whole deployment of ``deploy/README.md`` on them (``deployment``): moto's S3 server, the
Dagster daemon and two dagster-celery workers. The deployment test and ``bench/bench_deploy.py``
both start it from here.

Nothing here installs them: ``.ci/run`` does (``apt-get install postgresql redis-server``), and
the deployment tests are skipped with the reason when a binary is missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BUCKET = "videos"


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


def _clean_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("VIDEOGEN_", "DAGSTER_", "AWS_"))
    }


def _home(folder: Path, instance_yaml: str) -> Path:
    home = folder / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(instance_yaml)
    return home


def stop_group(process: subprocess.Popen) -> None:
    """Stop a process and everything it started (each was started in a session of its own)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class Deployment:
    """The running deployment, seen from its launcher: ``instance`` is the launcher's (its
    ``DAGSTER_HOME`` and environment are this process's while the deployment runs)."""

    instance: dg.DagsterInstance
    env: dict[str, str]
    inbox: Path
    s3: Any  # a boto3 S3 client of moto's server
    s3_endpoint: str
    processes: dict[str, subprocess.Popen]
    folder: Path


@contextmanager
def deployment(
    folder: Path,
    *,
    instance_yaml: str | None = None,
    visibility_timeout: int = 300,
    worker_concurrency: int = 2,
) -> Iterator[Deployment]:
    """Postgres, Redis, moto's S3 server (bucket ``BUCKET``), the daemon and two dagster-celery
    workers (``w1``, ``w2``), started as ``deploy/README.md`` says, all stopped on exit.

    Each worker has its own working folder and home and runs in a mount namespace where the
    launcher's folder (its ``DAGSTER_HOME`` with the instance's local storage, and the inbox)
    is an empty tmpfs, so a step that assumed a shared disk fails. The workers' own
    environment names another store (a local folder): what they render must still land in S3,
    where the launcher registered the video. ``instance_yaml`` replaces ``deploy/dagster.yaml``
    (the bench raises its run and pool limits); ``visibility_timeout`` replaces
    ``deploy/celery.yaml``'s (how long a killed worker's steps wait before redelivery).
    """
    import boto3

    from videogen_dagster_tests.fakes.moto_s3 import FAKE_AWS_ENV, moto_s3_server

    instance_yaml = instance_yaml or (REPO / "deploy" / "dagster.yaml").read_text()
    with (
        postgres_server() as postgres_url,
        redis_server(folder / "redis") as broker,
        moto_s3_server() as s3_endpoint,
    ):
        s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)

        launcher = folder / "launcher"
        inbox = launcher / "inbox"
        inbox.mkdir(parents=True)
        shared = {
            **FAKE_AWS_ENV,
            "VIDEOGEN_POSTGRES_URL": postgres_url,
            "VIDEOGEN_CELERY_BROKER": broker,
            "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        }
        launcher_env = {
            **_clean_env(),
            **shared,
            "DAGSTER_HOME": str(_home(launcher, instance_yaml)),
            "VIDEOGEN_EXECUTOR": "celery",
            "VIDEOGEN_STORE": f"s3://{BUCKET}/videos",
            "VIDEOGEN_S3_ENDPOINT_URL": s3_endpoint,
            "VIDEOGEN_INBOX": str(inbox),
            "VIDEOGEN_SENSOR_INTERVAL_SECONDS": "1",
        }
        celery_yaml = folder / "celery.yaml"
        celery_yaml.write_text(
            (REPO / "deploy" / "celery.yaml")
            .read_text()
            .replace("visibility_timeout: 300", f"visibility_timeout: {visibility_timeout}")
        )

        processes: dict[str, subprocess.Popen] = {}
        try:
            for name in ("w1", "w2"):
                worker = folder / name
                worker_env = {
                    **_clean_env(),
                    **shared,
                    "HOME": str(worker),
                    "DAGSTER_HOME": str(_home(worker, instance_yaml)),
                    # What a worker's own environment says must not matter: the run says.
                    "VIDEOGEN_STORE": str(worker / "not-the-store"),
                }
                hide = f'mount -t tmpfs tmpfs {launcher} && exec "$@"'
                processes[name] = subprocess.Popen(
                    ["unshare", "--mount", "--propagation", "private", "--",
                     "sh", "-c", hide, "sh",
                     str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
                     "-y", str(celery_yaml), "--name", name, "--",
                     "--concurrency", str(worker_concurrency)],
                    cwd=worker,
                    env=worker_env,
                    stdout=open(worker / "worker.log", "wb"),  # noqa: SIM115
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            processes["daemon"] = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
                cwd=REPO,
                env=launcher_env,
                stdout=open(launcher / "daemon.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            saved = dict(os.environ)
            os.environ.update(launcher_env)
            try:
                with dg.DagsterInstance.get() as instance:
                    yield Deployment(
                        instance=instance,
                        env=launcher_env,
                        inbox=inbox,
                        s3=s3,
                        s3_endpoint=s3_endpoint,
                        processes=processes,
                        folder=folder,
                    )
            finally:
                os.environ.clear()
                os.environ.update(saved)
        finally:
            for process in processes.values():
                stop_group(process)


def celery_hosts(instance: dg.DagsterInstance, run_id: str) -> Counter:
    """How many steps of the run each Celery worker ran (from the engine events it wrote)."""
    hosts: Counter = Counter()
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = record.dagster_event.engine_event_data
        worker = data.metadata.get("Celery worker") if data else None
        if worker is not None:
            hosts[worker.value.split("@")[0]] += 1
    return hosts
