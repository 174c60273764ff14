"""Step outputs between steps (``defs/io_manager.py``): stored quietly, where Dagster's default
manager stores them, and read back across runs."""

import importlib
import json
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from videogen_dagster.defs import jobs
from videogen_dagster.defs.io_manager import OutputFilesIOManager, step_outputs_io_manager
from videogen_dagster.defs.resources import StoreResource
from videogen_dagster.settings import STORE_TAG

videos = dg.DynamicPartitionsDefinition(name="videos")


@dg.asset(partitions_def=videos)
def upstream(context: dg.AssetExecutionContext) -> dict:
    return {"video": context.partition_key, "beats": [1, 2, 3]}


@dg.op(out=dg.DynamicOut(int))
def fan_out(record: dict):
    for beat in record["beats"]:
        yield dg.DynamicOutput(beat, mapping_key=f"beat_{beat}")


@dg.op
def double(beat: int) -> int:
    return beat * 2


@dg.op
def total(values: list[int]) -> int:
    return sum(values)


@dg.graph
def doubled_graph(record: dict) -> int:
    return total(fan_out(record).map(double).collect())


downstream = dg.AssetsDefinition.from_graph(
    doubled_graph,
    keys_by_input_name={"record": dg.AssetKey("upstream")},
    keys_by_output_name={"result": dg.AssetKey("downstream")},
    partitions_def=videos,
)


@pytest.fixture(name="instance")
def instance_fixture(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        instance.add_dynamic_partitions("videos", ["fox"])
        yield instance


def _materialize(io_manager, instance: dg.DagsterInstance, selection: str):
    return dg.materialize(
        [upstream, downstream],
        selection=selection,
        resources={"io_manager": io_manager},
        instance=instance,
        partition_key="fox",
    )


def test_outputs_round_trip_through_a_fan_out_without_debug_events(instance):
    result = _materialize(OutputFilesIOManager(), instance, "upstream*")

    assert result.success
    assert result.output_for_node("doubled_graph") == 12
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert not [m for m in messages if "Loading file" in m or "Writing file" in m]
    storage = Path(instance.storage_directory())
    assert (storage / "upstream" / "fox").is_file()
    assert (storage / "downstream" / "fox").is_file()
    assert not list(storage.rglob("*.part"))


@pytest.mark.parametrize(
    ("writer", "reader"),
    [
        (dg.FilesystemIOManager(), OutputFilesIOManager()),
        (OutputFilesIOManager(), dg.FilesystemIOManager()),
    ],
    ids=["dagster-then-ours", "ours-then-dagster"],
)
def test_a_later_run_reads_an_asset_either_manager_wrote(instance, writer, reader):
    assert _materialize(writer, instance, "upstream").success

    result = _materialize(reader, instance, "downstream")

    assert result.success
    assert result.output_for_node("doubled_graph") == 12


@dg.asset(partitions_def=videos)
def where_the_store_is(store: StoreResource) -> str:
    return store.settings()["uri"]


def _materialize_with_store(instance, store: StoreResource, tags: dict[str, str]):
    return dg.materialize(
        [upstream, downstream],
        resources={"io_manager": step_outputs_io_manager, "store": store},
        instance=instance,
        partition_key="fox",
        tags=tags,
    )


def test_an_s3_store_keeps_the_step_outputs_so_no_local_folder_is_needed(
    instance, s3_endpoint, s3_bucket, s3_admin_client
):
    store = StoreResource(uri=f"s3://{s3_bucket}/videos", s3_endpoint_url=s3_endpoint)

    result = _materialize_with_store(instance, store, {})

    assert result.success
    assert result.output_for_node("doubled_graph") == 12
    listed = s3_admin_client.list_objects_v2(Bucket=s3_bucket, Prefix="videos/.steps/")
    keys = {item["Key"] for item in listed.get("Contents", [])}
    assert {"videos/.steps/upstream/fox", "videos/.steps/downstream/fox"} <= keys
    run = f"videos/.steps/{result.run_id}"
    # The fan-out's mapped outputs too; a step key's brackets are escaped for a store key.
    assert f"{run}/doubled_graph.fan_out/result/beat_2" in keys
    assert f"{run}/doubled_graph.double@5bbeat_2@5d/result" in keys
    assert not list(Path(instance.storage_directory()).rglob("fox"))


def test_a_folder_store_keeps_step_outputs_in_the_instance_folder(instance, tmp_path):
    result = _materialize_with_store(instance, StoreResource(uri=str(tmp_path / "store")), {})

    assert result.success
    assert (Path(instance.storage_directory()) / "downstream" / "fox").is_file()
    assert not (tmp_path / "store" / ".steps").exists()


def test_a_run_uses_the_store_its_launcher_named_in_the_run_tag(instance, tmp_path):
    launcher_store = {"uri": str(tmp_path / "launcher"), "s3_endpoint_url": None, "s3_region": None}
    tags = {STORE_TAG: json.dumps(launcher_store)}

    unset = dg.materialize(
        [where_the_store_is],
        resources={"store": StoreResource()},
        instance=instance,
        partition_key="fox",
        tags=tags,
    )
    explicit = dg.materialize(
        [where_the_store_is],
        resources={"store": StoreResource(uri=str(tmp_path / "given"))},
        instance=instance,
        partition_key="fox",
        tags=tags,
    )

    assert unset.output_for_node("where_the_store_is") == str(tmp_path / "launcher")
    assert explicit.output_for_node("where_the_store_is") == str(tmp_path / "given")


def test_the_render_job_carries_the_store_of_the_environment_it_was_defined_in(
    tmp_path, monkeypatch
):
    """The tag is made where the job is defined (the launcher): a relative folder made absolute
    there, so a worker with another working folder writes to the same one."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIDEOGEN_STORE", "relative-store")
    monkeypatch.setenv("VIDEOGEN_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    try:
        tag = json.loads(importlib.reload(jobs).render_video.tags[STORE_TAG])
    finally:
        monkeypatch.undo()
        importlib.reload(jobs)

    assert tag["uri"] == str(tmp_path / "relative-store")
    assert tag["s3_endpoint_url"] == "http://127.0.0.1:9"
