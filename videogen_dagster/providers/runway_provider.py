"""Clips from Runway's image-to-video API through the official ``runwayml`` client.

Chosen for its models (``providers.clip_models``: Gen-4 Turbo and Gen-4.5 take any whole
second from 2 to 10, Veo 3.1 4, 6 or 8, Kling 3.0 and Seedance 2 longer) and because the client
takes a ``base_url``, so tests drive it against a server on loopback.

A clip is one task: check the request against the model's table (nothing is paid for a size or
length the model cannot make) → submit → record the task id in the journal at once → poll with
our own deadline → download at once (output URLs expire) → probe. A step killed anywhere after
the submit finds the id in its journal and polls the same task again instead of paying twice.

Throttling: a task over the account's concurrency tier waits in ``THROTTLED`` (tier 1 runs one
or two at once). That time is Runway's queue, not a stuck task: it does not count against
``poll_timeout`` (so it burns no retry), it is told to the step's log through
``providers.notices``, and the seconds are recorded in ``Generated.details``.

Prices come from the model table (USD per second); pass ``RunwaySettings.price_per_second`` for
your contract. Runway's own figures are recorded beside ours in ``Generated.details``: the
``estimatedCost`` of the create response (the most the task may charge) and the final
``cost`` of the task, in credits.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from videogen_dagster import waits
from videogen_dagster.providers.base import ClipRequest, Generated, JobJournal
from videogen_dagster.providers.clip_jobs import (
    ClipJobSettings,
    JobClips,
    JobStates,
    fetch_verified_clip,
    forget_job_if_corrupt,
    prompt_text,
    resume_or_submit,
    start_image_data_uri,
    wait_for_job,
)
from videogen_dagster.providers.clip_models import (
    PRICES_CHECKED,
    RUNWAY_CLIP_MODELS,
    RUNWAY_MAX_SEED,
    USD_PER_RUNWAY_CREDIT,
    ClipModelSpec,
)
from videogen_dagster.providers.errors import CorruptMediaError, ProviderError
from videogen_dagster.providers.notices import notice
from videogen_dagster.providers.retry import (
    retry_with,
    runway_error,
    runway_task_failure,
)

if TYPE_CHECKING:
    import runwayml

PROVIDER_NAME = "runway"

#: Runway accepts a base64 start image up to 5 MB as a data URI.
MAX_DATA_URI_BYTES = 5 * 1024 * 1024

#: Runway's task states: a task over the account's concurrency tier waits in ``THROTTLED``.
_STATES = JobStates(done="SUCCEEDED", queued="THROTTLED", queue_setting="throttle_timeout")

#: Task states that will never deliver: the task leaves the journal.
_ENDED = ("FAILED", "CANCELLED")


#: The models we plan chunks for, with their lengths, sizes, prices and prompt limits.
RUNWAY_MODELS: Mapping[str, ClipModelSpec] = RUNWAY_CLIP_MODELS

#: USD per second of clip, per model (credits per second x USD 0.01 per credit).
DEFAULT_PRICE_PER_SECOND: Mapping[str, float] = {
    name: spec.usd_per_second for name, spec in RUNWAY_CLIP_MODELS.items()
}


@dataclass(frozen=True)
class RunwaySettings(ClipJobSettings):
    """Runway backend settings (``ClipJobSettings``); the key comes from
    ``RUNWAYML_API_SECRET`` upstream.

    Time a task spends ``THROTTLED`` (queued behind the account's concurrency tier) does not
    count against ``poll_timeout``; ``throttle_timeout`` bounds that wait separately.
    """

    models = RUNWAY_MODELS
    key_variable = "RUNWAYML_API_SECRET"

    model: str = "gen4_turbo"
    price_per_second: Mapping[str, float] = field(default_factory=lambda: DEFAULT_PRICE_PER_SECOND)
    base_url: str | None = None
    throttle_timeout: float = 6 * 3600.0

    def client(self) -> runwayml.RunwayML:
        """A client that never retries by itself: ``retry_with`` owns the attempts."""
        import runwayml

        return runwayml.RunwayML(
            api_key=self.api_key,
            base_url=self.base_url,
            max_retries=0,
            timeout=self.request_timeout,
        )


class RunwayClips(JobClips):
    """Runway image-to-video clips at the model's own sizes and lengths."""

    name = PROVIDER_NAME
    settings: RunwaySettings

    def __init__(
        self,
        settings: RunwaySettings,
        *,
        client: runwayml.RunwayML | None = None,
        sleep: Callable[[float], None] = waits.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings, sleep=sleep, clock=clock)
        self._client = client or settings.client()

    def generate_clip(self, request: ClipRequest, journal: JobJournal | None = None) -> Generated:
        body = self._create_body(request)
        task_id, estimated_credits = resume_or_submit(
            journal,
            job="runway task",
            can_deliver=self._can_deliver,
            submit=lambda: self._submit(body),
        )
        self._compare_estimate(task_id, estimated_credits, request)
        task, throttled = self._wait(task_id, journal)
        with forget_job_if_corrupt(journal):
            data, info = self._download_verified(task_id, task.output, request)
        credits = getattr(getattr(task, "cost", None), "credits", None)
        return self._generated(
            data,
            request,
            task_id,
            {
                "ratio": body.get("ratio"),
                "duration": info.duration,
                "fps": info.fps,
                "credits": credits,
                "estimated_credits": estimated_credits,
                "throttled_seconds": round(throttled, 3),
            },
        )

    def _compare_estimate(self, task_id: str, credits: float | None, request: ClipRequest) -> None:
        """Tell the log when Runway's estimate exceeds our price table: the budget reserved
        our figure, so a stale table shows here first."""
        ours = self.estimate_cost(request)
        if credits is None or credits * USD_PER_RUNWAY_CREDIT <= ours + 1e-9:
            return
        notice(
            f"runway task {task_id}: Runway estimates {credits:g} credits "
            f"(${credits * USD_PER_RUNWAY_CREDIT:.2f}), above our ${ours:.2f} for {self.model}; "
            f"update price_per_second (the table was checked {PRICES_CHECKED})"
        )

    def _create_body(self, request: ClipRequest) -> dict[str, Any]:
        """The create call's arguments, or a clear error before anything is paid.

        The size must be one the model makes and the duration one of its whole seconds (a
        5.9 s request is refused, never rounded); the prompt is cut to the model's limit in
        UTF-16 code units, as Runway counts them; the seed is brought into Runway's range.
        """
        duration = self.table.check_duration(request.duration)
        self.table.check_size(request.size)
        body: dict[str, Any] = {
            "model": self.model,
            "prompt_image": start_image_data_uri(
                request.start_image, request.size, PROVIDER_NAME, max_bytes=MAX_DATA_URI_BYTES
            ),
            "prompt_text": prompt_text(request, self.table.prompt_limit, PROVIDER_NAME),
            "ratio": f"{request.size.width}:{request.size.height}",
            "duration": duration,
            **self.table.request_extras,
        }
        if self.table.accepts_seed:
            body["seed"] = request.seed % (RUNWAY_MAX_SEED + 1)
        return body

    def _can_deliver(self, task_id: str) -> bool:
        """Whether the journal's task is still known to Runway and has not failed."""
        import runwayml

        def retrieve() -> Any:
            try:
                return self._client.tasks.retrieve(task_id)
            except runwayml.NotFoundError:
                return None
            except runwayml.RunwayMLError as error:
                raise runway_error(error) from error

        task = retry_with(self.settings.retry, retrieve, sleep=self._sleep)
        return task is not None and task.status not in _ENDED

    def _submit(self, body: dict[str, Any]) -> tuple[str, float | None]:
        """The new task's id and the credits Runway estimates it may charge (if it says)."""
        import runwayml

        def create() -> tuple[str, float | None]:
            try:
                created = self._client.image_to_video.create(**body)
            except runwayml.RunwayMLError as error:
                raise runway_error(error, input_kind="prompt") from error
            estimate = getattr(getattr(created, "estimated_cost", None), "credits", None)
            return created.id, estimate

        return retry_with(self.settings.retry, create, sleep=self._sleep)

    def _wait(self, task_id: str, journal: JobJournal | None) -> tuple[Any, float]:
        """The task once SUCCEEDED and the seconds it spent THROTTLED.

        Polls every ``poll_interval``. Each interval counts towards the limit of the state the
        task was in when it began: ``throttle_timeout`` for THROTTLED, ``poll_timeout`` for
        any other, so a long queue behind the account's tier is waited out without failing.
        """
        import runwayml

        def retrieve() -> Any:
            try:
                return self._client.tasks.retrieve(task_id)
            except runwayml.RunwayMLError as error:
                raise runway_error(error) from error

        return wait_for_job(
            f"runway task {task_id}",
            lambda: retry_with(self.settings.retry, retrieve, sleep=self._sleep),
            lambda task: task.status,
            _STATES,
            interval=self.settings.poll_interval,
            poll_timeout=self.settings.poll_timeout,
            queue_timeout=self.settings.throttle_timeout,
            sleep=self._sleep,
            clock=self._clock,
            on_change=functools.partial(self._tell_status, task_id, journal),
        )

    def _tell_status(
        self,
        task_id: str,
        journal: JobJournal | None,
        task: Any,
        previous: str | None,
        status: str,
        throttled: float,
    ) -> None:
        """Tell the log of the queue, and end the wait for a task that failed."""
        if status == "THROTTLED":
            notice(
                f"runway task {task_id} ({self.model}) is THROTTLED: queued behind the "
                "account's concurrency limit; this wait does not count against poll_timeout"
            )
        elif previous == "THROTTLED":
            notice(f"runway task {task_id} left the queue ({status}) after {throttled:.0f} s")
        if status in _ENDED:
            if journal is not None:
                journal.clear()
            if status == "CANCELLED":
                raise ProviderError(f"runway task {task_id} was cancelled")
            raise runway_task_failure(task.failure_code, task.failure, task_id)

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
            return fetch_verified_clip(
                output[0],
                request,
                job=f"runway task {task_id}",
                timeout=self.settings.download_timeout,
                tolerance=self.settings.duration_tolerance,
            )

        return retry_with(self.settings.retry, attempt, sleep=self._sleep)
