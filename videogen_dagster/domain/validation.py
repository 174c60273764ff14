"""Phase 1: from a parsed spec to the self-consistent ``ValidatedSpec`` everything downstream uses.

The steps, in order:

1. **Beats.** Given beats are used as written (``beats_source="spec"``); when ``beats`` is
   left out they are planned from the prompt by the provider's planner
   (``beats_source="planned"``).
2. **Count.** At most ``max_beats = ceil(duration / 5)`` beats are kept, the first ones
   (``validate_and_fix_beat_count``). A truncation is logged as a WARNING and handed to
   ``record_truncation``, which the pipeline uses to append one JSON line to
   ``TRUNCATION_LOG_KEY`` in the store. ``videogen validate`` passes none: validating
   writes nothing.
3. **Duration rule.** ``duration`` is the length of the video and wins over the beats.
   Beats fill it in order: a beat that runs past ``duration`` is cut at ``duration`` and
   later beats are dropped; if the beats end early, the last beat is lengthened to reach
   ``duration``. Then no beat is left shorter than 1 s: a short beat is merged into the beat
   before it (the first beat into the one after), which keeps its description.
4. **Frames.** Every duration is rounded to whole frames at the spec's fps (halves up)
   before fitting, so beat durations and start times are exact multiples of ``1 / fps``,
   starts are contiguous from 0 and the beats add up to ``duration`` exactly in frames
   (in seconds, up to float rounding of ``frames / fps``).

Each fix is logged as a WARNING (``logging.getLogger(__name__)``) and listed in plain words
in ``ValidatedSpec.adjustments``, naming the beat as the user wrote it (``beats[3]``).
A beat whose length is not a multiple of the clip length is not a problem: its last clip is
trimmed (see ``chunk_plan``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from videogen_dagster.domain.ids import validate_video_id
from videogen_dagster.domain.local_beat_planner import plan_beats_locally
from videogen_dagster.domain.spec import (
    MAX_TEXT_CHARS,
    AspectRatio,
    BeatSpec,
    CaptionsSpec,
    MusicSpec,
    NarrationSpec,
    VideoSpec,
)
from videogen_dagster.domain.timing import (
    MIN_SEGMENT_SECONDS,
    is_whole_frames,
    to_frames,
    to_seconds,
)
from videogen_dagster.settings import DEFAULT_CHUNK_SECONDS

logger = logging.getLogger(__name__)

#: Store key (relative to the store root) of the log of beat truncations, one JSON line each.
TRUNCATION_LOG_KEY = "logs/beat_truncation.jsonl"

BeatPlanner = Callable[[str, float, str | None], list[BeatSpec]]


class Beat(BaseModel):
    """A beat after validation: where it sits in the video, in seconds of whole frames."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int
    description: str
    start: float
    duration: float
    #: Words spoken over the beat; None when the beat is silent or narration is off.
    narration: str | None = None


class TruncationRecord(BaseModel):
    """One line of the truncation log: a spec had more beats than its duration can hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timestamp: str  # ISO 8601, UTC
    video_id: str
    original_count: int
    kept_count: int
    duration: float

    def to_json_line(self) -> str:
        """The record as one line of JSON, the form appended to ``TRUNCATION_LOG_KEY``."""
        return json.dumps(self.model_dump(), ensure_ascii=False)

    def describe(self) -> str:
        """The truncation in plain words, as logged and listed in ``adjustments``."""
        return (
            f"{self.original_count} beats are more than a {self.duration:g} s video holds "
            f"(at most ceil({self.duration:g} / {DEFAULT_CHUNK_SECONDS:g}) = {self.kept_count}); "
            f"kept the first {self.kept_count} and dropped "
            f"{self.original_count - self.kept_count}"
        )


class ValidatedSpec(BaseModel):
    """The self-consistent spec: beats contiguous from 0 that add up to ``duration``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    video_id: str
    prompt: str | None
    duration: float
    style: str | None
    aspect_ratio: AspectRatio
    fps: int
    music: MusicSpec | None  # None: no music
    references: list[str]
    seed: int
    beats: list[Beat]
    beats_source: Literal["spec", "planned"]
    truncation: TruncationRecord | None
    adjustments: list[str]
    #: How narration is spoken; None when no beat is narrated (or the spec turns it off).
    narration: NarrationSpec | None = None
    #: The captions to make; None when there is no narration or the spec turns them off.
    captions: CaptionsSpec | None = None

    @property
    def narrated_beats(self) -> list[Beat]:
        """The beats with words to speak, in order."""
        return [beat for beat in self.beats if beat.narration]


def max_beats(duration: float, fps: int) -> int:
    """``ceil(duration / 5)``, on the duration rounded to whole frames."""
    per_beat = to_frames(DEFAULT_CHUNK_SECONDS, fps)
    return -(-to_frames(duration, fps) // per_beat)


def validate_and_fix_beat_count(
    spec: VideoSpec,
    video_id: str,
    *,
    record_truncation: Callable[[TruncationRecord], None] | None = None,
    now: Callable[[], datetime] | None = None,
) -> tuple[list[BeatSpec], TruncationRecord | None]:
    """The spec's beats, cut to the first ``max_beats``, and the record of the cut if one was made.

    A cut is logged as a WARNING and passed to ``record_truncation`` (the pipeline appends
    ``record.to_json_line()`` to ``TRUNCATION_LOG_KEY``). ``now`` gives the record's time
    (UTC; a naive datetime is taken as UTC).
    """
    if spec.beats is None:
        raise ValueError(f"{video_id}: the spec has no beats to count; plan them first")
    limit = max_beats(spec.duration, spec.fps)
    if len(spec.beats) <= limit:
        return list(spec.beats), None
    stamp = (now or _utc_now)()
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    record = TruncationRecord(
        timestamp=stamp.astimezone(UTC).isoformat(),
        video_id=video_id,
        original_count=len(spec.beats),
        kept_count=limit,
        duration=to_seconds(to_frames(spec.duration, spec.fps), spec.fps),
    )
    logger.warning("%s: %s", video_id, record.describe())
    if record_truncation is not None:
        record_truncation(record)
    return list(spec.beats[:limit]), record


def validate_spec(
    spec: VideoSpec,
    video_id: str,
    *,
    planner: BeatPlanner = plan_beats_locally,
    record_truncation: Callable[[TruncationRecord], None] | None = None,
    now: Callable[[], datetime] | None = None,
) -> ValidatedSpec:
    """Plan (when the spec has no beats), cap the count, fit the durations; see the module doc."""
    validate_video_id(video_id)
    if spec.beats is None:
        if spec.prompt is None:  # VideoSpec refuses this; a hand-built spec may not
            raise ValueError(f"{video_id}: a spec without beats needs a prompt")
        planned = planner(spec.prompt, spec.duration, spec.style)
        if not planned:
            raise ValueError(f"{video_id}: the beat planner returned no beats for the prompt")
        counted = spec.model_copy(update={"beats": list(planned)})
        beats_source: Literal["spec", "planned"] = "planned"
    else:
        counted = spec
        beats_source = "spec"
    kept, truncation = validate_and_fix_beat_count(
        counted, video_id, record_truncation=record_truncation, now=now
    )
    adjustments = [truncation.describe()] if truncation else []
    fitted, notes = _fit_to_duration(kept, spec.duration, spec.fps, beats_source)
    for note in notes:
        logger.warning("%s: %s", video_id, note)
    adjustments += notes
    spoken = spec.narration is not False
    beats, start = [], 0
    for index, piece in enumerate(fitted):
        beats.append(
            Beat(
                index=index,
                description=piece.description,
                start=to_seconds(start, spec.fps),
                duration=to_seconds(piece.frames, spec.fps),
                narration=piece.narration if spoken else None,
            )
        )
        start += piece.frames
    narration = _narration(spec, beats)
    return ValidatedSpec(
        video_id=video_id,
        prompt=spec.prompt,
        duration=to_seconds(start, spec.fps),
        style=spec.style,
        aspect_ratio=spec.aspect_ratio,
        fps=spec.fps,
        music=_music(spec, beats),
        references=list(spec.references),
        seed=spec.seed,
        beats=beats,
        beats_source=beats_source,
        truncation=truncation,
        adjustments=adjustments,
        narration=narration,
        captions=_captions(spec) if narration is not None else None,
    )


@dataclass
class _Piece:
    """A beat being fitted: its name in the spec, its text and its length in frames."""

    label: str
    description: str
    frames: int
    narration: str | None = None


def _fit_to_duration(
    beats: list[BeatSpec], duration: float, fps: int, source: Literal["spec", "planned"]
) -> tuple[list[_Piece], list[str]]:
    """The duration rule of the module doc, in frames, and a note for every change it made."""
    notes: list[str] = []
    total = to_frames(duration, fps)
    if not is_whole_frames(duration, fps):
        notes.append(
            f"duration {duration:g} s is not a whole number of frames at {fps} fps; "
            f"rounded to {_secs(total, fps)} s"
        )
    label = "beats[{}]" if source == "spec" else "planned beat {}"
    pieces: list[_Piece] = []
    used = 0
    dropped: list[str] = []
    for index, beat in enumerate(beats):
        name = label.format(index)
        frames = to_frames(beat.duration, fps)
        if not is_whole_frames(beat.duration, fps):
            notes.append(
                f"{name} duration {beat.duration:g} s rounded to whole frames at {fps} fps: "
                f"{_secs(frames, fps)} s"
            )
        if used >= total:
            dropped.append(name)
            continue
        if used + frames > total:
            notes.append(
                f"{name} cut from {_secs(frames, fps)} s to {_secs(total - used, fps)} s: "
                f"it ran past the end of the {_secs(total, fps)} s video"
            )
            frames = total - used
        pieces.append(_Piece(name, beat.description, frames, beat.narration))
        used += frames
    if dropped:
        notes.append(
            f"{', '.join(dropped)} dropped: no time left in the {_secs(total, fps)} s video"
        )
    if used < total:
        last = pieces[-1]
        notes.append(
            f"{last.label} lengthened from {_secs(last.frames, fps)} s to "
            f"{_secs(last.frames + total - used, fps)} s: the beats ended before the "
            f"video's {_secs(total, fps)} s"
        )
        last.frames += total - used
    notes += _merge_short_pieces(pieces, fps)
    return pieces, notes


def _merge_short_pieces(pieces: list[_Piece], fps: int) -> list[str]:
    """Merge every piece under 1 s into its neighbour (in place); a note for each merge."""
    notes = []
    shortest = to_frames(MIN_SEGMENT_SECONDS, fps)
    index = 0
    while index < len(pieces) and len(pieces) > 1:
        piece = pieces[index]
        if piece.frames >= shortest:
            index += 1
            continue
        neighbour = pieces[index - 1] if index > 0 else pieces[index + 1]
        notes.append(
            f"{piece.label} ({_secs(piece.frames, fps)} s) is shorter than "
            f"{MIN_SEGMENT_SECONDS:g} s; merged into {neighbour.label}"
        )
        neighbour.frames += piece.frames
        neighbour.narration = _join_narration(neighbour, piece, before=index > 0)
        del pieces[index]
        if index > 0:
            index -= 1  # the previous piece grew; check it again
    return notes


def _music(spec: VideoSpec, beats: list[Beat]) -> MusicSpec | None:
    """The music to make: None when off, the spec's own, or one derived from prompt and style."""
    if spec.music is False:
        return None
    if isinstance(spec.music, MusicSpec):
        return spec.music
    subject = spec.prompt or beats[0].description
    prompt = f"Instrumental soundtrack for a video: {subject}"
    if spec.style:
        prompt += f". Mood and style: {spec.style}"
    if len(prompt) > MAX_TEXT_CHARS:
        prompt = prompt[: MAX_TEXT_CHARS - 3].rstrip() + "..."
    return MusicSpec(prompt=prompt)


def _join_narration(neighbour: _Piece, merged: _Piece, *, before: bool) -> str | None:
    """The narration of ``neighbour`` after ``merged`` joined it (``before``: it came first)."""
    parts = [neighbour.narration, merged.narration]
    texts = [text for text in (parts if before else parts[::-1]) if text]
    return " ".join(texts)[:MAX_TEXT_CHARS] or None


def _narration(spec: VideoSpec, beats: list[Beat]) -> NarrationSpec | None:
    """The narration settings, or None when nothing is to be spoken."""
    if spec.narration is False or not any(beat.narration for beat in beats):
        return None
    return spec.narration or NarrationSpec()


def _captions(spec: VideoSpec) -> CaptionsSpec | None:
    """The captions to make for a narrated video: soft unless the spec says otherwise."""
    captions = spec.captions or CaptionsSpec()
    return None if captions.mode == "off" else captions


def _secs(frames: int, fps: int) -> str:
    return f"{to_seconds(frames, fps):.6g}"


def _utc_now() -> datetime:
    return datetime.now(UTC)
