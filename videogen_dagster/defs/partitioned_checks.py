"""Asset checks made the way every check of a video must be: partitioned like its video.

A check on a partitioned asset needs its own ``partitions_def``, or it loads every partition
and breaks as soon as there are two, and a run that failed before the check ran would mark it
for every video. Dagster 1.13 warns that this parameter is a preview; the warning is silenced
here, once, for every check.
"""

import warnings
from collections.abc import Callable
from typing import Any

import dagster as dg

from videogen_dagster.defs.partitions import videos
from videogen_dagster.defs.priorities import CAN_WAIT


def video_check(
    asset: str, name: str, description: str | None = None, *, reads_spec: bool = False
) -> Callable[[Callable[..., Any]], dg.AssetChecksDefinition]:
    """``@dg.asset_check`` on one video's ``asset``: partitioned like it, and giving way to
    the steps the video waits for (``CAN_WAIT``: no later step needs a check's result).
    ``reads_spec`` passes the video's ``spec`` asset as the check's ``spec`` argument."""
    additional_ins = {"spec": dg.AssetIn("spec")} if reads_spec else None

    def decorate(check: Callable[..., Any]) -> dg.AssetChecksDefinition:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.asset_check(
                asset=asset,
                name=name,
                description=description,
                partitions_def=videos,
                op_tags=CAN_WAIT,
                additional_ins=additional_ins,
            )(check)

    return decorate


def video_check_spec(name: str, asset: str, description: str) -> dg.AssetCheckSpec:
    """A check that ``asset`` reports itself (its ``check_specs``), partitioned like it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(name, asset=asset, description=description, partitions_def=videos)
