"""Resources: everything external (the store, the generation backends) behind configuration.

``resources_from_env`` is the one place that reads the environment to choose a deployment;
secrets only ever enter as ``dg.EnvVar`` so Dagster never shows or stores their values.
"""

import functools
import json
import os

import dagster as dg
from pydantic import Field

from videogen_dagster.defs.io_manager import OutputFilesIOManager
from videogen_dagster.generation import Budget, Generator
from videogen_dagster.media import ContinuityPolicy
from videogen_dagster.providers.base import Provider
from videogen_dagster.providers.local import LocalSettings
from videogen_dagster.providers.registry import build_provider
from videogen_dagster.settings import resolve_store_uri, s3_settings_from_env
from videogen_dagster.store.base import Store
from videogen_dagster.store.factory import open_store
from videogen_dagster.store.inbox import FolderInbox, SpecInbox

DEFAULT_INBOX = "specs/inbox"


class StoreResource(dg.ConfigurableResource):
    """Where every file the pipeline makes lives: a folder, or ``s3://bucket/prefix``."""

    uri: str = Field(description="A folder path or s3://bucket/prefix.")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, moto); None for AWS."
    )
    s3_region: str | None = Field(default=None, description="AWS region of the bucket.")

    def open(self) -> Store:
        return open_store(self.uri, s3_endpoint_url=self.s3_endpoint_url, s3_region=self.s3_region)


class LocalProviderConfig(dg.Config):
    """The offline provider; latency and prices simulate a paid API for rehearsals.

    Mirrors ``providers.local.LocalSettings`` field for field (a test holds them equal) so the
    provider stays free of Dagster.
    """

    short_side: int = Field(default=720, description="Pixels on the short side (720 = 720p).")
    image_latency: float = Field(default=0.0, description="Seconds each image takes.")
    clip_latency: float = Field(default=0.0, description="Seconds each clip takes.")
    music_latency: float = Field(default=0.0, description="Seconds the music takes.")
    latency_jitter: float = Field(default=0.0, description="Sigma of a lognormal multiplier.")
    price_per_image: float = Field(default=0.0, description="USD per image.")
    price_per_video_second: float = Field(default=0.0, description="USD per clip second.")
    price_per_music_second: float = Field(default=0.0, description="USD per music second.")
    clip_lengths: list[float] = Field(default=[5.0], description="Clip lengths it makes, s.")
    latency_seed: int | None = Field(default=None, description="Seed of the latency draws.")
    drift_per_clip: float = Field(default=0.0, description="Simulated colour creep per clip.")


class OpenAIConfig(dg.Config):
    api_key: str | None = Field(default=None, description="Set from EnvVar('OPENAI_API_KEY').")
    base_url: str | None = Field(default=None, description="API base URL; None for OpenAI's.")
    planner_model: str | None = Field(default=None, description="Chat model that plans beats.")
    image_model: str | None = Field(default=None, description="gpt-image model for images.")


class RunwayConfig(dg.Config):
    api_key: str | None = Field(default=None, description="Set from EnvVar('RUNWAYML_API_SECRET').")
    base_url: str | None = Field(default=None, description="API base URL; None for Runway's.")
    model: str | None = Field(default=None, description="Image-to-video model, e.g. gen4_turbo.")
    poll_interval: float | None = Field(default=None, description="Seconds between job polls.")
    poll_timeout: float | None = Field(default=None, description="Give up on a job after this.")


class GenerationResource(dg.ConfigurableResource):
    """Which backend plays each role, what a video may cost, and how chains keep continuity."""

    planner: str = Field(default="local", description="local | openai")
    images: str = Field(default="local", description="local | openai")
    clips: str = Field(default="local", description="local | runway")
    music: str = Field(default="local", description="local")
    local: LocalProviderConfig = Field(default_factory=LocalProviderConfig)
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig)
    runway: RunwayConfig = Field(default_factory=RunwayConfig)
    budget_per_video: float | None = Field(default=None, description="USD cap per video.")
    budget_total: float | None = Field(default=None, description="USD cap for the whole store.")
    colour_match: bool = Field(default=True, description="Colour-match continuous chunks.")
    reanchor_after_hops: int = Field(
        default=0, description="Restart a chain from its storyboard image after N hops (0: never)."
    )
    generate_reference: bool = Field(
        default=False, description="Generate a style reference image when a spec gives none."
    )

    def provider(self) -> Provider:
        return _build_provider(self.model_dump_json())

    def generator(self, store: Store, video_id: str) -> Generator:
        budget = Budget(per_video=self.budget_per_video, total=self.budget_total)
        return Generator(self.provider(), store, video_id, budget=budget)

    def continuity(self) -> ContinuityPolicy:
        return ContinuityPolicy(
            colour_match=self.colour_match, reanchor_after_hops=self.reanchor_after_hops
        )

    def describe(self) -> dict[str, str]:
        provider = self.provider()
        return {
            role: f"{backend.name}/{backend.model}"
            for role, backend in (
                ("planner", provider.planner),
                ("images", provider.images),
                ("clips", provider.clips),
                ("music", provider.music),
            )
        }


# The local backend (the default) is imported with this module, not inside a run's first
# step, where the other steps' threads would wait on the import lock for it.
@functools.lru_cache(maxsize=8)
def _build_provider(config_json: str) -> Provider:
    """One provider (and its HTTP clients) per distinct configuration in a process."""
    config = json.loads(config_json)
    roles = {role: config[role] for role in ("planner", "images", "clips", "music")}
    local = config["local"] | {"clip_lengths": tuple(config["local"]["clip_lengths"])}
    kwargs: dict[str, object] = {"local": LocalSettings(**local)}
    if "openai" in (roles["planner"], roles["images"]):
        from videogen_dagster.providers.openai_provider import OpenAISettings

        kwargs["openai"] = OpenAISettings(**_given(config["openai"]))
    if roles["clips"] == "runway":
        from videogen_dagster.providers.runway_provider import RunwaySettings

        kwargs["runway"] = RunwaySettings(**_given(config["runway"]))
    return build_provider(**roles, **kwargs)


def _given(config: dict[str, object]) -> dict[str, object]:
    """Only the settings a user gave, so each backend's own defaults apply to the rest."""
    return {key: value for key, value in config.items() if value is not None}


class InboxResource(dg.ConfigurableResource):
    """The spec folder (or S3 prefix) the sensor watches."""

    location: str = Field(default=DEFAULT_INBOX, description="A folder or s3://bucket/prefix.")
    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    def open(self) -> SpecInbox:
        if self.location.startswith("s3://"):
            from videogen_dagster.store.s3 import S3Inbox

            return S3Inbox.from_uri(
                self.location, endpoint_url=self.s3_endpoint_url, region_name=self.s3_region
            )
        return FolderInbox(self.location)


def resources_from_env() -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    """The resources a deployment gets from its environment (see the README's Configuration)."""
    env = os.environ
    roles = {
        role: env.get(f"VIDEOGEN_{role.upper()}", "local")
        for role in ("planner", "images", "clips", "music")
    }
    openai = OpenAIConfig()
    if "openai" in (roles["planner"], roles["images"]):
        openai = OpenAIConfig(
            api_key=dg.EnvVar("OPENAI_API_KEY"), base_url=env.get("OPENAI_BASE_URL")
        )
    runway = RunwayConfig()
    if roles["clips"] == "runway":
        runway = RunwayConfig(
            api_key=dg.EnvVar("RUNWAYML_API_SECRET"), base_url=env.get("RUNWAYML_BASE_URL")
        )
    s3 = s3_settings_from_env()
    budget = {
        "budget_per_video": _float_or_none(env.get("VIDEOGEN_BUDGET_PER_VIDEO")),
        "budget_total": _float_or_none(env.get("VIDEOGEN_BUDGET_TOTAL")),
    }
    return {
        "store": StoreResource(uri=resolve_store_uri(None), **s3),
        "generation": GenerationResource(**roles, openai=openai, runway=runway, **budget),
        "inbox": InboxResource(location=env.get("VIDEOGEN_INBOX", DEFAULT_INBOX), **s3),
        "io_manager": OutputFilesIOManager(),
    }


def _float_or_none(value: str | None) -> float | None:
    return float(value) if value else None
