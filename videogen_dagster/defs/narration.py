"""The narration and captions assets.

``narration`` fans out per narrated beat beside the storyboard (it needs only the spec), so
speech is made while images and clips are; each beat's speech is its own step and its own
cached generation. ``captions`` times the cues from the speech; ``final_video`` mixes and muxes.
"""

import dagster as dg

from videogen_dagster.defs.failures import GENERATION_RETRY, fail_without_retry_on_user_errors
from videogen_dagster.defs.metadata import cost_metadata, uri_value, video_metadata
from videogen_dagster.defs.partitioned_checks import video_check, video_check_spec
from videogen_dagster.defs.partitions import videos
from videogen_dagster.defs.priorities import CAN_WAIT
from videogen_dagster.defs.resources import GenerationResource, StoreResource
from videogen_dagster.domain.captions import Cue, cue_problems
from videogen_dagster.domain.validation import Beat, ValidatedSpec
from videogen_dagster.pipeline import narration as narration_steps
from videogen_dagster.pipeline.records import BeatSpeech, Captions, NarrationTrack

SPEECH_POOL = "speech_api"
NARRATION_CHECK = "every_narrated_beat_has_speech_that_fits"
CAPTIONS_CHECK = "cues_ordered_non_overlapping_inside_video"


@dg.op(out=dg.DynamicOut(Beat))
def split_narration(spec: ValidatedSpec):
    """One branch per beat with words to speak."""
    for beat in spec.narrated_beats if spec.narration else []:
        yield dg.DynamicOutput(beat, mapping_key=f"beat_{beat.index:03d}")


@dg.op(retry_policy=GENERATION_RETRY, pool=SPEECH_POOL)
def beat_speech(
    context: dg.OpExecutionContext,
    spec: ValidatedSpec,
    beat: Beat,
    store: StoreResource,
    generation: GenerationResource,
) -> BeatSpeech:
    """The beat's narration, spoken and fitted into the beat."""
    generator = generation.generator(store.open(), spec.video_id)
    with fail_without_retry_on_user_errors():
        speech = narration_steps.make_beat_speech(generator, spec, beat)
    context.log.info(
        f"{speech.label}: {speech.duration:.2f} s of speech at {speech.speed:g}x "
        f"(${speech.generation.cost:.4f})"
    )
    return speech


@dg.op
def collect_narration(spec: ValidatedSpec, speeches: list[BeatSpeech]) -> dg.Output:
    """Every narrated beat's speech, in beat order."""
    track = narration_steps.collect_narration(spec, speeches)
    return dg.Output(
        track,
        metadata={
            **video_metadata(spec.video_id),
            "narrated_beats": len(track.beats),
            "seconds": round(sum(speech.duration for speech in track.beats), 3),
            "sped_up_beats": sum(speech.tempo > 1 for speech in track.beats),
            **cost_metadata([speech.generation for speech in track.beats]),
        },
    )


@dg.graph(name="narration")
def narration_graph(spec: ValidatedSpec):
    speeches = split_narration(spec).map(lambda beat: beat_speech(spec, beat))
    return collect_narration(spec, speeches.collect())


narration = dg.AssetsDefinition.from_graph(
    narration_graph,
    keys_by_input_name={"spec": dg.AssetKey("spec")},
    keys_by_output_name={"result": dg.AssetKey("narration")},
    partitions_def=videos,
    group_name="video",
    descriptions_by_output_name={
        "result": "Each narrated beat's speech, fitted into its beat (empty without narration)."
    },
)


@dg.asset(
    partitions_def=videos,
    group_name="video",
    op_tags=CAN_WAIT,
    check_specs=[
        video_check_spec(
            CAPTIONS_CHECK,
            "captions",
            "Caption cues are in order, do not overlap and lie inside the video.",
        )
    ],
)
def captions(
    context: dg.AssetExecutionContext,
    spec: ValidatedSpec,
    narration: NarrationTrack,
    store: StoreResource,
):
    """The caption cues of the narration, as captions.srt and captions.vtt (none when off)."""
    with fail_without_retry_on_user_errors():
        made = narration_steps.make_captions(store.open(), spec, narration)
    if made is None:
        yield dg.Output(None, metadata={**video_metadata(spec.video_id), "captions": "off"})
        yield dg.AssetCheckResult(
            check_name=CAPTIONS_CHECK, passed=True, metadata=video_metadata(spec.video_id)
        )
        return
    yield dg.Output(
        made,
        metadata={
            **video_metadata(spec.video_id),
            "mode": made.mode,
            "language": made.language,
            "cue_count": len(made.cues),
            "srt": uri_value(made.srt_uri),
            "vtt": uri_value(made.vtt_uri),
        },
    )
    yield captions_check_result(made, spec.duration)


@video_check("narration", NARRATION_CHECK, reads_spec=True)
def narration_fits(narration: NarrationTrack, spec: ValidatedSpec) -> dg.AssetCheckResult:
    """Every beat with narration text has speech, and the speech ends inside its beat."""
    problems = narration_steps.speech_problems(spec, narration)
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            **video_metadata(spec.video_id),
            "narrated_beats": len(narration.beats),
            "problems": "; ".join(problems) or "none",
        },
    )


def captions_check_result(made: Captions, video_seconds: float) -> dg.AssetCheckResult:
    cues = [Cue(cue.start, cue.end, cue.text) for cue in made.cues]
    problems = cue_problems(cues, video_seconds)
    return dg.AssetCheckResult(
        check_name=CAPTIONS_CHECK,
        passed=not problems,
        metadata={
            **video_metadata(made.video_id),
            "cue_count": len(cues),
            "problems": "; ".join(problems) or "none",
        },
    )
