"""A store that cannot be used is one line naming it and what to change, exit status 3, and no
traceback: a file instead of a folder, a folder nobody may write to, an unknown scheme, a missing
bucket, refused credentials, an unreachable endpoint (moto's server and an unused port on
127.0.0.1). The CLI says so before anything starts; a run whose store breaks fails its step with
the same line, not retried and without a chain of tracebacks.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from videogen_dagster import settings
from videogen_dagster.cli import EXIT_STORE, build_parser, main
from videogen_dagster.commands import render_job
from videogen_dagster_tests.graph_tests import support as graph_support
from videogen_dagster_tests.graph_tests.support import register, write_spec

SPEC = "prompt: A kite over the dunes\nduration: 5\nfps: 8\nmusic: false\n"


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    return write_spec(tmp_path / "specs", "kite.yaml", SPEC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the Dagster instance would be: a refused store must leave it untouched."""
    home = tmp_path / "cli_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def _refused(capsys, home: Path, *argv: str) -> str:
    """Run ``videogen ARGV``; assert it stopped at the store check and return its one line."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert status == EXIT_STORE, err
    assert out == ""
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"videogen {argv[0]}: ")
    assert not home.exists()  # no run started, no partition added
    return err


@pytest.mark.parametrize("command", ["render", "register"])
def test_a_file_instead_of_a_folder(capsys, home, tmp_path, spec, command):
    store = tmp_path / "store.txt"
    store.write_text("not a folder")
    line = _refused(capsys, home, command, "--store", str(store), str(spec))
    assert f"store {store} is a file, not a folder" in line
    assert "--store or VIDEOGEN_STORE" in line
    assert store.read_text() == "not a folder"


def test_the_environment_variable_is_checked_the_same_way(
    capsys, home, tmp_path, spec, monkeypatch
):
    store = tmp_path / "store.txt"
    store.write_text("")
    monkeypatch.setenv(settings.STORE_ENV, str(store))
    assert "is a file, not a folder" in _refused(capsys, home, "render", str(spec))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_a_folder_without_write_permission(capsys, home, tmp_path, spec):
    store = tmp_path / "readonly"
    store.mkdir(mode=0o555)
    line = _refused(capsys, home, "register", "--store", str(store), str(spec))
    assert f"store folder {store}: cannot write in it: Permission denied" in line
    assert list(store.iterdir()) == []


@pytest.mark.skipif(not Path("/sys/fs").is_dir(), reason="needs Linux's read-only /sys")
def test_a_folder_on_a_read_only_file_system(capsys, home, spec):
    """Read-only for root too, so this case runs whoever runs the tests."""
    line = _refused(capsys, home, "render", "--store", "/sys/fs/videogen-store", str(spec))
    assert "store folder /sys/fs/videogen-store: cannot create it:" in line


def test_an_unknown_scheme(capsys, home, spec):
    line = _refused(capsys, home, "render", "--store", "gs://bucket/videos", str(spec))
    assert "unsupported store URI 'gs://bucket/videos'" in line


def test_a_missing_bucket(capsys, home, spec, s3_endpoint, monkeypatch):
    monkeypatch.setenv(settings.S3_ENDPOINT_ENV, s3_endpoint)
    line = _refused(capsys, home, "render", "--store", "s3://no-such-bucket/videos", str(spec))
    assert f"the bucket 'no-such-bucket' does not exist at {s3_endpoint}" in line


def test_refused_credentials(capsys, home, spec, s3_endpoint, s3_bucket, monkeypatch):
    from moto import settings as moto_settings

    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # check every key
    monkeypatch.setenv(settings.S3_ENDPOINT_ENV, s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-never-printed")
    line = _refused(capsys, home, "register", "--store", f"s3://{s3_bucket}/v", str(spec))
    assert f"{s3_endpoint} refused the request (403)" in line
    assert "AWS_ACCESS_KEY_ID" in line
    assert "wrong-secret-never-printed" not in line and "AKIAWRONG" not in line


def test_an_unreachable_endpoint(capsys, home, spec, monkeypatch):
    endpoint = f"http://127.0.0.1:{_unused_port()}"
    monkeypatch.setenv(settings.S3_ENDPOINT_ENV, endpoint)
    line = _refused(capsys, home, "render", "--store", "s3://bucket/videos", str(spec))
    assert f"cannot reach the endpoint {endpoint}" in line


def test_the_installed_command_prints_one_line(tmp_path, spec):
    store = tmp_path / "store.txt"
    store.write_text("")
    script = Path(sys.executable).parent / "videogen"
    done = subprocess.run(
        [str(script), "render", str(spec)],
        env={**os.environ, settings.STORE_ENV: str(store), "DAGSTER_HOME": str(tmp_path / "h")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == EXIT_STORE
    assert done.stderr.splitlines() == [
        f"videogen render: store {store} is a file, not a folder: give --store or "
        "VIDEOGEN_STORE a folder you can write to"
    ]


def test_exit_codes_are_documented_in_the_help():
    parser = build_parser()
    assert f"{EXIT_STORE} the store cannot be used" in " ".join(parser.format_help().split())
    commands = parser._subparsers._group_actions[0].choices  # argparse keeps no public map
    for command in ("render", "register"):
        text = " ".join(commands[command].format_help().split())
        assert f"{EXIT_STORE} when the store cannot be used" in text


def _store_failure(instance: dg.DagsterInstance, result: dg.ExecuteJobResult) -> str:
    """The failed step's message, checked to be a user error without a chain."""
    assert not result.success
    [record] = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    data = record.dagster_event.step_failure_data
    assert data.error.cause is None and data.error.context is None
    retries = instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert retries == []
    description = data.user_failure_data.description
    assert len(description.splitlines()) == 1
    assert data.user_failure_data.metadata["error"].value == "StoreUnavailableError"
    return description


def test_a_step_whose_folder_store_became_a_file_fails_with_the_line(instance, tmp_path):
    store = tmp_path / "store"
    video_id = register(instance, store, write_spec(tmp_path, "kite.yaml", SPEC))
    store.rename(tmp_path / "moved")
    store.write_text("")
    result = graph_support.execute(instance, store, video_id)
    assert f"store {store} is a file, not a folder" in _store_failure(instance, result)


def test_a_step_whose_endpoint_is_unreachable_fails_with_the_line(instance, tmp_path):
    endpoint = f"http://127.0.0.1:{_unused_port()}"
    config = graph_support.run_config(tmp_path / "unused")
    config["resources"]["store"]["config"] = {"uri": "s3://bucket/v", "s3_endpoint_url": endpoint}
    instance.add_dynamic_partitions("videos", ["kite"])
    with dg.execute_job(
        dg.reconstructable(render_job),
        instance=instance,
        run_config=config,
        tags={"dagster/partition": "kite"},
        raise_on_error=False,
    ) as result:
        assert f"cannot reach the endpoint {endpoint}" in _store_failure(instance, result)
