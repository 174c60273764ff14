"""How our errors become Dagster failures: retried only when retrying can help."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg

from videogen_dagster.domain.errors import SpecError
from videogen_dagster.domain.narration import NarrationTooLongError
from videogen_dagster.generation import BudgetExceededError, RefusedInputError
from videogen_dagster.pipeline.narration import CaptionTextError
from videogen_dagster.pipeline.specs import NotRegisteredError
from videogen_dagster.providers.errors import PermanentProviderError, UnsupportedRequestError
from videogen_dagster.store.base import StoreUnavailableError

#: Generation steps retry transient failures (rate limits, 5xx, corrupt downloads) that the
#: in-call retries did not absorb; backoff with jitter spreads retries of parallel branches.
GENERATION_RETRY = dg.RetryPolicy(
    max_retries=3, delay=1.0, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

_FINAL = (
    SpecError,
    NarrationTooLongError,
    CaptionTextError,
    NotRegisteredError,
    PermanentProviderError,
    UnsupportedRequestError,
    BudgetExceededError,
    StoreUnavailableError,
)


@contextmanager
def fail_without_retry_on_user_errors() -> Iterator[None]:
    """A refused input, a bad spec, an exhausted budget or an unusable store fails its branch
    at once, reading as the user's message alone.

    Retrying them would only pay again for the same refusal; the message names what to edit.
    Raised ``from None``: the step's failure in the UI shows the message and metadata without
    the chain of tracebacks through our code that led to it (the error's type is in
    ``metadata["error"]``).
    """
    try:
        yield
    except _FINAL as exc:
        metadata: dict[str, Any] = {"error": type(exc).__name__}
        if isinstance(exc, PermanentProviderError):
            metadata |= {"refused_input": exc.input_kind, "refused_at": exc.input_ref}
        if isinstance(exc, RefusedInputError):
            metadata |= {
                "refused": exc.refused_input or "(not recorded)",
                "manifest": exc.manifest_uri,
            }
            if exc.beat_index is not None:
                metadata["beat_index"] = exc.beat_index
        raise dg.Failure(description=str(exc), metadata=metadata, allow_retries=False) from None
