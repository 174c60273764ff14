"""Fixtures that start the fake servers, and settings that point our backends at them.

Reuse them for a full render: ``build_provider(images="openai", clips="runway",
openai=openai_settings, runway=runway_settings)`` renders against loopback only, and
``S3Store(s3_client(s3_endpoint), s3_bucket, "videos/")`` stores into moto.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from videogen_dagster_tests.fakes.fal_server import FakeFalServer
from videogen_dagster_tests.fakes.moto_s3 import moto_s3_server
from videogen_dagster_tests.fakes.openai_server import FakeOpenAIServer
from videogen_dagster_tests.fakes.runway_server import FakeRunwayServer

if TYPE_CHECKING:
    from videogen_dagster.providers.fal_provider import FalSettings
    from videogen_dagster.providers.openai_provider import OpenAISettings
    from videogen_dagster.providers.runway_provider import RunwaySettings


class FakeClock:
    """A ``sleep`` that records each wait and advances ``now`` instead of blocking.

    Pass ``sleep=clock.sleep`` (and ``clock=clock.now`` for poll deadlines) to a backend: the
    test runs at full speed and can assert the exact delays the retry logic chose.
    """

    def __init__(self) -> None:
        self.time = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds

    def now(self) -> float:
        return self.time


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def runway_server() -> Iterator[FakeRunwayServer]:
    with FakeRunwayServer() as server:
        yield server


@pytest.fixture
def openai_settings(openai_server: FakeOpenAIServer) -> OpenAISettings:
    """Settings for the fake; short retry delays so a render with real sleeps stays quick."""
    from videogen_dagster.providers.openai_provider import OpenAISettings
    from videogen_dagster.providers.retry import RetrySettings

    return OpenAISettings(
        api_key=openai_server.api_key,
        base_url=f"{openai_server.url}/v1",
        request_timeout=30.0,
        retry=RetrySettings(attempts=4, base_delay=0.01, max_delay=0.1),
    )


@pytest.fixture
def runway_settings(runway_server: FakeRunwayServer) -> RunwaySettings:
    """Settings for the fake; a render polls it every 10 ms."""
    from videogen_dagster.providers.retry import RetrySettings
    from videogen_dagster.providers.runway_provider import RunwaySettings

    return RunwaySettings(
        api_key=runway_server.api_key,
        base_url=runway_server.url,
        poll_interval=0.01,
        poll_timeout=60.0,
        download_timeout=30.0,
        request_timeout=30.0,
        retry=RetrySettings(attempts=4, base_delay=0.01, max_delay=0.1),
    )


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server, one per session; AWS_* test credentials set while it runs."""
    with moto_s3_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def s3_admin_client(s3_endpoint: str) -> Any:
    """A boto3 client of the moto server, for tests to arrange and inspect buckets."""
    from videogen_dagster.store.s3 import s3_client

    return s3_client(s3_endpoint)


@pytest.fixture
def s3_bucket(s3_admin_client: Any) -> str:
    """A new empty bucket on the session's moto server (buckets keep tests apart)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_admin_client.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def fal_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeFalServer]:
    """One fake fal queue per session: ``fal_client`` fixes its host when first imported."""
    from videogen_dagster_tests.fakes.fal_server import FakeFalServer, TestCertificates

    certificates = TestCertificates(tmp_path_factory.mktemp("fal-tls"))
    server = FakeFalServer(certificates)
    server.ca_file = certificates.ca_file  # type: ignore[attr-defined]
    with server:
        yield server


@pytest.fixture
def fal_server(
    fal_server_session: FakeFalServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeFalServer]:
    """The session's fake fal queue, emptied, with the environment ``fal_client`` reads
    (its host, and the test CA through ``SSL_CERT_FILE``) pointing at it."""
    server = fal_server_session
    server.reset()
    monkeypatch.setenv("FAL_QUEUE_RUN_HOST", server.host)
    monkeypatch.setenv("FAL_RUN_HOST", server.host)
    monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))  # type: ignore[attr-defined]
    import fal_client.client

    if f"https://{server.host}/" != fal_client.client.QUEUE_URL_FORMAT:
        pytest.fail(
            "fal_client was imported before the fake fal server started; its queue host is "
            f"{fal_client.client.QUEUE_URL_FORMAT!r}"
        )
    yield server


@pytest.fixture
def fal_settings(fal_server: FakeFalServer) -> FalSettings:
    """Settings for the fake; a render polls it every 10 ms."""
    from videogen_dagster.providers.fal_provider import FalSettings
    from videogen_dagster.providers.retry import RetrySettings

    return FalSettings(
        api_key=fal_server.api_key,
        poll_interval=0.01,
        poll_timeout=60.0,
        download_timeout=30.0,
        request_timeout=30.0,
        retry=RetrySettings(attempts=4, base_delay=0.01, max_delay=0.1),
    )
