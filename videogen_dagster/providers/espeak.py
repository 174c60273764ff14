"""eSpeak NG through ctypes: the offline voice, from the library and data the
``espeakng-loader`` wheel ships (nothing from apt, nothing downloaded at run time).

The engine is one C library with global state that a synthesis leaves changed (the next
synthesis of the same text differs by a few samples, even after ``espeak_Terminate`` and a new
``espeak_Initialize``). Each synthesis therefore runs in a fresh child process (this module run
as ``python -m``, about 0.1 s), whose first synthesis is always the same: the same text, voice
and rate give the same samples on every run, which the cache and the tests rely on. A crash
inside the C library fails one call, not the step's process.

In the child the engine runs in synchronous mode: ``espeak_Synth`` returns once the whole text
is spoken, having handed every block of samples, and the word events with their
times, to our callback.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from dataclasses import dataclass

import espeakng_loader

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAMETER_RATE = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1

#: eSpeak's normal pace in words per minute, and the range it accepts.
NORMAL_RATE = 175
MIN_RATE, MAX_RATE = 80, 450


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, name, NUL)... then a 0 byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def _voices(lib: ctypes.CDLL) -> dict[str, str]:
    """Every name a voice answers to (its languages, identifier and name, lower case) -> its
    identifier. ``espeak_SetVoiceByName`` alone matches some names, not others, and silently
    keeps the previous voice for an unknown one, so names are resolved here first."""
    lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
    listed = lib.espeak_ListVoices(None)
    ranked: dict[str, tuple[int, str]] = {}  # name -> (priority, 0 = exact; identifier)

    def offer(name: str, priority: int, identifier: str) -> None:
        key = name.lower()
        if key not in ranked or priority < ranked[key][0]:
            ranked[key] = (priority, identifier)

    index = 0
    while listed[index]:
        voice = listed[index].contents
        identifier = (voice.identifier or b"").decode()
        at = voice.languages
        while at and ctypes.string_at(at, 1) != b"\0":
            priority = ctypes.string_at(at, 1)[0]  # a language's main voice has the lowest
            language = ctypes.string_at(at + 1)
            offer(language.decode(), priority, identifier)
            at += len(language) + 2
        for name in (identifier, identifier.rsplit("/", 1)[-1], (voice.name or b"").decode()):
            offer(name, 0, identifier)
        index += 1
    return {name: identifier for name, (_, identifier) in ranked.items()}


class EspeakError(RuntimeError):
    """The engine could not start, or refused the voice or the text."""


@dataclass(frozen=True)
class Word:
    """A spoken word: where it starts in the text (0-based characters) and in the audio."""

    position: int
    length: int
    at: float  # seconds


@dataclass(frozen=True)
class Speech:
    """16-bit mono samples at ``sample_rate`` and the times the words were spoken at."""

    pcm: bytes
    sample_rate: int
    words: tuple[Word, ...]


def _synthesise(text: str, voice: str, rate: int) -> tuple[int, bytes, list[list[int]]]:
    """In the child: the sample rate, the samples and the word events of ``text``."""
    blocks: list[bytes] = []
    events: list[list[int]] = []

    def collect(wav, count, event_list):  # type: ignore[no-untyped-def]
        if count > 0:
            blocks.append(ctypes.string_at(wav, count * 2))
        index = 0
        while event_list[index].type != _EVENT_LIST_TERMINATED:
            event = event_list[index]
            if event.type == _EVENT_WORD:
                events.append([event.type, event.text_position, event.length, event.audio_position])
            index += 1
        return 0

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    data = espeakng_loader.get_data_path()
    sample_rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), _INITIALIZE_DONT_EXIT
    )
    if sample_rate <= 0:
        raise EspeakError(f"eSpeak NG did not start (data at {data})")
    callback = _Callback(collect)
    lib.espeak_SetSynthCallback(callback)
    identifier = _voices(lib).get(voice.lower())
    if identifier is None or lib.espeak_SetVoiceByName(identifier.encode()) != 0:
        raise EspeakError(f"eSpeak NG has no voice {voice!r}")
    lib.espeak_SetParameter(_PARAMETER_RATE, max(MIN_RATE, min(MAX_RATE, rate)), 0)
    encoded = text.encode("utf-8")
    status = lib.espeak_Synth(
        encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
    )
    if status != 0:
        raise EspeakError(f"eSpeak NG failed to speak the text (error {status})")
    return sample_rate, b"".join(blocks), events


def speak(text: str, *, voice: str, speed: float) -> Speech:
    """``text`` spoken by the eSpeak NG ``voice`` at ``speed`` times its normal pace."""
    order = json.dumps({"text": text, "voice": voice, "rate": round(NORMAL_RATE * speed)})
    child = subprocess.run(
        [sys.executable, "-m", __name__],
        input=order.encode(),
        capture_output=True,
        check=False,
    )
    if child.returncode != 0:
        lines = child.stderr.decode(errors="replace").strip().splitlines()
        raise EspeakError(lines[-1] if lines else f"eSpeak NG exited with {child.returncode}")
    header, _, pcm = child.stdout.partition(b"\n")
    answer = json.loads(header)
    words = tuple(
        Word(pos - 1, length, ms / 1000)
        for kind, pos, length, ms in answer["events"]
        if kind == _EVENT_WORD
    )
    return Speech(pcm=pcm, sample_rate=answer["sample_rate"], words=words)


def _main() -> int:
    order = json.loads(sys.stdin.buffer.read())
    try:
        sample_rate, pcm, events = _synthesise(order["text"], order["voice"], order["rate"])
    except EspeakError as exc:
        print(exc, file=sys.stderr)
        return 1
    header = json.dumps({"sample_rate": sample_rate, "events": events}).encode()
    sys.stdout.buffer.write(header + b"\n" + pcm)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
