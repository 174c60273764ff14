"""Clips from Runway's image-to-video API through the official ``runwayml`` client.

Chosen for its models (Gen-4 Turbo and Gen-4.5 make 5 and 10 s clips: our chunk length)
and because the client takes a ``base_url``, so tests drive it against a server on loopback.

A clip is one task: submit → record the task id in the journal at once → poll with our own
deadline → download at once (output URLs expire) → probe. A step killed anywhere after the
submit finds the id in its journal and polls the same task again instead of paying twice.

Prices: Runway bills credits (USD 0.01 each); gen4_turbo costs 5 credits per second and
gen4.5 12 (docs.dev.runwayml.com/guides/pricing, checked 2026-11). The table is a default;
pass ``RunwaySettings.price_per_second`` for your contract. The credits a task reports are
recorded beside our figure in ``Generated.details``.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from videogen_dagster.providers.base import (
    ClipGenerator,
    ClipRequest,
    Generated,
    JobJournal,
    Size,
)
from videogen_dagster.providers.errors import (
    CorruptMediaError,
    ProviderError,
    TransientProviderError,
    UnsupportedRequestError,
)
from videogen_dagster.providers.retry import (
    RetrySettings,
    retry_with,
    runway_error,
    runway_task_failure,
)
from videogen_dagster.providers.verify import verify_clip

if TYPE_CHECKING:
    import runwayml

PROVIDER_NAME = "runway"

#: Runway accepts a base64 start image up to 5 MB as a data URI.
MAX_DATA_URI_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class RunwayModel:
    """What one Runway image-to-video model can make: clip lengths and a ratio per aspect."""

    clip_lengths: tuple[float, ...]
    sizes: Mapping[str, Size]


#: Gen-4 ratios for the spec's aspect ratios (Runway also makes 4:3, 3:4 and 21:9 ones).
_GEN4_SIZES = {"16:9": Size(1280, 720), "9:16": Size(720, 1280), "1:1": Size(960, 960)}

#: The models we plan chunks for; their ratios are the ``ratio`` literals of ``runwayml``.
RUNWAY_MODELS: Mapping[str, RunwayModel] = {
    "gen4_turbo": RunwayModel(clip_lengths=(5.0, 10.0), sizes=_GEN4_SIZES),
    "gen4.5": RunwayModel(clip_lengths=(5.0, 10.0), sizes=_GEN4_SIZES),
}

#: USD per second of clip (credits per second x USD 0.01 per credit).
DEFAULT_PRICE_PER_SECOND: Mapping[str, float] = {"gen4_turbo": 0.05, "gen4.5": 0.12}


@dataclass(frozen=True)
class RunwaySettings:
    """Runway backend settings; the key comes from ``RUNWAYML_API_SECRET`` upstream.

    ``poll_timeout`` bounds one step's wait for a task (Runway's own poll helper can wait
    forever); a task still running then fails the attempt with a transient error, and its id
    stays in the journal, so the next attempt resumes it.
    """

    api_key: str = field(repr=False)
    base_url: str | None = None
    model: str = "gen4_turbo"
    price_per_second: Mapping[str, float] = field(default_factory=lambda: DEFAULT_PRICE_PER_SECOND)
    poll_interval: float = 5.0
    poll_timeout: float = 600.0
    download_timeout: float = 120.0
    request_timeout: float = 60.0
    #: How far a downloaded clip may be from the asked duration before it counts as corrupt.
    duration_tolerance: float = 0.25
    retry: RetrySettings = RetrySettings()

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("RunwaySettings.api_key is empty: set RUNWAYML_API_SECRET")
        if self.model not in RUNWAY_MODELS:
            raise ValueError(
                f"RunwaySettings.model {self.model!r} is not one we can plan for; "
                f"use one of {', '.join(sorted(RUNWAY_MODELS))}"
            )
        if self.model not in self.price_per_second:
            raise ValueError(
                f"RunwaySettings.model {self.model!r} has no entry in price_per_second: add it"
            )

    def client(self) -> runwayml.RunwayML:
        """A client that never retries by itself: ``retry_with`` owns the attempts."""
        import runwayml

        return runwayml.RunwayML(
            api_key=self.api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=self.request_timeout,
        )


class RunwayClips(ClipGenerator):
    """Runway image-to-video clips at the model's own sizes and lengths."""

    name = PROVIDER_NAME

    def __init__(
        self,
        settings: RunwaySettings,
        *,
        client: runwayml.RunwayML | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        spec = RUNWAY_MODELS[settings.model]
        self.settings = settings
        self.model = settings.model
        self.clip_lengths = spec.clip_lengths
        self.sizes = spec.sizes
        self._client = client or settings.client()
        self._sleep = sleep
        self._clock = clock

    def estimate_cost(self, request: ClipRequest) -> float:
        return round(self.settings.price_per_second[self.model] * request.duration, 6)

    def generate_clip(self, request: ClipRequest, journal: JobJournal | None = None) -> Generated:
        ratio = self._check(request)
        task_id = self._resume(journal)
        if task_id is None:
            task_id = self._submit(request, ratio)
            if journal is not None:
                journal.record(task_id)
        task = self._wait(task_id, journal)
        try:
            data, info = self._download_verified(task_id, task.output, request)
        except CorruptMediaError:
            # The task's output is bad, not just this download: let the next attempt pay for
            # a fresh task rather than fetch the same broken file forever.
            if journal is not None:
                journal.clear()
            raise
        credits = getattr(getattr(task, "cost", None), "credits", None)
        return Generated(
            data=data,
            media_type="video/mp4",
            cost=round(self.settings.price_per_second[self.model] * request.duration, 6),
            provider=self.name,
            model=self.model,
            job_id=task_id,
            details={
                "ratio": ratio,
                "duration": info.duration,
                "fps": info.fps,
                "credits": credits,
            },
        )

    def _check(self, request: ClipRequest) -> str:
        """Runway's ``ratio`` for the request, or a clear error before anything is paid."""
        if request.duration not in self.clip_lengths:
            raise UnsupportedRequestError(
                f"{self.name} ({self.model}) makes clips of {self.clip_lengths} s, "
                f"not {request.duration:g} s"
            )
        if request.size not in self.sizes.values():
            made = ", ".join(f"{size} ({aspect})" for aspect, size in self.sizes.items())
            raise UnsupportedRequestError(
                f"{self.name} ({self.model}) cannot make a {request.size} clip; it makes {made}"
            )
        return f"{request.size.width}:{request.size.height}"

    def _resume(self, journal: JobJournal | None) -> str | None:
        """The journal's task id if that task can still deliver, else ``None`` (submit anew)."""
        import runwayml

        task_id = journal.lookup() if journal is not None else None
        if task_id is None:
            return None

        def retrieve() -> Any:
            try:
                return self._client.tasks.retrieve(task_id)
            except runwayml.NotFoundError:
                return None
            except runwayml.RunwayMLError as error:
                raise runway_error(error) from error

        task = retry_with(self.settings.retry, retrieve, sleep=self._sleep)
        if task is None or task.status in ("FAILED", "CANCELLED"):
            assert journal is not None
            journal.clear()
            return None
        return task_id

    def _submit(self, request: ClipRequest, ratio: str) -> str:
        import runwayml

        prompt_image = _start_image_data_uri(request.start_image, request.size)

        def create() -> str:
            try:
                created = self._client.image_to_video.create(
                    model=self.model,  # type: ignore[arg-type]  # checked against RUNWAY_MODELS
                    prompt_image=prompt_image,
                    prompt_text=_prompt_text(request),
                    ratio=ratio,  # type: ignore[arg-type]
                    duration=int(request.duration),
                    seed=request.seed % 4_294_967_296,
                )
            except runwayml.RunwayMLError as error:
                raise runway_error(error, input_kind="prompt") from error
            return created.id

        return retry_with(self.settings.retry, create, sleep=self._sleep)

    def _wait(self, task_id: str, journal: JobJournal | None) -> Any:
        """The task once SUCCEEDED, polling every ``poll_interval`` until ``poll_timeout``."""
        import runwayml

        def retrieve() -> Any:
            try:
                return self._client.tasks.retrieve(task_id)
            except runwayml.RunwayMLError as error:
                raise runway_error(error) from error

        deadline = self._clock() + self.settings.poll_timeout
        while True:
            task = retry_with(self.settings.retry, retrieve, sleep=self._sleep)
            if task.status == "SUCCEEDED":
                return task
            if task.status in ("FAILED", "CANCELLED"):
                if journal is not None:
                    journal.clear()
                if task.status == "CANCELLED":
                    raise ProviderError(f"runway task {task_id} was cancelled")
                raise runway_task_failure(task.failure_code, task.failure, task_id)
            if self._clock() >= deadline:
                raise TransientProviderError(
                    f"runway task {task_id} still {task.status} after "
                    f"{self.settings.poll_timeout:g} s; the next attempt resumes it"
                )
            self._sleep(self.settings.poll_interval)

    def _download_verified(
        self, task_id: str, first_urls: list[str], request: ClipRequest
    ) -> tuple[bytes, Any]:
        """The clip's bytes and probe, downloaded now; a retry fetches fresh output URLs."""
        import runwayml

        urls = [first_urls]

        def attempt() -> tuple[bytes, Any]:
            if not urls:
                try:
                    urls.append(self._client.tasks.retrieve(task_id).output)
                except runwayml.RunwayMLError as error:
                    raise runway_error(error) from error
            output = urls.pop()
            if not output:
                raise CorruptMediaError(f"runway task {task_id} succeeded without an output URL")
            data = _download(output[0], self.settings.download_timeout, task_id)
            return data, verify_clip(
                data,
                request.size,
                request.duration,
                source=f"runway task {task_id}",
                tolerance=self.settings.duration_tolerance,
            )

        return retry_with(self.settings.retry, attempt, sleep=self._sleep)


def _prompt_text(request: ClipRequest) -> str:
    text = request.prompt if not request.style else f"{request.prompt}. Style: {request.style}"
    return text[:1000]  # Runway's limit; the start image carries the rest


def _start_image_data_uri(start_image: bytes, size: Size) -> str:
    """The start image at exactly ``size`` as a data URI, as JPEG if PNG exceeds Runway's 5 MB."""
    from videogen_dagster.media import MediaError, resize_exact

    try:
        png = resize_exact(start_image, size)
    except MediaError as error:
        raise UnsupportedRequestError(f"runway: the start image cannot be read: {error}") from error
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    if len(uri) <= MAX_DATA_URI_BYTES:
        return uri
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(buffer, format="JPEG", quality=92)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _download(url: str, timeout: float, task_id: str) -> bytes:
    import httpx

    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.TimeoutException as error:
        raise TransientProviderError(f"runway task {task_id}: download timed out") from error
    except httpx.TransportError as error:
        raise TransientProviderError(f"runway task {task_id}: download failed: {error}") from error
    if response.status_code != 200:
        # 403/404 is an expired URL, 5xx the CDN: both are worth a retry with fresh URLs.
        raise TransientProviderError(
            f"runway task {task_id}: download answered HTTP {response.status_code}"
        )
    return response.content
