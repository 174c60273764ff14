"""Narration and captions: each beat's speech made and fitted, then the caption files.

A beat's speech is one cached generation (the text, voice and speed are its fingerprint), so
editing one beat's narration regenerates that beat's speech only; fitting it into the beat
(``domain.narration``) and laying it at the mix's sample rate are cheap steps done again from
the cached speech every time.
"""

from __future__ import annotations

from videogen_dagster.domain.captions import beat_cues, cue_problems, to_srt, to_vtt
from videogen_dagster.domain.narration import (
    NarrationTooLongError,
    available_seconds,
    beat_label,
    caption_language,
    fit_tempo,
)
from videogen_dagster.domain.validation import Beat, ValidatedSpec
from videogen_dagster.generation import Generator
from videogen_dagster.media.audio import MIX_RATE, decode_audio, wav_bytes
from videogen_dagster.media.fonts import missing_glyphs
from videogen_dagster.pipeline.records import (
    BeatSpeech,
    CaptionCue,
    Captions,
    NarrationTrack,
)
from videogen_dagster.providers.base import SpeechRequest
from videogen_dagster.store import failed_manifest, layout
from videogen_dagster.store.base import Store


class CaptionTextError(ValueError):
    """Burned captions would need characters the shipped font cannot draw."""


def voice_for(generator: Generator, spec: ValidatedSpec) -> str:
    """The spec's voice, or the speech backend's default."""
    chosen = spec.narration.voice if spec.narration else None
    return chosen or generator.provider.speech.default_voice


def make_beat_speech(generator: Generator, spec: ValidatedSpec, beat: Beat) -> BeatSpeech:
    """``beat``'s narration spoken, fitted into the beat and written to the store."""
    if spec.narration is None or not beat.narration:
        raise ValueError(f"beat {beat.index} has no narration to speak")
    label = beat_label(spec, beat)
    what = f"{label} narration"
    voice = voice_for(generator, spec)
    request = SpeechRequest(text=beat.narration, voice=voice, speed=spec.narration.speed)
    result = generator.speech(request, label=what, beat_index=beat.index)
    store = generator.store
    available = available_seconds(beat)
    with store.local_path(result.key) as spoken_file:
        samples = decode_audio(spoken_file)
        try:
            tempo = fit_tempo(label, beat.narration, samples.size / MIX_RATE, available)
        except NarrationTooLongError as too_long:
            failure = {
                "what": what,
                "beat_index": beat.index,
                "reason": "too_long",
                "input": "narration",
                "message": str(too_long),
                "prompt": failed_manifest.prompt_excerpt(beat.narration),
            }
            uri = failed_manifest.record_failure(store, spec.video_id, failure)
            raise NarrationTooLongError(f"{too_long} (recorded in {uri})") from None
        if tempo != 1.0:
            samples = decode_audio(spoken_file, tempo=tempo)
    samples = samples[: int(available * MIX_RATE)]  # atempo may round a few samples long
    key = layout.narration(spec.video_id, beat.index)
    uri = store.write_bytes(key, wav_bytes(samples), "audio/wav")
    words = tuple((int(p), float(t)) for p, t in result.details.get("words", ()))
    return BeatSpeech(
        beat=beat,
        label=label,
        voice=voice,
        speed=round(spec.narration.speed * tempo, 4),
        tempo=round(tempo, 4),
        duration=round(samples.size / MIX_RATE, 4),
        key=key,
        uri=uri,
        words=words,
        generation=result,
    )


def collect_narration(spec: ValidatedSpec, speeches: list[BeatSpeech]) -> NarrationTrack:
    """The narrated beats' speech in beat order; exactly one per narrated beat."""
    ordered = tuple(sorted(speeches, key=lambda speech: speech.beat.index))
    expected = [beat.index for beat in spec.narrated_beats] if spec.narration else []
    got = [speech.beat.index for speech in ordered]
    if got != expected:
        raise ValueError(f"{spec.video_id}: narration made for beats {got}, expected {expected}")
    return NarrationTrack(video_id=spec.video_id, beats=ordered)


def speech_problems(spec: ValidatedSpec, narration: NarrationTrack) -> list[str]:
    """Why the narration does not hold: a narrated beat without speech, or speech too long."""
    made = {speech.beat.index: speech for speech in narration.beats}
    problems = []
    for beat in spec.narrated_beats if spec.narration else []:
        speech = made.get(beat.index)
        if speech is None:
            problems.append(f"{beat_label(spec, beat)} has narration but no speech")
        elif speech.duration > available_seconds(beat) + 1e-6:
            problems.append(
                f"{speech.label} speech lasts {speech.duration:.3f} s, beyond its "
                f"{available_seconds(beat):.3f} s"
            )
    return problems


def make_captions(store: Store, spec: ValidatedSpec, narration: NarrationTrack) -> Captions | None:
    """The caption cues of the narration, written as ``captions.srt`` and ``captions.vtt``;
    ``None`` when captions are off or nothing is spoken."""
    if spec.captions is None or not narration.beats:
        return None
    if spec.captions.mode == "burned":
        for speech in narration.beats:
            missing = missing_glyphs(speech.beat.narration or "")
            if missing:
                raise CaptionTextError(
                    f"{speech.label}.narration has characters the caption font cannot draw "
                    f"({''.join(sorted(missing))!r}); burned captions need every character "
                    "drawn: rewrite them, or use captions mode 'soft'"
                )
    cues = []
    for speech in narration.beats:
        beat = speech.beat
        cues += beat_cues(
            beat.narration or "",
            start=beat.start,
            spoken=speech.duration,
            end=beat.start + available_seconds(beat),
            words=speech.words,
            tempo=speech.tempo,
        )
    problems = cue_problems(cues, spec.duration)
    if problems:
        raise ValueError(f"{spec.video_id}: captions are inconsistent: {'; '.join(problems)}")
    video_id = spec.video_id
    srt_key, vtt_key = layout.captions_srt(video_id), layout.captions_vtt(video_id)
    srt_uri = store.write_text(srt_key, to_srt(cues), "application/x-subrip")
    vtt_uri = store.write_text(vtt_key, to_vtt(cues), "text/vtt")
    return Captions(
        video_id=video_id,
        mode=spec.captions.mode,
        language=caption_language(narration.beats[0].voice),
        cues=tuple(CaptionCue(start=c.start, end=c.end, text=c.text) for c in cues),
        srt_key=srt_key,
        srt_uri=srt_uri,
        vtt_key=vtt_key,
        vtt_uri=vtt_uri,
    )
