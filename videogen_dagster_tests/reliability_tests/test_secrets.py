"""An API key given through the environment is used, and written nowhere: not in the store,
not in the run's config or event log, not in any file under DAGSTER_HOME."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from videogen_dagster.commands import render_job
from videogen_dagster_tests.fakes.openai_server import FakeOpenAIServer
from videogen_dagster_tests.graph_tests.support import TEST_SHORT_SIDE, register, write_spec
from videogen_dagster_tests.reliability_tests.support import record_figure

SENTINEL = "sk-SENTINEL-7f3a9c-do-not-write-me"
SPEC = "prompt: A heron waits in the reeds\nduration: 10\nfps: 8\nmusic: false\n"


def _files_holding(root: Path, secret: bytes) -> list[str]:
    return [str(path) for path in root.rglob("*") if path.is_file() and secret in path.read_bytes()]


def test_api_key_from_the_environment_is_written_nowhere(instance, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    store_root = tmp_path / "store"
    video_id = register(instance, store_root, write_spec(tmp_path, "heron.yaml", SPEC))
    with FakeOpenAIServer(api_key=SENTINEL) as server:
        generation = {
            "images": "openai",
            "local": {"short_side": TEST_SHORT_SIDE},
            "openai": {"api_key": {"env": "OPENAI_API_KEY"}, "base_url": f"{server.url}/v1"},
        }
        with dg.execute_job(
            dg.reconstructable(render_job),
            instance=instance,
            run_config={
                "resources": {
                    "store": {"config": {"uri": str(store_root)}},
                    "generation": {"config": generation},
                }
            },
            tags={"dagster/partition": video_id},
        ) as result:
            assert result.success
        images = server.count("POST", "/v1/images")
        assert images == 2  # the key was used: the fake refuses any other
        assert all(r.headers["authorization"] == f"Bearer {SENTINEL}" for r in server.requests)

    secret = SENTINEL.encode()
    home = Path(instance.root_directory)
    leaks = _files_holding(store_root, secret) + _files_holding(home, secret)
    run = instance.get_run_by_id(result.run_id)
    assert SENTINEL not in repr(run.run_config)
    for record in instance.all_logs(result.run_id):
        assert SENTINEL not in record.message and SENTINEL not in repr(record.dagster_event)
    assert leaks == []
    record_figure("files holding the API key after a render (store + DAGSTER_HOME)", len(leaks))
