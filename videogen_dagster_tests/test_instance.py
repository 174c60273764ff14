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

from videogen_dagster.instance import write_instance_config
from videogen_dagster.instance.dagster_instance import VideogenInstance


@dg.op
def say_hello(context: dg.OpExecutionContext) -> str:
    context.log.info("hello")
    return "hello"


@dg.job
def hello_job() -> None:
    say_hello()


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


def test_a_deleted_partition_is_forgotten_at_once(instance: dg.DagsterInstance):
    instance.add_dynamic_partitions("videos", ["fox"])
    assert instance.has_dynamic_partition("videos", "fox")  # now remembered

    instance.delete_dynamic_partition("videos", "fox")

    assert not instance.has_dynamic_partition("videos", "fox")
    assert not instance.has_dynamic_partition("videos", "never-added")
