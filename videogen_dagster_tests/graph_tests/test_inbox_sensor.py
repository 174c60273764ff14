"""The inbox sensor on a real instance: new, changed, untouched and bad spec files."""

import os

import dagster as dg

from videogen_dagster.defs.partitions import videos
from videogen_dagster.defs.resources import InboxResource, StoreResource
from videogen_dagster.defs.sensors import spec_inbox_sensor
from videogen_dagster.store import layout
from videogen_dagster_tests.graph_tests.support import execute, write_spec

GOOD = "prompt: A paper boat on a puddle\nduration: 5\nfps: 8\nmusic: false\n"


def tick(instance, inbox, store_root, cursor=None):
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "inbox": InboxResource(location=str(inbox)),
            "store": StoreResource(uri=str(store_root)),
        },
    ) as context:
        result = spec_inbox_sensor(context)
    # The test harness does not apply partition requests; the daemon does.
    for request in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def test_new_file_adds_partition_and_requests_one_run(instance, tmp_path):
    inbox, store_root = tmp_path / "inbox", tmp_path / "store"
    write_spec(inbox, "boat.yaml", GOOD)

    result = tick(instance, inbox, store_root)
    assert [r.partition_key for r in result.run_requests] == ["boat"]
    assert instance.has_dynamic_partition(videos.name, "boat")
    assert (store_root / layout.spec_source("boat", ".yaml")).read_text() == GOOD
    assert (inbox / "boat.yaml").exists()  # the user's file stays where it was

    again = tick(instance, inbox, store_root, result.cursor)
    assert again.run_requests == []


def test_changed_file_requests_a_new_run_and_a_touched_one_does_not(instance, tmp_path):
    inbox, store_root = tmp_path / "inbox", tmp_path / "store"
    path = write_spec(inbox, "boat.yaml", GOOD)
    first = tick(instance, inbox, store_root)

    os.utime(path, ns=(1, 1))  # same bytes, new mtime
    touched = tick(instance, inbox, store_root, first.cursor)
    assert touched.run_requests == []

    path.write_text(GOOD.replace("paper boat", "paper crane"))
    changed = tick(instance, inbox, store_root, touched.cursor)
    assert [r.partition_key for r in changed.run_requests] == ["boat"]
    assert changed.run_requests[0].run_key != first.run_requests[0].run_key


def test_bad_file_is_reported_once_and_others_go_on(instance, tmp_path, capfd):
    inbox, store_root = tmp_path / "inbox", tmp_path / "store"
    write_spec(inbox, "broken.yaml", "prompt: x\nduration: -3\n")
    write_spec(inbox, "boat.yaml", GOOD)

    first = tick(instance, inbox, store_root)
    assert [r.partition_key for r in first.run_requests] == ["boat"]
    assert not instance.has_dynamic_partition(videos.name, "broken")
    assert not (store_root / "broken").exists()  # nothing partial in the store
    refusals = [line for line in capfd.readouterr().err.splitlines() if "broken.yaml" in line]
    assert len(refusals) == 1 and "duration" in refusals[0]

    second = tick(instance, inbox, store_root, first.cursor)
    assert second.run_requests == []
    assert "broken.yaml" not in capfd.readouterr().err


def test_a_run_the_sensor_requested_renders_the_dropped_file(instance, tmp_path):
    inbox, store_root = tmp_path / "inbox", tmp_path / "store"
    write_spec(inbox, "boat.yaml", GOOD)
    result = tick(instance, inbox, store_root)
    run = execute(instance, store_root, result.run_requests[0].partition_key)
    assert run.success
    assert (store_root / layout.final_video("boat")).is_file()


def test_twenty_files_dropped_at_once_each_get_one_run_request(instance, tmp_path):
    inbox, store_root = tmp_path / "inbox", tmp_path / "store"
    for i in range(20):
        write_spec(inbox, f"clip-{i:02d}.yaml", GOOD.replace("paper boat", f"boat {i}"))
    result = tick(instance, inbox, store_root)
    assert sorted(r.partition_key for r in result.run_requests) == [
        f"clip-{i:02d}" for i in range(20)
    ]
    assert len({r.run_key for r in result.run_requests}) == 20
    assert set(instance.get_dynamic_partitions(videos.name)) == {f"clip-{i:02d}" for i in range(20)}
