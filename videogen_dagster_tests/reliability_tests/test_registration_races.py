"""Registration against files that change while it reads them (issue 21, section 1).

A thread flips a spec between a valid and an invalid text, and its reference between a
regular image, a symbolic link to a valid image outside the spec's folder, a FIFO and a
folder, for several seconds, while registration runs again and again (``videogen register``'s
function, and the inbox sensor's reading). Whatever the timing, the store must only ever hold
a valid spec and the inside image's bytes, and registration must never block on the FIFO.
"""

from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

import dagster as dg
from PIL import Image

from videogen_dagster.defs.resources import InboxResource, StoreResource
from videogen_dagster.defs.sensors import spec_inbox_sensor
from videogen_dagster.domain.errors import SpecError
from videogen_dagster.domain.spec import parse_spec
from videogen_dagster.pipeline.specs import register_spec_file
from videogen_dagster.store import layout
from videogen_dagster.store.local import LocalStore
from videogen_dagster_tests.reliability_tests.support import record_figure

FLIP_SECONDS = 5.0
VALID = "prompt: A paper boat\nduration: 5\nfps: 8\nmusic: false\nreferences: [look.png]\n"
#: Longer than the valid text, so an in-place rewrite can be caught half-written either way.
INVALID = "prompt: A paper boat\nduration: -5\nfps: 800\nmusic: false\nreferences: [look.png]\n"


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 18), colour).save(buffer, format="PNG")
    return buffer.getvalue()


INSIDE, OUTSIDE = _png((20, 120, 200)), _png((250, 10, 10))


class Flipper(threading.Thread):
    """Swaps the spec's text and the reference's kind until stopped, counting the swaps."""

    def __init__(self, folder: Path, outside: Path) -> None:
        super().__init__(daemon=True)
        self.folder, self.outside = folder, outside
        self.stop = threading.Event()
        self.flips = 0

    def run(self) -> None:
        spec, reference = self.folder / "race.yaml", self.folder / "look.png"
        spare = self.folder / ".spare"
        while not self.stop.is_set():
            kind = self.flips % 4
            # The spec: rewritten in place (a reader can see it half-written) or swapped whole.
            text = VALID if self.flips % 3 else INVALID
            if self.flips % 2:
                spec.write_text(text)
            else:
                spare.write_text(text)
                os.replace(spare, spec)
            # The reference: a regular image, a link out, a FIFO or a folder, swapped in whole.
            if spare.is_dir() and not spare.is_symlink():
                spare.rmdir()
            elif spare.exists() or spare.is_symlink():
                spare.unlink()
            if kind == 0:
                spare.write_bytes(INSIDE)
            elif kind == 1:
                spare.symlink_to(self.outside)
            elif kind == 2:
                os.mkfifo(spare)
            else:
                spare.mkdir()
            if kind == 3 or reference.is_dir():
                if reference.is_dir() and not reference.is_symlink():
                    reference.rmdir()
                else:
                    reference.unlink(missing_ok=True)
            os.replace(spare, reference)
            self.flips += 1


def _check_store(store_root: Path, video_id: str) -> None:
    spec_key = store_root / layout.spec_source(video_id, ".yaml")
    if not spec_key.exists():
        return
    text = spec_key.read_bytes()
    # The valid text, or a valid part of it caught mid-rewrite: never the invalid one.
    assert VALID.encode().startswith(text), text
    spec = parse_spec(text, source="race.yaml", base_dir=None)
    for index, reference in enumerate(spec.references):
        stored = store_root / layout.input_reference(video_id, index, reference)
        assert stored.read_bytes() == INSIDE, "an outside file reached the store"


def test_files_flipped_during_registration_never_reach_the_store_unchecked(instance, tmp_path):
    folder, store_root = tmp_path / "specs", tmp_path / "store"
    folder.mkdir()
    outside = tmp_path / "outside.png"
    outside.write_bytes(OUTSIDE)  # a valid image: only the link check can keep it out
    (folder / "race.yaml").write_text(VALID)
    (folder / "look.png").write_bytes(INSIDE)
    store = LocalStore(store_root)
    inbox = {
        "inbox": InboxResource(location=str(folder)),
        "store": StoreResource(uri=str(store_root)),
    }
    tally = {"attempts": 0, "stored": 0, "refused": 0, "sensor ticks": 0}

    def register_again_and_again() -> None:
        deadline = time.monotonic() + FLIP_SECONDS
        while time.monotonic() < deadline:
            tally["attempts"] += 1
            try:
                register_spec_file(folder / "race.yaml", store)
            except SpecError:
                tally["refused"] += 1
            else:
                tally["stored"] += 1
            _check_store(store_root, "race")
            if tally["attempts"] % 10 == 0:  # the sensor reads through its inbox: same rules
                with dg.build_sensor_context(instance=instance, resources=inbox) as context:
                    spec_inbox_sensor(context)
                tally["sensor ticks"] += 1
                _check_store(store_root, "race")

    flipper = Flipper(folder, outside)
    flipper.start()
    worker = threading.Thread(target=register_again_and_again, daemon=True)
    failure: list[BaseException] = []
    worker.run = _recording(worker.run, failure)  # type: ignore[method-assign]
    worker.start()
    worker.join(FLIP_SECONDS + 60)  # a FIFO that blocked a read would keep it alive
    flipper.stop.set()
    flipper.join(10)
    assert not worker.is_alive(), "registration hung"
    if failure:
        raise failure[0]
    assert tally["stored"] > 0 and tally["refused"] > 0, tally
    assert flipper.flips > 100, flipper.flips
    record_figure("registration race: flips survived", flipper.flips)
    record_figure("registration race: registrations tried", tally["attempts"])
    record_figure("registration race: stored (each exactly as validated)", tally["stored"])
    record_figure("registration race: refused", tally["refused"])


def _recording(run, failure: list[BaseException]):
    def wrapped() -> None:
        try:
            run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            failure.append(exc)

    return wrapped
