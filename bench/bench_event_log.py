"""Bytes one video adds to the Dagster event log, by event type, and how many are previews.

Renders a 6-beat, 30 s video at the default 720p on a fresh instance and sums the serialized
size of every event of the run (what the event log stores), then the part that is the
previews' base64 and the thumbnails'. Figures go to docs/performance.md ("The event log").

    python bench/bench_event_log.py [--beats 6] [--short-side 720]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import dagster as dg
import yaml
from dagster_shared.serdes import serialize_value

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videogen_dagster.instance import INSTANCE_CONFIG  # noqa: E402
from videogen_dagster_tests.graph_tests.support import execute, register, write_spec  # noqa: E402

_IMAGE = re.compile(r"data:image/(\w+);base64,[A-Za-z0-9+/=]+")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--beats", type=int, default=6)
    parser.add_argument("--short-side", type=int, default=720)
    args = parser.parse_args()
    spec = f"prompt: a harbour\nduration: {5 * args.beats}\nfps: 24\nbeats:\n" + "".join(
        f"  - description: beat {i}, boats crossing the harbour at dawn\n"
        for i in range(args.beats)
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "home").mkdir()
        overrides = yaml.safe_load(INSTANCE_CONFIG.read_text())
        with dg.instance_for_test(temp_dir=str(root / "home"), overrides=overrides) as instance:
            video_id = register(instance, root / "store", write_spec(root, "harbour.yaml", spec))
            result = execute(
                instance, root / "store", video_id, local={"short_side": args.short_side}
            )
            assert result.success
            by_type: Counter[str] = Counter()
            images: Counter[str] = Counter()
            ends: dict[str, float] = {}
            for entry in instance.all_logs(result.run_id):
                event = entry.dagster_event
                if event and event.event_type == dg.DagsterEventType.STEP_SUCCESS:
                    ends[event.step_key] = entry.timestamp
                    if "plays" in event.step_key:
                        took = event.event_specific_data.duration_ms / 1000
                        print(f"  step {event.step_key}: {took:.2f} s")
                text = serialize_value(entry)
                kind = entry.dagster_event.event_type_value if entry.dagster_event else "log"
                by_type[kind] += len(text)
                for match in _IMAGE.finditer(text):
                    images[match.group(1)] += len(match.group(0))
    final_end = ends["final_video"]
    for key, end in sorted(ends.items(), key=lambda item: item[1]):
        if end > final_end:
            print(f"  {key} ended {end - final_end:.2f} s after final_video")
    total = sum(by_type.values())
    print(f"{args.beats} beats, {5 * args.beats} s at {args.short_side}p: {total:,} bytes")
    for kind, size in by_type.most_common():
        print(f"  {kind:28s} {size:>9,}")
    for kind, size in images.most_common():
        print(f"  inline {kind} (base64)       {size:>9,}")


if __name__ == "__main__":
    main()
