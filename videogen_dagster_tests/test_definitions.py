"""The definitions load the way every entry point loads them, and the CLIs that ship work.

`dagster job execute` is run exactly as the README shows, in a subprocess with its own
DAGSTER_HOME, so a broken module path, resource or job name fails here before a user sees it.
"""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from videogen_dagster.defs.resources import LocalProviderConfig
from videogen_dagster.instance import INSTANCE_CONFIG, write_instance_config
from videogen_dagster.media import probe
from videogen_dagster.providers.local import LocalSettings
from videogen_dagster.store import layout

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def test_definitions_load_with_every_asset_check_job_and_sensor():
    from videogen_dagster.definitions import defs

    graph = defs.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == {
        "spec",
        "references",
        "storyboard",
        "chunks",
        "stitched_video",
        "music",
        "narration",
        "captions",
        "final_video",
    }
    assert {key.name for key in graph.asset_check_keys} == {
        "one_image_per_beat_in_order",
        "chunk_numbers_contiguous",
        "duration_matches_spec",
        "has_audio_when_music_on",
        "every_narrated_beat_has_speech_that_fits",
        "cues_ordered_non_overlapping_inside_video",
        "has_subtitle_track_when_captions_on",
        "every_clip_plays",
        "final_video_plays",
    }
    assert defs.resolve_job_def("render_video").executor_def.name == "threaded"
    assert defs.resolve_sensor_def("spec_inbox_sensor").job_name == "render_video"


def test_only_steps_with_slack_yield_to_the_chains():
    """``dagster/priority`` -1 puts a step last for launch and pool slots: only the contact
    sheet, the music and the non-blocking checks may carry it, never a step of a chain or of
    the stitch that waits for every chain."""
    from videogen_dagster.definitions import defs

    job = defs.resolve_job_def("render_video")
    low = {
        op.name for op in job.graph.iterate_op_defs() if op.tags.get("dagster/priority") is not None
    }
    assert low == {
        "storyboard",
        "music",
        "storyboard_one_image_per_beat_in_order",
        "chunks_chunk_numbers_contiguous",
        "captions",
        "narration_every_narrated_beat_has_speech_that_fits",
        "chunks_every_clip_plays",
        "final_video_final_video_plays",
    }
    assert all(
        op.tags["dagster/priority"] == "-1" for op in job.graph.iterate_op_defs() if op.name in low
    )


def test_local_provider_config_mirrors_local_settings():
    """The Dagster config and the provider's settings must not drift apart."""
    config_fields = set(LocalProviderConfig.model_fields)
    settings_fields = {f.name for f in dataclasses.fields(LocalSettings)}
    assert config_fields == settings_fields
    defaults = LocalProviderConfig().model_dump()
    for field in dataclasses.fields(LocalSettings):
        expected = field.default
        assert defaults[field.name] == (list(expected) if isinstance(expected, tuple) else expected)


@pytest.fixture
def cli_env(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    write_instance_config(home)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIDEOGEN_", "DAGSTER_"))}
    env |= {"DAGSTER_HOME": str(home), "VIDEOGEN_STORE": str(tmp_path / "store")}
    return env


def run(args, env, cwd):
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_dagster_definitions_validate(cli_env, tmp_path):
    result = run(
        [BIN / "dagster", "definitions", "validate", "-w", ROOT / "workspace.yaml"], cli_env, ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_dagster_job_execute_renders_a_registered_partition(cli_env, tmp_path):
    spec = tmp_path / "specs" / "two-beats.yaml"
    spec.parent.mkdir()
    spec.write_text(
        "prompt: Two kites over a hill\nduration: 10\nfps: 8\n"
        "beats:\n  - description: A red kite climbs\n  - description: A blue kite dives\n"
    )
    registered = run([BIN / "videogen", "register", spec], cli_env, tmp_path)
    assert registered.returncode == 0, registered.stderr
    assert registered.stdout.split() == ["two-beats"]

    config = tmp_path / "small.yaml"
    config.write_text(
        yaml.safe_dump({"resources": {"generation": {"config": {"local": {"short_side": 144}}}}})
    )
    executed = run(
        [
            BIN / "dagster",
            "job",
            "execute",
            "-m",
            "videogen_dagster.definitions",
            "-j",
            "render_video",
            "-c",
            config,
            "--tags",
            json.dumps({"dagster/partition": "two-beats"}),
        ],
        cli_env,
        tmp_path,
    )
    assert executed.returncode == 0, executed.stderr[-3000:]
    final = probe(tmp_path / "store" / layout.final_video("two-beats"))
    assert abs(final.duration - 10) <= 1 / 8 + 1e-6
    assert final.has_audio


def test_videogen_render_renders_several_specs_at_once_and_reports_a_bad_one(cli_env, tmp_path):
    specs = []
    for name, subject in (("snail", "A snail on a leaf"), ("heron", "A heron in reeds")):
        specs.append(tmp_path / f"{name}.yaml")
        specs[-1].write_text(f"prompt: {subject}\nduration: 5\nfps: 8\nmusic: false\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("prompt: A snail\nduration: 5\nfsp: 8\n")
    env = cli_env | {"VIDEOGEN_STORE": ""}
    result = run(
        [BIN / "videogen", "render", *specs, bad, "--store", tmp_path / "out"], env, tmp_path
    )

    assert result.returncode == 2
    assert "bad.yaml: fsp:" in result.stderr
    assert "[snail] images 1/1 · clips 1/1" in result.stderr
    finals = [Path(line) for line in result.stdout.split()]
    assert finals == [tmp_path / "out" / layout.final_video(name) for name in ("snail", "heron")]
    assert all(probe(path).duration == pytest.approx(5, abs=1 / 8) for path in finals)

    import dagster as dg

    with dg.DagsterInstance.from_config(cli_env["DAGSTER_HOME"]) as instance:
        runs = [record.dagster_run.run_id for record in instance.get_run_records()]
        spans = [
            (instance.get_run_stats(run_id).start_time, instance.get_run_stats(run_id).end_time)
            for run_id in runs
        ]
    assert len(spans) == 2
    (start_a, end_a), (start_b, end_b) = spans
    assert start_a < end_b and start_b < end_a  # the two renders overlapped


def test_shipped_instance_config_queues_runs_and_limits_pools(tmp_path):
    import dagster as dg

    overrides = yaml.safe_load(INSTANCE_CONFIG.read_text())
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides=overrides) as instance:
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 8
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 64
        assert type(instance.event_log_storage).__name__ == "PooledSqliteEventLogStorage"
        assert type(instance.compute_log_manager).__name__ == "NoOpComputeLogManager"


def test_the_event_log_records_its_folder_for_processes_opened_from_the_instance_ref(tmp_path):
    """A render child opens the instance from its ref, whatever its own $DAGSTER_HOME says."""
    import dagster as dg

    overrides = yaml.safe_load(INSTANCE_CONFIG.read_text())
    with dg.instance_for_test(temp_dir=str(tmp_path), overrides=overrides) as instance:
        base_dir = instance.event_log_storage.inst_data.config_dict["base_dir"]
        assert Path(base_dir) == tmp_path / "history" / "runs"


def test_a_written_home_names_its_event_log_folder(tmp_path):
    import dagster as dg

    write_instance_config(tmp_path)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 64
        base_dir = instance.event_log_storage.inst_data.config_dict["base_dir"]
        assert Path(base_dir) == tmp_path / "history" / "runs"


def test_resources_follow_the_environment(monkeypatch):
    from videogen_dagster.defs.resources import resources_from_env

    monkeypatch.setenv("VIDEOGEN_STORE", "s3://bucket/videos")
    monkeypatch.setenv("VIDEOGEN_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("VIDEOGEN_IMAGES", "openai")
    monkeypatch.setenv("VIDEOGEN_CLIPS", "runway")
    monkeypatch.setenv("VIDEOGEN_BUDGET_PER_VIDEO", "2.5")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    resources = resources_from_env()

    store, generation = resources["store"], resources["generation"]
    # Outside a run the store is what the environment names; in a run, the run's tag says.
    assert store.uri is None
    assert store.settings() == {
        "uri": "s3://bucket/videos",
        "s3_endpoint_url": "http://127.0.0.1:9000",
        "s3_region": "eu-west-1",
    }
    assert store.is_shared()
    assert (generation.planner, generation.images, generation.clips) == (
        "local",
        "openai",
        "runway",
    )
    assert generation.budget_per_video == 2.5
    # The key stays a reference to the environment until Dagster resolves it at run time.
    assert "sk-secret" not in repr(generation.openai)
