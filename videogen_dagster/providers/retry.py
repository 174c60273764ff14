"""Retries for provider calls, and the mapping of each client library's errors onto ours.

The vendor clients are built with ``max_retries=0`` so that every retry happens here: the
attempt counts, the delays and the ``Retry-After`` hints are ours to see and test. Only a
``TransientProviderError`` is retried; a ``PermanentProviderError`` (the input was refused)
and any other ``ProviderError`` (a bad key, a missing model) fail at once, since another
attempt would cost time or money and end the same way.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from videogen_dagster import waits
from videogen_dagster.providers.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
    UnsupportedRequestError,
)

if TYPE_CHECKING:
    import openai
    import runwayml

T = TypeVar("T")

#: What a refusal is about when the vendor does not say which input it refused.
PROMPT_OR_IMAGE = "prompt or image"

#: Called before each sleep with (failed attempt number from 1, the error, the delay in seconds).
OnRetry = Callable[[int, TransientProviderError, float], None]


@dataclass(frozen=True)
class RetrySettings:
    """How a provider retries one HTTP call; see ``call_with_retries``."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.5


def backoff_delay(
    failed_attempt: int,
    *,
    base_delay: float,
    max_delay: float,
    jitter: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after the ``failed_attempt``-th failure (counting from 1).

    A server's ``Retry-After`` wins over our own backoff: it knows when it will accept us
    again, and waiting less only earns another 429. Either way no wait exceeds ``max_delay``.
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), max_delay)
    delay = base_delay * 2 ** (failed_attempt - 1)
    spread = (rng or random).uniform(1.0 - jitter, 1.0 + jitter)
    return min(delay * spread, max_delay)


def call_with_retries(
    fn: Callable[[], T],
    *,
    attempts: int = 4,
    base_delay: float = 0.5,
    max_delay: float = 30.0,
    jitter: float = 0.5,
    sleep: Callable[[float], None] = waits.sleep,
    on_retry: OnRetry | None = None,
    rng: random.Random | None = None,
) -> T:
    """``fn()``, retried on ``TransientProviderError`` up to ``attempts`` calls in all.

    The last transient error is re-raised when the attempts run out, so an outer retry
    policy (Dagster's ``RetryPolicy``) still sees a retryable failure.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except TransientProviderError as error:
            if attempt == attempts:
                raise
            delay = backoff_delay(
                attempt,
                base_delay=base_delay,
                max_delay=max_delay,
                jitter=jitter,
                retry_after=error.retry_after,
                rng=rng,
            )
            if on_retry is not None:
                on_retry(attempt, error, delay)
            sleep(delay)
    raise AssertionError("unreachable: the loop returns or raises")


def retry_with(
    settings: RetrySettings,
    fn: Callable[[], T],
    *,
    sleep: Callable[[float], None] = waits.sleep,
    on_retry: OnRetry | None = None,
) -> T:
    """``call_with_retries`` with a provider's ``RetrySettings``."""
    return call_with_retries(
        fn,
        attempts=settings.attempts,
        base_delay=settings.base_delay,
        max_delay=settings.max_delay,
        jitter=settings.jitter,
        sleep=sleep,
        on_retry=on_retry,
    )


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or an HTTP date).

    A hint that does not parse is ignored (``None``): our own backoff applies instead.
    """
    millis = _as_seconds(headers.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _as_seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _as_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None


_MODERATION_WORDS = ("moderation", "safety", "content_policy", "content policy")


def _body_fields(body: object) -> tuple[str, str, str]:
    """(code, param, message) of an error body shaped ``{"error": {...}}`` or flat."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            return (
                str(inner.get("code") or inner.get("type") or ""),
                str(inner.get("param") or ""),
                str(inner.get("message") or ""),
            )
        if isinstance(inner, str):
            return "", "", inner
    return "", "", ""


def _from_status(
    vendor: str,
    status: int,
    headers: Mapping[str, str],
    body: object,
    message: str,
    input_kind: str,
) -> ProviderError:
    """One status-code policy for every Stainless-generated client (openai, runwayml)."""
    code, param, body_message = _body_fields(body)
    detail = body_message or message
    if code == "insufficient_quota":
        return ProviderError(f"{vendor}: the account has no quota left ({detail})")
    if status == 404 and code == "model_not_found":
        return UnsupportedRequestError(
            f"{vendor}: the model is not available to this API key (retired or not enabled): "
            f"{detail}; configure a current model"
        )
    if status in (408, 409, 429) or status >= 500:
        return TransientProviderError(
            f"{vendor}: HTTP {status}: {detail}", retry_after=parse_retry_after(headers)
        )
    if status in (401, 403):
        return ProviderError(f"{vendor}: HTTP {status}: check the API key ({detail})")
    if status in (400, 422):
        refused = _refused_param(param, input_kind)
        what = "refused by moderation" if _is_moderation(code, detail) else "invalid input"
        return PermanentProviderError(
            f"{vendor}: {what} ({refused}): HTTP {status}: {detail}", input_kind=refused
        )
    return ProviderError(f"{vendor}: HTTP {status}: {detail}")


def _refused_param(param: str, input_kind: str) -> str:
    """The input a 400 names in ``param`` (``prompt``, ``image``, ``image[0]``), else the
    caller's guess: ``input_kind``, which is ``PROMPT_OR_IMAGE`` when both were sent."""
    if param == "prompt" or param.startswith("prompt"):
        return "prompt"
    if param.startswith("image"):
        return "image"
    return input_kind


def _is_moderation(code: str, message: str) -> bool:
    text = f"{code} {message}".lower()
    return any(word in text for word in _MODERATION_WORDS)


def _url_of(error: Exception) -> str:
    """The request's URL without its query: where it went, never a credential (those travel in
    headers, which are not shown)."""
    request = getattr(error, "request", None)
    url = getattr(request, "url", None)
    if url is None:
        return "(unknown URL)"
    return str(url.copy_with(query=None, fragment=None))


def _cause(error: Exception) -> str:
    """The underlying network error in one line (``Connection refused``, a DNS failure)."""
    cause = error.__cause__ or error.__context__
    text = str(cause or error).strip().splitlines()
    return text[-1] if text else type(cause or error).__name__


def openai_error(error: openai.OpenAIError, *, input_kind: str = "prompt") -> ProviderError:
    """Our error for an ``openai`` exception; ``input_kind`` names what a refusal is about."""
    import openai

    if isinstance(error, openai.APITimeoutError):
        return TransientProviderError(f"openai: request to {_url_of(error)} timed out")
    if isinstance(error, openai.APIConnectionError):
        return TransientProviderError(
            f"openai: cannot connect to {_url_of(error)}: {_cause(error)}"
        )
    if isinstance(error, openai.APIStatusError):
        return _from_status(
            "openai",
            error.status_code,
            error.response.headers,
            error.body,
            error.message,
            input_kind,
        )
    return ProviderError(f"openai: {type(error).__name__}: {error}")


def runway_error(error: runwayml.RunwayMLError, *, input_kind: str = "prompt") -> ProviderError:
    """Our error for a ``runwayml`` exception; ``input_kind`` names what a refusal is about."""
    import runwayml

    if isinstance(error, runwayml.APITimeoutError):
        return TransientProviderError(f"runway: request to {_url_of(error)} timed out")
    if isinstance(error, runwayml.APIConnectionError):
        return TransientProviderError(
            f"runway: cannot connect to {_url_of(error)}: {_cause(error)}"
        )
    if isinstance(error, runwayml.APIStatusError):
        return _from_status(
            "runway",
            error.status_code,
            error.response.headers,
            error.body,
            error.message,
            input_kind,
        )
    return ProviderError(f"runway: {type(error).__name__}: {error}")


def runway_task_failure(failure_code: str | None, failure: str, task_id: str) -> ProviderError:
    """Our error for a Runway task that ended FAILED.

    Runway's task-failure codes (docs.dev.runwayml.com/errors/task-failures): only moderation
    (``SAFETY.*``, ``INPUT_PREPROCESSING.SAFETY.*``) and an unusable image (``ASSET.INVALID``)
    are about the user's input: permanent, naming the prompt or the image. Everything else is
    Runway's side or a third party's (``INTERNAL.*``, ``THIRD_PARTY.UNAVAILABLE``,
    ``INPUT_PREPROCESSING.INTERNAL``, a code we do not know, no code at all): transient, so the
    attempt is retried with back-off (a failed task is refunded) instead of blaming the prompt.
    """
    code = (failure_code or "").upper()
    prefix = f"runway task {task_id} failed ({failure_code or 'no code'}): {failure}"
    if code.startswith(("SAFETY.", "INPUT_PREPROCESSING.SAFETY.")):
        kind = _refused_input_of(code)
        return PermanentProviderError(f"{prefix}; refused by moderation ({kind})", input_kind=kind)
    if code == "ASSET.INVALID":
        return PermanentProviderError(f"{prefix}; invalid start image", input_kind="image")
    return TransientProviderError(f"{prefix}; Runway's side, retried")


def _refused_input_of(code: str) -> str:
    """Which input a moderation code names: its text, its image, or (output) either."""
    if "TEXT" in code:
        return "prompt"
    if "IMAGE" in code:
        return "image"
    return PROMPT_OR_IMAGE
