"""A budget stop and a provider's refusal are the user's to act on: in a real run, the failed
step's event carries the message (what stopped, which beat, what to change) and no chain of
tracebacks through the generation code, and ``videogen render`` prints that message alone."""

from __future__ import annotations

import dagster as dg

from videogen_dagster.commands import _failure_messages
from videogen_dagster_tests.fakes.server import http_fault
from videogen_dagster_tests.graph_tests import support as graph_support
from videogen_dagster_tests.graph_tests.support import register, write_spec
from videogen_dagster_tests.reliability_tests.support import PRICES, TWO_BOATS_SPEC

#: Code of ours that a user error passes through on its way to the step: none of it may show.
INTERNALS = tuple(
    f"videogen_dagster/{name}"
    for name in ("generation.py", "providers/", "pipeline/", "store/", "media/")
) + ("faulty.py",)


def _the_failures(instance: dg.DagsterInstance, run_id: str) -> dict[str, dg.DagsterEvent]:
    """Each failed step's message and event, checked to read as the message alone."""
    failures = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        event = record.dagster_event
        data = event.step_failure_data
        assert data.error.cause is None and data.error.context is None  # no chained tracebacks
        shown = data.error.to_string()
        assert "The above exception" not in shown
        stack = "".join(data.error.stack)
        assert not [name for name in INTERNALS if name in stack], stack
        description = data.user_failure_data.description
        assert len(description.splitlines()) == 1
        assert description in shown  # the message is what the UI shows first
        failures[description] = event
    # `videogen render` prints the same messages after the steps' names.
    assert sorted(_failure_messages(instance, run_id)) == sorted(
        f"{event.step_key}: {description}" for description, event in failures.items()
    )
    assert failures
    return failures


def test_a_budget_stop_reads_as_its_message(instance, tmp_path):
    store_root = tmp_path / "store"
    video_id = register(instance, store_root, write_spec(tmp_path, "boats.yaml", TWO_BOATS_SPEC))
    cap = 2 * PRICES["price_per_image"] + 0.01  # both images, no clip

    result = graph_support.execute(
        instance, store_root, video_id, local=PRICES, budget_per_video=cap, max_concurrent=1
    )
    assert not result.success
    message, event = sorted(_the_failures(instance, result.run_id).items())[0]
    assert message.startswith("budget: beat 0 ")  # what stopped, and which beat
    assert f"of its ${cap:.2f} cap committed; nothing was paid for it" in message
    assert "Raise the cap" in message  # what to change
    metadata = event.step_failure_data.user_failure_data.metadata
    assert metadata["error"].value == "BudgetExceededError"


def test_a_refusal_reads_as_its_message(instance, tmp_path, openai_server):
    """A real refusal: OpenAI's moderation answer from the fake server, through OpenAI's client."""
    openai_server.inject(
        "POST /v1/images/generations",
        http_fault(400, "Rejected by our safety system.", code="moderation_blocked"),
    )
    store_root = tmp_path / "store"
    video_id = register(instance, store_root, write_spec(tmp_path, "boats.yaml", TWO_BOATS_SPEC))
    openai = {"api_key": openai_server.api_key, "base_url": f"{openai_server.url}/v1"}

    result = graph_support.execute(
        instance, store_root, video_id, images="openai", openai=openai, max_concurrent=1
    )
    assert not result.success
    [(message, event)] = _the_failures(instance, result.run_id).items()
    beat = event.step_failure_data.user_failure_data.metadata["beat_index"].value
    assert message.startswith(f"beat {beat} ")  # which beat
    assert "the provider refused the prompt 'A " in message  # what stopped, and what to edit
    assert "recorded in" in message and "manifest.json" in message
    # Not retried: one request per beat, the refused one included.
    assert openai_server.count("POST", "/v1/images/generations") == 2
