"""The executor a deployment runs steps with, chosen by ``VIDEOGEN_EXECUTOR``, not by code.

- ``threaded`` (default): every step of a run on a thread of the run's process; what makes the
  per-beat fan-out cheap on one machine (``videogen_dagster.executor``).
- ``multiprocess``: Dagster's own, a process per step.
- ``in_process``: one step at a time, for debugging.
- ``celery``: steps go to dagster-celery workers on any machine (``deploy/README.md``), through
  the broker in ``VIDEOGEN_CELERY_BROKER`` with results in ``VIDEOGEN_CELERY_BACKEND`` (default:
  the broker). Needs the ``deploy`` extra.

Run config under ``execution: {config: ...}`` still tunes the chosen one (``max_concurrent``,
``retries``) the same way for all but Celery, whose own keys are its broker settings.
"""

from __future__ import annotations

import os

import dagster as dg

from videogen_dagster.executor import threaded_executor

EXECUTOR_ENV = "VIDEOGEN_EXECUTOR"
CELERY_BROKER_ENV = "VIDEOGEN_CELERY_BROKER"
CELERY_BACKEND_ENV = "VIDEOGEN_CELERY_BACKEND"


class ExecutorChoiceError(ValueError):
    """``VIDEOGEN_EXECUTOR`` names no executor, or one whose settings are missing."""


def executor_from_env() -> dg.ExecutorDefinition:
    """The executor ``VIDEOGEN_EXECUTOR`` names (``threaded`` when unset)."""
    name = os.environ.get(EXECUTOR_ENV) or "threaded"
    if name == "threaded":
        return threaded_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "in_process":
        return dg.in_process_executor
    if name == "celery":
        return _celery_executor()
    raise ExecutorChoiceError(
        f"{EXECUTOR_ENV}={name!r}: choose threaded, multiprocess, in_process or celery"
    )


def _celery_executor() -> dg.ExecutorDefinition:
    broker = os.environ.get(CELERY_BROKER_ENV)
    if not broker:
        raise ExecutorChoiceError(
            f"{EXECUTOR_ENV}=celery needs {CELERY_BROKER_ENV} (e.g. redis://127.0.0.1:6379/0)"
        )
    try:
        from dagster_celery import celery_executor
    except ImportError:
        raise ExecutorChoiceError(
            f"{EXECUTOR_ENV}=celery needs dagster-celery: pip install 'videogen-dagster[deploy]'"
        ) from None
    backend = os.environ.get(CELERY_BACKEND_ENV) or broker
    return celery_executor.configured({"broker": broker, "backend": backend}, name="celery")
