"""The whole bad-spec corpus dropped in the inbox next to two good specs: each bad file is
refused once with a message naming the file and the field, the good ones get runs, and nothing
from a bad file reaches the store."""

from __future__ import annotations

import dagster as dg

from videogen_dagster.defs.resources import InboxResource, StoreResource
from videogen_dagster.defs.sensors import spec_inbox_sensor
from videogen_dagster.domain.spec_files import SPEC_SUFFIXES
from videogen_dagster_tests.domain_tests.bad_specs import write_corpus
from videogen_dagster_tests.graph_tests.support import write_spec
from videogen_dagster_tests.reliability_tests.support import record_figure

GOOD = "prompt: {0}\nduration: 5\nfps: 8\nmusic: false\n"


def _tick(instance, inbox, store_root, cursor=None) -> dg.SensorResult:
    resources = {
        "inbox": InboxResource(location=str(inbox)),
        "store": StoreResource(uri=str(store_root)),
    }
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
        return spec_inbox_sensor(context)


def _refusals(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "spec refused" in line]


def test_bad_spec_corpus_in_the_inbox(instance, tmp_path, capfd):
    inbox, store_root = tmp_path / "inbox", tmp_path / "store"
    corpus = write_corpus(inbox)
    for name in ("good-one", "good-two"):
        write_spec(inbox, f"{name}.yaml", GOOD.format(name))

    # The first tick shows the refusals as its skip reason and puts the good files off.
    first = _tick(instance, inbox, store_root)
    assert first.run_requests == []
    assert first.skip_reason.skip_message.startswith("Refused ")
    refusals = _refusals(capfd.readouterr().err)

    # The inbox watches spec files: a FIFO or a .txt file is not one, and is left alone.
    watched = {
        path: case
        for path, case in corpus.items()
        if path.suffix.lower() in SPEC_SUFFIXES and not case.name.startswith("fifo")
    }
    for path, case in watched.items():
        mine = [line for line in refusals if f"{path}:" in line]
        assert len(mine) == 1, f"{case.name}: {mine}"
        where = f"{path}: {case.field}: " if case.field else f"{path}: "
        assert where in mine[0] and case.message in mine[0], (case.name, mine[0])
    assert len(refusals) == len(watched)
    record_figure(
        "bad specs refused by the sensor, each once, naming file and field",
        f"{len(watched)} of {len(watched)}",
    )

    second = _tick(instance, inbox, store_root, first.cursor)
    assert sorted(r.partition_key for r in second.run_requests) == ["good-one", "good-two"]
    assert sorted(p.name for p in store_root.iterdir()) == ["good-one", "good-two"]
    assert _refusals(capfd.readouterr().err) == []

    third = _tick(instance, inbox, store_root, second.cursor)
    assert third.run_requests == [] and third.skip_reason is None
    assert _refusals(capfd.readouterr().err) == []
