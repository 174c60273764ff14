"""What ``videogen render`` shows while it renders: a line or a live bar per video, then a summary.

On a terminal each video has a bar that redraws in place (beats imaged, clips made of the
total, an ETA); elsewhere (CI logs, a file) a line is printed only when a video's state
changes. Either way, a video that ends gets one line: where it is, how long it is, the calls
paid for and the cache hits, what it cost and how long it took.

Everything shown is read from the runs' Dagster events, each poll reading only the events it
has not seen yet (a cursor per run): reading every run's whole log at every poll costs CPU
that grows with the runs' length and number.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import dagster as dg

from videogen_dagster.defs.storyboard_chunks import FIRST_CLIP_OP, IMAGE_OP, NEXT_CLIPS_OP
from videogen_dagster.domain.errors import SpecError
from videogen_dagster.domain.spec import load_spec
from videogen_dagster.domain.validation import validate_spec

if TYPE_CHECKING:
    from videogen_dagster.commands import RenderOutcome

_EVENTS = {
    dg.DagsterEventType.RUN_START,
    dg.DagsterEventType.RUN_SUCCESS,
    dg.DagsterEventType.RUN_FAILURE,
    dg.DagsterEventType.RUN_CANCELED,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
}
_RUN_END = {
    dg.DagsterEventType.RUN_SUCCESS: "done",
    dg.DagsterEventType.RUN_FAILURE: "failed",
    dg.DagsterEventType.RUN_CANCELED: "canceled",
}
#: The steps after the beats, shown by name once they are done.
_LATER_STEPS = ("stitched_video", "music", "final_video")
_BAR_WIDTH = 20


def spec_notes(paths: Sequence[Path]) -> list[str]:
    """What ``videogen validate`` warns about each spec (truncated beats, fitted durations),
    one ``<file>: warning: ...`` line each, to print before rendering; bad specs are skipped
    (registration reports them)."""
    notes = []
    with _domain_warnings_kept_quiet():
        for path in paths:
            try:
                video_id, spec = load_spec(Path(path))
                validated = validate_spec(spec, video_id)
            except (SpecError, ValueError):
                continue
            notes += [f"{path}: warning: {note}" for note in validated.adjustments]
    return notes


@contextmanager
def _domain_warnings_kept_quiet() -> Iterator[None]:
    """The domain logs the same notes as WARNINGs; without this Python would print each twice."""
    domain = logging.getLogger("videogen_dagster.domain")
    propagate, domain.propagate = domain.propagate, False
    quiet = logging.NullHandler()
    domain.addHandler(quiet)
    try:
        yield
    finally:
        domain.removeHandler(quiet)
        domain.propagate = propagate


@dataclass
class RunTally:
    """What one run has done so far, from the events read up to ``cursor``."""

    cursor: str | None = None
    beats: int | None = None
    clips_total: int | None = None
    chunks_per_beat: dict[str, int] = field(default_factory=dict)
    images: int = 0
    clips: int = 0
    later: list[str] = field(default_factory=list)
    failed_steps: int = 0
    started: float | None = None
    ended: str | None = None
    ended_at: float | None = None
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: int = 0
    cache_hits: int = 0
    cost: float = 0.0

    def read(self, instance: dg.DagsterInstance, run_id: str) -> bool:
        """Read the run's new events; whether any changed the tally."""
        new = instance.get_records_for_run(run_id, cursor=self.cursor, of_type=_EVENTS)
        self.cursor = new.cursor
        for record in new.records:
            event = record.event_log_entry.dagster_event
            if event is not None:
                self._count(event, record.event_log_entry.timestamp)
        return bool(new.records)

    def _count(self, event: dg.DagsterEvent, timestamp: float) -> None:
        kind = event.event_type
        if kind == dg.DagsterEventType.RUN_START:
            self.started = timestamp
        elif kind in _RUN_END:
            self.ended, self.ended_at = _RUN_END[kind], timestamp
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            self.failed_steps += 1
        elif kind == dg.DagsterEventType.STEP_SUCCESS and event.step_key:
            op, _, beat = event.step_key.partition("[")
            name = op.split(".")[-1]
            if name == IMAGE_OP:
                self.images += 1
            elif name == FIRST_CLIP_OP:
                self.clips += 1
            elif name == NEXT_CLIPS_OP:
                index = beat.rstrip("]").removeprefix("beat_").lstrip("0") or "0"
                self.clips += max(0, self.chunks_per_beat.get(index, 1) - 1)
            elif name in _LATER_STEPS:
                self.later.append(name)
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION and event.asset_key:
            materialization = event.step_materialization_data.materialization
            values = {key: value.value for key, value in materialization.metadata.items()}
            self.metadata[event.asset_key.to_user_string()] = values
            self.calls += int(values.get("calls", 0))
            self.cache_hits += int(values.get("cache_hits", 0))
            self.cost += float(values.get("cost_usd", 0.0))
            if event.asset_key == dg.AssetKey("spec"):
                self.beats = int(values["beat_count"])
                self.clips_total = int(values["chunk_count"])
                self.chunks_per_beat = {
                    str(k): int(v) for k, v in (values.get("chunks_per_beat") or {}).items()
                }

    def state(self, with_clips: bool, *, last_stage_only: bool = False) -> str:
        """The changed-state line's body: ``images 2/3 · clips 1/4 · stitched_video``; a bar
        names only the latest of the later stages, to stay on one line."""
        beats = "?" if self.beats is None else str(self.beats)
        parts = [f"images {self.images}/{beats}"]
        if with_clips:
            total = "?" if self.clips_total is None else str(self.clips_total)
            parts.append(f"clips {self.clips}/{total}")
        parts += self.later[-1:] if last_stage_only else self.later
        if self.failed_steps:
            parts.append(f"{self.failed_steps} step(s) failed")
        return " · ".join(parts)

    def fraction(self, with_clips: bool) -> float | None:
        """How much of the generation is done (images and clips), once the plan is known."""
        if self.beats is None or self.clips_total is None:
            return None
        total = self.beats + (self.clips_total if with_clips else 0)
        done = self.images + (self.clips if with_clips else 0)
        return done / total if total else 1.0


class RenderProgress:
    """Shows every video's progress on ``out``: live bars on a terminal, lines otherwise.

    ``show()`` at every poll; ``finish()`` once after the last. A video whose run has ended
    gets its summary line (``[video] done: path · 12 s · 5 calls · ...``) as soon as it ends.
    """

    def __init__(
        self,
        instance: dg.DagsterInstance,
        outcomes: list[RenderOutcome],
        out: TextIO,
        *,
        live: bool | None = None,
    ) -> None:
        self._instance, self._outcomes, self._out = instance, outcomes, out
        self._live = _is_terminal(out) if live is None else live
        self._tallies: dict[str, RunTally] = {}
        self._with_clips: dict[str, bool] = {}
        self._last: dict[str, str] = {}
        self._summaries: dict[str, str] = {}
        self._printed: set[str] = set()  # videos whose summary is on the terminal for good
        self._drawn: list[str] = []  # the bar lines on screen, above the cursor
        self._drawn_at = 0.0
        self._started = time.time()

    def show(self) -> None:
        lines = [self._line(outcome) for outcome in self._outcomes]
        if self._live:
            ended = [o.video_id for o in self._outcomes if o.video_id in self._summaries]
            bars = [
                line
                for outcome, line in zip(self._outcomes, lines, strict=True)
                if line is not None and outcome.video_id not in self._summaries
            ]
            self._redraw([self._summaries[v] for v in ended if v not in self._printed], bars)
            self._printed.update(ended)
            return
        for outcome, line in zip(self._outcomes, lines, strict=True):
            if line is not None and self._last.get(outcome.video_id) != line:
                self._last[outcome.video_id] = line
                print(line, file=self._out, flush=True)

    def finish(self) -> None:
        """Leave the cursor below the bars (a terminal) so what follows prints after them."""
        self.show()

    def summaries(self) -> dict[str, str]:
        """The summary line of every video whose run has ended, by video id."""
        return dict(self._summaries)

    def _line(self, outcome: RenderOutcome) -> str | None:
        """This video's line now; None while it has no run to show yet."""
        if outcome.video_id in self._summaries:
            return self._summaries[outcome.video_id]
        if not outcome.run_id:
            return f"[{outcome.video_id}] {outcome.waiting}" if outcome.waiting else None
        tally = self._tallies.setdefault(outcome.run_id, RunTally())
        tally.read(self._instance, outcome.run_id)
        with_clips = self._run_makes_clips(outcome.run_id)
        if tally.ended:
            summary = self._summary(outcome.video_id, tally)
            self._summaries[outcome.video_id] = summary
            return summary
        if outcome.waiting:
            return f"[{outcome.video_id}] {outcome.waiting}"
        if not self._live:
            return f"[{outcome.video_id}] {tally.state(with_clips)}"
        return self._bar(outcome.video_id, tally, with_clips)

    def _run_makes_clips(self, run_id: str) -> bool:
        """False for a storyboard-only run (its asset selection leaves out ``chunks``)."""
        if run_id not in self._with_clips:
            run = self._instance.get_run_by_id(run_id)
            selection = run.asset_selection if run else None
            self._with_clips[run_id] = selection is None or dg.AssetKey("chunks") in selection
        return self._with_clips[run_id]

    def _bar(self, video_id: str, tally: RunTally, with_clips: bool) -> str:
        fraction = tally.fraction(with_clips)
        filled = round(_BAR_WIDTH * (fraction or 0.0))
        bar = "█" * filled + "░" * (_BAR_WIDTH - filled)
        eta = ""
        if fraction and fraction < 1 and tally.started is not None:
            spent = max(0.0, time.time() - tally.started)
            left = round(spent * (1 - fraction) / fraction)  # whole seconds: a redraw a second
            eta = f" · ETA {_clock(left) if left >= 60 else f'{left} s'}"
        elif fraction == 1:
            eta = " · assembling"
        return f"[{video_id}] {bar} {tally.state(with_clips, last_stage_only=True)}{eta}"

    def _summary(self, video_id: str, tally: RunTally) -> str:
        elapsed = _clock((tally.ended_at or time.time()) - self._started)
        money = f"{tally.calls} calls · {tally.cache_hits} cache hits"
        final = tally.metadata.get("final_video", {})
        cost = float(final.get("total_cost_usd", tally.cost))
        if tally.ended != "done":  # what it paid for is in the video's ledger and manifest
            return f"[{video_id}] {tally.ended} after {elapsed}: {tally.state(True)}"
        if final:
            where, seconds = final.get("uri", "?"), float(final.get("duration_s", 0.0))
            return (
                f"[{video_id}] done: {where} · {seconds:g} s · {money} · ${cost:.4f} · "
                f"{elapsed} elapsed"
            )
        sheet = tally.metadata.get("storyboard", {}).get("contact_sheet_uri", "?")
        return f"[{video_id}] storyboard: {sheet} · {money} · ${cost:.4f} · {elapsed} elapsed"

    def _redraw(self, summaries: list[str], bars: list[str]) -> None:
        """Back up over the bars drawn before and clear them; print the summaries of videos
        that just ended (for good: they scroll up like any output), then the bars again, each
        cut to the terminal's width so none wraps (a wrapped line would break the backing up).
        Only when something changed or an ETA is a second old."""
        width = _width(self._out)
        shown = [line if len(line) < width else line[: width - 2] + "…" for line in bars]
        if not summaries and shown == self._drawn and time.monotonic() - self._drawn_at < 1.0:
            return
        text = "\x1b[F" * len(self._drawn) + "\x1b[J"
        text += "".join(f"{line}\n" for line in [*summaries, *shown])
        self._out.write(text)
        self._out.flush()
        self._drawn, self._drawn_at = shown, time.monotonic()


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError):
        return False


def _width(out: TextIO) -> int:
    """The terminal's width in columns (80 when it cannot say)."""
    try:
        return os.get_terminal_size(out.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def _clock(seconds: float) -> str:
    """``42.1 s`` under a minute, else ``3:07``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"
