"""The inbox sensor: a spec file dropped in the inbox becomes a partition and a run.

The cursor maps each file to the version and content digest last seen, so a tick reads only
files that changed, a changed file gets a new run, and a bad file is reported once (until it
changes again) without holding up the others. Registration validates a file completely before
copying it into the store, so a bad file leaves nothing behind.
"""

import hashlib
import json
from pathlib import PurePosixPath

import dagster as dg

from videogen_dagster.defs.jobs import render_video
from videogen_dagster.defs.partitions import videos
from videogen_dagster.defs.resources import InboxResource, StoreResource
from videogen_dagster.domain.errors import SpecError
from videogen_dagster.pipeline.specs import register_spec_bytes, register_spec_file
from videogen_dagster.store.inbox import FolderInbox, InboxEntry, SpecInbox


def _register(inbox: SpecInbox, entry: InboxEntry, data: bytes, store) -> str:
    if isinstance(inbox, FolderInbox):
        video_id, _ = register_spec_file(inbox.folder / entry.name, store)
        return video_id
    folder = PurePosixPath(entry.name).parent

    def read_reference(relative: str) -> bytes:
        return inbox.read(InboxEntry((folder / relative).as_posix(), ""))

    video_id, _ = register_spec_bytes(
        entry.name, data, store, read_reference=read_reference, describe=inbox.describe(entry)
    )
    return video_id


@dg.sensor(
    job=render_video,
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def spec_inbox_sensor(
    context: dg.SensorEvaluationContext, inbox: InboxResource, store: StoreResource
) -> dg.SensorResult:
    """Registers new or changed spec files from the inbox and requests a render for each."""
    seen: dict[str, dict[str, str]] = json.loads(context.cursor) if context.cursor else {}
    the_inbox, the_store = inbox.open(), store.open()
    known = set(context.instance.get_dynamic_partitions(videos.name))
    new_partitions: list[str] = []
    run_requests: list[dg.RunRequest] = []
    current: dict[str, dict[str, str]] = {}

    for entry in the_inbox.list_entries():
        previous = seen.get(entry.name)
        if previous and previous["version"] == entry.version:
            current[entry.name] = previous
            continue
        data = the_inbox.read(entry)
        digest = hashlib.sha256(data).hexdigest()
        current[entry.name] = {"version": entry.version, "digest": digest}
        if previous and previous["digest"] == digest:
            continue  # touched, not changed
        try:
            video_id = _register(the_inbox, entry, data, the_store)
        except SpecError as exc:
            context.log.error(f"spec refused, fix the file to retry: {exc}")
            continue
        except OSError as exc:
            context.log.error(f"{the_inbox.describe(entry)}: cannot read: {exc}")
            continue
        if video_id not in known:
            known.add(video_id)
            new_partitions.append(video_id)
        run_requests.append(
            dg.RunRequest(
                partition_key=video_id,
                run_key=f"{video_id}:{digest[:16]}",
                tags={"videogen/spec": the_inbox.describe(entry)},
            )
        )
        context.log.info(f"{the_inbox.describe(entry)}: requested a render of {video_id!r}")

    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[videos.build_add_request(new_partitions)]
        if new_partitions
        else [],
        cursor=json.dumps(current, sort_keys=True),
    )
