"""The inbox sensor: a spec file dropped in the inbox becomes a partition and a run.

The cursor maps each file to the version and content digest last seen, so a tick reads only
files that changed, a changed file gets a new run, and a bad file is reported once (until it
changes again) without holding up the others: whatever one file raises, the tick goes on.
Each file is read once; the bytes checked are the bytes registered, so a bad file leaves
nothing behind and a file changed mid-tick is stored as validated or not at all.
"""

import dataclasses
import functools
import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from videogen_dagster.defs.jobs import render_video
from videogen_dagster.defs.partitions import videos
from videogen_dagster.defs.resources import InboxResource, StoreResource
from videogen_dagster.domain.errors import SpecError
from videogen_dagster.domain.spec import SpecFile, spec_from_bytes
from videogen_dagster.pipeline.specs import write_registration
from videogen_dagster.settings import sensor_interval_seconds
from videogen_dagster.store.inbox import InboxEntry, SpecInbox

#: Refused files a skipped tick's reason shows in full; the rest are counted.
SHOWN_REFUSALS = 10


@dataclass
class InboxCursor:
    """What the sensor has seen and still has to say.

    ``files``: per file its version, digest and whether it was refused. ``registrations``:
    how many there were so far; it is part of each run key, so every accepted change gets a
    new one (a file going A -> B -> A must render A again, and Dagster never reruns a run
    key). ``unshown``: refusals not yet shown as a tick's skip reason (at most
    ``SHOWN_REFUSALS``, and ``unshown_more`` counts the rest). ``deferred``: the last tick
    showed refusals and put off the files it accepted, so this one must register them.
    """

    registrations: int = 0
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    unshown: list[str] = field(default_factory=list)
    unshown_more: int = 0
    deferred: bool = False

    @classmethod
    def parse(cls, text: str | None) -> "InboxCursor":
        data = json.loads(text) if text else {}
        if "files" not in data:  # the cursor of earlier versions: the files alone
            return cls(files=data)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def dump(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def add_unshown(self, refusals: list[str]) -> None:
        room = max(0, SHOWN_REFUSALS - len(self.unshown))
        self.unshown += refusals[:room]
        self.unshown_more += len(refusals[room:])


@dataclass
class _Tick:
    """One evaluation's findings: the files accepted, refused or left as they were."""

    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    accepted: list[tuple[InboxEntry, SpecFile, str]] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


def _look(inbox: SpecInbox, entries: list[InboxEntry], seen: dict[str, dict[str, Any]]) -> _Tick:
    """Read and check every new or changed file, each once; nothing is written here."""
    tick = _Tick()
    by_id: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        by_id[entry.video_id].append(entry.name)
    for entry in entries:
        previous = seen.get(entry.name)
        twins = [name for name in by_id[entry.video_id] if name != entry.name]
        unchanged = previous is not None and previous["version"] == entry.version
        if unchanged and bool(previous.get("twins")) == bool(twins):
            tick.files[entry.name] = previous
            continue
        where = inbox.describe(entry)
        if twins:
            tick.files[entry.name] = {"version": entry.version, "digest": "", "twins": True}
            tick.refusals.append(
                f"{where}: has the same video id {entry.video_id!r} as "
                f"{', '.join(twins)} in the inbox; remove or rename one of them"
            )
            continue
        try:
            data = inbox.read(entry)
        except Exception as exc:  # noqa: BLE001 - one unreadable file must not stop the others
            tick.files[entry.name] = {"version": entry.version, "digest": "", "refused": True}
            tick.refusals.append(_why(where, "cannot be read", exc))
            continue
        digest = hashlib.sha256(data).hexdigest()
        if previous is not None and previous["digest"] == digest and not previous.get("twins"):
            tick.files[entry.name] = previous | {"version": entry.version}  # touched, not changed
            continue
        try:
            loaded = spec_from_bytes(
                entry.name,
                data,
                source=where,
                read_reference=functools.partial(inbox.read_reference, entry),
            )
        except Exception as exc:  # noqa: BLE001 - whatever one file raises, the rest go on
            tick.files[entry.name] = {"version": entry.version, "digest": digest, "refused": True}
            tick.refusals.append(_why(where, "cannot be registered", exc))
            continue
        if previous is not None:
            tick.files[entry.name] = previous
        tick.accepted.append((entry, loaded, digest))
    return tick


def _why(where: str, what: str, exc: Exception) -> str:
    if isinstance(exc, SpecError):
        return str(exc)
    return f"{where}: {what}: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}"


def _skip_reason(cursor: InboxCursor) -> str:
    count = len(cursor.unshown) + cursor.unshown_more
    lines = [f"Refused {count} spec file(s); fix a file to have it read again:", *cursor.unshown]
    if cursor.unshown_more:
        lines.append(f"... and {cursor.unshown_more} more refused file(s) (see the sensor's log)")
    return "\n".join(lines)


@dg.sensor(
    job=render_video,
    minimum_interval_seconds=sensor_interval_seconds(),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def spec_inbox_sensor(
    context: dg.SensorEvaluationContext, inbox: InboxResource, store: StoreResource
) -> dg.SensorResult:
    """Registers new or changed spec files from the inbox and requests a render for each.

    A file that is refused (invalid, unreadable, or sharing its video id with another) is
    reported once per version: in the log at once, and as the reason of a tick that requests
    no run, which is what Dagster's UI shows for a tick. A tick that has refusals to show
    puts off the files it accepted to the next tick, which registers them whatever it finds:
    good files wait one tick at most, and a refusal is in the UI within two.
    """
    cursor = InboxCursor.parse(context.cursor)
    the_inbox = inbox.open()
    tick = _look(the_inbox, the_inbox.list_entries(), cursor.files)
    for refusal in tick.refusals:
        context.log.error(f"spec refused, fix the file to retry: {refusal}")
    cursor.add_unshown(tick.refusals)
    cursor.files = tick.files
    if cursor.unshown and not (cursor.deferred and tick.accepted):
        reason = _skip_reason(cursor)
        cursor.deferred, cursor.unshown, cursor.unshown_more = bool(tick.accepted), [], 0
        return dg.SensorResult(skip_reason=reason, cursor=cursor.dump())
    cursor.deferred = False

    the_store = store.open()
    known = set(context.instance.get_dynamic_partitions(videos.name))
    new_partitions: list[str] = []
    run_requests: list[dg.RunRequest] = []
    for entry, loaded, digest in tick.accepted:
        where = the_inbox.describe(entry)
        try:
            write_registration(the_store, loaded)
        except Exception as exc:  # noqa: BLE001 - the store's failure: tried again next tick
            context.log.error(_why(where, "cannot be stored, will retry", exc))
            continue
        cursor.registrations += 1
        cursor.files[entry.name] = {"version": entry.version, "digest": digest}
        video_id = loaded.video_id
        if video_id not in known:
            known.add(video_id)
            new_partitions.append(video_id)
        run_requests.append(
            dg.RunRequest(
                partition_key=video_id,
                run_key=f"{video_id}:{cursor.registrations}:{digest[:16]}",
                tags={"videogen/spec": where},
            )
        )
        context.log.info(f"{where}: requested a render of {video_id!r}")

    return dg.SensorResult(
        run_requests=run_requests,
        dynamic_partitions_requests=[videos.build_add_request(new_partitions)]
        if new_partitions
        else [],
        cursor=cursor.dump(),
    )
