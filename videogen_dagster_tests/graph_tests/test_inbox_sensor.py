"""The inbox sensor on a real instance: new, changed, untouched and bad spec files."""

import hashlib
import io
import json
import os

import dagster as dg
from PIL import Image

from videogen_dagster.defs.partitions import videos
from videogen_dagster.defs.resources import InboxResource, StoreResource
from videogen_dagster.defs.sensors import spec_inbox_sensor
from videogen_dagster.store import layout
from videogen_dagster.store.inbox import FolderInbox
from videogen_dagster_tests.graph_tests.support import execute, write_spec

GOOD = "prompt: A paper boat on a puddle\nduration: 5\nfps: 8\nmusic: false\n"


def tick(instance, inbox_folder, store_root, cursor=None, **resources):
    with dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "inbox": InboxResource(location=str(inbox_folder)),
            "store": StoreResource(uri=str(store_root)),
            **resources,
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

    # The first tick shows the refusal as its skip reason (what the UI shows for a tick) and
    # puts the good file off; the next registers it.
    first = tick(instance, inbox, store_root)
    assert first.run_requests == []
    assert "broken.yaml: duration: must be at least 5" in first.skip_reason.skip_message
    assert not instance.has_dynamic_partition(videos.name, "broken")
    assert not (store_root / "broken").exists()  # nothing partial in the store
    refusals = [line for line in capfd.readouterr().err.splitlines() if "broken.yaml" in line]
    assert len(refusals) == 1 and "duration" in refusals[0]

    second = tick(instance, inbox, store_root, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["boat"]
    assert "broken.yaml" not in capfd.readouterr().err
    third = tick(instance, inbox, store_root, second.cursor)
    assert third.run_requests == [] and third.skip_reason is None
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


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 9), (200, 80, 20)).save(buffer, format="PNG")
    return buffer.getvalue()


class _InboxWithABadDisk(InboxResource):
    """The folder inbox, except that reading ``bad_name`` fails the way no spec check
    expects (a fault of the disk or the network, not of the file)."""

    bad_name: str

    def open(self) -> FolderInbox:
        bad_name = self.bad_name

        class Inbox(FolderInbox):
            def read(self, entry):
                if entry.name == bad_name:
                    raise RuntimeError("the disk said no")
                return super().read(entry)

        return Inbox(self.location)


def test_failing_files_before_and_after_good_ones_are_reported_once_each(instance, tmp_path):
    """Whatever one file raises, every other file is registered, each failure is shown once
    (as a tick's skip reason, which the UI shows), and fixing a file brings it in."""
    inbox, store_root = tmp_path / "inbox", tmp_path / "store"
    write_spec(inbox, "a-huge.yaml", "prompt: x\nduration: " + "9" * 5000 + "\n")
    write_spec(inbox, "b-disk.yaml", GOOD)
    write_spec(inbox, "c-good.yaml", GOOD)
    # A reference whose suffix a store key may not hold: registered under a plain name.
    (inbox / "look.p ng").write_bytes(_png())
    write_spec(inbox, "d-odd-suffix.yaml", GOOD + "references: ['look.p ng']\n")
    os.mkfifo(inbox / "pipe.png")
    write_spec(inbox, "e-fifo-ref.yaml", GOOD + "references: [pipe.png]\n")
    write_spec(inbox, "f-twin.yaml", GOOD)
    write_spec(inbox, "f-twin.json", '{"prompt": "x", "duration": 5}')
    write_spec(inbox, "g-good.yaml", GOOD.replace("paper boat", "paper plane"))
    write_spec(inbox, "z-huge.json", '{"prompt": "x", "duration": 5, "seed": ' + "1" * 5000 + "}")
    flaky = _InboxWithABadDisk(location=str(inbox), bad_name="b-disk.yaml")

    def run(cursor):
        return tick(instance, inbox, store_root, cursor, inbox=flaky)

    first = run(None)
    assert first.run_requests == []
    reason = first.skip_reason.skip_message
    assert reason.startswith("Refused 6 spec file(s)")
    for line in (
        f"{inbox / 'a-huge.yaml'}: duration: is a number 5000 characters long",
        f"{inbox / 'b-disk.yaml'}: cannot be read: RuntimeError: the disk said no",
        f"{inbox / 'e-fifo-ref.yaml'}: references[0]: 'pipe.png' is not a file: it is a FIFO",
        f"{inbox / 'f-twin.json'}: has the same video id 'f-twin' as f-twin.yaml",
        f"{inbox / 'f-twin.yaml'}: has the same video id 'f-twin' as f-twin.json",
        f"{inbox / 'z-huge.json'}: seed: is a number 5000 characters long",
    ):
        assert line in reason, reason

    second = run(first.cursor)
    assert sorted(r.partition_key for r in second.run_requests) == [
        "c-good",
        "d-odd-suffix",
        "g-good",
    ]
    stored = store_root / "d-odd-suffix" / "input" / "reference-00"
    assert stored.read_bytes() == (inbox / "look.p ng").read_bytes()
    assert second.skip_reason is None
    third = run(second.cursor)
    assert third.run_requests == [] and third.skip_reason is None  # each shown once

    # Fixing files brings them in: a number that fits, and one twin gone.
    (inbox / "a-huge.yaml").write_text(GOOD)
    (inbox / "f-twin.json").unlink()
    fixed = run(third.cursor)
    assert sorted(r.partition_key for r in fixed.run_requests) == ["a-huge", "f-twin"]
    assert not (store_root / "b-disk").exists() and not (store_root / "z-huge").exists()


def test_a_file_going_a_b_a_gets_a_new_run_key_each_time(instance, tmp_path):
    """Dagster never reruns a run key: the third version must not reuse the first's."""
    inbox, store_root = tmp_path / "inbox", tmp_path / "store"
    a, b = GOOD, GOOD.replace("paper boat", "paper crane")
    path = write_spec(inbox, "boat.yaml", a)
    keys, cursor = [], None
    for text in (a, b, a):
        path.write_text(text)
        os.utime(path, ns=(len(keys) + 1, len(keys) + 1))  # a new version each time
        result = tick(instance, inbox, store_root, cursor)
        keys += [r.run_key for r in result.run_requests]
        cursor = result.cursor
        assert (store_root / layout.spec_source("boat", ".yaml")).read_text() == text
    assert len(keys) == 3 and len(set(keys)) == 3, keys


def test_a_cursor_of_the_earlier_format_is_read(instance, tmp_path):
    inbox, store_root = tmp_path / "inbox", tmp_path / "store"
    path = write_spec(inbox, "boat.yaml", GOOD)
    info = path.stat()
    digest = hashlib.sha256(GOOD.encode()).hexdigest()
    old = json.dumps(
        {"boat.yaml": {"version": f"{info.st_mtime_ns}-{info.st_size}", "digest": digest}}
    )
    assert tick(instance, inbox, store_root, old).run_requests == []
    path.write_text(GOOD.replace("boat", "kite"))
    assert [r.partition_key for r in tick(instance, inbox, store_root, old).run_requests] == [
        "boat"
    ]


def test_a_bad_file_changing_at_every_tick_does_not_hold_up_the_good_ones(instance, tmp_path):
    """A tick that shows refusals puts the good files off once; the next registers them
    whatever it finds, and the refusal it found is shown by the tick after."""
    inbox, store_root = tmp_path / "inbox", tmp_path / "store"
    bad = write_spec(inbox, "a-bad.yaml", "prompt: x\nduration: -1\n")
    write_spec(inbox, "b-good.yaml", GOOD)

    first = tick(instance, inbox, store_root)
    assert first.run_requests == [] and "got -1" in first.skip_reason.skip_message
    bad.write_text("prompt: x\nduration: -2\n")
    second = tick(instance, inbox, store_root, first.cursor)
    assert [r.partition_key for r in second.run_requests] == ["b-good"]
    third = tick(instance, inbox, store_root, second.cursor)
    assert third.run_requests == [] and "got -2" in third.skip_reason.skip_message


def test_an_s3_inbox_file_whose_reference_is_missing_is_refused_and_others_go_on(
    instance, tmp_path, s3_endpoint, s3_admin_client, s3_bucket
):
    """S3 answers a missing object with its own error (not an OSError): refused all the same."""
    for key, body in [
        ("inbox/a-missing-ref.yaml", GOOD + "references: [refs/gone.png]\n"),
        ("inbox/b-with-ref.yaml", GOOD + "references: [refs/look.png]\n"),
        ("inbox/refs/look.png", _png()),
    ]:
        s3_admin_client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    resources = {
        "inbox": InboxResource(location=f"s3://{s3_bucket}/inbox/", s3_endpoint_url=s3_endpoint)
    }
    first = tick(instance, None, tmp_path / "store", **resources)
    reason = first.skip_reason.skip_message
    where = f"s3://{s3_bucket}/inbox/a-missing-ref.yaml"
    assert f"{where}: references[0]: cannot read 'refs/gone.png': " in reason, reason
    second = tick(instance, None, tmp_path / "store", first.cursor, **resources)
    assert [r.partition_key for r in second.run_requests] == ["b-with-ref"]
    stored = tmp_path / "store" / layout.input_reference("b-with-ref", 0, "refs/look.png")
    assert stored.read_bytes() == _png()


def test_a_spec_link_in_the_inbox_is_refused_without_reading_what_it_points_to(instance, tmp_path):
    """Whoever can write in the inbox must not have the sensor read (and quote) other files."""
    inbox, store_root = tmp_path / "inbox", tmp_path / "store"
    secret = tmp_path / "secret.env"
    secret.write_text("API_KEY=sk-do-not-show\n")
    inbox.mkdir()
    (inbox / "leak.yaml").symlink_to(secret)
    result = tick(instance, inbox, store_root)
    reason = result.skip_reason.skip_message
    assert f"{inbox / 'leak.yaml'}: is a symbolic link" in reason
    assert "sk-do-not-show" not in reason and not store_root.exists()
