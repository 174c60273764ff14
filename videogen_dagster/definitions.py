"""The Dagster definitions: ``dagster dev``, ``dg`` and ``dagster job execute`` load ``defs``."""

import dagster as dg

from videogen_dagster.defs.assets import final_video, music, references, spec, stitched_video
from videogen_dagster.defs.checks import chunks_are_contiguous, storyboard_matches_beats
from videogen_dagster.defs.jobs import render_video
from videogen_dagster.defs.resources import resources_from_env
from videogen_dagster.defs.sensors import spec_inbox_sensor
from videogen_dagster.defs.storyboard_chunks import storyboard_and_chunks
from videogen_dagster.executor import threaded_executor

defs = dg.Definitions(
    assets=[spec, references, storyboard_and_chunks, stitched_video, music, final_video],
    asset_checks=[storyboard_matches_beats, chunks_are_contiguous],
    jobs=[render_video],
    sensors=[spec_inbox_sensor],
    resources=resources_from_env(),
    executor=threaded_executor,
)
