"""The offline voice: eSpeak NG (see ``espeak``), free, deterministic, with word timings."""

from __future__ import annotations

from videogen_dagster.media.audio import pcm_wav_bytes
from videogen_dagster.providers.base import Generated, SpeechGenerator, SpeechRequest
from videogen_dagster.providers.errors import UnsupportedRequestError
from videogen_dagster.providers.espeak import EspeakError, speak

NAME = "local"


class LocalSpeech(SpeechGenerator):
    """Speech from eSpeak NG; ``price_per_character`` simulates a paid voice for rehearsals."""

    name = NAME
    model = "espeak-ng-1.52"
    default_voice = "en-us"

    def __init__(self, price_per_character: float = 0.0) -> None:
        self.price_per_character = price_per_character

    def estimate_cost(self, request: SpeechRequest) -> float:
        return self.price_per_character * len(request.text)

    def generate_speech(self, request: SpeechRequest) -> Generated:
        try:
            speech = speak(request.text, voice=request.voice, speed=request.speed)
        except EspeakError as exc:
            raise UnsupportedRequestError(
                f"{self.name} speech ({self.model}): {exc}; eSpeak NG voices include en-us, "
                "en-gb, fr, de, es, it, pt"
            ) from None
        return Generated(
            data=pcm_wav_bytes(speech.pcm, speech.sample_rate),
            media_type="audio/wav",
            cost=self.estimate_cost(request),
            provider=self.name,
            model=self.model,
            details={
                "sample_rate": speech.sample_rate,
                "words": [[word.position, round(word.at, 3)] for word in speech.words],
            },
        )
