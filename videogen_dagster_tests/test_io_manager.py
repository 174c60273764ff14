"""Step outputs between steps (``defs/io_manager.py``): stored quietly, where Dagster's default
manager stores them, and read back across runs."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from videogen_dagster.defs.io_manager import OutputFilesIOManager

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
