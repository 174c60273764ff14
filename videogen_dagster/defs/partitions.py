"""One partition per video: the video id, which is the spec file's stem."""

import dagster as dg

videos = dg.DynamicPartitionsDefinition(name="videos")
