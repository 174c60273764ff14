"""What a render would cost, worked out before anything is paid (``videogen estimate``).

The estimate builds the very requests a render makes (prompts, sizes, seeds, start images),
looks each one up in the generation cache, and prices the rest with each backend's
``estimate_cost``: the figure the budget reserves before a paid call. So it is the most a render
can charge, and with list prices that do not depend on the reply (clips per second, images per
size and quality) it is what the render's ledger shows. A cached request costs $0 and shows what
it saved.

Nothing here calls a paid API. Where a render learns something only from a paid call, the
estimate says so instead of guessing silently: a beat plan not yet cached is priced at the
planner's upper bound and its beats approximated by the offline planner (``approximate``), and a
start image that depends on a clip not yet made makes that clip count as uncached.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from videogen_dagster.domain.chunk_plan import Chunk, plan_chunks
from videogen_dagster.domain.local_beat_planner import plan_beats_locally
from videogen_dagster.domain.narration import beat_label
from videogen_dagster.domain.spec import BeatSpec, VideoSpec
from videogen_dagster.domain.validation import ValidatedSpec, validate_spec
from videogen_dagster.providers.base import (
    ClipRequest,
    ImageRequest,
    MusicRequest,
    Planner,
    Provider,
    Size,
    SpeechRequest,
    request_fingerprint,
)
from videogen_dagster.store import layout
from videogen_dagster.store.base import Store

if TYPE_CHECKING:
    from videogen_dagster.generation import GenerationResult

Role = Literal["planner", "images", "clips", "speech", "music"]


@dataclass(frozen=True)
class CallEstimate:
    """One generation call a render would make, and what it would pay for it."""

    what: str  # the ledger's label: "beat 0 storyboard image", "beat 1 chunk 2 (continuous)"
    role: Role
    backend: str  # "<provider>/<model>"
    beat_index: int | None
    #: USD this render would pay: 0 when the result is cached.
    cost: float
    #: USD the call costs without the cache (when cached: what it cost when it was made).
    list_price: float
    cached: bool
    #: Seconds generated (clips: the length paid for; music: the track).
    seconds: float | None = None
    #: Seconds of a clip kept in the video (the rest is trimmed).
    kept_seconds: float | None = None


@dataclass(frozen=True)
class BeatLine:
    index: int
    start: float
    duration: float
    description: str


@dataclass(frozen=True)
class VideoEstimate:
    """Every call of one video's render, priced; ``approximate`` when its beats are a guess."""

    video_id: str
    duration: float
    beats: tuple[BeatLine, ...]
    calls: tuple[CallEstimate, ...]
    approximate: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def total(self) -> float:
        return round(sum(call.cost for call in self.calls), 6)

    @property
    def saved_by_cache(self) -> float:
        return round(sum(call.list_price for call in self.calls if call.cached), 6)

    def by_role(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for call in self.calls:
            totals[call.role] = round(totals.get(call.role, 0.0) + call.cost, 6)
        return totals

    def calls_of_beat(self, beat_index: int) -> list[CallEstimate]:
        return [call for call in self.calls if call.beat_index == beat_index]


def estimate_spec(
    spec: VideoSpec,
    video_id: str,
    references: Sequence[bytes],
    provider: Provider,
    store: Store,
    *,
    generate_reference: bool = False,
) -> VideoEstimate:
    """The estimate of rendering ``spec`` (``references``: its reference images' bytes)."""
    planning: list[CallEstimate] = []
    approximate = []

    def planner(prompt: str, duration: float, style: str | None) -> list[BeatSpec]:
        beats, call, exact = _plan(provider.planner, store, prompt, duration, style)
        planning.append(call)
        if not exact:
            approximate.append(True)
        return beats

    validated = validate_spec(spec, video_id, planner=planner)
    estimate = estimate_validated(
        validated,
        references,
        provider,
        store,
        planning=planning[0] if planning else None,
        generate_reference=generate_reference,
    )
    if not approximate:
        return estimate
    note = (
        f"the beats are planned by {provider.planner.name} at render time: this estimate "
        "counts the offline planner's beats, so the number of images and clips may differ"
    )
    return VideoEstimate(
        video_id=estimate.video_id,
        duration=estimate.duration,
        beats=estimate.beats,
        calls=estimate.calls,
        approximate=True,
        notes=(*estimate.notes, note),
    )


def estimate_validated(
    spec: ValidatedSpec,
    references: Sequence[bytes],
    provider: Provider,
    store: Store,
    *,
    planning: CallEstimate | None = None,
    generate_reference: bool = False,
) -> VideoEstimate:
    """The estimate of the calls after validation: references, images, clips, music."""
    from videogen_dagster.media import resize_exact

    size = provider.size_for(spec.aspect_ratio)
    calls = [planning] if planning is not None else []
    cache = _Cache(store)

    # References are the spec's images at clip size, or one generated style frame.
    reference_pngs: list[bytes] | None = [resize_exact(data, size) for data in references]
    if not references and generate_reference and spec.prompt:
        request = ImageRequest(prompt=spec.prompt, size=size, seed=spec.seed, style=spec.style)
        call, made = cache.price(provider.images, request, "style reference image", "images")
        calls.append(call)
        reference_pngs = [store.read_bytes(made)] if made is not None else None

    plan = plan_chunks(spec, provider.clip_lengths)
    for beat in spec.beats:
        image_png: bytes | None = None
        label = f"beat {beat.index} storyboard image"
        request = ImageRequest(
            prompt=beat.description,
            size=size,
            seed=spec.seed,
            style=spec.style,
            references=tuple(reference_pngs or ()),
        )
        if reference_pngs is None:  # a reference not made yet: this image cannot be cached
            call = cache.uncached(provider.images, request, label, "images", beat.index)
        else:
            call, made = cache.price(provider.images, request, label, "images", beat.index)
            image_png = store.read_bytes(made) if made is not None else None
        calls.append(call)
        start, previous_made = image_png, None
        for chunk in plan.chunks_of_beat(beat.index):
            if chunk.index_in_beat > 0:
                made_before = previous_made is not None
                start = _stored_start_frame(store, spec.video_id, chunk) if made_before else None
            call, previous_made = _price_clip(cache, provider, spec, size, chunk, start)
            calls.append(call)
        if spec.narration is not None and beat.narration:
            voice = spec.narration.voice or provider.speech.default_voice
            request = SpeechRequest(text=beat.narration, voice=voice, speed=spec.narration.speed)
            label = f"{beat_label(spec, beat)} narration"
            calls.append(cache.price(provider.speech, request, label, "speech", beat.index)[0])

    if spec.music is not None:
        request = MusicRequest(prompt=spec.music.prompt, duration=spec.duration, seed=spec.seed)
        call, _ = cache.price(provider.music, request, "music", "music")
        calls.append(_with_seconds(call, spec.duration))

    beats = tuple(BeatLine(b.index, b.start, b.duration, b.description) for b in spec.beats)
    return VideoEstimate(spec.video_id, spec.duration, beats, tuple(calls))


def registered_references(store: Store, spec: ValidatedSpec) -> list[bytes]:
    """The reference images registered with the spec, as the ``references`` asset reads them."""
    return [
        store.read_bytes(layout.input_reference(spec.video_id, index, source))
        for index, source in enumerate(spec.references)
    ]


def planning_call(result: GenerationResult | None) -> CallEstimate | None:
    """The beat planning a ``Generator`` just did (or found cached), as an estimate's line."""
    if result is None:
        return None
    return CallEstimate(
        what="beat planning",
        role="planner",
        backend=f"{result.provider}/{result.model}",
        beat_index=None,
        cost=result.cost,
        list_price=result.original_cost,
        cached=result.cache_hit,
    )


def _price_clip(
    cache: _Cache,
    provider: Provider,
    spec: ValidatedSpec,
    size: Size,
    chunk: Chunk,
    start: bytes | None,
) -> tuple[CallEstimate, str | None]:
    """The clip's call and, when cached, its result's key; ``start``: its start image if known."""
    request = ClipRequest(
        start_image=start or b"",
        prompt=spec.beats[chunk.beat_index].description,
        size=size,
        fps=spec.fps,
        duration=chunk.generate_duration,
        seed=spec.seed + chunk.index_in_beat,
        style=spec.style,
    )
    label = f"beat {chunk.beat_index} chunk {chunk.chunk_num} ({chunk.kind})"
    if start is None:
        call, made = cache.uncached(provider.clips, request, label, "clips", chunk.beat_index), None
    else:
        call, made = cache.price(provider.clips, request, label, "clips", chunk.beat_index)
    call = _with_seconds(call, chunk.generate_duration, chunk.duration)
    return call, made


def _with_seconds(call: CallEstimate, seconds: float, kept: float | None = None) -> CallEstimate:
    return replace(call, seconds=seconds, kept_seconds=kept)


def _stored_start_frame(store: Store, video_id: str, chunk: Chunk) -> bytes | None:
    """The start frame an earlier render stored for this continuous chunk.

    A continuous chunk starts from its predecessor's last frame, known only once that clip
    exists. When the predecessor is cached, the frame the earlier render made from it (stored
    before its paid call) is the request a new render would send again.
    """
    key = layout.chunk_start_frame(video_id, chunk.chunk_num)
    return store.read_bytes(key) if store.exists(key) else None


class _Cache:
    """Looks requests up in the generation cache the way ``Generator`` does, without paying."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, fingerprint: str) -> dict[str, Any] | None:
        key = layout.cached_record(fingerprint)
        if not self._store.exists(key):
            return None
        record = json.loads(self._store.read_text(key))
        return record if self._store.exists(record["key"]) else None

    def price(
        self, generator: Any, request: Any, what: str, role: Role, beat_index: int | None = None
    ) -> tuple[CallEstimate, str | None]:
        """The call, and the cached result's key when it is cached (else ``None``)."""
        record = self.record(request_fingerprint(generator, request))
        if record is None:
            return self.uncached(generator, request, what, role, beat_index), None
        call = CallEstimate(
            what=what,
            role=role,
            backend=f"{generator.name}/{generator.model}",
            beat_index=beat_index,
            cost=0.0,
            list_price=float(record["original_cost"]),
            cached=True,
        )
        return call, record["key"]

    @staticmethod
    def uncached(
        generator: Any, request: Any, what: str, role: Role, beat_index: int | None = None
    ) -> CallEstimate:
        price = round(float(generator.estimate_cost(request)), 6)
        return CallEstimate(
            what=what,
            role=role,
            backend=f"{generator.name}/{generator.model}",
            beat_index=beat_index,
            cost=price,
            list_price=price,
            cached=False,
        )


def _plan(
    planner: Planner, store: Store, prompt: str, duration: float, style: str | None
) -> tuple[list[BeatSpec], CallEstimate, bool]:
    """The beats a render would plan, the planning call, and whether the beats are exact.

    A cached plan is exact and free; the offline planner is exact and free; any other
    planner would be paid to answer, so its beats are approximated offline and its price is
    its upper bound (``Planner.estimate_cost``).
    """
    backend = f"{planner.name}/{planner.model}"
    cached = _cached_plan(store, planner, prompt, duration, style)
    if cached is not None:
        beats = [BeatSpec.model_validate(b) for b in cached["beats"]]
        call = CallEstimate("beat planning", "planner", backend, None, 0.0, cached["cost"], True)
        return beats, call, True
    if planner.name == "local":
        call = CallEstimate("beat planning", "planner", backend, None, 0.0, 0.0, False)
        return planner.plan_beats(prompt, duration, style), call, True
    price = round(planner.estimate_cost(prompt, duration, style), 6)
    call = CallEstimate("beat planning", "planner", backend, None, price, price, False)
    return plan_beats_locally(prompt, duration, style), call, False


def _cached_plan(
    store: Store, planner: Planner, prompt: str, duration: float, style: str | None
) -> dict[str, Any] | None:
    """The plan ``Generator.plan_beats`` cached for these inputs, if any (same fingerprint)."""
    fields = {"provider": planner.name, "model": planner.model, "kind": "plan"}
    fields |= {"prompt": prompt, "duration": duration, "style": style}
    fingerprint = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
    key = layout.cached_plan(fingerprint)
    return json.loads(store.read_text(key)) if store.exists(key) else None


# -- presentation ----------------------------------------------------------------------------


def _money(value: float) -> str:
    return f"${value:.4f}"


def _seconds(value: float) -> str:
    return f"{value:g} s"


def describe_call(call: CallEstimate) -> str:
    """One call in words: what, by which backend, how long, and what it costs."""
    parts = [call.what, call.backend]
    if call.seconds is not None and call.role == "clips":
        kept = call.kept_seconds
        trimmed = f", {_seconds(kept)} kept" if kept is not None and kept != call.seconds else ""
        parts.append(f"{_seconds(call.seconds)} generated{trimmed}")
    elif call.seconds is not None:
        parts.append(_seconds(call.seconds))
    if call.cached:
        parts.append(f"cached {_money(0)} (saves {_money(call.list_price)})")
    else:
        parts.append(_money(call.cost))
    return " · ".join(parts)


def report_lines(estimate: VideoEstimate, source: str = "") -> Iterator[str]:
    """The estimate as the terminal shows it: per beat, then the video's total."""
    clips = sum(1 for call in estimate.calls if call.role == "clips")
    head = f"{estimate.video_id}" + (f" ({source})" if source else "")
    yield (
        f"{head}: {_seconds(estimate.duration)}, {len(estimate.beats)} beats, {clips} clips"
        + (" (approximate)" if estimate.approximate else "")
    )
    for call in estimate.calls:
        if call.beat_index is None and call.role in ("planner", "images"):
            yield f"  {describe_call(call)}"
    for beat in estimate.beats:
        calls = estimate.calls_of_beat(beat.index)
        subtotal = round(sum(call.cost for call in calls), 6)
        end = beat.start + beat.duration
        yield f"  beat {beat.index} ({beat.start:g}-{end:g} s): {_money(subtotal)}"
        for call in calls:
            yield f"    {describe_call(call)}"
    for call in estimate.calls:
        if call.role == "music":
            yield f"  {describe_call(call)}"
    for note in estimate.notes:
        yield f"  note: {note}"
    roles = " · ".join(f"{role} {_money(cost)}" for role, cost in estimate.by_role().items())
    yield (
        f"  total {_money(estimate.total)} ({roles}); "
        f"already in the cache: {_money(estimate.saved_by_cache)} not paid again"
    )


def metadata_markdown(estimate: VideoEstimate) -> str:
    """A small table per beat for the ``spec`` asset's metadata in the UI."""
    rows = ["| beat | seconds | images | clips | cost |", "|---|---|---|---|---|"]
    for beat in estimate.beats:
        calls = estimate.calls_of_beat(beat.index)
        images = sum(c.cost for c in calls if c.role == "images")
        clips = [c for c in calls if c.role == "clips"]
        generated = "+".join(f"{c.seconds:g}" for c in clips)
        cached = sum(1 for c in calls if c.cached)
        cost = round(sum(c.cost for c in calls), 6)
        note = f" ({cached} cached)" if cached else ""
        rows.append(
            f"| {beat.index} | {beat.duration:g} | {_money(images)} | "
            f"{generated} s {_money(sum(c.cost for c in clips))} | {_money(cost)}{note} |"
        )
    for call in estimate.calls:
        if call.beat_index is None:
            rows.append(f"| {call.what} | | | | {_money(call.cost)} |")
    rows.append(f"| **total** | {estimate.duration:g} | | | **{_money(estimate.total)}** |")
    return "\n".join(rows)


# -- the command ------------------------------------------------------------------------------


class EstimateError(ValueError):
    """The providers cannot be set up as configured (an unknown backend or model)."""


@dataclass
class FilesEstimate:
    """``videogen estimate``'s answer: lines for stdout, errors (one line each) for stderr."""

    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    videos: list[VideoEstimate] = field(default_factory=list)


def estimate_files(
    paths: Sequence[Path], store_uri: str, env: Mapping[str, str] | None = None
) -> FilesEstimate:
    """Estimate each spec file with the providers ``env`` (default: this process's environment)
    configures for a render.

    The generation resource is built exactly as ``dagster dev`` and ``videogen render`` build it
    (``resources_from_env``); API keys stay references to the environment and are never read,
    since nothing is called.
    """
    from videogen_dagster.defs.resources import resources_from_env
    from videogen_dagster.domain.errors import SpecError
    from videogen_dagster.domain.spec import load_spec
    from videogen_dagster.providers.errors import UnsupportedRequestError
    from videogen_dagster.settings import s3_settings_from_env
    from videogen_dagster.store.factory import open_store

    generation = resources_from_env(env)["generation"]
    try:
        provider = generation.provider()
    except ValueError as exc:  # ProviderConfigError, an unknown model
        raise EstimateError(str(exc)) from exc
    store = open_store(store_uri, **s3_settings_from_env())
    answer = FilesEstimate()
    for path in paths:
        try:
            video_id, spec = load_spec(path)
            references = [(path.parent / ref).read_bytes() for ref in spec.references]
            estimate = estimate_spec(
                spec,
                video_id,
                references,
                provider,
                store,
                generate_reference=generation.generate_reference,
            )
        except SpecError as exc:
            answer.errors.append(str(exc))
            continue
        except UnsupportedRequestError as exc:
            answer.errors.append(f"{path}: {exc}")
            continue
        answer.videos.append(estimate)
        answer.lines += report_lines(estimate, str(path))
    if len(answer.videos) > 1:
        total = round(sum(video.total for video in answer.videos), 6)
        answer.lines.append(f"all {len(answer.videos)} videos: {_money(total)}")
    return answer
