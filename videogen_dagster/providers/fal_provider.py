"""Clips from fal.ai's model queue through the official ``fal-client``: a second vendor.

fal fronts many vendors' image-to-video models (Veo, Kling, Seedance, Wan) behind one queue
API, so a model is an endpoint id and a table row (``FAL_CLIP_MODELS``). Only models whose
output size the request fixes are listed (``aspect_ratio`` + ``resolution``): every clip is
checked against the size asked for. Prices are fal's list prices per generated second without
audio (the music is ours), from each model's page on fal.ai (``PRICES_CHECKED``).

What the client calls (``fal_client`` 1.0, ``client.py``): submit is ``POST
https://{FAL_QUEUE_RUN_HOST}/<endpoint>`` with the arguments as JSON, answered with a
``request_id``; status is ``GET .../<owner>/<alias>/requests/<id>/status`` (``IN_QUEUE``,
``IN_PROGRESS``, ``COMPLETED``); the result is ``GET .../<owner>/<alias>/requests/<id>``, whose
error answer (HTTP 422, ``detail: [{loc, msg, type}]``) names the refused input. The host is
read from ``FAL_QUEUE_RUN_HOST`` once, when ``fal_client`` is imported, and the scheme is
always https: tests point it at a TLS server of ours on 127.0.0.1 trusted through
``SSL_CERT_FILE``. The client itself retries 408/409/429 and lost connections (up to 10 times);
everything else is ours to retry.

A clip has the same guarantees as Runway's: the request is checked against the model's table
before anything is paid; the request id is recorded in the job journal the moment fal answers
the submit; a step killed after that finds the id and polls the same request again instead of
paying twice; time spent ``IN_QUEUE`` is fal's queue, not a stuck job, and does not count
against ``poll_timeout``; the output is downloaded at once and probed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from videogen_dagster import waits
from videogen_dagster.providers.base import ClipRequest, Generated, JobJournal, Size
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
from videogen_dagster.providers.clip_models import ClipModelSpec, register_clip_models
from videogen_dagster.providers.errors import (
    CorruptMediaError,
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UnsupportedRequestError,
)
from videogen_dagster.providers.notices import notice
from videogen_dagster.providers.retry import PROMPT_OR_IMAGE, retry_with

if TYPE_CHECKING:
    import fal_client

PROVIDER_NAME = "fal"

#: The date the price rows below were checked against fal's model pages.
PRICES_CHECKED = "2026-12-07"

#: A pool limit for a new fal account (a handful of requests run at once; more queue).
DEFAULT_POOL_LIMIT = 2

_VEO_720P = {"16:9": Size(1280, 720), "9:16": Size(720, 1280)}  # Veo makes no square clip


@dataclass(frozen=True)
class FalEndpoint:
    """How one model is called: its endpoint id and how its arguments are spelled."""

    endpoint: str
    #: ``"{seconds}s"`` for Veo ("4s"), ``"{seconds}"`` for Kling and Seedance ("5").
    duration_format: str


#: fal's image-to-video models we can plan for, by the short name ``clips_model`` takes.
FAL_CLIP_MODELS: Mapping[str, ClipModelSpec] = {
    spec.model: spec
    for spec in (
        ClipModelSpec(
            provider=PROVIDER_NAME,
            model="veo3.1_fast",
            durations=(4, 6, 8),
            sizes=_VEO_720P,
            usd_per_second=0.10,  # fal.ai/models/fal-ai/veo3.1/fast/image-to-video, audio off
            prompt_limit=2000,
            request_extras={"resolution": "720p", "generate_audio": False},
        ),
        ClipModelSpec(
            provider=PROVIDER_NAME,
            model="veo3.1",
            durations=(4, 6, 8),
            sizes=_VEO_720P,
            usd_per_second=0.20,  # fal's Veo 3 rate, audio off: check Veo 3.1's page
            prompt_limit=2000,
            request_extras={"resolution": "720p", "generate_audio": False},
            price_published=False,
        ),
    )
}

FAL_ENDPOINTS: Mapping[str, FalEndpoint] = {
    "veo3.1_fast": FalEndpoint("fal-ai/veo3.1/fast/image-to-video", "{seconds}s"),
    "veo3.1": FalEndpoint("fal-ai/veo3.1/image-to-video", "{seconds}s"),
}

DEFAULT_MODEL = "veo3.1_fast"

#: USD per second of clip, per model (the table's list prices).
DEFAULT_PRICE_PER_SECOND: Mapping[str, float] = {
    name: spec.usd_per_second for name, spec in FAL_CLIP_MODELS.items()
}

register_clip_models(PROVIDER_NAME, FAL_CLIP_MODELS, default=DEFAULT_MODEL)

#: fal's request states (``fal_client``'s ``Queued``, ``InProgress``, ``Completed``).
_STATES = JobStates(done="COMPLETED", queued="IN_QUEUE", queue_setting="queue_timeout")

#: fal's error ``type`` values that mean the input itself was refused (not worth a retry).
_REFUSALS = {
    "content_policy_violation",
    "image_too_small",
    "image_too_large",
    "image_load_error",
    "file_download_error",
    "unsupported_image_format",
}


@dataclass(frozen=True)
class FalSettings(ClipJobSettings):
    """fal backend settings (``ClipJobSettings``); the key comes from ``FAL_KEY`` upstream.

    Time a request spends ``IN_QUEUE`` does not count against ``poll_timeout``;
    ``queue_timeout`` bounds it apart.
    """

    models = FAL_CLIP_MODELS
    key_variable = "FAL_KEY"

    model: str = DEFAULT_MODEL
    price_per_second: Mapping[str, float] = field(default_factory=lambda: DEFAULT_PRICE_PER_SECOND)
    poll_interval: float = 2.0
    poll_timeout: float = 900.0
    queue_timeout: float = 6 * 3600.0

    def client(self) -> fal_client.SyncClient:
        import fal_client

        return fal_client.SyncClient(key=self.api_key, default_timeout=self.request_timeout)


class FalClips(JobClips):
    """fal image-to-video clips at the model's own sizes and lengths."""

    name = PROVIDER_NAME
    settings: FalSettings

    def __init__(
        self,
        settings: FalSettings,
        *,
        client: fal_client.SyncClient | None = None,
        sleep: Callable[[float], None] = waits.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(settings, sleep=sleep, clock=clock)
        self.endpoint = FAL_ENDPOINTS[settings.model]
        self._given_client = client

    @functools.cached_property
    def _client(self) -> fal_client.SyncClient:
        """Built at the first call: ``fal_client`` fixes its host when imported, and pricing
        (``videogen estimate``) needs no client at all."""
        return self._given_client or self.settings.client()

    def generate_clip(self, request: ClipRequest, journal: JobJournal | None = None) -> Generated:
        arguments = self._arguments(request)
        request_id, _ = resume_or_submit(
            journal,
            job="fal request",
            can_deliver=lambda known: self._status(known, missing_ok=True) is not None,
            submit=lambda: (self._submit(arguments), None),
        )
        queued = self._wait(request_id)
        result = self._result(request_id, journal)
        with forget_job_if_corrupt(journal):
            data, info = self._download_verified(request_id, result, request)
        return self._generated(
            data,
            request,
            request_id,
            {
                "endpoint": self.endpoint.endpoint,
                "duration": info.duration,
                "fps": info.fps,
                "queued_seconds": round(queued, 3),
                "seed": result.get("seed"),
            },
        )

    def _arguments(self, request: ClipRequest) -> dict[str, Any]:
        """The submit's arguments, or a clear error before anything is paid."""
        seconds = self.table.check_duration(request.duration)
        aspect = self.table.check_size(request.size)
        arguments: dict[str, Any] = {
            "prompt": prompt_text(request, self.table.prompt_limit, PROVIDER_NAME),
            # fal accepts a data URI for any file input, so no upload to its storage is needed.
            "image_url": start_image_data_uri(request.start_image, request.size, PROVIDER_NAME),
            "aspect_ratio": aspect,
            "duration": self.endpoint.duration_format.format(seconds=seconds),
            **self.table.request_extras,
        }
        if self.table.accepts_seed:
            arguments["seed"] = request.seed % 2**32
        return arguments

    def _submit(self, arguments: dict[str, Any]) -> str:
        def submit() -> str:
            try:
                handle = self._client.submit(self.endpoint.endpoint, arguments)
            except Exception as error:  # the client raises httpx and its own errors
                raise fal_error(error, "submit") from error
            return handle.request_id

        return retry_with(self.settings.retry, submit, sleep=self._sleep)

    def _status(self, request_id: str, *, missing_ok: bool = False) -> Any:
        import fal_client

        def status() -> Any:
            try:
                return self._client.status(self.endpoint.endpoint, request_id)
            except fal_client.FalClientHTTPError as error:
                if missing_ok and error.status_code == 404:
                    return None
                raise fal_error(error, f"request {request_id}") from error
            except Exception as error:
                raise fal_error(error, f"request {request_id}") from error

        return retry_with(self.settings.retry, status, sleep=self._sleep)

    def _wait(self, request_id: str) -> float:
        """Poll until fal has finished the request; the seconds it spent ``IN_QUEUE``."""
        _, queued = wait_for_job(
            f"fal request {request_id}",
            lambda: self._status(request_id),
            _state,
            _STATES,
            interval=self.settings.poll_interval,
            poll_timeout=self.settings.poll_timeout,
            queue_timeout=self.settings.queue_timeout,
            sleep=self._sleep,
            clock=self._clock,
            on_change=functools.partial(self._tell_status, request_id),
        )
        return queued

    def _tell_status(
        self, request_id: str, status: Any, previous: str | None, state: str, queued: float
    ) -> None:
        if state == _STATES.queued:
            notice(
                f"fal request {request_id} ({self.model}) is queued at position "
                f"{status.position}; this wait does not count against poll_timeout"
            )

    def _result(self, request_id: str, journal: JobJournal | None) -> dict[str, Any]:
        """The finished request's output.

        fal answering the result of a finished request with an error (a refusal, or its own
        failure: ``internal_server_error``, ``downstream_service_error``) means that request
        will never deliver: it leaves the journal, so a retry submits a new one. A lost
        connection or a rate limit leaves it there, to be fetched again.
        """
        import fal_client

        ended: list[ProviderError] = []  # the request's own failure: asking again won't help

        def result() -> dict[str, Any] | None:
            try:
                return self._client.result(self.endpoint.endpoint, request_id)
            except fal_client.FalClientHTTPError as error:
                mapped = fal_error(error, f"request {request_id}")
                if error.status_code in (408, 409, 429):
                    raise mapped from error
                mapped.__cause__ = error
                ended.append(mapped)
                return None
            except Exception as error:
                raise fal_error(error, f"request {request_id}") from error

        output = retry_with(self.settings.retry, result, sleep=self._sleep)
        if output is None:
            if journal is not None:
                journal.clear()
            raise ended[0]
        return output

    def _download_verified(
        self, request_id: str, result: dict[str, Any], request: ClipRequest
    ) -> tuple[bytes, Any]:
        url = (result.get("video") or {}).get("url")
        if not url:
            raise CorruptMediaError(f"fal request {request_id} finished without a video URL")

        def attempt() -> tuple[bytes, Any]:
            return fetch_verified_clip(
                url,
                request,
                job=f"fal request {request_id}",
                timeout=self.settings.download_timeout,
                tolerance=self.settings.duration_tolerance,
            )

        return retry_with(self.settings.retry, attempt, sleep=self._sleep)


def fal_error(error: Exception, what: str) -> ProviderError:
    """``error`` from the fal client as one of ours: refusals name the input, outages retry."""
    import fal_client
    import httpx

    if isinstance(error, httpx.TimeoutException | httpx.TransportError):
        return TransientProviderError(f"fal {what}: {type(error).__name__}: {error}")
    if not isinstance(error, fal_client.FalClientHTTPError):
        return ProviderError(f"fal {what}: {type(error).__name__}: {error}")
    status, headers = error.status_code, {k.lower(): v for k, v in error.response_headers.items()}
    problems = error.message if isinstance(error.message, list) else []
    refusals = [p for p in problems if isinstance(p, dict) and p.get("type") in _REFUSALS]
    if refusals:
        kinds = {_input_kind(problem.get("loc")) for problem in refusals}
        kind = kinds.pop() if len(kinds) == 1 else PROMPT_OR_IMAGE
        reasons = "; ".join(f"{p.get('type')}: {p.get('msg', '')}".strip() for p in refusals)
        return PermanentProviderError(f"fal {what} refused the {kind}: {reasons}", input_kind=kind)
    text = _message(error.message)
    if status in (401, 403):
        return ProviderError(f"fal {what}: the key was refused (HTTP {status}): check FAL_KEY")
    retryable = headers.get("x-fal-retryable")
    if (status == 429 or status >= 500 or retryable == "true") and retryable != "false":
        return TransientProviderError(
            f"fal {what}: HTTP {status}: {text}", retry_after=_retry_after(headers)
        )
    if status == 422:
        fields = ", ".join(
            ".".join(str(part) for part in (p.get("loc") or [])[1:]) or "?"
            for p in problems
            if isinstance(p, dict)
        )
        return UnsupportedRequestError(
            f"fal {what}: the API rejected {fields or 'the input'}: {text}"
        )
    return ProviderError(f"fal {what}: HTTP {status}: {text}")


def _state(status: Any) -> str:
    """fal's name for the state ``status`` (one of ``fal_client``'s status classes) stands for."""
    import fal_client

    if isinstance(status, fal_client.Completed):
        return _STATES.done
    return _STATES.queued if isinstance(status, fal_client.Queued) else "IN_PROGRESS"


def _input_kind(loc: Any) -> str:
    """``"prompt"`` or ``"image"`` from a refusal's ``loc`` (``["body", "image_url"]``)."""
    parts = [str(part) for part in loc or []]
    if any("image" in part for part in parts):
        return "image"
    if "prompt" in parts:
        return "prompt"
    return PROMPT_OR_IMAGE


def _message(message: Any) -> str:
    if isinstance(message, list):
        return "; ".join(
            str(item.get("msg", item)) if isinstance(item, dict) else str(item) for item in message
        )
    return str(message)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    from videogen_dagster.providers.retry import parse_retry_after

    return parse_retry_after(headers)
