"""The render job: every asset of one video partition."""

import dagster as dg

render_video = dg.define_asset_job(
    "render_video",
    selection=dg.AssetSelection.groups("video"),
    description="Render one video (a partition of `videos`) from its registered spec.",
)
