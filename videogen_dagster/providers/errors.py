"""Errors a provider raises, split by what the caller should do about them.

The split is the contract the retry logic relies on: a ``TransientProviderError`` is worth
another attempt (rate limit, server error, timeout, corrupt download); a
``PermanentProviderError`` is not (the input was refused), and names the input so the user
knows what to edit.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base class of every error raised by a generation backend."""


class TransientProviderError(ProviderError):
    """A failure that may succeed on retry; ``retry_after`` is the server's hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """The provider refused the input (moderation, invalid input, failed job).

    ``input_kind`` is ``"prompt"`` or ``"image"``; ``input_ref`` says which one (a beat, a
    chunk, a reference file) once the caller knows it.
    """

    def __init__(self, message: str, *, input_kind: str = "prompt", input_ref: str = "") -> None:
        super().__init__(message)
        self.input_kind = input_kind
        self.input_ref = input_ref

    def for_input(self, input_ref: str) -> PermanentProviderError:
        """The same refusal, naming the beat or chunk whose input was refused."""
        return PermanentProviderError(
            f"{input_ref}: the provider refused the {self.input_kind}: {self}",
            input_kind=self.input_kind,
            input_ref=input_ref,
        )


class CorruptMediaError(TransientProviderError):
    """A provider returned media that does not probe as asked (truncated, wrong length, empty)."""


class UnsupportedRequestError(ProviderError):
    """Asked for what the provider cannot make (a size, an aspect ratio): raised before paying."""
