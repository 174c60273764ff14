"""A fake of fal.ai's model queue on 127.0.0.1, over https: submit, status, result, files.

``fal-client`` builds its queue URLs as ``https://{FAL_QUEUE_RUN_HOST}/...`` from the
environment at import time, so the fake speaks TLS with a certificate of a throwaway CA made
here (``TestCertificates``); the client trusts it through ``SSL_CERT_FILE``.

The routes and bodies follow fal's queue API as the client reads them (``fal_client`` 1.0,
``client.py``): ``POST /<endpoint>`` answers ``{request_id, response_url, status_url,
cancel_url}``; ``GET /<owner>/<alias>/requests/<id>/status`` answers ``IN_QUEUE`` (with
``queue_position``), ``IN_PROGRESS`` (with ``logs``) or ``COMPLETED``; ``GET
/<owner>/<alias>/requests/<id>`` answers the output ``{"video": {"url", "content_type",
"file_size"}, "seed"}``, or fal's error shape ``{"detail": [{"loc", "msg", "type"}]}`` with
HTTP 422 for a refused input. Each model's arguments are checked as fal's schema does
(durations "4s"/"6s"/"8s", aspect ratios, resolution, a data-URI image), so a client that sends
a bad request fails a test. The video is a real H.264 MP4 of the asked size and length that
starts on the sent image (the local provider renders it).
"""

from __future__ import annotations

import base64
import datetime
import io
import ipaddress
import ssl
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from videogen_dagster_tests.fakes.runway_server import rendered_clip
from videogen_dagster_tests.fakes.server import FakeServer, Fault, RecordedRequest, Response

OUTPUT_FPS = 24

#: Per endpoint: durations, sizes per (aspect ratio, resolution), and the fields it takes.
_VEO_SIZES = {
    ("16:9", "720p"): (1280, 720),
    ("9:16", "720p"): (720, 1280),
    ("16:9", "1080p"): (1920, 1080),
    ("9:16", "1080p"): (1080, 1920),
}
_VEO_FIELDS = {
    "prompt",
    "image_url",
    "aspect_ratio",
    "duration",
    "negative_prompt",
    "resolution",
    "generate_audio",
    "seed",
    "auto_fix",
}
ENDPOINTS: dict[str, dict[str, Any]] = {
    "fal-ai/veo3.1/fast/image-to-video": {
        "durations": {"4s": 4, "6s": 6, "8s": 8},
        "sizes": _VEO_SIZES,
        "fields": _VEO_FIELDS,
    },
    "fal-ai/veo3.1/image-to-video": {
        "durations": {"4s": 4, "6s": 6, "8s": 8},
        "sizes": _VEO_SIZES,
        "fields": _VEO_FIELDS,
    },
}


@dataclass
class FakeRequest:
    id: str
    endpoint: str
    width: int
    height: int
    seconds: int
    image: bytes
    seed: int | None
    polls: int = 0
    refusal: dict[str, Any] | None = None
    output: bytes | None = field(default=None, repr=False)


class TestCertificates:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it, written to ``folder``."""

    __test__ = False  # not a pytest test class

    def __init__(self, folder: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "videogen test CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        folder.mkdir(parents=True, exist_ok=True)
        self.ca_file = folder / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        self.cert_file = folder / "server.pem"
        self.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        self.key_file = folder / "server-key.pem"
        self.key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


class FakeFalServer(FakeServer):
    """The fake; the key must come as ``Authorization: Key <key>`` or the answer is 401."""

    def __init__(self, certificates: TestCertificates, api_key: str = "fal-fake-key") -> None:
        super().__init__(tls=certificates.server_context())
        self.api_key = api_key
        self.polls_before_done = 1
        self.queued_polls = 0
        self.requests_by_id: dict[str, FakeRequest] = {}
        self._refusals: list[dict[str, Any]] = []

    @property
    def host(self) -> str:
        """What ``FAL_QUEUE_RUN_HOST`` is set to: ``127.0.0.1:<port>``."""
        return self.url.removeprefix("https://")

    # -- test controls ---------------------------------------------------------------------
    def refuse_next(self, field_name: str) -> None:
        """The next submitted request ends refused for a content policy on ``field_name``."""
        self._refusals.append(
            {
                "loc": ["body", field_name],
                "msg": "The content was flagged by a content checker.",
                "type": "content_policy_violation",
                "url": "https://docs.fal.ai/errors#content_policy_violation",
            }
        )

    def fail_next(self, status: int = 500, error_type: str = "internal_server_error") -> None:
        """The next submitted request ends in fal's own failure (an outage, not the input)."""
        self._refusals.append(
            {
                "loc": ["body"],
                "msg": "Internal server error while generating.",
                "type": error_type,
                "status": status,
            }
        )

    def reset(self) -> None:
        """Forget every request and control (one server serves a whole test session)."""
        with self._lock:
            self.requests.clear()
            self._faults.clear()
        self.requests_by_id.clear()
        self._refusals.clear()
        self.polls_before_done, self.queued_polls = 1, 0

    def submits(self) -> int:
        return sum(1 for r in list(self.requests) if r.method == "POST")

    def route_of(self, method: str, path: str) -> str:
        if "/requests/" in path:
            return f"{method} {'status' if path.endswith('/status') else 'result'}"
        if path.startswith("/files/"):
            return f"{method} file"
        return f"{method} submit"

    # -- routes ----------------------------------------------------------------------------
    def route(self, request: RecordedRequest, fault: Fault | None) -> Response:
        path = request.path
        if request.method == "GET" and path.startswith("/files/"):
            return self._file(path.removeprefix("/files/").removesuffix(".mp4"))
        if request.headers.get("authorization") != f"Key {self.api_key}":
            return Response.json({"detail": "Unauthorized: invalid key"}, 401)
        if request.method == "POST":
            return self._submit(path.lstrip("/"), request.json())
        if request.method == "GET" and "/requests/" in path:
            request_id = path.split("/requests/", 1)[1].split("/")[0]
            if path.endswith("/status"):
                return self._status(request_id)
            return self._result(request_id)
        return Response.json({"detail": f"no route {request.method} {path}"}, 404)

    def _submit(self, endpoint: str, body: dict[str, Any]) -> Response:
        schema = ENDPOINTS.get(endpoint)
        if schema is None:
            return Response.json({"detail": f"Application {endpoint!r} not found"}, 404)
        problems = _validate(schema, body)
        if problems:
            return Response.json({"detail": problems}, 422)
        width, height = schema["sizes"][(body["aspect_ratio"], body.get("resolution", "720p"))]
        image = _decode_data_uri(body["image_url"])
        assert image is not None  # checked by _validate
        request_id = str(uuid.uuid4())
        self.requests_by_id[request_id] = FakeRequest(
            id=request_id,
            endpoint=endpoint,
            width=width,
            height=height,
            seconds=schema["durations"][body["duration"]],
            image=image,
            seed=body.get("seed"),
            refusal=self._refusals.pop(0) if self._refusals else None,
        )
        owner, alias = endpoint.split("/")[:2]
        base = f"{self.url}/{owner}/{alias}/requests/{request_id}"
        return Response.json(
            {
                "request_id": request_id,
                "response_url": base,
                "status_url": f"{base}/status",
                "cancel_url": f"{base}/cancel",
                "queue_position": 0,
            }
        )

    def _status(self, request_id: str) -> Response:
        job = self.requests_by_id.get(request_id)
        if job is None:
            return Response.json({"detail": "Request not found"}, 404)
        job.polls += 1
        if job.polls <= self.queued_polls:
            position = self.queued_polls - job.polls
            return Response.json({"status": "IN_QUEUE", "queue_position": position})
        if job.polls <= self.queued_polls + self.polls_before_done:
            return Response.json({"status": "IN_PROGRESS", "logs": None})
        completed: dict[str, Any] = {"status": "COMPLETED", "logs": None, "metrics": {}}
        if job.refusal is not None:
            completed |= {"error": job.refusal["msg"], "error_type": job.refusal["type"]}
        return Response.json(completed)

    def _result(self, request_id: str) -> Response:
        job = self.requests_by_id.get(request_id)
        if job is None:
            return Response.json({"detail": "Request not found"}, 404)
        if job.polls <= self.queued_polls + self.polls_before_done:
            return Response.json({"detail": "Request is still in progress"}, 400)
        if job.refusal is not None:
            failure = {k: v for k, v in job.refusal.items() if k != "status"}
            return Response.json({"detail": [failure]}, job.refusal.get("status", 422))
        if job.output is None:
            job.output = rendered_clip(job.image, job.width, job.height, job.seconds, OUTPUT_FPS)
        return Response.json(
            {
                "video": {
                    "url": f"{self.url}/files/{request_id}.mp4",
                    "content_type": "video/mp4",
                    "file_name": "output.mp4",
                    "file_size": len(job.output),
                },
                "seed": job.seed,
            }
        )

    def _file(self, request_id: str) -> Response:
        job = self.requests_by_id.get(request_id)
        if job is None or job.output is None:
            return Response.json({"detail": "File not found"}, 404)
        return Response(200, job.output, content_type="video/mp4")


def _validate(schema: dict[str, Any], body: dict[str, Any]) -> list[dict[str, Any]]:
    """Problems in fal's validation shape: one ``{loc, msg, type}`` per bad field."""
    problems = []

    def problem(name: str, message: str, kind: str = "value_error") -> None:
        problems.append({"loc": ["body", name], "msg": message, "type": kind})

    for name in sorted(set(body) - schema["fields"]):
        problem(name, "Extra inputs are not permitted", "extra_forbidden")
    for name in ("prompt", "image_url"):
        if not isinstance(body.get(name), str) or not body.get(name):
            problem(name, "Field required", "missing")
    if body.get("duration") not in schema["durations"]:
        options = ", ".join(schema["durations"])
        problem("duration", f"Input should be one of {options}", "enum")
    if (body.get("aspect_ratio"), body.get("resolution", "720p")) not in schema["sizes"]:
        problem("aspect_ratio", "Unsupported aspect_ratio/resolution", "enum")
    if "generate_audio" in body and not isinstance(body["generate_audio"], bool):
        problem("generate_audio", "Input should be a valid boolean", "bool_type")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or not 0 <= seed < 2**32):
        problem("seed", "Input should be a 32-bit unsigned integer", "int_type")
    if isinstance(body.get("image_url"), str) and _decode_data_uri(body["image_url"]) is None:
        problem("image_url", "Could not load the image", "image_load_error")
    return problems


def _decode_data_uri(uri: str) -> bytes | None:
    if not uri.startswith("data:image/") or ";base64," not in uri:
        return None
    try:
        data = base64.b64decode(uri.split(";base64,", 1)[1], validate=True)
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception:
        return None
    return data
