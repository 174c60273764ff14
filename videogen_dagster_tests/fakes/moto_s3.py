"""moto's S3 in server mode on 127.0.0.1: a real HTTP endpoint that boto3 talks to.

Server mode, not ``mock_aws``: the store's client goes through botocore's HTTP stack and
signing exactly as against AWS, only the endpoint URL differs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

#: Credentials moto accepts; set so boto3 never looks for real ones.
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@contextmanager
def fake_aws_env() -> Iterator[None]:
    """``FAKE_AWS_ENV`` in ``os.environ`` for the block, the previous values restored after."""
    saved = {name: os.environ.get(name) for name in FAKE_AWS_ENV}
    os.environ.update(FAKE_AWS_ENV)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def moto_s3_server() -> Iterator[str]:
    """Start moto's threaded server on an ephemeral port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    with fake_aws_env():
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()
