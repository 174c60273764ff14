"""Fitting a beat's speech into the beat: the rule, in seconds, free of any engine or file.

Speech starts with its beat and must end before the next one begins (``END_GAP`` earlier, so
two beats' voices never touch). Speech that is too long is played faster, up to
``MAX_FIT_SPEEDUP`` (a quarter faster: still natural to follow); beyond that the beat's
narration fails with a message that names the beat, its text's length and the time it has,
rather than cutting words off or running into the next scene.
"""

from __future__ import annotations

from videogen_dagster.domain.spec import MAX_FIT_SPEEDUP
from videogen_dagster.domain.validation import Beat, ValidatedSpec

#: Silence kept between the end of a beat's speech and the start of the next beat.
END_GAP = 0.1

#: ISO 639-2 codes of the voices' languages, for the subtitle track's language tag.
_LANGUAGES = {
    "en": "eng",
    "fr": "fra",
    "de": "deu",
    "es": "spa",
    "it": "ita",
    "pt": "por",
    "nl": "nld",
    "sv": "swe",
    "da": "dan",
    "nb": "nor",
    "no": "nor",
    "fi": "fin",
    "pl": "pol",
    "cs": "ces",
    "ru": "rus",
    "uk": "ukr",
    "el": "ell",
    "tr": "tur",
    "ja": "jpn",
    "zh": "zho",
    "cmn": "zho",
    "ko": "kor",
    "hi": "hin",
    "ar": "ara",
}


class NarrationTooLongError(ValueError):
    """A beat's speech does not fit the beat even at the fastest allowed speed."""


def beat_label(spec: ValidatedSpec, beat: Beat) -> str:
    """The beat as the user knows it: ``beats[2]`` as written, or ``planned beat 2``."""
    return f"beats[{beat.index}]" if spec.beats_source == "spec" else f"planned beat {beat.index}"


def available_seconds(beat: Beat) -> float:
    """How long the beat's speech may last."""
    return max(beat.duration - END_GAP, 0.0)


def fit_tempo(label: str, text: str, spoken: float, available: float) -> float:
    """How much faster to play ``spoken`` seconds of speech so it lasts at most ``available``:
    1 when it fits already, at most ``MAX_FIT_SPEEDUP``; otherwise ``NarrationTooLongError``."""
    if spoken <= available:
        return 1.0
    tempo = spoken / available if available > 0 else float("inf")
    if tempo <= MAX_FIT_SPEEDUP:
        return tempo
    fitting = int(len(text) * available * MAX_FIT_SPEEDUP / spoken)
    raise NarrationTooLongError(
        f"{label}.narration is too long for its beat: {len(text)} characters take "
        f"{spoken:.1f} s to speak, but the beat has {available:.1f} s (its length less "
        f"{END_GAP:g} s) and speech is sped up at most {MAX_FIT_SPEEDUP:g}x "
        f"({spoken / MAX_FIT_SPEEDUP:.1f} s). Shorten it to about {fitting} characters, "
        "lengthen the beat, or raise narration.speed"
    )


def caption_language(voice: str) -> str:
    """The ISO 639-2 code of a voice's language (``en-us`` -> ``eng``); ``und`` when unknown
    (an OpenAI voice such as ``alloy`` speaks the text's language, which is not known here)."""
    return _LANGUAGES.get(voice.split("-")[0].split("+")[0].lower(), "und")
