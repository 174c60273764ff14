"""The narration rules and caption timing, as tables of cases: pure functions, no media."""

from __future__ import annotations

import pytest

from videogen_dagster.domain.captions import (
    MAX_LINE_CHARS,
    Cue,
    beat_cues,
    cue_problems,
    cue_texts,
    to_srt,
    to_vtt,
)
from videogen_dagster.domain.errors import SpecError
from videogen_dagster.domain.local_beat_planner import WORDS_PER_SECOND, plan_beats_locally
from videogen_dagster.domain.narration import (
    END_GAP,
    NarrationTooLongError,
    caption_language,
    fit_tempo,
)
from videogen_dagster.domain.spec import parse_spec
from videogen_dagster.domain.validation import validate_spec


def _parse(text: str):
    return parse_spec(text, source="specs/t.yaml", base_dir=None)


@pytest.mark.parametrize(
    ("spoken", "available", "tempo"),
    [(3.0, 4.9, 1.0), (4.9, 4.9, 1.0), (5.88, 4.9, 1.2), (6.125, 4.9, 1.25)],
)
def test_speech_is_sped_up_at_most_a_quarter_to_fit(spoken, available, tempo):
    assert fit_tempo("beats[0]", "x" * 40, spoken, available) == pytest.approx(tempo)


def test_speech_that_cannot_fit_names_the_beat_length_and_time():
    with pytest.raises(NarrationTooLongError) as caught:
        fit_tempo("beats[3]", "x" * 312, 14.2, 4.9)
    message = str(caught.value)
    assert message.startswith("beats[3].narration is too long for its beat: 312 characters")
    assert "14.2 s to speak" in message and "the beat has 4.9 s" in message
    assert "1.25x" in message and "about 134 characters" in message


def test_cues_are_sentences_and_lines_of_at_most_42_characters():
    text = (
        "Hello there, café world. This is a much longer second sentence that will need "
        "to wrap onto two lines! Short?"
    )
    pieces = cue_texts(text)
    assert [line for _, line in pieces] == [
        "Hello there, café world.",
        "This is a much longer second sentence that",
        "will need to wrap onto two lines!",
        "Short?",
    ]
    assert all(len(line) <= MAX_LINE_CHARS for _, line in pieces)
    assert all(text[at : at + len(line)] == line for at, line in pieces)


def test_cues_follow_word_timings_scaled_by_the_tempo():
    text = "One two. Three four."
    cues = beat_cues(text, start=5.0, spoken=2.0, end=9.9, words=[(0, 0.0), (9, 1.2)], tempo=1.2)
    assert cues == [Cue(5.0, 6.0, "One two."), Cue(6.0, 7.0, "Three four.")]


def test_without_timings_cues_are_spread_by_characters_and_clipped_to_the_beat():
    text = "Aaaa bbbb. Cccc dddd eeee ffff gggg."
    cues = beat_cues(text, start=0.0, spoken=7.2, end=4.9)
    assert cues[0] == Cue(0.0, 2.2, "Aaaa bbbb.")  # the next cue starts at 11 of 36 characters
    assert cues[1].end == 4.9
    assert cue_problems(cues, 5.0) == []


@pytest.mark.parametrize(
    ("cues", "problem"),
    [
        ([Cue(0, 2, "a"), Cue(1.5, 3, "b")], "cue 2 starts before cue 1 ends"),
        ([Cue(0, 2, "a"), Cue(2, 2, "b")], "cue 2 ends at 2 s, not after its start 2 s"),
        ([Cue(4, 6, "a")], "cue 1 (4-6 s) is outside the video"),
    ],
)
def test_cue_problems_name_each_broken_rule(cues, problem):
    assert problem in cue_problems(cues, 5.0)


def test_srt_and_vtt_texts():
    cues = [Cue(0.5, 2.0, "Hello."), Cue(61.25, 3723.004, "Later.")]
    assert to_srt(cues) == (
        "1\n00:00:00,500 --> 00:00:02,000\nHello.\n\n2\n00:01:01,250 --> 01:02:03,004\nLater.\n"
    )
    assert to_vtt(cues).startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.000\nHello.\n")


@pytest.mark.parametrize(
    ("voice", "language"), [("en-us", "eng"), ("en-gb", "eng"), ("fr", "fra"), ("alloy", "und")]
)
def test_caption_language_comes_from_the_voice(voice, language):
    assert caption_language(voice) == language


def test_narration_fields_parse_and_validate():
    spec = _parse(
        "duration: 10\nnarration: {voice: fr, speed: 1.2}\ncaptions: {mode: burned}\n"
        "beats:\n  - {description: a, narration: '  Bonjour.  '}\n  - {description: b}\n"
    )
    validated = validate_spec(spec, "v")
    assert [beat.narration for beat in validated.beats] == ["Bonjour.", None]
    assert validated.narration.voice == "fr" and validated.narration.speed == 1.2
    assert validated.captions.mode == "burned"
    assert validated.narrated_beats == validated.beats[:1]


@pytest.mark.parametrize(
    ("extra", "narration_on", "captions"),
    [
        ("", True, "soft"),
        ("narration: false\n", False, None),
        ("captions: {mode: 'off'}\n", True, None),
    ],
)
def test_captions_default_to_soft_and_narration_false_silences_every_beat(
    extra, narration_on, captions
):
    spec = _parse(f"duration: 5\n{extra}beats:\n  - {{description: a, narration: Hi.}}\n")
    validated = validate_spec(spec, "v")
    assert (validated.narration is not None) == narration_on
    assert (validated.captions.mode if validated.captions else None) == captions
    assert bool(validated.narrated_beats) == narration_on


def test_without_narration_text_there_is_no_narration_and_no_captions():
    validated = validate_spec(_parse("duration: 5\nbeats: [{description: a}]\n"), "v")
    assert validated.narration is None and validated.captions is None


def test_a_short_beat_merged_into_its_neighbour_keeps_both_narrations():
    spec = _parse(
        "duration: 5.5\nbeats:\n  - {description: a, duration: 5, narration: First.}\n"
        "  - {description: b, duration: 0.5, narration: Second.}\n"
    )
    assert [beat.narration for beat in validate_spec(spec, "v").beats] == ["First. Second."]


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("narration: yes", "narration", "must be {voice: ..., speed: ...} or false"),
        ("narration: {voyce: x}", "narration.voyce", "did you mean 'voice'?"),
        ("narration: {speed: 3}", "narration.speed", "must be at most 2, got 3"),
        ("narration: {voice: 'a b'}", "narration.voice", "must be a voice name"),
        ("captions: {mode: hard}", "captions.mode", "must be one of 'soft', 'burned' or 'off'"),
        ("captions: {style: {colour: red}}", "captions.style.colour", "did you mean 'color'?"),
        ("captions: {style: {color: red}}", "captions.style.color", "#RRGGBB"),
        ("beats: [{description: a, narration: ''}]", "beats[0].narration", "must not be empty"),
    ],
)
def test_bad_narration_and_captions_fields_are_named(text, field, message):
    with pytest.raises(SpecError) as caught:
        _parse(f"duration: 10\nprompt: p\n{text}\n")
    problems = {problem.field: problem.message for problem in caught.value.problems}
    assert message in problems[field], problems


def test_planned_beats_are_narrated_at_most_two_and_a_half_words_a_second():
    prompt = (
        "A fox runs through snow. It finds a hidden burrow under an old oak tree and sleeps "
        "there until the spring thaw arrives, dreaming of summer. The end."
    )
    beats = plan_beats_locally(prompt, 15, None)
    assert [beat.narration for beat in beats] == [
        "A fox runs through snow.",
        "It finds a hidden burrow under an old oak tree and sleeps.",
        "The end.",
    ]
    assert all(len(beat.narration.split()) <= beat.duration * WORDS_PER_SECOND for beat in beats)


def test_a_prompt_part_used_again_is_not_spoken_twice():
    beats = plan_beats_locally("A fox in snow", 12, None)
    assert [beat.narration for beat in beats] == ["A fox in snow.", None, None]


def test_end_gap_is_kept_before_the_next_beat():
    assert 0 < END_GAP < 0.5
