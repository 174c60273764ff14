"""Dagster's SQLite event log without its per-event connection cost.

Why: Dagster's ``SqliteEventLogStorage`` builds a new SQLAlchemy engine, opens a connection,
commits with ``synchronous=FULL`` (an fsync of the WAL) and disposes the engine for every event,
all under one lock, and every step emits 8-12 events (more with pools: claim and free are
writes too). Measured here: 7-18 ms per event, serialised across every step and every run in
the process, which put seconds on a 6-beat video's critical path. This subclass keeps one engine
per shard (the run's file, the index) with a small connection pool and sets
``PRAGMA synchronous=NORMAL`` on each connection: under WAL that is still crash-safe for the
database (no corruption; an application crash loses nothing), and only an OS crash or power
loss can roll back the last transactions -- acceptable for an event log. Measured: about 0.8 ms
per event. A run's new shard is checked and stamped with the migration scripts read once per
process: Dagster reads its ~90 alembic revision files for every check and every stamp, which
cost 0.2-0.5 s at the start of every run. Everything else (schema, shards, queries, watchers)
is Dagster's own class.

Use in ``dagster.yaml`` (``base_dir`` defaults to ``$DAGSTER_HOME/history/runs``, Dagster's
own default location, so existing instances keep their history)::

    event_log_storage:
      module: videogen_dagster.instance.event_log
      class: PooledSqliteEventLogStorage
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import yaml
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from dagster import Field, StringSource
from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import get_alembic_config, safe_commit
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy import create_engine, event, text
from sqlalchemy import exc as db_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

#: Open engines kept at most (one per run shard, plus the index); the least recent is closed.
MAX_OPEN_SHARDS = 32
#: How long a dynamic partition found to exist is taken to still exist without asking again.
PARTITION_MEMORY_SECONDS = 30.0


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with one pooled engine per shard and ``synchronous=NORMAL``."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        if base_dir is None:
            home = os.environ.get("DAGSTER_HOME")
            if not home:
                raise ValueError(
                    "PooledSqliteEventLogStorage: set base_dir in dagster.yaml or DAGSTER_HOME"
                )
            base_dir = os.path.join(home, "history", "runs")
            if inst_data is not None:
                # Record the folder in the instance's ref, so another process opened from it
                # (a render child, a run worker) finds the same files whatever its environment.
                inst_data = ConfigurableClassData(
                    inst_data.module_name,
                    inst_data.class_name,
                    yaml.safe_dump({"base_dir": base_dir}),
                )
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._index_tables: set[str] = set()
        self._partitions_seen: dict[tuple[str, str], float] = {}
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                # _initdb inspects the schema on a second connection while one is open.
                pool_size=1,
                max_overflow=2,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            event.listen(engine, "connect", _set_pragmas)
            self._engines[shard] = engine
            while len(self._engines) > MAX_OPEN_SHARDS:
                oldest, stale = next(iter(self._engines.items()))
                if oldest == INDEX_SHARD_NAME:
                    self._engines.move_to_end(oldest)
                    continue
                del self._engines[oldest]
                stale.dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """Whether the index has the table, remembered once seen: Dagster asks before most index
        reads and writes (every dynamic-partition lookup, pool claim, asset event), opening a
        new engine each time. Tables are only ever added (``dagster instance migrate``)."""
        if table_name in self._index_tables:
            return True
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            found = bool(engine.dialect.has_table(conn, table_name))
        if found:
            self._index_tables.add(table_name)
        return found

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        """Dagster's query, with a partition found remembered for ``PARTITION_MEMORY_SECONDS``:
        a step asks two to four times for its run's partition (input and output contexts).
        A deletion through this storage forgets at once; one by another process is seen
        within that time."""
        key = (partitions_def_name, partition_key)
        seen = self._partitions_seen.get(key)
        if seen is not None and time.monotonic() - seen < PARTITION_MEMORY_SECONDS:
            return True
        found = super().has_dynamic_partition(partitions_def_name, partition_key)
        if found:
            self._partitions_seen[key] = time.monotonic()
        return found

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        self._partitions_seen.pop((partitions_def_name, partition_key), None)
        super().delete_dynamic_partition(partitions_def_name, partition_key)

    def _initdb(self, engine: Engine, for_index_shard: bool = False) -> None:
        """Dagster's check-then-create-and-stamp of a run's shard, with the scripts read once.

        The index shard (made once per instance, with a legacy case to handle) and any race
        with another process creating the same file go to Dagster's own code.
        """
        if for_index_shard:
            super()._initdb(engine, for_index_shard=True)
            return
        scripts = _migration_scripts()
        try:
            with engine.connect() as connection:
                migrations = MigrationContext.configure(connection)
                if migrations.get_current_revision():
                    return
                SqlEventLogStorageMetadata.create_all(engine)
                connection.execute(text("PRAGMA journal_mode=WAL;"))
                migrations.stamp(scripts, "head")
                safe_commit(connection)
        except (db_exc.DatabaseError, sqlite3.DatabaseError):
            super()._initdb(engine)

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()

    def wipe(self) -> None:
        # Dagster's wipe deletes the run files: close our connections to them first.
        self._dispose_engines()
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()


@functools.cache
def _migration_scripts() -> ScriptDirectory:
    """Dagster's event-log migration scripts, as its ``_initdb`` locates them (read lazily,
    then kept: the revision map is memoised on this object)."""
    return ScriptDirectory.from_config(get_alembic_config(sqlite_event_log.__file__))


def _set_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
