"""The provider interface: four generation calls, each returning bytes plus what it cost.

Every backend (the offline local one, OpenAI, the image-to-video API) implements one or more
of the four roles below; a ``Provider`` bundles one backend per role so OpenAI images and
another vendor's clips combine in one render. Nothing here knows about Dagster or the store.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from videogen_dagster.domain.spec import AspectRatio, BeatSpec
from videogen_dagster.providers.errors import UnsupportedRequestError

MediaType = Literal["image/png", "video/mp4", "audio/mp4", "audio/wav"]


@dataclass(frozen=True)
class Size:
    """Pixel size of an image or clip; both sides even, as H.264 in yuv420p needs."""

    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True)
class ImageRequest:
    """A storyboard or reference image; ``references`` are PNG bytes used for consistency."""

    prompt: str
    size: Size
    seed: int
    style: str | None = None
    references: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class ClipRequest:
    """A clip that starts on ``start_image`` (PNG bytes at exactly ``size``).

    ``duration`` is one of the provider's ``clip_lengths``; trimming to a beat's exact length
    happens after generation.
    """

    start_image: bytes
    prompt: str
    size: Size
    fps: int
    duration: float
    seed: int
    style: str | None = None


@dataclass(frozen=True)
class MusicRequest:
    """A music bed of ``duration`` seconds."""

    prompt: str
    duration: float
    seed: int


@dataclass(frozen=True)
class SpeechRequest:
    """``text`` spoken by ``voice`` (a name the backend knows) at ``speed`` times its pace."""

    text: str
    voice: str
    speed: float


@dataclass(frozen=True)
class Generated:
    """What one generation call produced and what it cost (in USD)."""

    data: bytes
    media_type: MediaType
    cost: float
    provider: str
    model: str
    job_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


class JobJournal(Protocol):
    """Where a clip provider records a submitted job the moment it has an id.

    A step that is killed after submitting and restarted looks the id up and polls the same
    job again instead of paying for a new one.
    """

    def lookup(self) -> str | None: ...

    def record(self, job_id: str) -> None: ...

    def clear(self) -> None: ...


class Planner(ABC):
    """Plans beats from a prompt when a spec gives none."""

    name: str
    model: str
    #: USD the latest ``plan_beats`` call cost; a spec step makes one call, and the caller
    #: records it in the video's cost ledger.
    last_cost: float = 0.0

    @abstractmethod
    def plan_beats(self, prompt: str, duration: float, style: str | None) -> list[BeatSpec]:
        """Beats that tell ``prompt`` in about ``duration`` seconds."""

    def estimate_cost(self, prompt: str, duration: float, style: str | None) -> float:
        """The most a ``plan_beats`` call may charge (``videogen estimate`` shows it)."""
        return 0.0


class ImageGenerator(ABC):
    name: str
    model: str

    @abstractmethod
    def generate_image(self, request: ImageRequest) -> Generated:
        """PNG bytes at exactly ``request.size``."""

    def estimate_cost(self, request: ImageRequest) -> float:
        """The most this call may charge: the budget checks it before paying."""
        return 0.0


class ClipGenerator(ABC):
    name: str
    model: str
    #: Clip lengths the provider can make, in seconds, ascending.
    clip_lengths: tuple[float, ...]
    #: Clip size per aspect ratio; an aspect ratio missing here cannot be made.
    sizes: Mapping[str, Size]

    def size_for(self, aspect_ratio: AspectRatio) -> Size:
        """The clip size for ``aspect_ratio``, or a clear error before anything is paid."""
        try:
            return self.sizes[aspect_ratio]
        except KeyError:
            supported = ", ".join(sorted(self.sizes))
            raise UnsupportedRequestError(
                f"{self.name} ({self.model}) cannot make aspect_ratio {aspect_ratio!r}; "
                f"it supports {supported}"
            ) from None

    @abstractmethod
    def generate_clip(self, request: ClipRequest, journal: JobJournal | None = None) -> Generated:
        """H.264 MP4 bytes of ``request.duration`` seconds whose first frame is the start image."""

    def estimate_cost(self, request: ClipRequest) -> float:
        """The most this call may charge: the budget checks it before paying."""
        return 0.0


class MusicGenerator(ABC):
    name: str
    model: str

    @abstractmethod
    def generate_music(self, request: MusicRequest) -> Generated:
        """Audio bytes (AAC in MP4) of ``request.duration`` seconds."""

    def estimate_cost(self, request: MusicRequest) -> float:
        """The most this call may charge: the budget checks it before paying."""
        return 0.0


class SpeechGenerator(ABC):
    name: str
    model: str
    #: The voice used when a spec names none.
    default_voice: str

    @abstractmethod
    def generate_speech(self, request: SpeechRequest) -> Generated:
        """WAV bytes of the spoken text. ``details`` may hold ``words``: ``[[character, seconds],
        ...]``, where each word starts in the text and in the audio, for caption timing."""

    def estimate_cost(self, request: SpeechRequest) -> float:
        """The most this call may charge: the budget checks it before paying."""
        return 0.0


def _local_speech() -> SpeechGenerator:
    from videogen_dagster.providers.local_speech import LocalSpeech

    return LocalSpeech()


@dataclass(frozen=True)
class Provider:
    """One backend per role; the clip generator decides sizes and chunk lengths."""

    planner: Planner
    images: ImageGenerator
    clips: ClipGenerator
    music: MusicGenerator
    #: Narration; the offline voice unless a backend is named.
    speech: SpeechGenerator = field(default_factory=_local_speech)

    def size_for(self, aspect_ratio: AspectRatio) -> Size:
        return self.clips.size_for(aspect_ratio)

    @property
    def clip_lengths(self) -> tuple[float, ...]:
        return self.clips.clip_lengths


def request_fingerprint(
    generator: ImageGenerator | ClipGenerator | MusicGenerator | SpeechGenerator, request: Any
) -> str:
    """A hash of everything that determines a generation's result: backend, model and request.

    Byte fields (start image, references) enter by their SHA-256, so equal content hashes
    equal whatever file it came from.
    """
    fields: dict[str, Any] = {"provider": generator.name, "model": generator.model}
    for name, value in vars(request).items():
        if isinstance(value, bytes):
            fields[name] = hashlib.sha256(value).hexdigest()
        elif isinstance(value, tuple) and value and isinstance(value[0], bytes):
            fields[name] = [hashlib.sha256(v).hexdigest() for v in value]
        elif isinstance(value, Size):
            fields[name] = str(value)
        else:
            fields[name] = value
    fields["kind"] = type(request).__name__
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()
