"""What ``videogen render`` prints while it works, on a terminal and in a log.

A terminal (a real pseudo-terminal here) gets a bar per video redrawn in place; a pipe or file
gets one line per change and no escape codes. Both end each video with one summary line, and
both show a spec's truncation warning before anything renders.
"""

from __future__ import annotations

import io
import os
import re
import threading
from pathlib import Path

import dagster as dg
import pytest
import yaml

from videogen_dagster.commands import render
from videogen_dagster.instance import INSTANCE_CONFIG
from videogen_dagster.progress import spec_notes

SMALL = {"resources": {"generation": {"config": {"local": {"short_side": 64}}}}}
SUMMARY = re.compile(
    r"^\[(?P<video>\w+)\] done: (?P<path>\S+) · (?P<seconds>[\d.]+) s · (?P<calls>\d+) calls · "
    r"(?P<hits>\d+) cache hits · \$(?P<cost>[\d.]+) · [\d.:]+( s)? elapsed$"
)


def _specs(folder: Path) -> list[Path]:
    """``fox`` (two beats) and ``owl``, whose seven beats are too many for 10 s: truncated."""
    paths = []
    for name, beats in (("fox", 2), ("owl", 7)):
        path = folder / f"{name}.yaml"
        lines = "".join(f"  - description: {name} scene {i}\n" for i in range(beats))
        path.write_text(f"prompt: A {name}\nduration: 10\nfps: 8\nmusic: false\nbeats:\n{lines}")
        paths.append(path)
    return paths


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    overrides = yaml.safe_load(INSTANCE_CONFIG.read_text())
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
        yield instance


def _render(paths: list[Path], tmp_path: Path, instance, out) -> list:
    outcomes, errors = render(
        paths, str(tmp_path / "store"), instance, run_config=SMALL, out=out, poll_seconds=0.1
    )
    assert errors == [] and all(outcome.success for outcome in outcomes)
    return outcomes


def test_spec_notes_are_what_videogen_validate_warns(tmp_path, capsys):
    from videogen_dagster.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("prompt: p\nduration: 5\nfsp: 8\n")
    specs = _specs(tmp_path)
    main(["validate", *map(str, specs)])
    warned = capsys.readouterr().err.splitlines()

    notes = spec_notes([*specs, bad])
    assert notes == warned and len(notes) == 1 and "dropped 5" in notes[0]


def test_not_a_terminal_prints_changed_states_then_one_summary_per_video(tmp_path, instance):
    out = io.StringIO()
    outcomes = _render(_specs(tmp_path), tmp_path, instance, out)

    lines = out.getvalue().splitlines()
    assert "\x1b" not in out.getvalue()
    # The truncation warning comes first, before any progress.
    assert "owl.yaml: warning: " in lines[0] and "dropped 5" in lines[0]
    for outcome, beats in zip(outcomes, (2, 2), strict=True):
        shown = [line for line in lines if line.startswith(f"[{outcome.video_id}] ")]
        assert len(shown) == len(set(shown)) > 2  # a line when something changed, not per poll
        assert shown[-2].startswith(f"[{outcome.video_id}] images {beats}/{beats} · clips 2/2")
        summary = SUMMARY.match(shown[-1])
        assert summary, shown[-1]
        assert summary["path"] == outcome.final_uri and Path(summary["path"]).is_file()
        assert float(summary["seconds"]) == 10
        assert int(summary["calls"]) + int(summary["hits"]) == beats + 2  # images and clips
        assert float(summary["cost"]) == 0


def test_a_terminal_gets_a_live_bar_per_video(tmp_path, instance):
    primary, secondary = os.openpty()
    received = bytearray()

    def read() -> None:
        while True:
            try:
                data = os.read(primary, 4096)
            except OSError:  # the other end closed
                return
            if not data:
                return
            received.extend(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with open(secondary, "w", encoding="utf-8", closefd=True) as terminal:
        assert terminal.isatty()
        outcomes = _render(_specs(tmp_path), tmp_path, instance, terminal)
    reader.join(timeout=10)
    os.close(primary)
    text = received.decode("utf-8").replace("\r\n", "\n")

    assert "owl.yaml: warning: " in text.split("\x1b[J", 1)[0]  # before the first bar
    # Each redraw clears below the cursor and draws; the next backs up over its bars first.
    redraws = text.split("\x1b[J")[1:]
    assert len(redraws) > 3 and all(r.endswith("\x1b[F") for r in redraws[:-1])
    lines = [line for redraw in redraws for line in redraw.rstrip("\x1b[F").splitlines()]
    bars = [
        line for line in lines if re.match(r"\[\w+\] [█░]{20} images \d/\d · clips \d/\d", line)
    ]
    assert {bar.split("]")[0][1:] for bar in bars} == {"fox", "owl"}  # a bar per video
    assert all(len(bar) < 80 for bar in bars)  # cut to the terminal: none wraps
    assert any("ETA" in bar or "assembling" in bar for bar in bars)
    # Each video's summary is printed once, for good; no bar is drawn after the last one.
    summaries = [match for line in lines if (match := SUMMARY.match(line))]
    assert sorted(m["video"] for m in summaries) == sorted(o.video_id for o in outcomes)
    assert SUMMARY.match(lines[-1])
