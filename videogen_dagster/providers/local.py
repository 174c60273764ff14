"""The offline provider: real images, clips and music made on this machine, for free.

It is the default backend, so a user with no API key gets a real video, and tests get real
media to check. Output bytes are a pure function of the request (every random choice is
seeded from it, encoders are pinned), so caches and tests are stable. Latency and price are
simulated from :class:`LocalSettings` to rehearse the orchestration as if against a paid API.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from numpy.random import default_rng

from videogen_dagster import waits
from videogen_dagster.domain.spec import BeatSpec
from videogen_dagster.media.encode import encode_pcm_to_m4a
from videogen_dagster.media.errors import MediaError
from videogen_dagster.media.images import load_rgb, resize_exact
from videogen_dagster.providers.base import (
    ClipGenerator,
    ClipRequest,
    Generated,
    ImageGenerator,
    ImageRequest,
    JobJournal,
    MusicGenerator,
    MusicRequest,
    Planner,
    Provider,
    Size,
    request_fingerprint,
)
from videogen_dagster.providers.errors import PermanentProviderError, UnsupportedRequestError
from videogen_dagster.providers.local_art import (
    caption_band,
    carries_band,
    render_storyboard,
    seed_from,
)
from videogen_dagster.providers.local_motion import Motion, render_zoom_clip
from videogen_dagster.providers.local_music import SAMPLE_RATE, synthesise

NAME = "local"

#: Zoom speed of local clips: 2 % per second, a slow push-in that reads as camera motion.
ZOOM_PER_SECOND = 0.02


@dataclass(frozen=True)
class LocalSettings:
    """How the local provider behaves; the defaults are free, instant and 720p.

    - ``short_side``: the shorter side of every size (16:9 → 1280×720 at 720).
    - ``*_latency``: the least time a call takes, in seconds, its rendering included (see
      ``_Latency``); ``latency_jitter`` is the sigma of a lognormal multiplier (median 1),
      drawn from ``latency_seed`` and the request, so a benchmark replays the same delays
      whatever order its threads run in.
    - ``price_per_*``: USD per image, per second of clip, per second of music, per character
      of narration.
    - ``clip_lengths``: the clip lengths accepted, like a real API's fixed durations.
    - ``drift_per_clip``: simulated colour creep of real image-to-video models: each clip's
      contrast and saturation rise by this fraction from its first frame to its last
      (0 = none). It exists to measure the continuity guards; leave it 0 otherwise.
    """

    short_side: int = 720
    image_latency: float = 0.0
    clip_latency: float = 0.0
    music_latency: float = 0.0
    latency_jitter: float = 0.0
    price_per_image: float = 0.0
    price_per_video_second: float = 0.0
    price_per_music_second: float = 0.0
    price_per_speech_character: float = 0.0
    clip_lengths: tuple[float, ...] = (5.0,)
    latency_seed: int | None = None
    drift_per_clip: float = 0.0

    def __post_init__(self) -> None:
        if self.short_side < 16 or self.short_side % 2:
            raise ValueError(f"short_side must be an even number >= 16, got {self.short_side}")
        if not self.clip_lengths or any(length <= 0 for length in self.clip_lengths):
            raise ValueError(f"clip_lengths must be positive seconds, got {self.clip_lengths}")
        if list(self.clip_lengths) != sorted(self.clip_lengths):
            raise ValueError(f"clip_lengths must be ascending, got {self.clip_lengths}")

    def sizes(self) -> dict[str, Size]:
        """The size per aspect ratio: the short side fixed, the long one even."""
        short = self.short_side
        long = 2 * round(short * 16 / 9 / 2)
        return {"16:9": Size(long, short), "9:16": Size(short, long), "1:1": Size(short, short)}


class _Latency:
    """Simulated API delay: a call answers no sooner than its drawn delay after it starts.

    The local rendering happens inside that delay, as a real API's answer time includes its
    own rendering: a call costs ``max(delay, render time)``, not their sum, so a benchmark's
    critical path (the sum of drawn delays) is what the provider alone costs. Threads run
    while a call waits out the rest of its delay, which an interrupted run cuts short.
    """

    def __init__(self, settings: LocalSettings) -> None:
        self._jitter = settings.latency_jitter
        self._seed = settings.latency_seed

    @contextmanager
    def pace(self, base: float, fingerprint: str) -> Iterator[float]:
        """Yields the delay drawn for this call; on leaving, sleeps out what is left of it."""
        delay = self._draw(base, fingerprint)
        deadline = time.monotonic() + delay
        yield delay
        remaining = deadline - time.monotonic()
        if remaining > 0:
            waits.sleep(remaining)

    def _draw(self, base: float, fingerprint: str) -> float:
        if base <= 0:
            return 0.0
        if self._jitter <= 0:
            return base
        rng = random.Random(seed_from(self._seed, fingerprint) if self._seed is not None else None)
        return base * math.exp(rng.gauss(0.0, self._jitter))


class LocalPlanner(Planner):
    """Splits the prompt into 5 s scenes (no model: see ``domain.local_beat_planner``)."""

    name = NAME
    model = "scene-splitter"

    def plan_beats(self, prompt: str, duration: float, style: str | None) -> list[BeatSpec]:
        from videogen_dagster.domain.local_beat_planner import plan_beats_locally

        return plan_beats_locally(prompt, duration, style)


class LocalImages(ImageGenerator):
    """Storyboard images painted from a seed, with the prompt written on them."""

    name = NAME
    model = "seeded-painting-v1"

    def __init__(self, settings: LocalSettings = LocalSettings()) -> None:
        self.settings = settings
        self._latency = _Latency(settings)

    def estimate_cost(self, request: ImageRequest) -> float:
        return self.settings.price_per_image

    def generate_image(self, request: ImageRequest) -> Generated:
        fingerprint = request_fingerprint(self, request)
        with self._latency.pace(self.settings.image_latency, fingerprint) as latency:
            try:
                png = render_storyboard(
                    request.prompt,
                    style=request.style,
                    width=request.size.width,
                    height=request.size.height,
                    seed=request.seed,
                    references=request.references,
                )
            except MediaError as exc:  # an undecodable reference image
                raise PermanentProviderError(str(exc), input_kind="image") from None
        return Generated(
            data=png,
            media_type="image/png",
            cost=self.settings.price_per_image,
            provider=self.name,
            model=self.model,
            details={"latency": latency, "size": str(request.size)},
        )


class LocalClips(ClipGenerator):
    """Clips that slowly zoom into their start image (frame 0 is the start image); a caption
    band the start image carries stays fixed on screen over the zoom."""

    name = NAME
    model = "zoom-v1"

    def __init__(self, settings: LocalSettings = LocalSettings()) -> None:
        self.settings = settings
        self.clip_lengths = settings.clip_lengths
        self.sizes = settings.sizes()
        self._latency = _Latency(settings)

    def estimate_cost(self, request: ClipRequest) -> float:
        return self.settings.price_per_video_second * request.duration

    def generate_clip(self, request: ClipRequest, journal: JobJournal | None = None) -> Generated:
        """Renders at once (no job to resume, so ``journal`` is unused)."""
        if request.duration not in self.clip_lengths:
            lengths = ", ".join(f"{length:g}" for length in self.clip_lengths)
            raise UnsupportedRequestError(
                f"{self.name} ({self.model}) makes clips of {lengths} s, not {request.duration:g} s"
            )
        if request.size.width % 2 or request.size.height % 2:
            raise UnsupportedRequestError(
                f"{self.name} ({self.model}) needs an even clip size for H.264, not {request.size}"
            )
        fingerprint = request_fingerprint(self, request)
        frames = round(request.duration * request.fps)
        with (
            self._latency.pace(self.settings.clip_latency, fingerprint) as latency,
            tempfile.TemporaryDirectory(prefix="local-clip-") as folder,
        ):
            try:
                start = load_rgb(
                    resize_exact(request.start_image, request.size), what="start image"
                )
            except MediaError as exc:
                raise PermanentProviderError(str(exc), input_kind="image") from None
            path = Path(folder) / "clip.mp4"
            band = caption_band(request.prompt, request.style, *start.shape[1::-1])
            render_zoom_clip(
                start,
                path,
                fps=request.fps,
                frames=frames,
                motion=self._motion(request),
                overlay=band if carries_band(start, band) else None,
            )
            data = path.read_bytes()
        return Generated(
            data=data,
            media_type="video/mp4",
            cost=self.settings.price_per_video_second * request.duration,
            provider=self.name,
            model=self.model,
            details={"latency": latency, "frames": frames, "fps": request.fps},
        )

    def _motion(self, request: ClipRequest) -> Motion:
        """Motion from the prompt and style only, so every chunk of a beat moves alike."""
        rng = default_rng(seed_from("motion", request.prompt, request.style))
        focus = (float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7)))
        return Motion(focus, ZOOM_PER_SECOND, drift=self.settings.drift_per_clip)


class LocalMusic(MusicGenerator):
    """A generated music bed (FLAC in an .m4a): chords, bass and a melody chosen from the prompt."""

    name = NAME
    model = "synth-v3"

    def __init__(self, settings: LocalSettings = LocalSettings()) -> None:
        self.settings = settings
        self._latency = _Latency(settings)

    def estimate_cost(self, request: MusicRequest) -> float:
        return self.settings.price_per_music_second * request.duration

    def generate_music(self, request: MusicRequest) -> Generated:
        if request.duration <= 0:
            raise UnsupportedRequestError(
                f"music duration must be positive, got {request.duration}"
            )
        fingerprint = request_fingerprint(self, request)
        rng = default_rng(seed_from("music", request.prompt, request.seed))
        with (
            self._latency.pace(self.settings.music_latency, fingerprint) as latency,
            tempfile.TemporaryDirectory(prefix="local-music-") as folder,
        ):
            samples = synthesise(request.duration, rng)
            path = Path(folder) / "music.m4a"
            # Lossless: the soundtrack step re-encodes it to AAC, and FLAC costs a tenth of the CPU.
            encode_pcm_to_m4a(
                samples, path, sample_rate=SAMPLE_RATE, lossless=True, background=True
            )
            data = path.read_bytes()
        return Generated(
            data=data,
            media_type="audio/mp4",
            cost=self.settings.price_per_music_second * request.duration,
            provider=self.name,
            model=self.model,
            details={"latency": latency, "sample_rate": SAMPLE_RATE},
        )


def local_provider(settings: LocalSettings = LocalSettings()) -> Provider:
    """Every role on this machine."""
    from videogen_dagster.providers.local_speech import LocalSpeech

    return Provider(
        planner=LocalPlanner(),
        images=LocalImages(settings),
        clips=LocalClips(settings),
        music=LocalMusic(settings),
        speech=LocalSpeech(settings.price_per_speech_character),
    )
