"""A small threaded HTTP server on 127.0.0.1 that fake vendor APIs build on.

It records every request (so tests can count calls a provider made) and answers from a
per-route queue of injected faults before falling back to the fake's normal behaviour.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour, consumed by the next request to its route.

    ``kind="http"`` answers ``status`` with ``body`` and ``headers``; ``delay`` seconds pass
    first (longer than the client's timeout makes a timeout). Fakes define other kinds
    (a refusal, a corrupt file) and read ``detail`` for their parameters.
    """

    kind: str = "http"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    detail: str = ""


def http_fault(
    status: int,
    message: str = "",
    *,
    code: str | None = None,
    param: str | None = None,
    retry_after: float | None = None,
    delay: float = 0.0,
) -> Fault:
    """An HTTP error answer shaped like OpenAI's and Runway's ``{"error": {...}}`` bodies."""
    headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
    error = {
        "message": message or f"injected HTTP {status}",
        "type": "fake",
        "code": code,
        "param": param,
    }
    return Fault(status=status, body={"error": error}, headers=headers, delay=delay)


def timeout_fault(delay: float) -> Fault:
    """A normal answer that comes only after ``delay`` seconds."""
    return Fault(kind="slow", delay=delay)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return cls(status, json.dumps(payload).encode(), headers=headers or {})


class FakeServer:
    """Base of the fakes: subclasses implement ``route(request, fault)``.

    Use as a context manager or call ``start``/``stop``; ``url`` is ``http://127.0.0.1:<port>``
    on an ephemeral port.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        #: A server-side context makes the fake speak https (for clients that only do https).
        self.tls = tls
        self.requests: list[RecordedRequest] = []
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the request log is ``fake.requests``."""

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        if self.tls is not None:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the fake first"
        host, port = self._httpd.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    # -- test controls ---------------------------------------------------------------------
    def inject(self, route: str, *faults: Fault) -> None:
        """Queue ``faults`` for the next requests to ``route`` (e.g. ``"POST /v1/tasks"``)."""
        with self._lock:
            self._faults.setdefault(route, deque()).extend(faults)

    def count(self, method: str, path_prefix: str) -> int:
        """How many ``method`` requests went to paths starting with ``path_prefix``."""
        with self._lock:
            return sum(
                1 for r in self.requests if r.method == method and r.path.startswith(path_prefix)
            )

    def route_of(self, method: str, path: str) -> str:
        """The fault-queue name of a request; subclasses fold ids out of paths."""
        return f"{method} {path}"

    def route(self, request: RecordedRequest, fault: Fault | None) -> Response:
        raise NotImplementedError

    # -- plumbing --------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = handler.path.split("?", 1)[0]
        request = RecordedRequest(
            method, path, {k.lower(): v for k, v in handler.headers.items()}, body
        )
        with self._lock:
            self.requests.append(request)
            queue = self._faults.get(self.route_of(method, path))
            fault = queue.popleft() if queue else None
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "http":
            response = Response.json(fault.body, fault.status, fault.headers)
        else:
            response = self.route(request, fault)
        try:
            handler.send_response(response.status)
            handler.send_header("Content-Type", response.content_type)
            handler.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (an injected timeout): nothing left to answer.
            return
