"""A fake of the OpenAI HTTP API on 127.0.0.1: chat completions and GPT image endpoints.

Behaves enough like the real service for the official ``openai`` client: structured-output
chat replies are filled in from the JSON schema the client sends, with token usage; images
are real PNGs of the asked size, base64-encoded. Faults: any ``http_fault`` (429 with
Retry-After, 500, 400 moderation), ``timeout_fault``, and the kinds ``refusal``, ``length``,
``content_filter`` (chat) and ``corrupt`` (images).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import numpy as np
from PIL import Image

from videogen_dagster_tests.fakes.server import FakeServer, Fault, RecordedRequest, Response

CHAT = "POST /v1/chat/completions"
IMAGES_GENERATE = "POST /v1/images/generations"
IMAGES_EDIT = "POST /v1/images/edits"

#: Image input tokens the fake bills per reference image sent to ``images.edit``.
TOKENS_PER_REFERENCE = 300


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
        if route == CHAT:
            return self._chat(request.json(), fault)
        if route == IMAGES_GENERATE:
            body = request.json()
            return self._image(body["prompt"], body.get("size", "1024x1024"), 0, fault, body)
        if route == IMAGES_EDIT:
            fields, images = _multipart(request)
            self.last_edit_references = images
            return self._image(
                fields["prompt"], fields.get("size", "1024x1024"), len(images), fault, fields
            )
        return Response.json({"error": {"message": f"no route {route}"}}, 404)

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
