"""A fake of Runway's API on 127.0.0.1: image-to-video tasks and their output files.

It refuses what the real API refuses, in Runway's error shape (``{"error": "..."}``), so a
client that sends a bad request fails a test: the ``X-Runway-Version`` value, a model's fields,
ratios and whole-second durations (a 5.9 s duration is refused, never rounded), the prompt's
length in UTF-16 code units, the seed's range. The tables below are transcribed from the
``runwayml`` 5.24 SDK types (``image_to_video_create_params.py``), not from our own code.

A create answers ``{"id", "estimatedCost"}``. A task goes [THROTTLED →] PENDING → RUNNING →
SUCCEEDED as it is polled (``polls_before_done`` polls before it finishes, after any
THROTTLED polls queued with ``throttle_next_task``), and its output URL, served by the same
server, returns a real H.264 MP4 of the asked ratio and duration that starts on the uploaded
image (rendered by the local provider's ``LocalClips``, index first as web-delivered files
are). Faults: any ``runway_fault``, ``http_fault`` or ``timeout_fault`` on a route, and
per-task faults queued with ``fail_next_task`` (FAILED with a failure code),
``cancel_next_task`` (CANCELLED) or ``corrupt_next_output`` (a truncated or empty MP4, or one
of the wrong duration).
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from videogen_dagster_tests.fakes.server import FakeServer, Fault, RecordedRequest, Response

CREATE = "POST /v1/image_to_video"
RETRIEVE = "GET /v1/tasks/{id}"
DELETE = "DELETE /v1/tasks/{id}"
OUTPUT = "GET /outputs/{id}.mp4"

#: The ``X-Runway-Version`` the API accepts (the SDK sends it on every request).
API_VERSION = "2024-11-06"

_GEN4_RATIOS = {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"}
_VEO_RATIOS = {"1280:720", "720:1280", "1080:1920", "1920:1080"}
_SEEDANCE_RATIOS = {"992:432", "864:496", "752:560", "640:640", "560:752", "496:864", "1470:630"}
_SEEDANCE_RATIOS |= {"1280:720", "1112:834", "960:960", "834:1112", "720:1280"}
_SEEDANCE_RATIOS |= {"2206:946", "1920:1080", "1664:1248", "1440:1440", "1248:1664", "1080:1920"}
_COMMON = {"model", "promptImage", "promptText", "duration", "ratio"}
_KLING = _COMMON | {"audio", "cfgScale", "providerSettings"}

#: Per model: ratios, whole-second durations, prompt limit (UTF-16 units), body fields.
MODEL_RATIOS = {
    "gen4_turbo": _GEN4_RATIOS,
    "gen4.5": _GEN4_RATIOS,
    "veo3.1": _VEO_RATIOS,
    "veo3.1_fast": _VEO_RATIOS,
    "kling3.0_standard": {"1280:720", "720:1280", "960:960"},
    "kling3.0_pro": {"1920:1080", "1080:1920", "1440:1440"},
    "seedance2": _SEEDANCE_RATIOS,
}
MODEL_DURATIONS = {
    "gen4_turbo": set(range(2, 11)),
    "gen4.5": set(range(2, 11)),
    "veo3.1": {4, 6, 8},
    "veo3.1_fast": {4, 6, 8},
    "kling3.0_standard": set(range(3, 16)),
    "kling3.0_pro": set(range(3, 16)),
    "seedance2": set(range(4, 16)),
}
PROMPT_LIMITS = {"kling3.0_standard": 2500, "kling3.0_pro": 2500, "seedance2": 3500}
DEFAULT_PROMPT_LIMIT = 1000
MODEL_FIELDS = {
    "gen4_turbo": _COMMON | {"contentModeration", "seed"},
    "gen4.5": _COMMON | {"contentModeration", "outputFormat", "proresProfile", "seed"},
    "veo3.1": _COMMON | {"audio", "negativePrompt", "seed"},
    "veo3.1_fast": _COMMON | {"audio", "negativePrompt", "seed"},
    "kling3.0_standard": _KLING,
    "kling3.0_pro": _KLING,
    "seedance2": _COMMON | {"audio", "referenceAudio", "seed"},
}
MAX_SEED = 4_294_967_295

#: Credits per second Runway charges in this fake (Veo with audio costs more).
CREDITS_PER_SECOND = {
    "gen4_turbo": 5,
    "gen4.5": 12,
    "veo3.1": 20,
    "veo3.1_fast": 10,
    "kling3.0_standard": 9,
    "kling3.0_pro": 12,
    "seedance2": 15,
}
AUDIO_CREDITS_PER_SECOND = {"veo3.1": 40, "veo3.1_fast": 15}
OUTPUT_FPS = 24

_clip_cache: dict[str, bytes] = {}
_clip_lock = threading.Lock()


def rendered_clip(image: bytes, width: int, height: int, duration: float, fps: int) -> bytes:
    """An H.264 MP4 from the local provider's ``LocalClips`` (frame 0 is ``image``); cached.

    The same start image, size and length give the same bytes, so a suite that asks for many
    clips renders each distinct one once.
    """
    from videogen_dagster.providers.base import ClipRequest, Size
    from videogen_dagster.providers.local import LocalClips, LocalSettings

    key = hashlib.sha256(image + f"{width}x{height}@{duration}/{fps}".encode()).hexdigest()
    with _clip_lock:
        if key in _clip_cache:
            return _clip_cache[key]
    clips = LocalClips(LocalSettings(clip_lengths=(duration,)))
    data = clips.generate_clip(
        ClipRequest(
            start_image=image,
            prompt="runway fake",
            size=Size(width, height),
            fps=fps,
            duration=duration,
            seed=0,
        )
    ).data
    with _clip_lock:
        _clip_cache[key] = data
    return data


@dataclass
class FakeTask:
    id: str
    model: str
    ratio: str
    duration: int
    image: bytes
    prompt_text: str
    seed: int | None
    created_at: str
    credits: int
    polls: int = 0
    failed: bool = False
    throttled_polls: int = 0
    cancelled: bool = False
    failure_code: str | None = None
    corruption: str | None = None
    output: bytes | None = field(default=None, repr=False)


class FakeRunwayServer(FakeServer):
    """The fake; ``api_key`` must come as the bearer token or the answer is 401."""

    def __init__(self, api_key: str = "key_fake_runway") -> None:
        super().__init__()
        self.api_key = api_key
        self.polls_before_done = 2
        self.tasks: dict[str, FakeTask] = {}
        #: Sizes of the start images received, in submission order.
        self.received_image_sizes: list[tuple[int, int]] = []
        self._task_faults: deque[tuple[str, str | None]] = deque()

    # -- test controls ---------------------------------------------------------------------
    def fail_next_task(self, failure_code: str | None) -> None:
        """The next submitted task ends FAILED with ``failure_code`` (e.g. SAFETY.INPUT.TEXT;
        ``None``: a failure without a code, which Runway also sends)."""
        self._task_faults.append(("fail", failure_code))

    def throttle_next_task(self, polls: int) -> None:
        """The next submitted task answers THROTTLED to its first ``polls`` polls."""
        self._task_faults.append(("throttle", str(polls)))

    def cancel_next_task(self) -> None:
        """The next submitted task ends CANCELLED (deleted on Runway's side), refunded."""
        self._task_faults.append(("cancel", ""))

    def corrupt_next_output(self, how: str = "truncate") -> None:
        """The next task's output is cut (``truncate``), too short (``short``) or ``empty``."""
        self._task_faults.append(("corrupt", how))

    def route_of(self, method: str, path: str) -> str:
        if path.startswith("/v1/tasks/"):
            return f"{method} /v1/tasks/{{id}}"
        if path.startswith("/outputs/"):
            return f"{method} /outputs/{{id}}.mp4"
        return f"{method} {path}"

    # -- routes ----------------------------------------------------------------------------
    def route(self, request: RecordedRequest, fault: Fault | None) -> Response:
        route = self.route_of(request.method, request.path)
        if route == OUTPUT:
            return self._output(request.path.removeprefix("/outputs/").removesuffix(".mp4"))
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Response.json({"error": "Invalid API key"}, 401)
        version = request.headers.get("x-runway-version")
        if version != API_VERSION:
            return Response.json(
                {"error": f"X-Runway-Version must be {API_VERSION!r}, got {version!r}"}, 400
            )
        if route == CREATE:
            return self._create(request.json())
        if route == RETRIEVE:
            return self._retrieve(request.path.removeprefix("/v1/tasks/"))
        if route == DELETE:
            return self._delete(request.path.removeprefix("/v1/tasks/"))
        return Response.json({"error": f"no route {route}"}, 404)

    def _create(self, body: dict[str, Any]) -> Response:
        problem = _invalid(body)
        if problem:
            return Response.json({"error": problem}, 400)
        model, ratio, duration = body["model"], body["ratio"], int(body["duration"])
        image = _decode_data_uri(str(body.get("promptImage", "")))
        if image is None:
            return Response.json({"error": "promptImage: not a base64 image data URI"}, 400)
        with Image.open(io.BytesIO(image)) as decoded:
            self.received_image_sizes.append(decoded.size)
        rate = (AUDIO_CREDITS_PER_SECOND if body.get("audio") else CREDITS_PER_SECOND)[model]
        task = FakeTask(
            id=str(uuid.uuid4()),
            model=model,
            ratio=ratio,
            duration=duration,
            image=image,
            prompt_text=str(body.get("promptText", "")),
            seed=body.get("seed"),
            created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            credits=rate * duration,
        )
        if self._task_faults:
            kind, detail = self._task_faults.popleft()
            if kind == "fail":
                task.failed, task.failure_code = True, detail
            elif kind == "throttle":
                task.throttled_polls = int(detail)
            elif kind == "cancel":
                task.cancelled = True
            else:
                task.corruption = detail
        self.tasks[task.id] = task
        return Response.json({"id": task.id, "estimatedCost": {"credits": task.credits}})

    def _delete(self, task_id: str) -> Response:
        task = self.tasks.get(task_id)
        if task is None:
            return Response.json({"error": "Task not found"}, 404)
        task.cancelled = True
        return Response(204, b"", "application/json")

    def _retrieve(self, task_id: str) -> Response:
        task = self.tasks.get(task_id)
        if task is None:
            return Response.json({"error": "Task not found"}, 404)
        task.polls += 1
        common = {"id": task.id, "createdAt": task.created_at}
        estimate = {"estimatedCost": {"credits": task.credits}}
        if task.polls <= task.throttled_polls:
            return Response.json({**common, "status": "THROTTLED", **estimate})
        if task.cancelled:
            return Response.json({**common, "status": "CANCELLED", "cost": {"credits": 0}})
        working = task.polls - task.throttled_polls
        if working <= self.polls_before_done:
            if working == 1:
                return Response.json({**common, "status": "PENDING", **estimate})
            return Response.json({**common, "status": "RUNNING", "progress": 0.5, **estimate})
        if task.failed:
            failure = {"failure": f"Task failed: {task.failure_code or 'unknown reason'}"}
            if task.failure_code is not None:
                failure["failureCode"] = task.failure_code
            return Response.json({**common, "status": "FAILED", "cost": {"credits": 0}, **failure})
        return Response.json(
            {
                **common,
                "status": "SUCCEEDED",
                "cost": {"credits": task.credits},
                "output": [f"{self.url}/outputs/{task.id}.mp4"],
            }
        )

    def _output(self, task_id: str) -> Response:
        task = self.tasks.get(task_id)
        done = task is not None and task.polls > task.throttled_polls + self.polls_before_done
        if task is None or not done or task.failed or task.cancelled:
            return Response(404, b"no such output", "text/plain")
        if task.output is None:
            width, height = map(int, task.ratio.split(":"))
            seconds = task.duration / 2 if task.corruption == "short" else task.duration
            task.output = rendered_clip(task.image, width, height, seconds, OUTPUT_FPS)
        data = task.output
        if task.corruption == "truncate":
            data = data[: len(data) * 2 // 3]
        elif task.corruption == "empty":
            data = b""
        return Response(200, data, "video/mp4")


def runway_fault(status: int, message: str = "", *, retry_after: float | None = None) -> Fault:
    """An HTTP error answer in Runway's shape: ``{"error": "<message>"}``."""
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    return Fault(
        status=status, body={"error": message or f"injected HTTP {status}"}, headers=headers
    )


def _invalid(body: dict[str, Any]) -> str | None:
    """Why the real API would refuse this create body (Runway's wording, roughly), or None."""
    model = body.get("model")
    if model not in MODEL_RATIOS:
        return f"model: unknown model {model!r}"
    unknown = sorted(set(body) - MODEL_FIELDS[model])
    if unknown:
        return f"{', '.join(unknown)}: not accepted by {model}"
    ratio = body.get("ratio")
    if ratio not in MODEL_RATIOS[model]:
        return f"ratio: {ratio!r} is not valid for {model}"
    duration = body.get("duration")
    whole = isinstance(duration, int) or (isinstance(duration, float) and duration.is_integer())
    if isinstance(duration, bool) or not whole or int(duration) not in MODEL_DURATIONS[model]:
        return f"duration: {duration!r} is not a valid whole number of seconds for {model}"
    prompt = body.get("promptText")
    limit = PROMPT_LIMITS.get(model, DEFAULT_PROMPT_LIMIT)
    if not isinstance(prompt, str) or not prompt:
        return "promptText: a non-empty string is required"
    if len(prompt.encode("utf-16-le")) // 2 > limit:
        return f"promptText: must be at most {limit} characters (UTF-16 code units)"
    seed = body.get("seed")
    if "seed" in body and (
        not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED
    ):
        return f"seed: must be an integer from 0 to {MAX_SEED}, got {seed!r}"
    return None


def _decode_data_uri(uri: str) -> bytes | None:
    head, _, payload = uri.partition(",")
    if not head.startswith("data:image/") or not head.endswith(";base64"):
        return None
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError:
        return None
