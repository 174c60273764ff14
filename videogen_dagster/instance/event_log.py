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
per event. What else it does, each measured in a profile of a run first:

- Events Dagster writes only to the run's file (step, log and engine events: most of them) go
  in as plain SQL, the row Dagster builds (``_event_to_row``) on a kept connection: Dagster
  builds, compiles and executes an SQLAlchemy insert for each, 2 ms of Python apiece when
  20 steps end together. Asset, check and run-status events, which it also mirrors into the
  index, take its own path.
- Concurrency pools are claimed and freed by Dagster's own statements, sent as plain SQL in one
  transaction each (its code builds 8-11 statements in 3-5 transactions: 5 ms of the
  orchestrating thread per pooled step, half of its time in a 6-beat run).
- A new run's file is a copy of an empty one made once per Dagster version and kept beside
  the run files; Dagster creates ~15 tables and indexes and reads its ~90 migration scripts to
  stamp it (0.2-0.3 s at the start of every run in a new process). Existing files are checked
  with the scripts read once per process.
- Facts about the schema that only migrations change (index tables, asset-key columns,
  secondary indexes) and partitions found to exist are remembered instead of asked again at
  every step.

Everything else (schema, shards, queries, watchers) is Dagster's own class, and the tests hold
the rows it writes and the pool states it leaves to those of Dagster's own storage.

Use in ``dagster.yaml`` (``base_dir`` defaults to ``$DAGSTER_HOME/history/runs``, Dagster's
own default location, so existing instances keep their history)::

    event_log_storage:
      module: videogen_dagster.instance.event_log
      class: PooledSqliteEventLogStorage
"""

from __future__ import annotations

import functools
import os
import shutil
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import dagster
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, EVENT_TYPE_TO_PIPELINE_RUN_STATUS
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.schema import SqlEventLogStorageMetadata
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SqliteEventLogStorage,
)
from dagster._core.storage.sql import get_alembic_config, safe_commit
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from dagster._utils.concurrency import ConcurrencyClaimStatus, ConcurrencySlotStatus
from sqlalchemy import create_engine, event, text
from sqlalchemy import exc as db_exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from videogen_dagster.instance.sqlite_storage import (
    base_dir_config,
    home_folder,
    is_stamped,
    set_normal_sync,
)

#: Open engines kept at most (one per run shard, plus the index); the least recent is closed.
MAX_OPEN_SHARDS = 32
#: How long a dynamic partition found to exist is taken to still exist without asking again.
PARTITION_MEMORY_SECONDS = 30.0


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """``SqliteEventLogStorage`` with one pooled engine per shard and ``synchronous=NORMAL``."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        base_dir, inst_data = home_folder(base_dir, inst_data, "history", "runs")
        self._shards: OrderedDict[str, _Shard] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._schema_facts: set[tuple[str, str]] = set()
        self._partitions_seen: dict[tuple[str, str], float] = {}
        super().__init__(base_dir, inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return base_dir_config()

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        return self._shard(shard).engine

    def _shard(self, shard: str) -> _Shard:
        with self._engines_lock:
            open_shard = self._shards.get(shard)
            if open_shard is not None:
                self._shards.move_to_end(shard)
                return open_shard
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool,
                # _initdb inspects the schema on a second connection while one is open.
                pool_size=1,
                max_overflow=2,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            event.listen(engine, "connect", set_normal_sync)
            open_shard = self._shards[shard] = _Shard(self.path_for_shard(shard), engine)
            while len(self._shards) > MAX_OPEN_SHARDS:
                oldest, stale = next(iter(self._shards.items()))
                if oldest == INDEX_SHARD_NAME:
                    self._shards.move_to_end(oldest)
                    continue
                del self._shards[oldest]
                stale.close()
            return open_shard

    def _ready(self, shard: str) -> _Shard:
        """The shard, created and stamped if it is new. Call with ``_db_lock`` held."""
        open_shard = self._shard(shard)
        if shard not in self._initialized_dbs:
            self._initdb(open_shard.engine, for_index_shard=shard == INDEX_SHARD_NAME)
            self._initialized_dbs.add(shard)
        return open_shard

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            engine = self._ready(shard).engine
            with engine.connect() as conn, conn.begin():
                yield conn

    def store_event(self, event: EventLogEntry) -> None:
        """Dagster's row, written as plain SQL, for every event it only writes to the run's
        file (step, log and engine events: most of them). Events it also mirrors into the
        index (asset, check and run status events) take Dagster's own path."""
        if event.is_dagster_event and event.dagster_event_type in _INDEXED_EVENTS:
            super().store_event(event)
            return
        row = self._event_to_row(event)
        row["timestamp"] = row["timestamp"].strftime(_SQLITE_DATETIME)
        with self._db_lock:
            writer = self._ready(event.run_id).writer()
            writer.execute(_insert_event(tuple(row)), tuple(row.values()))

    def has_table(self, table_name: str) -> bool:
        """Whether the index has the table, remembered once seen: Dagster asks before most index
        reads and writes (every dynamic-partition lookup, pool claim, asset event), opening a
        new engine each time. Tables are only ever added (``dagster instance migrate``)."""
        return self._remembered(("table", table_name), super().has_table)

    def _has_asset_key_col_on_connection(self, conn: Connection, column_name: str) -> bool:
        """Remembered once seen, as tables are: asked at every asset event and data-version
        lookup, each time by inspecting the table."""
        ask = functools.partial(super()._has_asset_key_col_on_connection, conn)
        return self._remembered(("asset_keys column", column_name), ask)

    def has_secondary_index(self, name: str) -> bool:
        """Remembered once seen (a migration, once done, stays done): asked by every asset
        record and data-version lookup, 10-20 times in a step that reads six assets."""
        return self._remembered(("secondary index", name), super().has_secondary_index)

    def _remembered(self, fact: tuple[str, str], ask: Callable[[str], bool]) -> bool:
        if fact in self._schema_facts:
            return True
        found = ask(fact[1])
        if found:
            self._schema_facts.add(fact)
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
        """Dagster's check-then-create-and-stamp of a run's shard, without its cost: a new
        shard is a copy of an empty one already stamped (kept beside the shards, one per
        Dagster version), and an existing one is checked with the scripts read once.

        An index shard without a stamp (made once per instance, with a legacy case to handle)
        and any race with another process creating the same file go to Dagster's own code.
        """
        if for_index_shard:
            if not is_stamped(engine.url.database or ""):
                super()._initdb(engine, for_index_shard=True)
            return
        path = engine.url.database
        if path and not os.path.exists(path) and self._copy_template(path):
            return
        try:
            with engine.connect() as connection:
                if not MigrationContext.configure(connection).get_current_revision():
                    _create_and_stamp(engine, connection)
        except (db_exc.DatabaseError, sqlite3.DatabaseError):
            super()._initdb(engine)

    def prepare(self) -> None:
        """Make the empty run shard new runs are copied from, if this Dagster has none yet."""
        self._template()

    def _copy_template(self, path: str) -> bool:
        """Put a copy of the template at ``path``, unless a file appeared there meanwhile (or
        the file system cannot link): then Dagster's check decides."""
        partial = f"{path}.{os.getpid()}-{threading.get_ident()}.partial"
        try:
            shutil.copyfile(self._template(), partial)
            os.link(partial, path)  # unlike a rename, never replaces another process's file
        except OSError:
            return False
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return True

    def _template(self) -> str:
        """An empty run shard at the migration head of the installed Dagster, made once."""
        template = os.path.join(self._base_dir, f".run-shard-dagster-{dagster.__version__}.sqlite")
        if not os.path.exists(template):
            partial = f"{template}.{os.getpid()}-{threading.get_ident()}.partial"
            engine = create_engine(f"sqlite:///{partial}")
            try:
                with engine.connect() as connection:
                    _create_and_stamp(engine, connection)
                    connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            finally:
                engine.dispose()
            os.replace(partial, template)
        return template

    @contextmanager
    def _index_write(self) -> Iterator[sqlite3.Cursor]:
        """A write transaction on the index taken at once (``BEGIN IMMEDIATE``): a claim reads
        then writes, and another process must not take the same slot in between."""
        with self._db_lock:
            cursor = self._ready(INDEX_SHARD_NAME).writer().cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            else:
                cursor.execute("COMMIT")
            finally:
                cursor.close()

    def claim_concurrency_slot(
        self, concurrency_key: str, run_id: str, step_key: str, priority: int | None = None
    ) -> ConcurrencyClaimStatus:
        """Dagster's claim, statement for statement (``SqlEventLogStorage``): queue the step
        (assigned at once if the pool has an unassigned slot), then take a free slot if it
        was assigned."""
        key = (run_id, step_key, concurrency_key)
        with self._index_write() as sql:
            pending = sql.execute(_PENDING_STEP, key).fetchone()
            if pending is None:
                (assigned,) = sql.execute(_ASSIGNED_STEPS, (concurrency_key,)).fetchone()
                (slots,) = sql.execute(_POOL_SLOTS, (concurrency_key,)).fetchone()
                sql.execute(_QUEUE_STEP, (*key, priority or 0, slots > assigned))
                pending = sql.execute(_PENDING_STEP, key).fetchone()
            assigned_at, step_priority, enqueued_at = pending
            status = ConcurrencyClaimStatus(
                concurrency_key=concurrency_key,
                slot_status=ConcurrencySlotStatus.BLOCKED,
                priority=int(step_priority) if step_priority else None,
                assigned_timestamp=_timestamp(assigned_at),
                enqueued_timestamp=_timestamp(enqueued_at),
            )
            if assigned_at is None:
                return status
            if sql.execute(_HELD_SLOT, key).fetchone()[0]:
                return status.with_slot_status(ConcurrencySlotStatus.CLAIMED)
            free = sql.execute(_FREE_SLOT, (concurrency_key,)).fetchone()
            if free is None or not sql.execute(_TAKE_SLOT, (run_id, step_key, free[0])).rowcount:
                return status
            return status.with_slot_status(ConcurrencySlotStatus.CLAIMED)

    def free_concurrency_slot_for_step(self, run_id: str, step_key: str) -> None:
        """Dagster's free, statement for statement: give back the step's slots (dropping those
        a lowered limit marked deleted), leave the queue, and assign each pool's next step."""
        step = (run_id, step_key)
        with self._index_write() as sql:
            sql.execute(_DROP_DELETED_SLOTS, step)
            sql.execute(_RELEASE_SLOTS, step)
            queued = sql.execute(_STEP_QUEUE_ENTRIES, step).fetchall()
            sql.executemany(_UNQUEUE, [(entry_id,) for entry_id, _, _ in queued])
            for _, assigned_at, pool in queued:
                if assigned_at is None:
                    continue
                following = sql.execute(_NEXT_IN_QUEUE, (pool,)).fetchone()
                if following is not None:
                    sql.execute(_ASSIGN, following)

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            for open_shard in self._shards.values():
                open_shard.close()
            self._shards.clear()

    def wipe(self) -> None:
        # Dagster's wipe deletes the run files: close our connections to them first.
        self._dispose_engines()
        self._schema_facts.clear()
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()


class _Shard:
    """One open database file: Dagster's engine for its queries, and our own connection for
    the writes we send as plain SQL (autocommit, each statement its own transaction)."""

    def __init__(self, path: str, engine: Engine):
        self.path = path
        self.engine = engine
        self._writer: sqlite3.Connection | None = None

    def writer(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = sqlite3.connect(
                self.path,
                timeout=SQLITE_BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,  # used under the storage's lock, by any thread
            )
            set_normal_sync(self._writer)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self.engine.dispose()


#: The events Dagster's SQLite store_event also writes to the index (asset, check, run status).
_INDEXED_EVENTS = frozenset(ASSET_EVENTS) | frozenset(ASSET_CHECK_EVENTS)
_INDEXED_EVENTS |= frozenset(EVENT_TYPE_TO_PIPELINE_RUN_STATUS)
#: How SQLAlchemy stores a DateTime in SQLite (its default storage format).
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


@functools.cache
def _insert_event(columns: tuple[str, ...]) -> str:
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO event_logs ({', '.join(columns)}) VALUES ({marks})"


# The statements of Dagster's claim and free (``SqlEventLogStorage`` in dagster 1.13), on its
# tables; CURRENT_TIMESTAMP is what its ``db.func.now()`` becomes on SQLite.
_PENDING_STEP = (
    "SELECT assigned_timestamp, priority, create_timestamp FROM pending_steps"
    " WHERE run_id = ? AND step_key = ? AND concurrency_key = ?"
)
_ASSIGNED_STEPS = (
    "SELECT count(*) FROM pending_steps"
    " WHERE concurrency_key = ? AND assigned_timestamp IS NOT NULL"
)
_POOL_SLOTS = "SELECT count(*) FROM concurrency_slots WHERE concurrency_key = ? AND deleted = 0"
_QUEUE_STEP = (
    "INSERT INTO pending_steps"
    " (run_id, step_key, concurrency_key, priority, assigned_timestamp)"
    " VALUES (?, ?, ?, ?, CASE WHEN ? THEN CURRENT_TIMESTAMP END)"
)
_HELD_SLOT = (
    "SELECT count(*) FROM concurrency_slots"
    " WHERE run_id = ? AND step_key = ? AND concurrency_key = ?"
)
_FREE_SLOT = (
    "SELECT id FROM concurrency_slots"
    " WHERE concurrency_key = ? AND step_key IS NULL AND deleted = 0 LIMIT 1"
)
_TAKE_SLOT = "UPDATE concurrency_slots SET run_id = ?, step_key = ? WHERE id = ?"
_DROP_DELETED_SLOTS = (
    "DELETE FROM concurrency_slots WHERE run_id = ? AND step_key = ? AND deleted = 1"
)
_RELEASE_SLOTS = (
    "UPDATE concurrency_slots SET run_id = NULL, step_key = NULL WHERE run_id = ? AND step_key = ?"
)
_STEP_QUEUE_ENTRIES = (
    "SELECT id, assigned_timestamp, concurrency_key FROM pending_steps"
    " WHERE run_id = ? AND step_key = ?"
)
_UNQUEUE = "DELETE FROM pending_steps WHERE id = ?"
_NEXT_IN_QUEUE = (
    "SELECT id FROM pending_steps WHERE concurrency_key = ? AND assigned_timestamp IS NULL"
    " ORDER BY priority DESC, create_timestamp ASC LIMIT 1"
)
_ASSIGN = "UPDATE pending_steps SET assigned_timestamp = CURRENT_TIMESTAMP WHERE id = ?"


def _create_and_stamp(engine: Engine, connection: Connection) -> None:
    """What Dagster's ``_initdb`` does to a new run shard: its tables, WAL, the head stamp."""
    SqlEventLogStorageMetadata.create_all(engine)
    connection.execute(text("PRAGMA journal_mode=WAL;"))
    MigrationContext.configure(connection).stamp(_migration_scripts(), "head")
    safe_commit(connection)


def _timestamp(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@functools.cache
def _migration_scripts() -> ScriptDirectory:
    """Dagster's event-log migration scripts, as its ``_initdb`` locates them (read lazily,
    then kept: the revision map is memoised on this object)."""
    return ScriptDirectory.from_config(get_alembic_config(sqlite_event_log.__file__))
