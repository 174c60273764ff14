"""A fake of the OpenAI HTTP API on 127.0.0.1: chat completions, GPT images and speech.

Behaves enough like the real service for the official ``openai`` client: structured-output
chat replies are filled in from the JSON schema the client sends, with token usage; images
are real PNGs of the asked size, base64-encoded. It refuses what the real API refuses, in
OpenAI's error shape: an unknown or retired model (404 ``model_not_found``, also from
``GET /v1/models/{id}``; ``retire_model`` retires one), an image size the model cannot make,
``n`` outside 1-10, a quality or output format the model does not have. Faults: any
``http_fault`` (429 with Retry-After, 500, 400 moderation), ``timeout_fault``, and the kinds
``refusal``, ``length``, ``content_filter`` (chat) and ``corrupt`` (images). ``audio.speech``
answers a real WAV (a voiced buzz, ``SPEECH_CHARACTERS_PER_SECOND``) and refuses an unknown
voice, format or speed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import time
import wave
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import numpy as np
from PIL import Image

from videogen_dagster_tests.fakes.server import FakeServer, Fault, RecordedRequest, Response

CHAT = "POST /v1/chat/completions"
MODEL = "GET /v1/models/{id}"
IMAGES_GENERATE = "POST /v1/images/generations"
IMAGES_EDIT = "POST /v1/images/edits"
SPEECH = "POST /v1/audio/speech"

#: Chat models the fake serves (the SDK's ``ChatModel`` names that are not shut down yet).
CHAT_MODELS = {"gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.2", "gpt-4.1", "gpt-4.1-mini"}
CHAT_MODELS |= {"gpt-4o", "gpt-4o-mini"}
_STANDARD_SIZES = {"1024x1024", "1536x1024", "1024x1536", "auto"}
#: Image models the fake serves: their fixed sizes (None: any WxH, sides divisible by 16,
#: aspect 1:3 to 3:1, at most 3840x2160 pixels) and their qualities (openai 3.63's types).
IMAGE_MODELS: dict[str, tuple[set[str] | None, set[str]]] = {
    "gpt-image-1.5": (_STANDARD_SIZES, {"low", "medium", "high", "auto"}),
    "gpt-image-1-mini": (_STANDARD_SIZES, {"low", "medium", "high", "auto"}),
    "gpt-image-2": (None, {"low", "medium", "high", "auto"}),
    "gpt-image-2.5-flare": (None, {"low", "medium", "high", "xhigh", "max", "auto"}),
}
OUTPUT_FORMATS = {"png", "webp", "jpeg"}
#: audio.speech: the SDK's ``SpeechModel`` names, its built-in voices and the fake's pace.
SPEECH_MODELS = {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15"}
SPEECH_VOICES = {"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage"}
SPEECH_VOICES |= {"shimmer", "verse", "marin", "cedar"}
SPEECH_CHARACTERS_PER_SECOND = 15.0

#: Image input tokens the fake bills per reference image sent to ``images.edit``.
TOKENS_PER_REFERENCE = 300


@functools.lru_cache(maxsize=64)
def fake_png(width: int, height: int, seed_text: str) -> bytes:
    """A gradient PNG whose colours derive from ``seed_text`` (different prompts differ)."""
    digest = hashlib.sha256(seed_text.encode()).digest()
    base = np.frombuffer(digest[:3], dtype=np.uint8).astype(np.float32)
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :, None]
    pixels = (base * 0.6 + 100.0 * xs + 60.0 * ys) % 256
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class FakeOpenAIServer(FakeServer):
    """The fake; ``api_key`` must come as the bearer token or the answer is 401."""

    def __init__(self, api_key: str = "sk-fake-test-key") -> None:
        super().__init__()
        self.api_key = api_key
        #: Numbers the fake puts in number fields, cycled (beat durations in a plan).
        self.numbers: list[float] = [4.0, 6.5, 9.0]
        #: Items per array in structured replies (beats in a plan).
        self.array_length = 3
        #: Usage of the last chat reply, as sent.
        self.last_chat_usage: dict[str, Any] = {}
        #: Reference images received by the last ``images.edit``.
        self.last_edit_references: list[bytes] = []
        #: Models answered with 404 ``model_not_found`` (shut down, or not enabled).
        self.retired_models: set[str] = {"gpt-image-1", "dall-e-2", "dall-e-3"}

    def retire_model(self, model: str) -> None:
        """From now on ``model`` is gone: every use and lookup answers 404."""
        self.retired_models.add(model)

    def route_of(self, method: str, path: str) -> str:
        if path.startswith("/v1/models/"):
            return MODEL
        return f"{method} {path}"

    def route(self, request: RecordedRequest, fault: Fault | None) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return Response.json(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                401,
            )
        route = self.route_of(request.method, request.path)
        if route == MODEL:
            return self._model(request.path.removeprefix("/v1/models/"))
        if route == CHAT:
            body = request.json()
            return self._unknown_model(body.get("model"), CHAT_MODELS) or self._chat(body, fault)
        if route == IMAGES_GENERATE:
            body = request.json()
            refused = self._unknown_model(body.get("model"), IMAGE_MODELS)
            refused = refused or _invalid_image_request(body)
            if refused is not None:
                return refused
            return self._image(body["prompt"], body.get("size", "1024x1024"), 0, fault, body)
        if route == IMAGES_EDIT:
            fields, images = _multipart(request)
            refused = self._unknown_model(fields.get("model"), IMAGE_MODELS)
            refused = refused or _invalid_image_request(fields)
            if refused is not None:
                return refused
            self.last_edit_references = images
            return self._image(
                fields["prompt"], fields.get("size", "1024x1024"), len(images), fault, fields
            )
        if route == SPEECH:
            body = request.json()
            refused = self._unknown_model(body.get("model"), SPEECH_MODELS)
            return refused or _invalid_speech_request(body) or _speech(body)
        return Response.json({"error": {"message": f"no route {route}"}}, 404)

    # -- models ----------------------------------------------------------------------------
    def _model(self, model: str) -> Response:
        known = CHAT_MODELS | set(IMAGE_MODELS) | SPEECH_MODELS
        return self._unknown_model(model, known) or Response.json(
            {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "openai"}
        )

    def _unknown_model(self, model: object, known: Any) -> Response | None:
        """OpenAI's 404 for a model that does not exist or is gone, else None."""
        if model in known and model not in self.retired_models:
            return None
        return Response.json(
            {
                "error": {
                    "message": f"The model `{model}` does not exist or you do not have access "
                    "to it.",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": "model_not_found",
                }
            },
            404,
        )

    # -- chat ------------------------------------------------------------------------------
    def _chat(self, body: dict[str, Any], fault: Fault | None) -> Response:
        prompt_text = " ".join(str(m.get("content", "")) for m in body["messages"])
        user_text = next(
            (str(m["content"]) for m in reversed(body["messages"]) if m["role"] == "user"), ""
        )
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":
            schema = fmt["json_schema"]["schema"]
            content: str | None = json.dumps(self._fill(schema, schema, user_text, 0))
        else:
            content = f"echo: {user_text}"
        finish_reason, refusal = "stop", None
        kind = fault.kind if fault is not None else ""
        if kind == "refusal":
            content, refusal = None, fault.detail or "I'm sorry, I can't help with that request."
        elif kind == "length":
            content, finish_reason = (content or "")[: len(content or "") // 2], "length"
        elif kind == "content_filter":
            content, finish_reason = None, "content_filter"
        usage = {
            "prompt_tokens": _tokens(prompt_text) + 20,
            "completion_tokens": _tokens(content or refusal or ""),
            "prompt_tokens_details": {"cached_tokens": 0},
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        self.last_chat_usage = usage
        return Response.json(
            {
                "id": f"chatcmpl-fake-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": finish_reason,
                        "logprobs": None,
                        "message": {"role": "assistant", "content": content, "refusal": refusal},
                    }
                ],
                "usage": usage,
            }
        )

    def _fill(self, node: dict[str, Any], root: dict[str, Any], text: str, index: int) -> Any:
        """A value of JSON schema ``node``: what a model would put in a structured reply."""
        if "$ref" in node:
            target: Any = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return self._fill(target, root, text, index)
        if "anyOf" in node:
            return self._fill(node["anyOf"][0], root, text, index)
        kind = node.get("type")
        if kind == "object":
            return {
                name: self._fill(sub, root, text, index)
                for name, sub in node.get("properties", {}).items()
            }
        if kind == "array":
            return [self._fill(node["items"], root, text, i) for i in range(self.array_length)]
        if kind in ("number", "integer"):
            value = self.numbers[index % len(self.numbers)]
            return int(value) if kind == "integer" else value
        if kind == "boolean":
            return True
        return f"Shot {index + 1} of: {text.splitlines()[0] if text else 'a scene'}"

    # -- images ----------------------------------------------------------------------------
    def _image(
        self, prompt: str, size: str, references: int, fault: Fault | None, fields: dict[str, Any]
    ) -> Response:
        width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        data = fake_png(width, height, prompt)
        if fault is not None and fault.kind == "corrupt":
            data = data[: int(fault.detail or 0)]
        text_tokens, image_tokens = _tokens(prompt), references * TOKENS_PER_REFERENCE
        return Response.json(
            {
                "created": int(time.time()),
                "data": [{"b64_json": base64.b64encode(data).decode("ascii")}],
                "output_format": fields.get("output_format", "png"),
                "quality": fields.get("quality", "medium"),
                "size": f"{width}x{height}",
                "usage": {
                    "input_tokens": text_tokens + image_tokens,
                    "input_tokens_details": {
                        "text_tokens": text_tokens,
                        "image_tokens": image_tokens,
                    },
                    "output_tokens": 1056,
                    "total_tokens": text_tokens + image_tokens + 1056,
                },
            }
        )


def _invalid_image_request(fields: dict[str, Any]) -> Response | None:
    """OpenAI's 400 for a size, ``n``, quality or format the model cannot do, else None."""
    sizes, qualities = IMAGE_MODELS[fields["model"]]
    size = str(fields.get("size", "auto"))
    problem: tuple[str, str] | None = None
    if sizes is not None and size not in sizes:
        problem = ("size", f"Invalid size '{size}'. Supported sizes are {sorted(sizes)}.")
    elif sizes is None and size != "auto" and not _flexible_size_ok(size):
        problem = ("size", f"Invalid size '{size}' for {fields['model']}.")
    n = int(fields.get("n", 1))
    if problem is None and not 1 <= n <= 10:
        problem = ("n", f"Invalid 'n': {n}. Must be between 1 and 10.")
    quality = str(fields.get("quality", "auto"))
    if problem is None and quality not in qualities:
        problem = ("quality", f"Invalid quality '{quality}'. Supported: {sorted(qualities)}.")
    output_format = str(fields.get("output_format", "png"))
    if problem is None and output_format not in OUTPUT_FORMATS:
        problem = ("output_format", f"Invalid output_format '{output_format}'.")
    if problem is None:
        return None
    param, message = problem
    error = {"message": message, "type": "invalid_request_error", "param": param}
    return Response.json({"error": {**error, "code": "invalid_value"}}, 400)


def _flexible_size_ok(size: str) -> bool:
    try:
        width, height = map(int, size.split("x"))
    except ValueError:
        return False
    return (
        width % 16 == 0
        and height % 16 == 0
        and 1 / 3 <= width / height <= 3
        and width * height <= 3840 * 2160
    )


def _multipart(request: RecordedRequest) -> tuple[dict[str, str], list[bytes]]:
    """Text fields and image files of a ``multipart/form-data`` body."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    fields: dict[str, str] = {}
    images: list[bytes] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename():
            images.append(payload)
        elif name:
            fields[str(name)] = payload.decode("utf-8")
    return fields, images


def _invalid_speech_request(body: dict[str, Any]) -> Response | None:
    """OpenAI's 400 for a voice, format, speed or input ``audio.speech`` does not take."""
    problem: tuple[str, str] | None = None
    text = body.get("input")
    if not isinstance(text, str) or not 1 <= len(text) <= 4096:
        problem = ("input", "'input' must be a string of 1 to 4096 characters.")
    elif body.get("voice") not in SPEECH_VOICES:
        problem = ("voice", f"Invalid voice '{body.get('voice')}'.")
    elif body.get("response_format", "mp3") not in {"mp3", "opus", "aac", "flac", "wav", "pcm"}:
        problem = ("response_format", f"Invalid response_format '{body['response_format']}'.")
    elif not 0.25 <= float(body.get("speed", 1.0)) <= 4.0:
        problem = ("speed", f"Invalid speed {body['speed']}: must be 0.25 to 4.0.")
    elif body.get("response_format", "mp3") != "wav":
        problem = ("response_format", "the fake only speaks wav")
    if problem is None:
        return None
    param, message = problem
    error = {"message": message, "type": "invalid_request_error", "param": param}
    return Response.json({"error": {**error, "code": "invalid_value"}}, 400)


def _speech(body: dict[str, Any]) -> Response:
    """A WAV at 24 kHz (OpenAI's rate): a voiced buzz as long as the text takes to say."""
    rate = 24_000
    seconds = len(body["input"]) / SPEECH_CHARACTERS_PER_SECOND / float(body.get("speed", 1.0))
    times = np.arange(int(seconds * rate)) / rate
    pitch = 110 + 10 * (int(hashlib.sha256(body["voice"].encode()).hexdigest(), 16) % 8)
    syllables = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * times) ** 2
    samples = 0.3 * syllables * np.sign(np.sin(2 * np.pi * pitch * times))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return Response(200, buffer.getvalue(), content_type="audio/wav")
