"""The instance videogen ships (``videogen_dagster/instance``): what it changes in Dagster holds.

Each test runs a real job on a real instance written the way ``videogen`` writes one.
"""

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from alembic.script import ScriptDirectory
from dagster._core.storage.event_log.sqlite import sqlite_event_log
from dagster._core.storage.sql import get_alembic_config
from sqlalchemy import text

from videogen_dagster.instance import event_log as event_log_module
from videogen_dagster.instance import prepare_instance, write_instance_config
from videogen_dagster.instance.dagster_instance import VideogenInstance
from videogen_dagster.instance.event_log import PooledSqliteEventLogStorage


@dg.op
def say_hello(context: dg.OpExecutionContext) -> str:
    context.log.info("hello")
    return "hello"


@dg.job
def hello_job() -> None:
    say_hello()


@dg.op(pool="api")
def call_api() -> int:
    return 1


@dg.op(pool="disk")
def write_disk(value: int) -> None:
    del value


@dg.job
def pooled_job() -> None:
    write_disk(call_api())


@pytest.fixture(name="instance")
def shipped_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.DagsterInstance]:
    home = tmp_path / "home"
    home.mkdir()
    write_instance_config(home)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


class _Sentinel(logging.Handler):
    closed = False

    def emit(self, record: logging.LogRecord) -> None:
        pass

    def close(self) -> None:
        self.closed = True
        super().close()


def test_the_shipped_instance_is_videogens(instance: dg.DagsterInstance):
    assert isinstance(instance, VideogenInstance)


def test_a_run_leaves_the_process_logging_handlers_alone(instance: dg.DagsterInstance):
    """Dagster's own instance closes every handler of the process at each run start
    (``logging.config.dictConfig``), which deadlocked runs on threads of one process."""
    sentinel = _Sentinel()
    logging.getLogger().addHandler(sentinel)
    try:
        result = dg.execute_job(dg.reconstructable(hello_job), instance=instance)
        assert result.success
        assert not sentinel.closed
        assert sentinel in logging.getLogger().handlers
    finally:
        logging.getLogger().removeHandler(sentinel)


def test_a_new_run_shard_is_stamped_at_the_migration_head(instance: dg.DagsterInstance):
    result = dg.execute_job(dg.reconstructable(hello_job), instance=instance)
    shard = Path(instance.root_directory, "history", "runs", f"{result.run_id}.db")

    with sqlite3.connect(shard) as db:
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    scripts = ScriptDirectory.from_config(get_alembic_config(sqlite_event_log.__file__))
    assert version == scripts.get_current_head()
    assert "event_logs" in tables
    assert instance.all_logs(result.run_id)  # and Dagster reads it back


def _schema(shard: Path) -> list[tuple]:
    with sqlite3.connect(shard) as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
        (version,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
        rows = db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
        return [("journal_mode", mode), ("alembic", version), *rows.fetchall()]


def test_run_shards_copied_from_the_template_are_dagsters_own(
    instance: dg.DagsterInstance, tmp_path: Path
):
    """New run shards are copies of one empty shard made once: the same tables, indexes,
    journal mode and migration stamp as a shard Dagster's own storage creates."""
    stock = sqlite_event_log.SqliteEventLogStorage(str(tmp_path / "stock"))
    with stock.run_connection("a-run"):
        pass
    stock.dispose()
    expected = _schema(tmp_path / "stock" / "a-run.db")

    runs = [dg.execute_job(dg.reconstructable(hello_job), instance=instance) for _ in range(2)]

    folder = Path(instance.root_directory, "history", "runs")
    assert [template.name for template in folder.glob(".run-shard-*.sqlite")] == [
        f".run-shard-dagster-{dg.__version__}.sqlite"
    ]
    for result in runs:
        assert result.success
        assert _schema(folder / f"{result.run_id}.db") == expected
    assert not list(folder.glob("*.partial"))


def test_a_deleted_partition_is_forgotten_at_once(instance: dg.DagsterInstance):
    instance.add_dynamic_partitions("videos", ["fox"])
    assert instance.has_dynamic_partition("videos", "fox")  # now remembered

    instance.delete_dynamic_partition("videos", "fox")

    assert not instance.has_dynamic_partition("videos", "fox")
    assert not instance.has_dynamic_partition("videos", "never-added")


def _pool_story(instance: dg.DagsterInstance) -> list[tuple]:
    """Claims and frees through the storage, as executors make them: what each returns, and
    the pool's counts after each step. The same story must read the same on any storage."""
    storage = instance.event_log_storage
    storage.set_concurrency_slots("api", 2)
    story: list[tuple] = []

    def claim(step: str, priority: int = 0) -> None:
        status = storage.claim_concurrency_slot("api", "run-1", step, priority)
        story.append(("claim", step, status.slot_status, status.is_assigned, status.priority))

    def free(step: str) -> None:
        storage.free_concurrency_slot_for_step("run-1", step)
        info = storage.get_concurrency_info("api")
        counts = (info.active_slot_count, info.pending_step_count, info.assigned_step_count)
        story.append(("free", step, info.slot_count, counts))

    for step in ("a", "b", "c"):
        claim(step)
    claim("c")  # asked again while the pool is full: still waiting, not queued twice
    free("a")  # c is next in the queue ...
    claim("c")  # ... and takes the slot
    claim("low", priority=0)
    claim("high", priority=5)
    free("b")  # the higher priority goes first, whatever the order of asking
    claim("low")
    claim("high")
    claim("high")  # a step that holds its slot keeps it
    storage.set_concurrency_slots("api", 1)  # lowered while both slots are held
    free("c")
    claim("low")
    free("high")
    claim("low")
    free("low")
    free("never-claimed")
    return story


def test_pools_are_claimed_and_freed_as_dagster_does(instance: dg.DagsterInstance):
    """The shipped storage sends its own SQL for claims and frees: the same story must come
    out of it as out of Dagster's stock SQLite storage."""
    with dg.instance_for_test() as stock:
        expected = _pool_story(stock)

    story = _pool_story(instance)

    assert story == expected
    claimed = [entry for entry in story if entry[0] == "claim" and entry[2].value == "CLAIMED"]
    assert [entry[1] for entry in claimed] == ["a", "b", "c", "high", "high", "low", "low"]


@dg.asset
def greeting(context: dg.AssetExecutionContext) -> str:
    context.log.info("hello")
    return "hello"


@dg.asset_check(asset=greeting)
def greeting_is_polite() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def greet_job() -> dg.JobDefinition:
    definitions = dg.Definitions(
        assets=[greeting],
        asset_checks=[greeting_is_polite],
        jobs=[dg.define_asset_job("greet", selection=[greeting])],
    )
    return definitions.resolve_job_def("greet")


def _rows(folder: Path, run_id: str) -> dict[str, list[tuple]]:
    """Every row of the run's file and of the index, without the ids the databases chose."""
    tables = {}
    for name, shard in (("run", run_id), ("index", "index")):
        with sqlite3.connect(folder / f"{shard}.db") as db:
            columns = "run_id, event, dagster_event_type, timestamp, step_key, asset_key, partition"
            tables[name] = db.execute(f"SELECT {columns} FROM event_logs ORDER BY id").fetchall()
    return tables


def test_events_are_stored_as_dagster_stores_them(instance: dg.DagsterInstance, tmp_path: Path):
    """The shipped event log writes most events with its own SQL: the same events stored
    through it and through Dagster's own SQLite storage must give the same rows."""
    result = dg.execute_job(dg.reconstructable(greet_job), instance=instance)
    assert result.success
    entries = instance.all_logs(result.run_id)
    kinds = {e.dagster_event.event_type for e in entries if e.dagster_event is not None}
    both_paths = {
        dg.DagsterEventType.STEP_START,  # written by our SQL
        dg.DagsterEventType.ASSET_MATERIALIZATION,  # by Dagster's, mirrored to the index
        dg.DagsterEventType.ASSET_CHECK_EVALUATION,
        dg.DagsterEventType.RUN_SUCCESS,
    }
    assert both_paths <= kinds
    assert any(e.dagster_event is None for e in entries)  # the step's own log line

    stores = {}
    for name, storage_class in (
        ("stock", sqlite_event_log.SqliteEventLogStorage),
        ("shipped", PooledSqliteEventLogStorage),
    ):
        folder = tmp_path / name
        storage = storage_class(str(folder))
        for entry in entries:
            storage.store_event(entry)
        storage.dispose()
        stores[name] = _rows(folder, result.run_id)

    assert len(stores["stock"]["run"]) == len(entries)
    assert stores["shipped"] == stores["stock"]


def test_a_prepared_instance_has_its_pools_and_its_shard_template(instance: dg.DagsterInstance):
    prepare_instance(instance, pooled_job)

    limits = {pool.name: pool.limit for pool in instance.event_log_storage.get_pool_limits()}
    assert limits == {"api": 64, "disk": 64}  # the shipped default_limit
    folder = Path(instance.root_directory, "history", "runs")
    assert (folder / f".run-shard-dagster-{dg.__version__}.sqlite").exists()

    instance.event_log_storage.set_concurrency_slots("api", 2)
    prepare_instance(instance, pooled_job)  # again: a limit set by hand stays
    limits = {pool.name: pool.limit for pool in instance.event_log_storage.get_pool_limits()}
    assert limits == {"api": 2, "disk": 64}


def test_a_paid_providers_pool_starts_at_its_tier_limit(instance: dg.DagsterInstance):
    """The pool of a paid API starts at the provider's limit (Runway: 2), not the default 64,
    and a limit a user set by hand is never changed."""
    prepare_instance(instance, pooled_job, {"api": 2})
    limits = {pool.name: pool.limit for pool in instance.event_log_storage.get_pool_limits()}
    assert limits == {"api": 2, "disk": 64}

    instance.event_log_storage.set_concurrency_slots("api", 5)
    prepare_instance(instance, pooled_job, {"api": 2})
    limits = {pool.name: pool.limit for pool in instance.event_log_storage.get_pool_limits()}
    assert limits == {"api": 5, "disk": 64}


def test_runs_stay_where_dagster_keeps_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A home made with Dagster's own settings keeps its runs under videogen's: the run and
    schedule storages open the same databases."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as stock:
        before = dg.execute_job(dg.reconstructable(hello_job), instance=stock).run_id

    write_instance_config(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "StampedSqliteRunStorage"
        assert type(instance.schedule_storage).__name__ == "StampedSqliteScheduleStorage"
        after = dg.execute_job(dg.reconstructable(hello_job), instance=instance).run_id
        assert {run.run_id for run in instance.get_runs()} == {before, after}
        assert instance.all_instigator_state() == []
    assert sorted(p.name for p in home.glob("history/*.db")) == ["runs.db"]


def test_a_used_home_opens_without_reading_the_migration_scripts(
    instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
):
    """Dagster reads its ~90 migration scripts to check each database it opens, and again to
    stamp each new run's file; a home that has run once needs neither."""
    dg.execute_job(dg.reconstructable(hello_job), instance=instance)
    reads = []
    original = ScriptDirectory.from_config
    monkeypatch.setattr(
        ScriptDirectory, "from_config", lambda config: reads.append(config) or original(config)
    )
    event_log_module._migration_scripts.cache_clear()  # as in a new process

    with dg.DagsterInstance.from_config(instance.root_directory) as reopened:
        result = dg.execute_job(dg.reconstructable(hello_job), instance=reopened)

    assert result.success
    assert reads == []


def test_the_run_storage_keeps_its_connections_and_flushes_as_the_event_log_does(
    instance: dg.DagsterInstance,
):
    """Dagster's SQLite run storage opens a connection and fsyncs (synchronous=FULL) for every
    use; the shipped one reuses pooled connections set to NORMAL, and stays Dagster's storage
    for everything it stores."""
    result = dg.execute_job(dg.reconstructable(hello_job), instance=instance)
    assert result.success
    storage = instance.run_storage
    used = set()
    for _ in range(5):
        with storage.connect() as conn:
            used.add(id(conn.connection.dbapi_connection))
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL; FULL is 2
    assert len(used) <= 2  # the kept ones; Dagster's would open five

    with dg.DagsterInstance.from_config(instance.root_directory) as other:  # another process's
        run = other.get_run_by_id(result.run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
