"""The executor is chosen by ``VIDEOGEN_EXECUTOR`` (``defs/executors.py``), not by editing code."""

import dagster as dg
import pytest

from videogen_dagster.defs.executors import ExecutorChoiceError, executor_from_env
from videogen_dagster.executor import threaded_executor


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, threaded_executor),
        ("threaded", threaded_executor),
        ("multiprocess", dg.multiprocess_executor),
        ("in_process", dg.in_process_executor),
    ],
)
def test_each_name_gives_its_executor(monkeypatch, name, expected):
    if name is None:
        monkeypatch.delenv("VIDEOGEN_EXECUTOR", raising=False)
    else:
        monkeypatch.setenv("VIDEOGEN_EXECUTOR", name)

    assert executor_from_env() is expected


def test_celery_is_configured_with_the_broker_from_the_environment(monkeypatch):
    pytest.importorskip("dagster_celery")
    monkeypatch.setenv("VIDEOGEN_EXECUTOR", "celery")
    monkeypatch.setenv("VIDEOGEN_CELERY_BROKER", "redis://127.0.0.1:6390/0")
    monkeypatch.delenv("VIDEOGEN_CELERY_BACKEND", raising=False)

    executor = executor_from_env()

    assert executor.name == "celery"
    config = executor.apply_config_mapping({}).value["config"]
    assert config["broker"] == config["backend"] == "redis://127.0.0.1:6390/0"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"VIDEOGEN_EXECUTOR": "kubernetes"},
            "choose threaded, multiprocess, in_process or celery",
        ),
        ({"VIDEOGEN_EXECUTOR": "celery"}, "needs VIDEOGEN_CELERY_BROKER"),
    ],
)
def test_a_wrong_choice_says_what_to_set(monkeypatch, env, message):
    monkeypatch.delenv("VIDEOGEN_CELERY_BROKER", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ExecutorChoiceError, match=message):
        executor_from_env()
