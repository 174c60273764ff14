"""Dagster's SQLite run and schedule storages, opened without reading the migration scripts,
and a run storage that keeps its connections.

Why: opening an instance checks each SQLite database against Dagster's alembic migrations, and
alembic reads and executes every migration script to find the head revision it compares with
(about 90 files, 0.04 s per database). Dagster only acts when a database has no revision at all
(it creates the tables and stamps them); a database stamped at any revision is used as it is.
These subclasses look at the stamp alone and hand an unstamped or missing database to Dagster's
own code, so a new process (every ``videogen render`` video, every run ``dagster dev``
launches) opens the instance 0.08 s sooner. Queries, schema and migrations are Dagster's.

Dagster's SQLite run storage also builds an engine, opens a connection and commits with
``synchronous=FULL`` (an ``fsync``) for every use: about 18 for one video (registering it,
running it, reading it back), 1-2 ms each, and on a busy disk one ``fsync`` can take a second
(a store file's did in the benchmark). The run storage here
keeps one engine with a small pool and sets ``synchronous=NORMAL``, as the event log does (see
``event_log``): under WAL still safe against corruption and application crashes; only an OS
crash or power loss can roll back the last transactions (a run's last status change).

Use in ``dagster.yaml`` (``base_dir`` defaults to where Dagster keeps these databases under
``$DAGSTER_HOME``, so existing instances keep their runs and schedules)::

    run_storage:
      module: videogen_dagster.instance.sqlite_storage
      class: StampedSqliteRunStorage
    schedule_storage:
      module: videogen_dagster.instance.sqlite_storage
      class: StampedSqliteScheduleStorage
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import sqlalchemy as db
import yaml
from alembic.runtime.migration import MigrationContext
from dagster import Field, StringSource
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS, create_db_conn_string
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event
from sqlalchemy import exc as db_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, QueuePool


def home_folder(
    base_dir: str | None, inst_data: ConfigurableClassData | None, *parts: str
) -> tuple[str, ConfigurableClassData | None]:
    """``base_dir``, or ``$DAGSTER_HOME/<parts>`` when unset, and the storage's config data
    naming that folder, so another process opened from the instance's ref (a render child, a
    run worker) finds the same files whatever its environment."""
    if base_dir is not None:
        return base_dir, inst_data
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise ValueError("videogen's SQLite storages: set base_dir in dagster.yaml or DAGSTER_HOME")
    base_dir = os.path.join(home, *parts)
    if inst_data is not None:
        config = yaml.safe_dump({"base_dir": base_dir})
        inst_data = ConfigurableClassData(inst_data.module_name, inst_data.class_name, config)
    return base_dir, inst_data


def set_normal_sync(dbapi_connection: Any, _record: Any = None) -> None:
    """``PRAGMA synchronous=NORMAL`` on a new SQLite connection (a SQLAlchemy connect hook)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def base_dir_config() -> dict[str, Any]:
    """The config of our SQLite storages: ``base_dir``, optional (see ``home_folder``)."""
    return {"base_dir": Field(StringSource, is_required=False)}


def is_stamped(path: str, *tables: str) -> bool:
    """Whether the database at ``path`` exists, carries an alembic revision and has ``tables``:
    then Dagster's own opening would do nothing more than read its migration scripts."""
    if not os.path.exists(path):
        return False
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        with engine.connect() as connection:
            if not MigrationContext.configure(connection).get_current_revision():
                return False
            inspector = db.inspect(connection)
            return all(inspector.has_table(table) for table in tables)
    except db_exc.DBAPIError:
        return False  # locked or damaged: Dagster's code decides
    finally:
        engine.dispose()


class _OpenedOnItsStamp:
    """Mixed in before one of Dagster's SQLite storages: ``from_local`` opens its database
    (``_database`` in ``base_dir``, by default ``$DAGSTER_HOME/<_folder>``) directly when it is
    stamped and has ``_tables``, and leaves every other case to Dagster's ``from_local``."""

    _folder: tuple[str, ...]
    _database: str
    _tables: tuple[str, ...]

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return base_dir_config()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> Any:
        return cls.from_local(inst_data=inst_data, **config_value)

    @classmethod
    def from_local(
        cls, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None
    ) -> Any:
        base_dir, inst_data = home_folder(base_dir, inst_data, *cls._folder)
        if is_stamped(os.path.join(base_dir, f"{cls._database}.db"), *cls._tables):
            return cls(create_db_conn_string(base_dir, cls._database), inst_data)  # type: ignore[call-arg]
        return super().from_local(base_dir, inst_data)  # type: ignore[misc]


class StampedSqliteRunStorage(_OpenedOnItsStamp, SqliteRunStorage):
    """``SqliteRunStorage`` that opens a stamped database without the migration scripts, and
    keeps a pool of connections with ``synchronous=NORMAL`` instead of one per use."""

    _folder = ("history", "")
    _database = "runs"
    _tables = ("runs", "instance_info")

    def __init__(self, conn_string: str, inst_data: ConfigurableClassData | None = None):
        self._pool_lock = threading.Lock()
        self._pooled: Engine | None = None
        self._pooled_in: int | None = None  # the process the pool's connections belong to
        super().__init__(conn_string, inst_data)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._engine().connect() as conn, conn.begin():
            yield conn

    def _engine(self) -> Engine:
        """Made at first use in each process: a process forked after its parent used the
        storage leaves the parent's connections alone (SQLite's own advice) and opens its own."""
        with self._pool_lock:
            if self._pooled is not None and self._pooled_in != os.getpid():
                self._pooled.dispose(close=False)
                self._pooled = None
            if self._pooled is None:
                self._pooled_in = os.getpid()
                self._pooled = create_engine(
                    self._conn_string,
                    poolclass=QueuePool,
                    pool_size=2,  # kept: a run's orchestrating thread and one step at a time
                    max_overflow=-1,  # more when runs on threads of one process overlap: never
                    # a wait for a free connection, which SQLite's own locking makes needless
                    connect_args={
                        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
                        "check_same_thread": False,  # pooled: any thread may check one out
                    },
                )
                event.listen(self._pooled, "connect", set_normal_sync)
            return self._pooled

    def dispose(self) -> None:
        with self._pool_lock:
            if self._pooled is not None:
                self._pooled.dispose()
                self._pooled = None
        super().dispose()


class StampedSqliteScheduleStorage(_OpenedOnItsStamp, SqliteScheduleStorage):
    """``SqliteScheduleStorage`` that opens a stamped database without the migration scripts."""

    _folder = ("schedules",)
    _database = "schedules"
    _tables = ("jobs", "job_ticks")
