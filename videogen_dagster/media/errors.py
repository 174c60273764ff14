"""The one error media operations raise, so callers need not know which tool failed."""

from __future__ import annotations


class MediaError(RuntimeError):
    """An ffmpeg or decoder failure; the message ends with the tool's own words.

    ``stderr`` keeps ffmpeg's full output for logs, the message keeps its last lines so a
    one-line error in the UI still says what ffmpeg objected to.
    """

    def __init__(self, message: str, *, stderr: str = "") -> None:
        detail = _tail(stderr)
        super().__init__(f"{message}: {detail}" if detail else message)
        self.stderr = stderr


def _tail(stderr: str, lines: int = 6) -> str:
    kept = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:])
