"""The local beat planner: beats from a prompt without calling any API.

Deterministic (the same prompt and duration always give the same beats), so an offline
render, a test and a re-run all agree. It cuts the video into scenes of 5 s (the last one
shorter, or merged into the one before when it would be under 1 s) and gives each scene a
part of the prompt: whole sentences when there are enough, else clauses, and when the
prompt has fewer parts than scenes the parts are reused with a different framing ("Closer
view: ...") so no two beats ask for the same picture. The style is not written into the
descriptions because it is added to every image and clip prompt downstream.
"""

from __future__ import annotations

import math
import re

from videogen_dagster.domain.spec import MAX_TEXT_CHARS, BeatSpec
from videogen_dagster.domain.timing import MIN_SEGMENT_SECONDS
from videogen_dagster.settings import DEFAULT_CHUNK_SECONDS

SCENE_SECONDS = DEFAULT_CHUNK_SECONDS

#: Framings for a prompt part used again; reuse cycles through them in order.
_REFRAMINGS = ("Closer view", "Detail close-up", "Slow push-in", "New angle", "Wide closing view")

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
_CLAUSE_BREAK = re.compile(r",?\s+(?:and then|then|while)\s+|,\s+")


def plan_beats_locally(prompt: str, duration: float, style: str | None) -> list[BeatSpec]:
    """Beats of 5 s that tell ``prompt`` in ``duration`` seconds (``style`` is applied later)."""
    durations = _scene_durations(duration)
    parts, joiner = _prompt_parts(prompt, len(durations))
    descriptions = _describe_scenes(parts, joiner, len(durations))
    return [
        BeatSpec(description=description, duration=seconds)
        for description, seconds in zip(descriptions, durations, strict=True)
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
        # More parts than scenes: consecutive parts share a scene, earlier scenes take the extra.
        size, extra = divmod(len(parts), count)
        groups, start = [], 0
        for index in range(count):
            end = start + size + (1 if index < extra else 0)
            groups.append(joiner.join(parts[start:end]))
            start = end
        return [_fit(group) for group in groups]
    descriptions = []
    for index in range(count):
        part = _fit(parts[index % len(parts)])
        reuse = index // len(parts)
        if reuse:
            part = f"{_REFRAMINGS[(reuse - 1) % len(_REFRAMINGS)]}: {part}"
        descriptions.append(_fit(part))
    return descriptions


def _fit(text: str) -> str:
    """``text`` cut to the longest description a beat may have."""
    return text if len(text) <= MAX_TEXT_CHARS else text[: MAX_TEXT_CHARS - 3].rstrip() + "..."
