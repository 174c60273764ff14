"""A provider wrapper that injects faults into the local provider and counts every call.

The reliability tests run the real render job with ``FaultyGeneration`` in place of
``GenerationResource``: the same assets, executor and Generator, but each provider call first
goes through a ``FaultBook``, a JSON file under the test's ``tmp_path``. The book holds the
faults to inject (matched by role and prompt, so a fault targets one beat) and records every
call, the calls in flight and their peak. A file rather than memory because retries, re-runs
and killed subprocesses must all see the same counts.

Fault kinds: ``transient`` (a 5xx-like error), ``refuse_prompt``/``refuse_image``
(moderation), ``truncate`` (the clip cut to 60 % of its bytes), ``short`` (a valid clip of
half the duration), ``empty`` (zero bytes), ``slow`` (``seconds`` of extra latency).
"""

from __future__ import annotations

import fcntl
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from videogen_dagster.definitions import defs
from videogen_dagster.defs.resources import GenerationResource, StoreResource
from videogen_dagster.executor import threaded_executor
from videogen_dagster.media import trim_clip
from videogen_dagster.providers.base import (
    ClipGenerator,
    ClipRequest,
    Generated,
    ImageGenerator,
    ImageRequest,
    JobJournal,
    MusicGenerator,
    MusicRequest,
    Provider,
)
from videogen_dagster.providers.errors import PermanentProviderError, TransientProviderError

ROLES = ("image", "clip", "music")


@dataclass(frozen=True)
class Fault:
    """Inject ``kind`` into the ``times`` calls of ``role`` whose prompt contains ``match``,
    after letting the first ``after`` such calls through."""

    role: str
    kind: str
    match: str = ""
    times: int = 1
    after: int = 0
    seconds: float = 0.0


class FaultBook:
    """The faults to inject and the record of calls, in one JSON file guarded by ``flock``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | Path, *faults: Fault) -> FaultBook:
        book = cls(path)
        book._save(
            {
                "faults": [asdict(f) for f in faults],
                "seen": [0] * len(faults),
                "calls": [],
                "in_flight": dict.fromkeys(ROLES, 0),
                "peak": dict.fromkeys(ROLES, 0),
            }
        )
        return book

    def set_faults(self, *faults: Fault) -> None:
        """Replace the faults; the record of calls stays."""
        with self._state() as state:
            state["faults"] = [asdict(f) for f in faults]
            state["seen"] = [0] * len(faults)

    # -- what the tests read -----------------------------------------------------------------
    @property
    def calls(self) -> list[dict[str, Any]]:
        """Every call: ``role``, ``prompt``, ``fault`` (None when it went through)."""
        return json.loads(self.path.read_text())["calls"]

    def peak(self, role: str) -> int:
        return json.loads(self.path.read_text())["peak"][role]

    def paid(self, since: int = 0) -> list[dict[str, Any]]:
        """Calls from index ``since`` that reached the provider without an injected failure."""
        return [c for c in self.calls[since:] if c["fault"] in (None, "slow")]

    # -- what the wrapper does ---------------------------------------------------------------
    def begin(self, role: str, prompt: str) -> Fault | None:
        """Record a call starting; the fault it gets, if any."""
        with self._state() as state:
            chosen = None
            for i, raw in enumerate(state["faults"]):
                fault = Fault(**raw)
                if fault.role != role or fault.match not in prompt:
                    continue
                state["seen"][i] += 1
                if fault.after < state["seen"][i] <= fault.after + fault.times:
                    chosen = fault
                    break
            state["calls"].append(
                {"role": role, "prompt": prompt, "fault": chosen.kind if chosen else None}
            )
            state["in_flight"][role] += 1
            state["peak"][role] = max(state["peak"][role], state["in_flight"][role])
            return chosen

    def end(self, role: str) -> None:
        with self._state() as state:
            state["in_flight"][role] -= 1

    @contextmanager
    def _state(self) -> Iterator[dict[str, Any]]:
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = json.loads(self.path.read_text())
            yield state
            self._save(state)

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.path)


def _faulted(book: FaultBook, role: str, prompt: str, call: Callable[[], Generated]) -> Generated:
    fault = book.begin(role, prompt)
    try:
        if fault is None:
            return call()
        if fault.kind == "transient":
            raise TransientProviderError(f"injected: {role} service unavailable (HTTP 503)")
        if fault.kind in ("refuse_prompt", "refuse_image"):
            kind = fault.kind.removeprefix("refuse_")
            raise PermanentProviderError(
                f"injected: refused by moderation ({kind})", input_kind=kind
            )
        if fault.kind == "slow":
            time.sleep(fault.seconds)
            return call()
        generated = call()
        return replace(generated, data=_corrupt(fault.kind, generated))
    finally:
        book.end(role)


def _corrupt(kind: str, generated: Generated) -> bytes:
    if kind == "empty":
        return b""
    if kind == "truncate":
        return generated.data[: len(generated.data) * 3 // 5]
    if kind == "short":
        with tempfile.TemporaryDirectory(prefix="faulty-") as folder:
            whole, half = Path(folder) / "whole.mp4", Path(folder) / "half.mp4"
            whole.write_bytes(generated.data)
            trim_clip(
                whole,
                half,
                generated.details["frames"] / generated.details["fps"] / 2,
                generated.details["fps"],
            )
            return half.read_bytes()
    raise ValueError(f"unknown fault kind {kind!r}")


class FaultyImages(ImageGenerator):
    def __init__(self, inner: ImageGenerator, book: FaultBook) -> None:
        self.inner, self.book = inner, book
        self.name, self.model = inner.name, inner.model

    def generate_image(self, request: ImageRequest) -> Generated:
        return _faulted(
            self.book, "image", request.prompt, lambda: self.inner.generate_image(request)
        )

    def estimate_cost(self, request: ImageRequest) -> float:
        return self.inner.estimate_cost(request)


class FaultyClips(ClipGenerator):
    def __init__(self, inner: ClipGenerator, book: FaultBook) -> None:
        self.inner, self.book = inner, book
        self.name, self.model = inner.name, inner.model
        self.clip_lengths, self.sizes = inner.clip_lengths, inner.sizes

    def generate_clip(self, request: ClipRequest, journal: JobJournal | None = None) -> Generated:
        return _faulted(
            self.book, "clip", request.prompt, lambda: self.inner.generate_clip(request, journal)
        )

    def estimate_cost(self, request: ClipRequest) -> float:
        return self.inner.estimate_cost(request)


class FaultyMusic(MusicGenerator):
    def __init__(self, inner: MusicGenerator, book: FaultBook) -> None:
        self.inner, self.book = inner, book
        self.name, self.model = inner.name, inner.model

    def generate_music(self, request: MusicRequest) -> Generated:
        return _faulted(
            self.book, "music", request.prompt, lambda: self.inner.generate_music(request)
        )

    def estimate_cost(self, request: MusicRequest) -> float:
        return self.inner.estimate_cost(request)


class FaultyGeneration(GenerationResource):
    """``GenerationResource`` whose provider goes through the fault book at ``fault_book``."""

    fault_book: str = Field(default="", description="Path of the FaultBook JSON; '' = none.")

    def provider(self) -> Provider:
        base = super().provider()
        if not self.fault_book:
            return base
        book = FaultBook(self.fault_book)
        return Provider(
            planner=base.planner,
            images=FaultyImages(base.images, book),
            clips=FaultyClips(base.clips, book),
            music=FaultyMusic(base.music, book),
            speech=base.speech,
        )


#: The deployment's assets, checks and jobs (taken from its definitions, so none is left out
#: here), with the fault-injecting provider and the threaded executor.
faulty_defs = dg.Definitions(
    assets=defs.assets,
    asset_checks=defs.asset_checks,
    jobs=defs.jobs,
    resources={
        "store": StoreResource.configure_at_launch(),
        "generation": FaultyGeneration(),
    },
    executor=threaded_executor,
)


def faulty_render_job() -> dg.JobDefinition:
    """The render job with ``FaultyGeneration``, reconstructable by module and name."""
    return faulty_defs.resolve_job_def("render_video")
