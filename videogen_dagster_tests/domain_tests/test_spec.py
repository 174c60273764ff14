"""What a good spec reads as: defaults, the forms users write, ids, references, the error type."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest
from PIL import Image

from videogen_dagster.domain.errors import SpecError, SpecProblem
from videogen_dagster.domain.references import reference_data_problem
from videogen_dagster.domain.spec import MusicSpec, load_spec, parse_spec, validate_video_id

EXAMPLES = Path(__file__).resolve().parents[2] / "specs" / "examples"


def _parse(text: str, source: str = "specs/t.yaml"):
    return parse_spec(text, source=source, base_dir=None)


def _image(image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, format=image_format)
    return buffer.getvalue()


def test_minimal_spec_gets_the_documented_defaults():
    spec = _parse("duration: 15\nprompt: A harbour.\n")
    assert spec.model_dump() == {
        "prompt": "A harbour.",
        "duration": 15.0,
        "beats": None,
        "style": None,
        "aspect_ratio": "16:9",
        "fps": 24,
        "music": None,
        "narration": None,
        "captions": None,
        "references": [],
        "seed": 0,
    }


@pytest.mark.parametrize("written", ["16:9", "9:16", "1:1", "'9:16'", '"1:1"'])
def test_aspect_ratio_needs_no_quotes_in_yaml(written):
    spec = _parse(f"duration: 15\nprompt: x\naspect_ratio: {written}\n")
    assert spec.aspect_ratio == written.strip("'\"")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("false", False),
        ("off", False),  # YAML 1.1 spelling of false
        ("no", False),
        ("null", None),
        ("{prompt: calm piano}", MusicSpec(prompt="calm piano")),
    ],
)
def test_music_forms(written, expected):
    assert _parse(f"duration: 15\nprompt: x\nmusic: {written}\n").music == expected


def test_beat_duration_defaults_to_five_seconds_and_texts_are_stripped():
    spec = _parse(
        "duration: 15\nbeats:\n  - description: '  A boat.  '\n  - {description: b, duration: 10}\n"
    )
    assert spec.prompt is None
    assert [(beat.description, beat.duration) for beat in spec.beats] == [
        ("A boat.", 5.0),
        ("b", 10.0),
    ]


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("v.json", '{"duration": 12.5, "prompt": "x", "fps": 30}'),
        ("v.yml", "duration: 12.5\nprompt: x\nfps: 30\n"),
        ("v.YAML", "duration: 12.5\nprompt: x\nfps: 30\n"),
        ("v.yaml", "\ufeffduration: 12.5\nprompt: x\nfps: 30\n"),  # a BOM from Windows editors
    ],
)
def test_every_accepted_format(source, text):
    spec = _parse(text, source)
    assert (spec.duration, spec.fps, spec.prompt) == (12.5, 30, "x")


def test_suffix_of_source_picks_the_parser():
    with pytest.raises(SpecError, match="not valid JSON"):
        _parse("duration: 15\nprompt: x\n", "v.json")


def test_yaml_anchors_and_merge_keys_are_not_taken_for_repeated_keys():
    text = (
        "duration: 10\n"
        "beats:\n"
        "  - &first {description: Dawn over the bay., duration: 5}\n"
        "  - {<<: *first, description: Dusk over the bay.}\n"
    )
    beats = _parse(text).beats
    assert [(beat.description, beat.duration) for beat in beats] == [
        ("Dawn over the bay.", 5.0),
        ("Dusk over the bay.", 5.0),
    ]


def test_large_but_allowed_texts_are_kept_whole():
    text = "word " * 399 + "last"  # 1999 characters
    assert _parse(f"duration: 15\nprompt: {text}\n").prompt == text


@pytest.mark.parametrize("video_id", ["a", "city-at-dawn", "v_2", "0", "_draft", "x" * 64])
def test_valid_video_ids(video_id):
    assert validate_video_id(video_id) == video_id


@pytest.mark.parametrize(
    "video_id",
    ["", "A", "a b", "a/b", "..", "a.b", "-x", "x" * 65, "a\n", "é", "a;b", "$(x)", "a\x00"],
)
def test_invalid_video_ids_are_refused_by_name(video_id):
    with pytest.raises(ValueError, match="video id") as caught:
        validate_video_id(video_id)
    assert repr(video_id)[:20] in str(caught.value)


def test_load_spec_gives_the_stem_as_the_id(tmp_path):
    path = tmp_path / "harbour_at-dawn2.json"
    path.write_text('{"duration": 5, "prompt": "x"}')
    video_id, spec = load_spec(path)
    assert video_id == "harbour_at-dawn2"
    assert spec.duration == 5.0


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_references_inside_the_folder_are_accepted(tmp_path, image_format):
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "look.img").write_bytes(_image(image_format))
    spec_path = tmp_path / "with-refs.yaml"
    spec_path.write_text(
        "duration: 15\nprompt: x\nreferences: [refs/look.img, ./refs/look.img, "
        "refs/../refs/look.img]\n"
    )
    _, spec = load_spec(spec_path)
    assert spec.references == ["refs/look.img"] * 3  # normal form


def test_a_symlink_is_refused_even_inside_the_folder(tmp_path):
    """A link is followed by nobody: the file it names could be swapped for one outside the
    folder between a check and a read."""
    (tmp_path / "refs").mkdir()
    (tmp_path / "refs" / "look.png").write_bytes(_image("PNG"))
    (tmp_path / "alias.png").symlink_to(tmp_path / "refs" / "look.png")
    (tmp_path / "linked").symlink_to(tmp_path / "refs")
    spec_path = tmp_path / "links.yaml"
    spec_path.write_text("duration: 15\nprompt: x\nreferences: [alias.png, linked/look.png]\n")
    with pytest.raises(SpecError) as caught:
        load_spec(spec_path)
    assert [(p.field, "symbolic link" in p.message) for p in caught.value.problems] == [
        ("references[0]", True),
        ("references[1]", True),
    ]


def test_reference_files_are_only_checked_when_the_folder_is_known():
    spec = _parse("duration: 15\nprompt: x\nreferences: [refs/missing.png]\n")
    assert spec.references == ["refs/missing.png"]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.y*ml")) + sorted(EXAMPLES.glob("*.json")))
def test_example_specs_are_valid(path):
    video_id, spec = load_spec(path)
    assert video_id == path.stem
    assert spec.duration >= 5


def test_examples_show_off_the_format():
    specs = {path.name: load_spec(path)[1] for path in EXAMPLES.iterdir() if path.is_file()}
    assert any(spec.beats is None for spec in specs.values())
    assert any(
        spec.aspect_ratio == "9:16" and spec.style and spec.references for spec in specs.values()
    )
    assert any(name.endswith(".json") for name in specs)
    main = specs["city-at-dawn.yaml"]
    assert main.duration <= 20 and len(main.beats) == 3
    assert any(beat.duration == 10 for beat in main.beats)


def test_spec_error_is_one_line_per_problem():
    error = SpecError(
        "specs/x.yaml",
        [SpecProblem("beats[2].duration", "must be greater than 0"), SpecProblem("", "is empty")],
    )
    assert (
        str(error)
        == "specs/x.yaml: beats[2].duration: must be greater than 0\nspecs/x.yaml: is empty"
    )
    assert isinstance(error, ValueError)


def test_spec_error_survives_pickling_across_processes():
    error = SpecError(Path("specs/x.yaml"), [SpecProblem("fps", "must be at most 60")])
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.problems, str(copy)) == (error.path, error.problems, str(error))


def test_spec_error_needs_a_problem():
    with pytest.raises(ValueError):
        SpecError("x.yaml", [])


def _big_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (8000, 6000)).save(buffer, format="PNG")  # 48 MP in a few kB
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (_image("PNG"), None),
        (_image("JPEG"), None),
        (_image("WEBP"), None),
        (_image("GIF"), "not a PNG, JPEG or WebP image"),
        (b"", "empty file"),
        (b"%PDF-1.4 not an image", "not a PNG, JPEG or WebP image"),
        (_image("PNG")[:-20], "damaged image"),
        (_big_png(), "8000x6000 pixels"),
    ],
)
def test_reference_content_check_for_bytes_from_anywhere(data, words):
    # The same check runs on files and on bytes read from an S3 inbox.
    problem = reference_data_problem("refs/look.png", data)
    if words is None:
        assert problem is None
    else:
        assert problem is not None and problem.startswith("'refs/look.png' ") and words in problem
