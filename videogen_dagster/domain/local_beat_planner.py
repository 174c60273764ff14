"""The local beat planner: beats from a prompt without calling any API.

Deterministic (the same prompt and duration always give the same beats), so an offline
render, a test and a re-run all agree. It cuts the video into scenes of 5 s (the last one
shorter, or merged into the one before when it would be under 1 s) and gives each scene a
part of the prompt: whole sentences when there are enough, else clauses, and when the
prompt has fewer parts than scenes the parts are reused with a different framing ("Closer
view: ...") so no two beats ask for the same picture. The style is not written into the
descriptions because it is added to every image and clip prompt downstream.

Each scene is also narrated: the prompt's own words for it, cut to what can be spoken in the
scene at ``WORDS_PER_SECOND``. A part used again for a later scene is not spoken twice: those
scenes are silent.
"""

from __future__ import annotations

import math
import re

from videogen_dagster.domain.spec import MAX_TEXT_CHARS, BeatSpec
from videogen_dagster.domain.timing import MIN_SEGMENT_SECONDS
from videogen_dagster.settings import DEFAULT_CHUNK_SECONDS

SCENE_SECONDS = DEFAULT_CHUNK_SECONDS
#: A relaxed speaking pace; narration planned at it fits its scene at normal speed.
WORDS_PER_SECOND = 2.5

#: Framings for a prompt part used again; reuse cycles through them in order.
_REFRAMINGS = ("Closer view", "Detail close-up", "Slow push-in", "New angle", "Wide closing view")

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_CLAUSE_BREAK = re.compile(r",?\s+(?:and then|then|while)\s+|,\s+")


def plan_beats_locally(prompt: str, duration: float, style: str | None) -> list[BeatSpec]:
    """Beats of 5 s that tell ``prompt`` in ``duration`` seconds (``style`` is applied later)."""
    durations = _scene_durations(duration)
    parts, joiner = _prompt_parts(prompt, len(durations))
    descriptions = _describe_scenes(parts, joiner, len(durations))
    narrations = _narrate_scenes(parts, joiner, durations)
    return [
        BeatSpec(description=description, duration=seconds, narration=narration)
        for description, seconds, narration in zip(descriptions, durations, narrations, strict=True)
    ]


def narration_for(text: str, seconds: float) -> str | None:
    """``text`` cut to the words spoken in ``seconds`` at ``WORDS_PER_SECOND`` (at least one),
    ending in a full stop; None when there is nothing to say."""
    words = text.split()
    budget = max(1, math.floor(seconds * WORDS_PER_SECOND))
    if not words:
        return None
    spoken = " ".join(words[:budget]).rstrip(",;:")
    if spoken[-1] not in ".!?":
        spoken += "."
    return _fit(spoken)


def _narrate_scenes(parts: list[str], joiner: str, durations: list[float]) -> list[str | None]:
    count = len(durations)
    if len(parts) >= count:
        texts: list[str | None] = list(_groups(parts, joiner, count))
    else:
        texts = [parts[index] if index < len(parts) else None for index in range(count)]
    return [
        narration_for(text, seconds) if text else None
        for text, seconds in zip(texts, durations, strict=True)
    ]


def _scene_durations(duration: float) -> list[float]:
    count = max(1, math.ceil(duration / SCENE_SECONDS - 1e-9))
    durations = [SCENE_SECONDS] * (count - 1) + [duration - SCENE_SECONDS * (count - 1)]
    if count > 1 and durations[-1] < MIN_SEGMENT_SECONDS:
        tail = durations.pop()
        durations[-1] += tail
    return durations


def _prompt_parts(prompt: str, count: int) -> tuple[list[str], str]:
    """The prompt's sentences, or its clauses when there are fewer sentences than scenes.

    Returned with the text that joins parts sharing a scene.
    """
    text = " ".join(prompt.split())
    sentences = [part for part in _SENTENCE_END.split(text) if part.strip(" .!?;")]
    if len(sentences) >= count:
        return sentences, " "
    clauses = [
        clause.strip(" .!?;")
        for sentence in sentences
        for clause in _CLAUSE_BREAK.split(sentence)
        if clause.strip(" .!?;")
    ]
    if len(clauses) > len(sentences) and all(len(clause.split()) >= 2 for clause in clauses):
        return clauses, ", "
    return sentences or [text], " "


def _describe_scenes(parts: list[str], joiner: str, count: int) -> list[str]:
    if len(parts) >= count:
        return [_fit(group) for group in _groups(parts, joiner, count)]
    descriptions = []
    for index in range(count):
        part = _fit(parts[index % len(parts)])
        reuse = index // len(parts)
        if reuse:
            part = f"{_REFRAMINGS[(reuse - 1) % len(_REFRAMINGS)]}: {part}"
        descriptions.append(_fit(part))
    return descriptions


def _groups(parts: list[str], joiner: str, count: int) -> list[str]:
    """More parts than scenes: consecutive parts share a scene, earlier scenes take the extra."""
    size, extra = divmod(len(parts), count)
    groups, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        groups.append(joiner.join(parts[start:end]))
        start = end
    return groups


def _fit(text: str) -> str:
    """``text`` cut to the longest description a beat may have."""
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 3].rstrip() + "..."
