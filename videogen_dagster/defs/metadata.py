"""Metadata helpers: what a person sees for each asset in the Dagster UI."""

import base64
from typing import Any

import dagster as dg

from videogen_dagster.generation import GenerationResult
from videogen_dagster.media import thumbnail_png


def image_md(png: bytes, alt: str, width: int = 320) -> dg.MetadataValue:
    """A small inline thumbnail: Dagster has no image metadata type, and the event log must
    stay small."""
    encoded = base64.b64encode(thumbnail_png(png, width)).decode("ascii")
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{encoded})")


def uri_value(uri: str) -> dg.MetadataValue:
    return dg.MetadataValue.url(uri) if "://" in uri else dg.MetadataValue.path(uri)


def cost_metadata(generations: list[GenerationResult]) -> dict[str, Any]:
    return {
        "cost_usd": dg.MetadataValue.float(float(round(sum(g.cost for g in generations), 6))),
        "calls": dg.MetadataValue.int(sum(not g.cache_hit for g in generations)),
        "cache_hits": dg.MetadataValue.int(sum(g.cache_hit for g in generations)),
    }
