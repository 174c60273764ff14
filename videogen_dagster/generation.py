"""Every paid call goes through here: cache, budget, verification, retries and the job journal.

Generation results are content-addressed by ``request_fingerprint`` (provider, model and every
input that determines the result, images by their hash), so a repeated request is served from
the store at zero cost whichever run, video or beat asks; that is what makes re-running a failed
or edited video cheap. Nothing here knows about Dagster: the assets call ``Generator``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from videogen_dagster import waits
from videogen_dagster.domain.spec import BeatSpec
from videogen_dagster.providers.base import (
    ClipGenerator,
    ClipRequest,
    Generated,
    ImageGenerator,
    ImageRequest,
    MusicGenerator,
    MusicRequest,
    Provider,
    SpeechGenerator,
    SpeechRequest,
    request_fingerprint,
)
from videogen_dagster.providers.errors import PermanentProviderError
from videogen_dagster.providers.notices import notice
from videogen_dagster.providers.retry import call_with_retries
from videogen_dagster.providers.verify import (
    verify_clip,
    verify_image,
    verify_music,
    verify_speech,
)
from videogen_dagster.store import failed_manifest, layout
from videogen_dagster.store.base import Store
from videogen_dagster.store.claims import generation_claimed

log = logging.getLogger(__name__)

_SUFFIX = {"image/png": ".png", "video/mp4": ".mp4", "audio/mp4": ".m4a", "audio/wav": ".wav"}


class BudgetExceededError(Exception):
    """The next paid call would take a video (or the whole store) over its cost cap."""


class RefusedInputError(PermanentProviderError):
    """The provider refused one generation's input: names the beat, the input and the manifest.

    ``refused_input`` is the prompt text or the image's URI, so the user sees what to edit
    without digging through logs; ``manifest_uri`` is where the refusal is also recorded.
    """

    def __init__(
        self,
        message: str,
        *,
        input_kind: str,
        input_ref: str,
        beat_index: int | None,
        refused_input: str,
        manifest_uri: str,
    ) -> None:
        super().__init__(message, input_kind=input_kind, input_ref=input_ref)
        self.beat_index = beat_index
        self.refused_input = refused_input
        self.manifest_uri = manifest_uri


@dataclass(frozen=True)
class GenerationResult:
    """Where a generated file is and what obtaining it cost this time (zero on a cache hit)."""

    key: str
    uri: str
    fingerprint: str
    cost: float
    original_cost: float
    cache_hit: bool
    provider: str
    model: str
    job_id: str | None = None
    #: What the provider reported about the call (e.g. the local provider's drawn latency).
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Budget:
    """Cost caps in USD; ``None`` means no cap."""

    per_video: float | None = None
    total: float | None = None


class StoreJobJournal:
    """Records a clip job's provider id in the store, so a restarted step resumes it."""

    def __init__(self, store: Store, fingerprint: str) -> None:
        self._store = store
        self._key = layout.clip_job(fingerprint)

    def lookup(self) -> str | None:
        if not self._store.exists(self._key):
            return None
        return json.loads(self._store.read_text(self._key))["job_id"]

    def record(self, job_id: str) -> None:
        record = {"job_id": job_id, "submitted_at": datetime.now(UTC).isoformat()}
        self._store.write_text(self._key, json.dumps(record), "application/json")

    def clear(self) -> None:
        self._store.delete(self._key)


class _Ledger:
    """What each video has been charged, read from the store and guarded against racing threads.

    Estimates of calls in flight are reserved in memory so two threads cannot both pass the
    budget check with room for only one call. Across processes the check is as good as the
    ledger files are fresh: documented as a soft cap there.
    """

    GLOBAL_KEY = "logs/costs.jsonl"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reserved: dict[str, float] = {}  # by the ledger's URI

    def _spent(self, store: Store, key: str) -> float:
        if not store.exists(key):
            return 0.0
        text = store.read_text(key)
        lines = text.split("\n")
        if lines[-1]:
            # A process killed mid-append can leave a torn last line; its call never settled.
            log.warning("%s: ignoring an unfinished last line %r", key, lines[-1][:80])
        spent = 0.0
        for line in lines[:-1]:
            try:
                spent += json.loads(line)["cost"] if line else 0.0
            except json.JSONDecodeError:
                # A torn line that a later append ended (see ``LocalStore.append_line``).
                log.warning("%s: ignoring an unfinished line %r", key, line[:80])
        return spent

    def reserve(
        self, store: Store, video_id: str, estimate: float, budget: Budget, what: str
    ) -> None:
        with self._lock:
            video_key = layout.cost_ledger(video_id)
            checks = (
                (budget.per_video, video_key, store.uri(video_key), f"video {video_id!r}"),
                (budget.total, self.GLOBAL_KEY, store.uri(self.GLOBAL_KEY), "the store"),
            )
            for cap, key, slot, name in checks:
                if cap is None:
                    continue
                committed = self._spent(store, key) + self._reserved.get(slot, 0.0)
                if committed + estimate > cap + 1e-9:
                    raise BudgetExceededError(
                        f"budget: {what} would cost up to ${estimate:.4f}, but {name} has "
                        f"${committed:.4f} of its ${cap:.2f} cap committed; nothing was paid "
                        "for it. "
                        "Raise the cap (budget config) and render again: finished work is kept."
                    )
            for _, _, slot, _ in checks:
                self._reserved[slot] = self._reserved.get(slot, 0.0) + estimate

    def settle(self, store: Store, video_id: str, estimate: float, record: dict[str, Any]) -> None:
        with self._lock:
            for key in (layout.cost_ledger(video_id), self.GLOBAL_KEY):
                slot = store.uri(key)
                self._reserved[slot] = max(0.0, self._reserved.get(slot, 0.0) - estimate)
                if record is not None and record["cost"] > 0:
                    store.append_line(key, json.dumps(record))


_LEDGER = _Ledger()


def video_spend(store: Store, video_id: str) -> float:
    """USD charged to ``video_id`` over its life (every run, failed ones too): its ledger."""
    return _LEDGER._spent(store, layout.cost_ledger(video_id))


@dataclass(frozen=True)
class _Call:
    """Which generation this is, in words a user acts on: its label, beat and inputs."""

    label: str
    beat_index: int | None
    #: Each input kind ("prompt", "image") -> the prompt text or where the image is.
    inputs: Mapping[str, str]

    def failure(
        self, reason: str, message: str, *, input_kind: str | None = None, refused_input: str = ""
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "what": self.label,
            "beat_index": self.beat_index,
            "reason": reason,
            "input": input_kind,
            "message": message,
        }
        if input_kind == "prompt":
            entry["prompt"] = failed_manifest.prompt_excerpt(refused_input)
        elif input_kind == "image":
            entry["image"] = refused_input
        return entry


@dataclass(frozen=True)
class _Paid:
    """One paid generation: the backend and its request, the call that pays for it, the check
    its answer must pass (corrupt media is a failed attempt), and what a failure names."""

    generator: ImageGenerator | ClipGenerator | MusicGenerator | SpeechGenerator
    request: Any
    call: Callable[[], Generated]
    verify: Callable[[Generated], None]
    what: _Call


class Generator:
    """Generates through ``provider`` for one video, caching every result in ``store``."""

    def __init__(
        self,
        provider: Provider,
        store: Store,
        video_id: str,
        *,
        budget: Budget = Budget(),
        attempts: int = 3,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.provider = provider
        self.store = store
        self.video_id = video_id
        self.budget = budget
        self.attempts = attempts
        self._sleep = sleep or waits.sleep
        #: The beat planning this generator did (or found cached), for the manifest.
        self.planning: GenerationResult | None = None

    def plan_beats(self, prompt: str, duration: float, style: str | None) -> list[BeatSpec]:
        """Beats planned from ``prompt``, cached like any generation.

        An LLM plans differently each time; without the cache, rendering the same spec again
        would re-plan, change every beat and pay for every image and clip again.
        """
        planner = self.provider.planner
        fields = {"provider": planner.name, "model": planner.model, "kind": "plan"}
        fields |= {"prompt": prompt, "duration": duration, "style": style}
        fingerprint = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
        key = layout.cached_plan(fingerprint)
        cached = self._cached_plan(key)
        if cached is None:
            claim = layout.generation_claim(fingerprint)
            with generation_claimed(
                self.store, claim, "beat planning", lambda: self._cached_plan(key), on_wait=notice
            ) as cached:
                if cached is None:
                    return self._plan_now(prompt, duration, style, key, fingerprint)
        self.planning = replace(self._plan_result(key, fingerprint), original_cost=cached["cost"])
        return [BeatSpec.model_validate(b) for b in cached["beats"]]

    def _cached_plan(self, key: str) -> dict[str, Any] | None:
        if not self.store.exists(key):
            return None
        return json.loads(self.store.read_text(key))

    def _plan_result(self, key: str, fingerprint: str) -> GenerationResult:
        planner = self.provider.planner
        return GenerationResult(
            key=key,
            uri=self.store.uri(key),
            fingerprint=fingerprint,
            cost=0.0,
            original_cost=0.0,
            cache_hit=True,
            provider=planner.name,
            model=planner.model,
        )

    def _plan_now(
        self, prompt: str, duration: float, style: str | None, key: str, fingerprint: str
    ) -> list[BeatSpec]:
        planner = self.provider.planner
        result = self._plan_result(key, fingerprint)
        beats = call_with_retries(lambda: planner.plan_beats(prompt, duration, style))
        cost = planner.last_cost
        payload = {"beats": [b.model_dump() for b in beats], "cost": cost}
        self.store.write_text(key, json.dumps(payload), "application/json")
        self.planning = replace(result, cost=cost, original_cost=cost, cache_hit=False)
        if cost:
            _LEDGER.settle(
                self.store, self.video_id, 0.0, self._ledger_line("beat planning", self.planning)
            )
        return beats

    def image(
        self,
        request: ImageRequest,
        *,
        label: str,
        beat_index: int | None = None,
        image_inputs: str = "",
    ) -> GenerationResult:
        """``image_inputs`` names the reference images sent along, for a refusal's message."""
        images = self.provider.images
        return self._generate(
            _Paid(
                images,
                request,
                lambda: images.generate_image(request),
                lambda generated: verify_image(
                    generated.data, request.size, source=generated.provider
                ),
                _Call(label, beat_index, {"prompt": request.prompt, "image": image_inputs}),
            )
        )

    def clip(
        self,
        request: ClipRequest,
        *,
        label: str,
        beat_index: int | None = None,
        start_image_uri: str = "",
    ) -> GenerationResult:
        """``start_image_uri`` is where the start image is in the store, for a refusal's message."""
        clips = self.provider.clips
        fingerprint = request_fingerprint(clips, request)
        journal = StoreJobJournal(self.store, fingerprint)
        return self._generate(
            _Paid(
                clips,
                request,
                lambda: clips.generate_clip(request, journal),
                lambda generated: verify_clip(
                    generated.data, request.size, request.duration, source=generated.provider
                ),
                _Call(label, beat_index, {"prompt": request.prompt, "image": start_image_uri}),
            ),
            fingerprint=fingerprint,
        )

    def music(self, request: MusicRequest, *, label: str) -> GenerationResult:
        music = self.provider.music
        return self._generate(
            _Paid(
                music,
                request,
                lambda: music.generate_music(request),
                lambda generated: verify_music(
                    generated.data, request.duration, source=generated.provider
                ),
                _Call(label, None, {"prompt": request.prompt}),
            )
        )

    def speech(
        self, request: SpeechRequest, *, label: str, beat_index: int | None = None
    ) -> GenerationResult:
        """A beat's narration spoken; the refused input, if any, is its text."""
        speech = self.provider.speech
        return self._generate(
            _Paid(
                speech,
                request,
                lambda: speech.generate_speech(request),
                lambda generated: verify_speech(generated.data, source=generated.provider),
                _Call(label, beat_index, {"prompt": request.text}),
            )
        )

    def _generate(self, paid: _Paid, *, fingerprint: str | None = None) -> GenerationResult:
        fingerprint = fingerprint or request_fingerprint(paid.generator, paid.request)
        label = paid.what.label
        cached = self._cached(fingerprint)
        if cached is None:
            # Another render of the same request pays for it once; this one waits for the result.
            claim = layout.generation_claim(fingerprint)
            finished = functools.partial(self._cached, fingerprint)
            with generation_claimed(self.store, claim, label, finished, on_wait=notice) as cached:
                if cached is None:
                    return self._pay_for(paid, fingerprint)
        log.info("%s: cache hit %s (saved $%.4f)", label, fingerprint[:12], cached.original_cost)
        failed_manifest.resolve_failure(self.store, self.video_id, label)
        return cached

    def _pay_for(self, paid: _Paid, fingerprint: str) -> GenerationResult:
        """The paid call, once this process holds the generation's claim."""
        what = paid.what
        label = what.label
        estimate = paid.generator.estimate_cost(paid.request)
        try:
            _LEDGER.reserve(self.store, self.video_id, estimate, self.budget, label)
        except BudgetExceededError as stop:
            uri = failed_manifest.record_failure(
                self.store, self.video_id, what.failure("budget", str(stop))
            )
            raise BudgetExceededError(f"{stop} (recorded in {uri})") from stop

        def attempt() -> Generated:
            result = paid.call()
            paid.verify(result)  # corrupt media is a failed attempt, retried like a 5xx
            return result

        record = None
        try:
            generated = call_with_retries(attempt, attempts=self.attempts, sleep=self._sleep)
            # Cached before the ledger line: a process killed between the two has lost a line
            # of cost accounting, not the paid result (the next run finds it in the cache).
            remembered = self._remember(fingerprint, generated)
            record = self._ledger_line(label, remembered)
        except PermanentProviderError as refusal:
            raise self._refused(what, refusal) from refusal
        finally:
            _LEDGER.settle(self.store, self.video_id, estimate, record)
        failed_manifest.resolve_failure(self.store, self.video_id, label)
        return remembered

    def _ledger_line(self, what: str, result: GenerationResult) -> dict[str, Any]:
        """One paid call, as the cost ledger (and so the budget) counts it."""
        return {
            "timestamp": datetime.now(UTC).isoformat(),
            "video_id": self.video_id,
            "what": what,
            "fingerprint": result.fingerprint,
            "provider": result.provider,
            "model": result.model,
            "cost": result.cost,
        }

    def _refused(self, what: _Call, refusal: PermanentProviderError) -> RefusedInputError:
        """The refusal, naming the beat and the refused input, recorded in the manifest."""
        kind = refusal.input_kind
        refused = what.inputs.get(kind, "")
        if kind not in what.inputs:  # the vendor did not say which ("prompt or image"): both
            prompt = failed_manifest.prompt_excerpt(what.inputs.get("prompt", ""))
            refused = f"{prompt!r} / {what.inputs.get('image') or '(no image)'}"
        shown = (
            repr(failed_manifest.prompt_excerpt(refused)) if kind == "prompt" else refused
        ) or "(not recorded)"
        message = f"{what.label}: the provider refused the {kind} {shown}: {refusal}"
        failure = what.failure("refused", str(refusal), input_kind=kind, refused_input=refused)
        uri = failed_manifest.record_failure(self.store, self.video_id, failure)
        return RefusedInputError(
            f"{message} (recorded in {uri})",
            input_kind=kind,
            input_ref=what.label,
            beat_index=what.beat_index,
            refused_input=refused,
            manifest_uri=uri,
        )

    def _cached(self, fingerprint: str) -> GenerationResult | None:
        record_key = layout.cached_record(fingerprint)
        if not self.store.exists(record_key):
            return None
        record = json.loads(self.store.read_text(record_key))
        if not self.store.exists(record["key"]):
            return None
        return GenerationResult(**{**record, "cost": 0.0, "cache_hit": True})

    def _remember(self, fingerprint: str, generated: Generated) -> GenerationResult:
        key = layout.cached_media(fingerprint, _SUFFIX[generated.media_type])
        uri = self.store.write_bytes(key, generated.data, generated.media_type)
        result = GenerationResult(
            key=key,
            uri=uri,
            fingerprint=fingerprint,
            cost=generated.cost,
            original_cost=generated.cost,
            cache_hit=False,
            provider=generated.provider,
            model=generated.model,
            job_id=generated.job_id,
            details=dict(generated.details),
        )
        # The record is written last: a crash before it leaves only an unreferenced file.
        self.store.write_text(
            layout.cached_record(fingerprint), json.dumps(result.as_dict()), "application/json"
        )
        if generated.job_id is not None:
            StoreJobJournal(self.store, fingerprint).clear()
        return result
