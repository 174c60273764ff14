"""A fake of Runway's API on 127.0.0.1: image-to-video tasks and their output files.

A task goes PENDING → RUNNING → SUCCEEDED as it is polled (``polls_before_done`` polls
before it finishes), and its output URL, served by the same server, returns a real H.264
MP4 of the asked ratio and duration that starts on the uploaded image (rendered by the
local provider's ``LocalClips``, index first as web-delivered files are). Faults: any
``http_fault`` or ``timeout_fault`` on a route, and per-task faults queued with
``fail_next_task`` (FAILED with a failure code) or ``corrupt_next_output`` (a truncated
or empty MP4, or one of the wrong duration).
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
OUTPUT = "GET /outputs/{id}.mp4"

#: Runway's ratios and clip lengths per model, as the real API validates them.
MODEL_RATIOS = {
    "gen4_turbo": {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"},
    "gen4.5": {"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"},
}
MODEL_DURATIONS = {"gen4_turbo": {5, 10}, "gen4.5": set(range(2, 11))}
CREDITS_PER_SECOND = {"gen4_turbo": 5, "gen4.5": 12}
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
    polls: int = 0
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
        self._task_faults: deque[tuple[str, str]] = deque()

    # -- test controls ---------------------------------------------------------------------
    def fail_next_task(self, failure_code: str) -> None:
        """The next submitted task ends FAILED with ``failure_code`` (e.g. SAFETY.INPUT.TEXT)."""
        self._task_faults.append(("fail", failure_code))

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
        if not request.headers.get("x-runway-version"):
            return Response.json({"error": "X-Runway-Version header is required"}, 400)
        if route == CREATE:
            return self._create(request.json())
        if route == RETRIEVE:
            return self._retrieve(request.path.removeprefix("/v1/tasks/"))
        return Response.json({"error": f"no route {route}"}, 404)

    def _create(self, body: dict[str, Any]) -> Response:
        model, ratio = body.get("model"), body.get("ratio")
        if model not in MODEL_RATIOS:
            return Response.json({"error": f"model: unknown model {model!r}"}, 400)
        if ratio not in MODEL_RATIOS[model]:
            return Response.json({"error": f"ratio: {ratio!r} is not valid for {model}"}, 400)
        duration = int(body.get("duration", 5))
        if duration not in MODEL_DURATIONS[model]:
            return Response.json({"error": f"duration: {duration} is not valid for {model}"}, 400)
        image = _decode_data_uri(str(body.get("promptImage", "")))
        if image is None:
            return Response.json({"error": "promptImage: not a base64 image data URI"}, 400)
        with Image.open(io.BytesIO(image)) as decoded:
            self.received_image_sizes.append(decoded.size)
        task = FakeTask(
            id=str(uuid.uuid4()),
            model=model,
            ratio=ratio,
            duration=duration,
            image=image,
            prompt_text=str(body.get("promptText", "")),
            seed=body.get("seed"),
            created_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        )
        if self._task_faults:
            kind, detail = self._task_faults.popleft()
            if kind == "fail":
                task.failure_code = detail
            else:
                task.corruption = detail
        self.tasks[task.id] = task
        return Response.json({"id": task.id})

    def _retrieve(self, task_id: str) -> Response:
        task = self.tasks.get(task_id)
        if task is None:
            return Response.json({"error": "Task not found"}, 404)
        task.polls += 1
        credits = CREDITS_PER_SECOND[task.model] * task.duration
        common = {"id": task.id, "createdAt": task.created_at}
        if task.polls <= self.polls_before_done:
            status = "PENDING" if task.polls == 1 else "RUNNING"
            extra = {"estimatedCost": {"credits": credits}}
            if status == "RUNNING":
                extra["progress"] = 0.5
            return Response.json({**common, "status": status, **extra})
        if task.failure_code is not None:
            return Response.json(
                {
                    **common,
                    "status": "FAILED",
                    "cost": {"credits": 0},
                    "failure": f"Task failed: {task.failure_code}",
                    "failureCode": task.failure_code,
                }
            )
        return Response.json(
            {
                **common,
                "status": "SUCCEEDED",
                "cost": {"credits": credits},
                "output": [f"{self.url}/outputs/{task.id}.mp4"],
            }
        )

    def _output(self, task_id: str) -> Response:
        task = self.tasks.get(task_id)
        if task is None or task.polls <= self.polls_before_done or task.failure_code:
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


def _decode_data_uri(uri: str) -> bytes | None:
    head, _, payload = uri.partition(",")
    if not head.startswith("data:image/") or not head.endswith(";base64"):
        return None
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError:
        return None
