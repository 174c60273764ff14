"""The Dagster definitions: ``dagster dev``, ``dg`` and ``dagster job execute`` load ``defs``."""

import dagster as dg

from videogen_dagster.defs.assets import final_video, music, references, spec, stitched_video
from videogen_dagster.defs.checks import (
    chunks_are_contiguous,
    every_clip_plays,
    final_video_plays,
    storyboard_matches_beats,
)
from videogen_dagster.defs.executors import executor_from_env
from videogen_dagster.defs.jobs import render_video
from videogen_dagster.defs.narration import captions, narration, narration_fits
from videogen_dagster.defs.resources import resources_from_env
from videogen_dagster.defs.sensors import spec_inbox_sensor
from videogen_dagster.defs.storyboard_chunks import storyboard_and_chunks

defs = dg.Definitions(
    assets=[
        spec,
        references,
        storyboard_and_chunks,
        narration,
        captions,
        stitched_video,
        music,
        final_video,
    ],
    asset_checks=[
        storyboard_matches_beats,
        chunks_are_contiguous,
        every_clip_plays,
        final_video_plays,
        narration_fits,
    ],
    jobs=[render_video],
    sensors=[spec_inbox_sensor],
    resources=resources_from_env(),
    executor=executor_from_env(),
)
