"""What the steps hand each other: small records pointing at files in the store."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from videogen_dagster.domain.chunk_plan import Chunk
from videogen_dagster.domain.validation import Beat, ValidatedSpec
from videogen_dagster.generation import GenerationResult

StartKind = Literal["storyboard_image", "previous_chunk_last_frame", "storyboard_reanchor"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class ReferenceImage(_Record):
    index: int
    source: str  # the user's file (relative to the spec) or "generated"
    key: str
    uri: str
    generation: GenerationResult | None = None


class BeatTask(_Record):
    """Everything one beat's branch needs: its beat, its chunks and the shared inputs."""

    spec: ValidatedSpec
    beat: Beat
    chunks: tuple[Chunk, ...]
    reference_keys: tuple[str, ...]
    width: int
    height: int


class StoryboardImage(_Record):
    task: BeatTask
    key: str
    uri: str
    generation: GenerationResult

    @property
    def beat_index(self) -> int:
        return self.beat.index

    @property
    def beat(self) -> Beat:
        return self.task.beat


class ChunkRecord(_Record):
    chunk: Chunk
    key: str
    uri: str
    started_from: StartKind
    start_frame_key: str
    start_frame_uri: str
    generation: GenerationResult


class BeatChain(_Record):
    """A beat's chunks made so far, in order, and the storyboard image they started from."""

    image: StoryboardImage
    chunks: tuple[ChunkRecord, ...]


class Storyboard(_Record):
    video_id: str
    images: tuple[StoryboardImage, ...]
    contact_sheet_key: str
    contact_sheet_uri: str

    @property
    def cost(self) -> float:
        return sum(image.generation.cost for image in self.images)


class ChunkSet(_Record):
    video_id: str
    chunks: tuple[ChunkRecord, ...]

    @property
    def cost(self) -> float:
        return sum(chunk.generation.cost for chunk in self.chunks)


class StitchedVideo(_Record):
    video_id: str
    key: str
    uri: str
    duration: float
    frame_count: int
    reencoded: bool


class Music(_Record):
    prompt: str
    key: str
    uri: str
    generation: GenerationResult


class FinalVideo(_Record):
    video_id: str
    key: str
    uri: str
    manifest_key: str
    manifest_uri: str
    duration: float
    frame_count: int
    has_audio: bool
    total_cost: float
    has_subtitles: bool = False


class BeatSpeech(_Record):
    """A beat's narration, spoken and fitted into the beat.

    ``tempo`` is how much faster than generated it is played to fit (1 when it fitted);
    ``words`` are ``(character, seconds)`` word starts in the generated speech, when the
    engine gives them (the captions are timed from them).
    """

    beat: Beat
    label: str
    voice: str
    speed: float
    tempo: float
    duration: float
    key: str
    uri: str
    words: tuple[tuple[int, float], ...]
    generation: GenerationResult


class NarrationTrack(_Record):
    """Every narrated beat's speech, in beat order (empty when nothing is spoken)."""

    video_id: str
    beats: tuple[BeatSpeech, ...]


class CaptionCue(_Record):
    start: float
    end: float
    text: str


class Captions(_Record):
    """The caption cues and their files; ``mode`` is soft or burned."""

    video_id: str
    mode: str
    language: str
    cues: tuple[CaptionCue, ...]
    srt_key: str
    srt_uri: str
    vtt_key: str
    vtt_uri: str
