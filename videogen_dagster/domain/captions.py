"""Captions from narration: cues in time, and the SRT and WebVTT texts.

A beat's narration becomes one cue per sentence; a sentence longer than ``MAX_LINE_CHARS``
is cut at word boundaries into lines of at most that many characters, one cue each, so a cue
is always one readable line. Cue times come from the speech engine's word timings when it
gives them (the cue starts when its first word is spoken) and are otherwise spread over the
speech by characters. A cue never outlasts its beat, and cues never overlap.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: Longest caption line, in characters (the usual subtitle guideline).
MAX_LINE_CHARS = 42
#: Shortest cue shown, in seconds; a shorter one is merged into the cue before it.
MIN_CUE_SECONDS = 0.2

_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+[\"')\]]*|$)")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def cue_texts(text: str) -> list[tuple[int, str]]:
    """The cue texts of ``text`` with the character each starts at: sentences, then lines."""
    pieces: list[tuple[int, str]] = []
    for sentence in _SENTENCE.finditer(text):
        words = list(_WORD.finditer(sentence.group()))
        line: list[re.Match[str]] = []
        for word in words:
            candidate = " ".join(w.group() for w in [*line, word])
            if line and len(candidate) > MAX_LINE_CHARS:
                pieces.append(_piece(sentence.start(), line))
                line = []
            line.append(word)
        if line:
            pieces.append(_piece(sentence.start(), line))
    return pieces


def _piece(offset: int, words: list[re.Match[str]]) -> tuple[int, str]:
    return offset + words[0].start(), " ".join(word.group() for word in words)


def beat_cues(
    text: str,
    *,
    start: float,
    spoken: float,
    end: float,
    words: Sequence[tuple[int, float]] = (),
    tempo: float = 1.0,
) -> list[Cue]:
    """The cues of one beat's narration ``text``, spoken from ``start`` for ``spoken`` seconds,
    clipped at ``end`` (the beat's end). ``words`` are ``(character, seconds)`` word starts in
    the speech before it was played ``tempo`` times faster."""
    pieces = cue_texts(text)
    if not pieces:
        return []
    offsets = [_offset(position, text, spoken, words, tempo) for position, _ in pieces]
    offsets[0] = 0.0
    cues: list[Cue] = []
    for index, (_, line) in enumerate(pieces):
        cue_start = start + offsets[index]
        cue_end = start + (offsets[index + 1] if index + 1 < len(pieces) else spoken)
        cue_end = min(cue_end, end)
        if cues and cue_end - cue_start < MIN_CUE_SECONDS:
            last = cues.pop()
            cues.append(Cue(last.start, max(last.end, cue_end), f"{last.text} {line}"))
            continue
        cues.append(Cue(round(cue_start, 3), round(cue_end, 3), line))
    return cues


def _offset(
    position: int, text: str, spoken: float, words: Sequence[tuple[int, float]], tempo: float
) -> float:
    """When the character at ``position`` is spoken, in seconds from the speech's start."""
    timed = [seconds for character, seconds in words if character >= position]
    if timed:
        return min(timed[0] / tempo, spoken)
    return spoken * position / max(len(text), 1)


def _clock(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(cues: Sequence[Cue]) -> str:
    """SubRip text: numbered cues, ``HH:MM:SS,mmm`` times."""
    blocks = [
        f"{number}\n{_clock(cue.start, ',')} --> {_clock(cue.end, ',')}\n{cue.text}\n"
        for number, cue in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT text: a header, then ``HH:MM:SS.mmm`` cues."""
    blocks = [f"{_clock(cue.start, '.')} --> {_clock(cue.end, '.')}\n{cue.text}\n" for cue in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


def cue_problems(cues: Sequence[Cue], video_seconds: float) -> list[str]:
    """What is wrong with a cue list: out of order, overlapping, empty or outside the video."""
    problems = []
    for number, cue in enumerate(cues, start=1):
        if cue.end <= cue.start:
            problems.append(f"cue {number} ends at {cue.end} s, not after its start {cue.start} s")
        if cue.start < 0 or cue.end > video_seconds + 1e-3:
            problems.append(f"cue {number} ({cue.start}-{cue.end} s) is outside the video")
        if number > 1 and cue.start < cues[number - 2].end - 1e-6:
            problems.append(f"cue {number} starts before cue {number - 1} ends")
    return problems
