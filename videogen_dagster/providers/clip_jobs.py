"""A clip made as a vendor's job: journalled at once, polled again after a crash, fetched at once.

Runway and fal both run an image-to-video clip as a job on their side, and what keeps such a
clip from being paid twice is the same for both, so it lives here once:

- the job id goes into the step's journal the moment the vendor answers the submit, and a
  step killed after that finds the id and polls the same job again (``resume_or_submit``);
- time the job waits in the vendor's queue (behind the account's concurrency tier) is waited
  out on its own limit, so a long queue burns no retry; a job still running at ``poll_timeout``
  fails the attempt with a transient error and stays journalled for the next one
  (``wait_for_job``);
- the output is downloaded at once (vendors' URLs expire) and probed (``fetch_verified_clip``),
  and an output that is corrupt drops the job from the journal, so the next attempt pays for a
  fresh job rather than fetch the same broken file forever (``forget_job_if_corrupt``).

The vendor modules keep what differs: their SDK calls, error mapping and state names.
``ClipJobSettings`` and ``JobClips`` hold what their settings and clip backends share.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from videogen_dagster import waits
from videogen_dagster.media import MediaInfo
from videogen_dagster.providers.base import (
    ClipGenerator,
    ClipRequest,
    Generated,
    JobJournal,
    Size,
)
from videogen_dagster.providers.clip_models import ClipModelSpec, truncate_utf16, utf16_length
from videogen_dagster.providers.errors import (
    CorruptMediaError,
    TransientProviderError,
    UnsupportedRequestError,
)
from videogen_dagster.providers.notices import notice
from videogen_dagster.providers.retry import RetrySettings
from videogen_dagster.providers.verify import verify_clip

Answer = TypeVar("Answer")
Status = TypeVar("Status")


@dataclass(frozen=True)
class ClipJobSettings:
    """What every job-based clip backend is set with; the key comes from the environment.

    ``poll_timeout`` bounds one step's wait for a job the vendor is working on (a vendor's own
    poll helper can wait forever); a job still running then fails the attempt with a transient
    error and stays in the journal, so the next attempt resumes it. Time the job waits in the
    vendor's queue does not count: each backend bounds that wait with a setting of its own.
    """

    #: The vendor's models we can plan for, and the environment variable its key comes from.
    models: ClassVar[Mapping[str, ClipModelSpec]]
    key_variable: ClassVar[str]

    api_key: str = field(repr=False)
    model: str
    #: USD per second of clip, per model.
    price_per_second: Mapping[str, float]
    poll_interval: float = 5.0
    poll_timeout: float = 600.0
    download_timeout: float = 120.0
    request_timeout: float = 60.0
    #: How far a downloaded clip may be from the asked duration before it counts as corrupt.
    duration_tolerance: float = 0.25
    retry: RetrySettings = RetrySettings()

    def __post_init__(self) -> None:
        owner = type(self).__name__
        if not self.api_key:
            raise ValueError(f"{owner}.api_key is empty: set {self.key_variable}")
        if self.model not in self.models:
            raise ValueError(
                f"{owner}.model (clips_model) {self.model!r} is not one we can plan for; "
                f"use one of {', '.join(sorted(self.models))}"
            )
        if self.model not in self.price_per_second:
            raise ValueError(
                f"{owner}.model {self.model!r} has no entry in price_per_second: add it"
            )


class JobClips(ClipGenerator):
    """A clip backend whose clips are vendor jobs, at its model's own sizes and lengths."""

    def __init__(
        self,
        settings: ClipJobSettings,
        *,
        sleep: Callable[[float], None] = waits.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.model = settings.model
        self.table = settings.models[settings.model]
        self.clip_lengths = self.table.clip_lengths
        self.sizes = self.table.sizes
        self._sleep = sleep
        self._clock = clock

    def estimate_cost(self, request: ClipRequest) -> float:
        return round(self.settings.price_per_second[self.model] * request.duration, 6)

    def _generated(
        self, data: bytes, request: ClipRequest, job_id: str, details: Mapping[str, Any]
    ) -> Generated:
        """The finished clip, charged at our price (the figure the budget reserved)."""
        return Generated(
            data=data,
            media_type="video/mp4",
            cost=self.estimate_cost(request),
            provider=self.name,
            model=self.model,
            job_id=job_id,
            details=details,
        )


def resume_or_submit(
    journal: JobJournal | None,
    *,
    job: str,
    can_deliver: Callable[[str], bool],
    submit: Callable[[], tuple[str, Answer]],
) -> tuple[str, Answer | None]:
    """The journal's job if it can still deliver, else a new job, journalled at once.

    ``submit`` returns the new job's id and whatever else the vendor answered, which comes back
    beside the id (``None`` for a resumed job). ``job`` names a job in notices ("fal request").
    """
    job_id = journal.lookup() if journal is not None else None
    if journal is not None and job_id is not None:
        if can_deliver(job_id):
            notice(f"{job} {job_id} found in the job journal: polling it again")
            return job_id, None
        notice(f"{job} {job_id} in the job journal cannot deliver: submitting the clip again")
        journal.clear()
    job_id, answer = submit()
    if journal is not None:
        journal.record(job_id)
    return job_id, answer


@dataclass(frozen=True)
class JobStates:
    """A vendor's names for a job that is finished and one waiting in its queue, and the
    setting that bounds the queue's wait (named in the error when it runs out)."""

    done: str
    queued: str
    queue_setting: str


def wait_for_job(
    job: str,
    poll: Callable[[], Status],
    state_of: Callable[[Status], str],
    states: JobStates,
    *,
    interval: float,
    poll_timeout: float,
    queue_timeout: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
    on_change: Callable[[Status, str | None, str, float], None] | None = None,
) -> tuple[Status, float]:
    """The job's status once done, and the seconds it spent queued.

    Polls every ``interval``. Each interval counts towards the limit of the state the job was
    in when it began: ``queue_timeout`` for the queued state, ``poll_timeout`` for any other.
    ``on_change(status, previous, state, queued_seconds)`` hears every change of state before
    anything else is decided, and may raise to end the wait (a failed job).
    """
    working = queued = 0.0
    previous: str | None = None
    polled_at = clock()
    while True:
        status = poll()
        now = clock()
        if previous == states.queued:
            queued += now - polled_at
        elif previous is not None:
            working += now - polled_at
        polled_at = now
        state = state_of(status)
        if state != previous and on_change is not None:
            on_change(status, previous, state, queued)
        previous = state
        if state == states.done:
            return status, queued
        if state == states.queued and queued >= queue_timeout:
            raise TransientProviderError(
                f"{job} still {state} after {queued:g} s ({states.queue_setting}); "
                "the next attempt resumes it"
            )
        if state != states.queued and working >= poll_timeout:
            raise TransientProviderError(
                f"{job} still {state} after {poll_timeout:g} s; the next attempt resumes it"
            )
        sleep(interval)


@contextmanager
def forget_job_if_corrupt(journal: JobJournal | None) -> Iterator[None]:
    """Clear the journal when the block finds the job's output corrupt: the output is bad,
    not just one download, so the next attempt pays for a fresh job."""
    try:
        yield
    except CorruptMediaError:
        if journal is not None:
            journal.clear()
        raise


def fetch_verified_clip(
    url: str, request: ClipRequest, *, job: str, timeout: float, tolerance: float
) -> tuple[bytes, MediaInfo]:
    """The clip at ``url`` and its probe, checked against the size and length asked for."""
    data = download_output(url, timeout, job)
    return data, verify_clip(data, request.size, request.duration, source=job, tolerance=tolerance)


def download_output(url: str, timeout: float, job: str) -> bytes:
    """The bytes at ``url``; any failure is transient (a retry may fetch fresh URLs)."""
    import httpx

    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.TimeoutException as error:
        raise TransientProviderError(f"{job}: download timed out") from error
    except httpx.TransportError as error:
        raise TransientProviderError(f"{job}: download failed: {error}") from error
    if response.status_code != 200:
        # 403/404 is an expired URL, 5xx the CDN: both are worth a retry.
        raise TransientProviderError(f"{job}: download answered HTTP {response.status_code}")
    return response.content


def prompt_text(request: ClipRequest, limit: int, vendor: str) -> str:
    """The prompt and style, cut to ``limit`` UTF-16 code units (the start image carries the
    rest); a cut is told to the step's log, since the clip will not follow the lost words."""
    text = request.prompt if not request.style else f"{request.prompt}. Style: {request.style}"
    cut = truncate_utf16(text, limit)
    if cut != text:
        notice(
            f"{vendor}: prompt cut to {limit} UTF-16 code units (it had {utf16_length(text)}); "
            f"lost: {text[len(cut) :][:60]!r}..."
        )
    return cut


def start_image_data_uri(
    start_image: bytes, size: Size, vendor: str, *, max_bytes: int | None = None
) -> str:
    """The start image at exactly ``size``, inline as a PNG data URI (no upload needed); as
    JPEG when the PNG's URI exceeds the vendor's ``max_bytes``."""
    from videogen_dagster.media import MediaError, resize_exact

    try:
        png = resize_exact(start_image, size)
    except MediaError as error:
        raise UnsupportedRequestError(
            f"{vendor}: the start image cannot be read: {error}"
        ) from error
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    if max_bytes is None or len(uri) <= max_bytes:
        return uri
    from PIL import Image

    buffer = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(buffer, format="JPEG", quality=92)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
