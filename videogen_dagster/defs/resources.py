"""Resources: everything external (the store, the generation backends) behind configuration.

``resources_from_env`` is the one place that reads the environment to choose a deployment;
secrets only ever enter as ``dg.EnvVar`` so Dagster never shows or stores their values.
"""

import functools
import json
import os
from collections.abc import Mapping

import dagster as dg
from pydantic import Field, PrivateAttr

from videogen_dagster.defs.io_manager import step_outputs_io_manager
from videogen_dagster.generation import Budget, Generator
from videogen_dagster.media import ContinuityPolicy
from videogen_dagster.providers.base import Provider
from videogen_dagster.providers.local import LocalSettings
from videogen_dagster.providers.registry import build_provider
from videogen_dagster.settings import (
    STORE_TAG,
    s3_settings_from_env,
    store_settings_from_env,
)
from videogen_dagster.store.base import Store
from videogen_dagster.store.factory import open_store
from videogen_dagster.store.inbox import FolderInbox, SpecInbox

DEFAULT_INBOX = "specs/inbox"


class StoreResource(dg.ConfigurableResource):
    """Where every file the pipeline makes lives: a folder, or ``s3://bucket/prefix``.

    Without a ``uri`` in its config, a run's store is the one its launcher's environment named
    (the ``videogen/store`` run tag, set by the ``render_video`` job where the run was created),
    so every worker of the run writes there; outside a run, this process's environment.
    """

    uri: str | None = Field(
        default=None,
        description="A folder path or s3://bucket/prefix; unset: the run's videogen/store tag, "
        "else $VIDEOGEN_STORE.",
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (MinIO, moto); None for AWS."
    )
    s3_region: str | None = Field(default=None, description="AWS region of the bucket.")
    _from_run: dict[str, str | None] | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        tag = context.dagster_run.tags.get(STORE_TAG) if context.dagster_run else None
        if self.uri is None and tag:
            self._from_run = json.loads(tag)

    def settings(self) -> dict[str, str | None]:
        """The store's ``uri``, ``s3_endpoint_url`` and ``s3_region`` as this run uses them."""
        if self.uri is not None:
            return {
                "uri": self.uri,
                "s3_endpoint_url": self.s3_endpoint_url,
                "s3_region": self.s3_region,
            }
        return self._from_run or store_settings_from_env()

    def open(self) -> Store:
        settings = self.settings()
        return open_store(
            settings["uri"],
            s3_endpoint_url=settings["s3_endpoint_url"],
            s3_region=settings["s3_region"],
        )

    def is_shared(self) -> bool:
        """Whether every machine reaches this store (S3), so step outputs can live there too."""
        return (self.settings()["uri"] or "").startswith("s3://")


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
    price_per_speech_character: float = Field(
        default=0.0, description="USD per character of narration."
    )
    clip_lengths: list[float] = Field(default=[5.0], description="Clip lengths it makes, s.")
    latency_seed: int | None = Field(default=None, description="Seed of the latency draws.")
    drift_per_clip: float = Field(default=0.0, description="Simulated colour creep per clip.")


class OpenAIConfig(dg.Config):
    api_key: str | None = Field(default=None, description="Set from EnvVar('OPENAI_API_KEY').")
    base_url: str | None = Field(default=None, description="API base URL; None for OpenAI's.")
    planner_model: str | None = Field(default=None, description="Chat model that plans beats.")
    image_model: str | None = Field(default=None, description="gpt-image model for images.")
    speech_model: str | None = Field(default=None, description="audio.speech model (narration).")


class RunwayConfig(dg.Config):
    api_key: str | None = Field(default=None, description="Set from EnvVar('RUNWAYML_API_SECRET').")
    base_url: str | None = Field(default=None, description="API base URL; None for Runway's.")
    model: str | None = Field(default=None, description="Image-to-video model, e.g. gen4_turbo.")
    poll_interval: float | None = Field(default=None, description="Seconds between job polls.")
    poll_timeout: float | None = Field(default=None, description="Give up on a job after this.")
    throttle_timeout: float | None = Field(
        default=None, description="Give up on a job queued THROTTLED this long (s), apart."
    )


class FalConfig(dg.Config):
    api_key: str | None = Field(default=None, description="Set from EnvVar('FAL_KEY').")
    model: str | None = Field(default=None, description="Image-to-video model, e.g. veo3.1_fast.")
    poll_interval: float | None = Field(default=None, description="Seconds between job polls.")
    poll_timeout: float | None = Field(default=None, description="Give up on a job after this.")
    queue_timeout: float | None = Field(
        default=None, description="Give up on a job queued IN_QUEUE this long (s), apart."
    )


class GenerationResource(dg.ConfigurableResource):
    """Which backend plays each role, what a video may cost, and how chains keep continuity."""

    planner: str = Field(default="local", description="local | openai")
    images: str = Field(default="local", description="local | openai")
    clips: str = Field(default="local", description="local | runway | fal")
    music: str = Field(default="local", description="local")
    clips_model: str | None = Field(
        default=None,
        description="The clips backend's model (runway: gen4_turbo, gen4.5, veo3.1, ...; see "
        "providers/clip_models.py; fal: veo3.1_fast, veo3.1); wins over runway.model and "
        "fal.model; None: the backend's default.",
    )
    speech: str = Field(default="local", description="local | openai (narration)")
    local: LocalProviderConfig = Field(default_factory=LocalProviderConfig)
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig)
    runway: RunwayConfig = Field(default_factory=RunwayConfig)
    fal: FalConfig = Field(default_factory=FalConfig)
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
                ("speech", provider.speech),
            )
        }


# The local backend (the default) is imported with this module, not inside a run's first
# step, where the other steps' threads would wait on the import lock for it.
@functools.lru_cache(maxsize=8)
def _build_provider(config_json: str) -> Provider:
    """One provider (and its HTTP clients) per distinct configuration in a process."""
    config = json.loads(config_json)
    roles = {role: config[role] for role in ("planner", "images", "clips", "music", "speech")}
    local = config["local"] | {"clip_lengths": tuple(config["local"]["clip_lengths"])}
    kwargs: dict[str, object] = {"local": LocalSettings(**local)}
    if "openai" in (roles["planner"], roles["images"], roles["speech"]):
        from videogen_dagster.providers.openai_provider import OpenAISettings

        kwargs["openai"] = OpenAISettings(**_given(config["openai"]))
    if roles["clips"] == "runway":
        from videogen_dagster.providers.runway_provider import RunwaySettings

        runway = _given(config["runway"])
        if config.get("clips_model"):
            runway["model"] = config["clips_model"]
        kwargs["runway"] = RunwaySettings(**runway)
    if roles["clips"] == "fal":
        from videogen_dagster.providers.fal_provider import FalSettings

        fal = _given(config["fal"])
        if config.get("clips_model"):
            fal["model"] = config["clips_model"]
        kwargs["fal"] = FalSettings(**fal)
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


def resources_from_env(
    env: Mapping[str, str] | None = None,
) -> dict[str, dg.ConfigurableResource | dg.IOManagerDefinition]:
    """The resources a deployment gets from its environment (see the README's Configuration);
    ``env`` stands in for ``os.environ`` where a command asks "as if these were set"."""
    env = os.environ if env is None else env
    roles = {
        role: env.get(f"VIDEOGEN_{role.upper()}", "local")
        for role in ("planner", "images", "clips", "music", "speech")
    }
    openai = OpenAIConfig()
    if "openai" in (roles["planner"], roles["images"], roles["speech"]):
        openai = OpenAIConfig(
            api_key=dg.EnvVar("OPENAI_API_KEY"), base_url=env.get("OPENAI_BASE_URL")
        )
    runway = RunwayConfig()
    if roles["clips"] == "runway":
        runway = RunwayConfig(
            api_key=dg.EnvVar("RUNWAYML_API_SECRET"), base_url=env.get("RUNWAYML_BASE_URL")
        )
    fal = FalConfig(api_key=dg.EnvVar("FAL_KEY")) if roles["clips"] == "fal" else FalConfig()
    s3 = s3_settings_from_env()
    budget = {
        "budget_per_video": _float_or_none(env.get("VIDEOGEN_BUDGET_PER_VIDEO")),
        "budget_total": _float_or_none(env.get("VIDEOGEN_BUDGET_TOTAL")),
    }
    return {
        "store": StoreResource(),
        "generation": GenerationResource(
            **roles,
            clips_model=env.get("VIDEOGEN_CLIPS_MODEL") or None,
            openai=openai,
            runway=runway,
            fal=fal,
            **budget,
        ),
        "inbox": InboxResource(location=env.get("VIDEOGEN_INBOX", DEFAULT_INBOX), **s3),
        "io_manager": step_outputs_io_manager,
    }


def _float_or_none(value: str | None) -> float | None:
    return float(value) if value else None
