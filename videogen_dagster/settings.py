"""Defaults of the project, in one place: where the store lives and how long a chunk is.

Everything that can be configured is resolved here in one order (CLI flag, then environment,
then default) so the CLI, the Dagster resources and the tests agree on where files go.
"""

from __future__ import annotations

import os

#: The store root when neither ``--store`` nor ``VIDEOGEN_STORE`` says otherwise.
DEFAULT_STORE = "videogen_store"
#: Environment variable naming the store root (a folder, or ``s3://bucket/prefix``).
STORE_ENV = "VIDEOGEN_STORE"
#: Environment variables of an S3-compatible endpoint (MinIO, moto) and the bucket's region.
S3_ENDPOINT_ENV = "VIDEOGEN_S3_ENDPOINT_URL"
S3_REGION_ENV = "AWS_REGION"
#: Length of one generated clip unless a provider says otherwise; also the length of a
#: beat that gives no duration, the scene length of the local planner and the unit of the
#: beat cap (``ceil(duration / DEFAULT_CHUNK_SECONDS)`` beats at most).
DEFAULT_CHUNK_SECONDS = 5.0
#: Environment variable: the least number of seconds between two looks of the inbox sensor
#: (default ``DEFAULT_SENSOR_INTERVAL_SECONDS``); the daemon looks at most every 5 s anyway.
SENSOR_INTERVAL_ENV = "VIDEOGEN_SENSOR_INTERVAL_SECONDS"
DEFAULT_SENSOR_INTERVAL_SECONDS = 10


def resolve_store_uri(cli_value: str | None) -> str:
    """The store root to use: the CLI flag if given, else ``$VIDEOGEN_STORE``, else the default.

    An empty string counts as not given, so ``VIDEOGEN_STORE=`` does not point the store at
    the current folder by accident.
    """
    if cli_value:
        return cli_value
    return os.environ.get(STORE_ENV) or DEFAULT_STORE


def s3_settings_from_env() -> dict[str, str | None]:
    """``s3_endpoint_url`` and ``s3_region`` for an ``s3://`` store, from the environment."""
    return {
        "s3_endpoint_url": os.environ.get(S3_ENDPOINT_ENV) or None,
        "s3_region": os.environ.get(S3_REGION_ENV) or None,
    }


def sensor_interval_seconds() -> int:
    """The inbox sensor's minimum interval: ``$VIDEOGEN_SENSOR_INTERVAL_SECONDS``, else 10."""
    value = os.environ.get(SENSOR_INTERVAL_ENV) or str(DEFAULT_SENSOR_INTERVAL_SECONDS)
    if not (value.isascii() and value.isdigit() and 0 < len(value) <= 6) or int(value) < 1:
        raise ValueError(f"{SENSOR_INTERVAL_ENV} must be a whole number of seconds, got {value!r}")
    return int(value)


#: Run tag holding the store settings (JSON of ``store_settings_from_env``) of the process that
#: launched the run. Every process of the run, a Celery worker on another machine included,
#: writes to that store, not to whatever its own environment names.
STORE_TAG = "videogen/store"


def store_settings_from_env() -> dict[str, str | None]:
    """``uri``, ``s3_endpoint_url`` and ``s3_region`` of the store this environment names; a
    folder as an absolute path, so a process with another working folder finds the same one."""
    uri = resolve_store_uri(None)
    if "://" not in uri:
        uri = os.path.abspath(uri)
    return {"uri": uri, **s3_settings_from_env()}
