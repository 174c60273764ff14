"""The retry policy: what is retried, how long it waits, and which vendor answers count as what.

Vendor error mapping is exercised through the real ``openai`` and ``runwayml`` clients against
the fake servers, so a change in how the clients raise is caught here.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import openai
import pytest
import runwayml

from videogen_dagster.providers.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from videogen_dagster.providers.retry import (
    backoff_delay,
    call_with_retries,
    openai_error,
    parse_retry_after,
    runway_error,
    runway_task_failure,
)
from videogen_dagster_tests.fakes.openai_server import IMAGES_GENERATE
from videogen_dagster_tests.fakes.runway_server import RETRIEVE
from videogen_dagster_tests.fakes.server import http_fault


def _flaky(failures: list[Exception], result: str = "done"):
    calls = []

    def fn() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return result

    return fn, calls


def test_transient_errors_are_retried_with_growing_jittered_delays() -> None:
    fn, calls = _flaky(
        [TransientProviderError("a"), TransientProviderError("b"), TransientProviderError("c")]
    )
    sleeps: list[float] = []
    seen: list[int] = []
    result = call_with_retries(
        fn,
        attempts=4,
        base_delay=1.0,
        max_delay=100.0,
        jitter=0.5,
        sleep=sleeps.append,
        on_retry=lambda attempt, error, delay: seen.append(attempt),
    )
    assert result == "done"
    assert len(calls) == 4
    assert seen == [1, 2, 3]
    for n, delay in enumerate(sleeps, start=1):
        assert 0.5 * 2 ** (n - 1) <= delay <= 1.5 * 2 ** (n - 1)


def test_jitter_spreads_delays() -> None:
    rng = random.Random(7)
    delays = {
        backoff_delay(2, base_delay=1.0, max_delay=60, jitter=0.5, rng=rng) for _ in range(20)
    }
    assert len(delays) > 10
    assert all(1.0 <= d <= 3.0 for d in delays)


def test_delay_is_capped_and_retry_after_wins() -> None:
    assert backoff_delay(20, base_delay=1.0, max_delay=30.0, jitter=0.0) == 30.0
    assert backoff_delay(1, base_delay=1.0, max_delay=30.0, jitter=0.5, retry_after=7.0) == 7.0
    assert backoff_delay(1, base_delay=1.0, max_delay=30.0, jitter=0.5, retry_after=90.0) == 30.0


def test_last_transient_error_is_raised_when_attempts_run_out() -> None:
    errors = [TransientProviderError(f"failure {i}") for i in range(5)]
    fn, calls = _flaky(list(errors))
    sleeps: list[float] = []
    with pytest.raises(TransientProviderError, match="failure 2"):
        call_with_retries(fn, attempts=3, sleep=sleeps.append)
    assert len(calls) == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "error", [PermanentProviderError("refused", input_kind="image"), ProviderError("bad key")]
)
def test_non_transient_errors_are_not_retried(error: Exception) -> None:
    fn, calls = _flaky([error])
    sleeps: list[float] = []
    with pytest.raises(type(error)):
        call_with_retries(fn, attempts=4, sleep=sleeps.append)
    assert len(calls) == 1
    assert sleeps == []


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < parse_retry_after({"retry-after": later}) <= 120  # type: ignore[operator]
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize(
    ("code", "expected", "kind"),
    [
        ("SAFETY.INPUT.IMAGE", PermanentProviderError, "image"),
        ("SAFETY.INPUT.TEXT", PermanentProviderError, "prompt"),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", PermanentProviderError, "prompt"),
        ("INPUT_PREPROCESSING.SAFETY.IMAGE", PermanentProviderError, "image"),
        ("SAFETY.OUTPUT.VIDEO", PermanentProviderError, "prompt or image"),
        ("ASSET.INVALID", PermanentProviderError, "image"),
        # Runway's side or a third party's: retried, never blamed on the prompt.
        ("INTERNAL.BAD_OUTPUT.CODE01", TransientProviderError, None),
        ("INTERNAL", TransientProviderError, None),
        ("THIRD_PARTY.UNAVAILABLE", TransientProviderError, None),
        ("INPUT_PREPROCESSING.INTERNAL", TransientProviderError, None),
        ("SOMETHING.NEW", TransientProviderError, None),
        (None, TransientProviderError, None),
    ],
)
def test_runway_task_failure_codes(code: str | None, expected: type, kind: str | None) -> None:
    error = runway_task_failure(code, "it failed", "task-1")
    assert type(error) is expected
    assert "task-1" in str(error)
    if kind is not None:
        assert error.input_kind == kind  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fault", "expected", "retry_after"),
    [
        (http_fault(429, "slow down", retry_after=4), TransientProviderError, 4.0),
        (http_fault(500), TransientProviderError, None),
        (http_fault(503), TransientProviderError, None),
        (
            http_fault(
                400, "Your request was rejected by the safety system", code="moderation_blocked"
            ),
            PermanentProviderError,
            None,
        ),
        (http_fault(400, "bad image", param="image"), PermanentProviderError, None),
        (http_fault(401, "Incorrect API key"), ProviderError, None),
        (
            http_fault(429, "You exceeded your quota", code="insufficient_quota"),
            ProviderError,
            None,
        ),
    ],
)
def test_openai_client_errors_map_to_ours(openai_server, fault, expected, retry_after) -> None:
    openai_server.inject(IMAGES_GENERATE, fault)
    client = openai.OpenAI(
        api_key=openai_server.api_key, base_url=f"{openai_server.url}/v1", max_retries=0
    )
    with pytest.raises(openai.OpenAIError) as caught:
        client.images.generate(model="gpt-image-1.5", prompt="a fox", size="1024x1024")
    mapped = openai_error(caught.value, input_kind="prompt")
    assert type(mapped) is expected
    if expected is TransientProviderError:
        assert mapped.retry_after == retry_after  # type: ignore[attr-defined]
    if fault.body["error"]["param"] == "image":
        assert mapped.input_kind == "image"  # type: ignore[attr-defined]
    if "moderation" in str(fault.body):
        assert "moderation" in str(mapped)
    assert openai_server.count("POST", "/v1/images/generations") == 1


def test_openai_connection_failure_is_transient() -> None:
    client = openai.OpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(openai.OpenAIError) as caught:
        client.images.generate(model="gpt-image-1.5", prompt="a fox")
    assert type(openai_error(caught.value)) is TransientProviderError


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (http_fault(429, retry_after=2), TransientProviderError),
        (http_fault(502), TransientProviderError),
        (http_fault(404, "Task not found"), ProviderError),
        (http_fault(400, "promptText: flagged by content moderation"), PermanentProviderError),
    ],
)
def test_runway_client_errors_map_to_ours(runway_server, fault, expected) -> None:
    runway_server.inject(RETRIEVE, fault)
    client = runwayml.RunwayML(
        api_key=runway_server.api_key, base_url=runway_server.url, max_retries=0
    )
    with pytest.raises(runwayml.RunwayMLError) as caught:
        client.tasks.retrieve("some-task")
    mapped = runway_error(caught.value, input_kind="image")
    assert type(mapped) is expected
    if expected is PermanentProviderError:
        assert mapped.input_kind == "image"  # type: ignore[attr-defined]
        assert "moderation" in str(mapped)
