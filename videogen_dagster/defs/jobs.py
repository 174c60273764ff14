"""The render job: every asset of one video partition."""

import json

import dagster as dg

from videogen_dagster.settings import STORE_TAG, store_settings_from_env

#: The assets a storyboard-only render materializes: the images and contact sheet a user
#: reviews before paying for clips (which cost 10-50 times more). A later full render finds
#: the images in the cache and pays only for the clips.
STORYBOARD_ONLY: tuple[str, ...] = ("spec", "references", "storyboard")

render_video = dg.define_asset_job(
    "render_video",
    selection=dg.AssetSelection.groups("video"),
    description="Render one video (a partition of `videos`) from its registered spec.",
    # Evaluated where the run is created (the sensor's daemon, `dagster job execute`, the UI's
    # code server) and kept with the run, so workers on other machines use that store.
    tags={STORE_TAG: json.dumps(store_settings_from_env(), sort_keys=True)},
)
