"""The spec file format: the fields a user writes, and reading a file into them.

A spec is a YAML or JSON file; the video's id is the file's stem. The pydantic models here
are the single definition of the format: their ``Field`` descriptions are the field
documentation (``videogen schema`` prints them), and every rule a file can break is checked
here, so that a bad file is refused before anything is generated or paid for.

Reading is strict on purpose:

- unknown fields are rejected (a typo such as ``duraton`` must not be silently ignored);
- numbers must be numbers (``duration: "15"`` is refused rather than guessed), whole
  numbers where a whole number is meant (``fps``, ``seed``), and finite;
- texts are stripped and must then be 1 to ``MAX_TEXT_CHARS`` characters without control
  characters;
- YAML is read without the YAML 1.1 base-60 numbers, so ``aspect_ratio: 16:9`` needs no
  quotes, and a key written twice is an error instead of "the last one wins";
- references must be regular image files inside the spec's folder, reached without
  symbolic links, that can actually be opened and decoded as PNG, JPEG or WebP; each file
  is read once, and those bytes are the ones checked and registered (``SpecFile``).

Every problem is reported as a ``SpecProblem`` whose field is pydantic's location written
the way a user writes it (``beats[2].duration``), with the message in plain words: no
pydantic URLs, no tracebacks. The helpers live beside this module: ``spec_files`` (bytes to
data), ``references`` (reference checks) and ``spec_messages`` (errors in plain words).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from videogen_dagster.domain.errors import SpecError, SpecProblem
from videogen_dagster.domain.ids import validate_video_id
from videogen_dagster.domain.references import (
    UnusableReference,
    read_reference_file,
    reference_data_problem,
    reference_path_problem,
)
from videogen_dagster.domain.spec_files import parse_spec_data, read_spec_bytes, suffix_problem
from videogen_dagster.domain.spec_messages import problems_from_validation_error
from videogen_dagster.settings import DEFAULT_CHUNK_SECONDS

__all__ = [
    "AspectRatio",
    "BeatSpec",
    "CaptionStyle",
    "CaptionsSpec",
    "MusicSpec",
    "NarrationSpec",
    "SpecFile",
    "VideoSpec",
    "load_spec",
    "parse_spec",
    "read_spec_file",
    "spec_from_bytes",
    "validate_video_id",
]

AspectRatio = Literal["16:9", "9:16", "1:1"]

MIN_VIDEO_SECONDS = 5.0
MAX_VIDEO_SECONDS = 600.0
MIN_FPS = 1
MAX_FPS = 60
MAX_SEED = 2**32 - 1
#: Longest prompt, description, style or music prompt, after stripping.
MAX_TEXT_CHARS = 2000
MAX_REFERENCES = 10
#: Most beats a spec may list; far more than are kept (ceil(600 / 5) = 120), and a bound on
#: the work and the messages a file of thousands of bad beats causes.
MAX_BEATS = 1000
MAX_REFERENCE_PATH_CHARS = 500
#: Fastest a narration is sped up to fit its beat (1.25 = a quarter faster than asked).
MAX_FIT_SPEEDUP = 1.25
MIN_SPEECH_SPEED = 0.5
MAX_SPEECH_SPEED = 2.0

# Control characters other than tab and line breaks have no place in a prompt and would
# reach provider APIs and ffmpeg metadata unseen.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _no_control_chars(text: str) -> str:
    found = _CONTROL_CHARS.search(text)
    if found:
        raise ValueError(
            f"must not contain control characters (found {found.group()!r} "
            f"at character {found.start() + 1})"
        )
    return text


Text = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS, strict=True),
    AfterValidator(_no_control_chars),
]


def _reference_stays_inside(reference: str) -> str:
    """The reference in its normal form (``./a/../b.png`` -> ``b.png``), if it stays inside."""
    _no_control_chars(reference)
    problem = reference_path_problem(reference)
    if problem is not None:
        raise ValueError(problem)
    return posixpath.normpath(reference)


ReferencePath = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_REFERENCE_PATH_CHARS, strict=True
    ),
    AfterValidator(_reference_stays_inside),
]


class BeatSpec(BaseModel):
    """One scene of the video: what is seen, and for how long."""

    model_config = ConfigDict(extra="forbid")

    description: Text = Field(
        description=(
            "What the scene shows, in plain words. It is the prompt of the beat's storyboard "
            "image and of every clip of the beat, so describe the picture and the motion."
        ),
    )
    duration: float = Field(
        DEFAULT_CHUNK_SECONDS,
        gt=0,
        le=MAX_VIDEO_SECONDS,
        strict=True,
        allow_inf_nan=False,
        description=(
            "Length of the scene in seconds (default 5). Any positive length works: a beat "
            "longer than one clip becomes a chain of clips, each continuing from the last "
            "frame of the one before; the last clip is trimmed to the exact length. Rounded "
            "to whole frames at the video's fps."
        ),
    )
    narration: Text | None = Field(
        None,
        description=(
            "Words spoken over the beat, 1 to 2000 characters (about 2.5 words per second "
            "fit). Speech starts with the beat; speech longer than the beat is sped up to at "
            f"most {MAX_FIT_SPEEDUP:g}x, and beyond that the beat's narration fails with a "
            "message saying how much time it has. Also shown as captions."
        ),
    )


class MusicSpec(BaseModel):
    """The music bed under the whole video."""

    model_config = ConfigDict(extra="forbid")

    prompt: Text = Field(
        description="What the music sounds like: genre, mood, instruments, tempo.",
    )


_VOICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+.\-]{0,63}")
_HEX_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")


def _voice_name(name: str | None) -> str | None:
    if name is not None and not _VOICE_NAME.fullmatch(name):
        raise ValueError(
            f"must be a voice name (letters, digits, '-', '_', '+', '.'; at most 64), "
            f"got {name[:40]!r}"
        )
    return name


def _hex_colour(colour: str) -> str:
    if not _HEX_COLOUR.fullmatch(colour):
        raise ValueError(
            f"must be a colour written #RRGGBB, such as '#FFFFFF', got {colour[:40]!r}"
        )
    return colour.upper()


class NarrationSpec(BaseModel):
    """How narration is spoken: the voice and its speed."""

    model_config = ConfigDict(extra="forbid")

    voice: Annotated[str | None, AfterValidator(_voice_name)] = Field(
        None,
        description=(
            "The voice, as the speech backend names it: an eSpeak NG voice for the local "
            "backend (default 'en-us'; also e.g. 'en-gb', 'fr', 'de', 'es') or an OpenAI "
            "voice for the openai backend (default 'alloy'; also e.g. 'nova', 'onyx')."
        ),
    )
    speed: float = Field(
        1.0,
        ge=MIN_SPEECH_SPEED,
        le=MAX_SPEECH_SPEED,
        strict=True,
        allow_inf_nan=False,
        description=(
            f"Speaking speed, {MIN_SPEECH_SPEED:g} to {MAX_SPEECH_SPEED:g} (default 1, the "
            "voice's normal pace). A beat whose speech is too long is sped up further, up to "
            f"{MAX_FIT_SPEEDUP:g}x this speed."
        ),
    )


CaptionMode = Literal["soft", "burned", "off"]


class CaptionStyle(BaseModel):
    """How burned captions look (soft captions are styled by the viewer's player)."""

    model_config = ConfigDict(extra="forbid")

    size: float = Field(
        4.5,
        ge=2.0,
        le=10.0,
        strict=True,
        allow_inf_nan=False,
        description=(
            "Height of the caption text in percent of the frame's shorter side, 2 to 10 "
            "(default 4.5)."
        ),
    )
    color: Annotated[str, StringConstraints(strict=True), AfterValidator(_hex_colour)] = Field(
        "#FFFFFF", description="Text colour as #RRGGBB (default white)."
    )
    box: bool = Field(
        True,
        strict=True,
        description="Draw a translucent dark box behind the text, for contrast (default true).",
    )


class CaptionsSpec(BaseModel):
    """Captions made from the narration."""

    model_config = ConfigDict(extra="forbid")

    mode: CaptionMode = Field(
        "soft",
        description=(
            "'soft' (default): a subtitle track in final.mp4 that players can switch on, plus "
            "captions.srt and captions.vtt; 'burned': also drawn into the picture in the "
            "bottom 15 % of the frame; 'off': no captions."
        ),
    )
    style: CaptionStyle = Field(
        default_factory=CaptionStyle, description="Look of burned captions: size, color, box."
    )


_NARRATION_ON_TAG = "narration-mapping"


def _narration_kind(value: Any) -> str | None:
    if isinstance(value, dict | NarrationSpec):
        return _NARRATION_ON_TAG
    if value is False:
        return "narration-off"
    return None


Narration = Annotated[
    Annotated[NarrationSpec, Tag(_NARRATION_ON_TAG)]
    | Annotated[Literal[False], Tag("narration-off")],
    Discriminator(
        _narration_kind,
        custom_error_type="narration_type",
        custom_error_message=(
            "must be {voice: ..., speed: ...} or false (narration is spoken when beats have it)"
        ),
    ),
]

_MUSIC_ON_TAG = "music-mapping"  # a union branch name pydantic puts in error locations


def _music_kind(value: Any) -> str | None:
    if isinstance(value, dict | MusicSpec):
        return _MUSIC_ON_TAG
    if value is False:
        return "music-off"
    return None


Music = Annotated[
    Annotated[MusicSpec, Tag(_MUSIC_ON_TAG)] | Annotated[Literal[False], Tag("music-off")],
    Discriminator(
        _music_kind,
        custom_error_type="music_type",
        custom_error_message="must be {prompt: ...} or false (music is on when left out)",
    ),
]


class VideoSpec(BaseModel):
    """A video to make: a prompt or a list of beats, its length and how it looks and sounds."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    prompt: Text | None = Field(
        None,
        description=(
            "What the whole video is about. Required when 'beats' is left out: the beats are "
            "then planned from it, one scene per 5 seconds. With beats it is optional and "
            "only guides the music."
        ),
    )
    duration: float = Field(
        ge=MIN_VIDEO_SECONDS,
        le=MAX_VIDEO_SECONDS,
        strict=True,
        allow_inf_nan=False,
        description=(
            "Length of the finished video in seconds, 5 to 600, rounded to whole frames. "
            "It wins over the beats: beats running past it are cut or dropped, and if they "
            "end early the last beat is lengthened. At most ceil(duration / 5) beats are kept."
        ),
    )
    beats: list[BeatSpec] | None = Field(
        None,
        max_length=MAX_BEATS,
        description=(
            "The scenes, in order. Leave it out to have them planned from 'prompt'; an empty "
            f"list is an error, and more than {MAX_BEATS} are refused (only the first "
            "ceil(duration / 5) are used)."
        ),
    )
    style: Text | None = Field(
        None,
        description=(
            "A look applied to every image and clip, such as 'watercolour, soft morning light'."
        ),
    )
    aspect_ratio: AspectRatio = Field(
        "16:9",
        description="Shape of the frame: '16:9' (landscape, default), '9:16' (portrait) or '1:1'.",
    )
    fps: int = Field(
        24,
        ge=MIN_FPS,
        le=MAX_FPS,
        strict=True,
        description="Frames per second of the finished video, 1 to 60 (default 24).",
    )
    music: Music | None = Field(
        None,
        description=(
            "Music is on by default, with a prompt derived from the video's prompt and style. "
            "Give {prompt: ...} to choose the music, or false for a silent video."
        ),
    )
    narration: Narration | None = Field(
        None,
        description=(
            "How the beats' narration is spoken: {voice, speed}. Beats with a 'narration' "
            "text are spoken with the default voice when this is left out; false turns all "
            "narration (and so the captions) off."
        ),
    )
    captions: CaptionsSpec | None = Field(
        None,
        description=(
            "Captions of the narration: {mode: soft | burned | off, style: {...}}. Default "
            "'soft' when any beat has narration."
        ),
    )
    references: list[ReferencePath] = Field(
        default_factory=list,
        max_length=MAX_REFERENCES,
        description=(
            "Images (PNG, JPEG or WebP) that keep characters and places consistent across "
            "storyboard images. Paths are relative to the spec file and must stay inside its "
            f"folder. At most {MAX_REFERENCES}."
        ),
    )
    seed: int = Field(
        0,
        ge=0,
        le=MAX_SEED,
        strict=True,
        description=(
            "Seed for every generation call, 0 to 4294967295. The same spec and seed ask the "
            "providers for the same things, so finished work is found in the cache."
        ),
    )

    @field_validator("beats")
    @classmethod
    def _beats_not_empty(cls, beats: list[BeatSpec] | None) -> list[BeatSpec] | None:
        if beats is not None and not beats:
            raise ValueError(
                "must list at least one beat; leave 'beats' out to have beats planned from "
                "the prompt"
            )
        return beats

    @model_validator(mode="after")
    def _prompt_when_no_beats(self) -> VideoSpec:
        if self.beats is None and self.prompt is None:
            # Raised as a ValidationError so the error names the 'prompt' field, not the model.
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [InitErrorDetails(type=_PROMPT_REQUIRED, loc=("prompt",), input=None)],
            )
        return self


_PROMPT_REQUIRED = PydanticCustomError(
    "prompt_required", "is required when 'beats' is left out (the beats are planned from it)"
)


# ---------------------------------------------------------------- reading a spec


@dataclass(frozen=True)
class SpecFile:
    """A spec read once: its id, its model, and the exact bytes of the file and of each
    reference image that were checked. Registration stores these bytes, never a second read
    of the files, so what is stored is what was validated."""

    video_id: str
    suffix: str
    data: bytes
    spec: VideoSpec
    references: tuple[bytes, ...]


#: Reads one reference (a normalised relative path) and returns its bytes; raises
#: ``UnusableReference`` with the whole message, or any error that says why it failed.
ReadReference = Callable[[str], bytes]


def load_spec(path: Path) -> tuple[str, VideoSpec]:
    """The video id (the file's stem) and the parsed spec of the file at ``path``.

    Raises ``SpecError`` listing every problem found: a bad id, an unreadable or non-text
    file, invalid YAML/JSON, invalid fields, and references that are missing, unreadable,
    not images or outside the spec's folder.
    """
    loaded = read_spec_file(path)
    return loaded.video_id, loaded.spec


def read_spec_file(path: Path) -> SpecFile:
    """The spec file at ``path`` and its reference images, each read once and checked."""
    path = Path(path)
    source = str(path)
    bad_suffix = suffix_problem(path.suffix)
    if bad_suffix is not None:
        raise SpecError(source, [*_id_problems(path.stem), bad_suffix])
    try:
        data = read_spec_bytes(path)
    except SpecError as exc:
        raise SpecError(source, _id_problems(path.stem) + exc.problems) from None
    base_dir = path.parent
    return spec_from_bytes(
        path.name,
        data,
        source=source,
        read_reference=lambda reference: read_reference_file(reference, base_dir),
    )


def spec_from_bytes(
    name: str, data: bytes, *, source: str, read_reference: ReadReference
) -> SpecFile:
    """The spec content ``data`` of a file called ``name`` (its stem is the video id), with
    each reference read once through ``read_reference`` and checked, by ``load_spec``'s rules.

    For files that are not on this disk (an S3 inbox) as well as files; ``source`` names the
    file in errors.
    """
    stem, suffix = PurePosixPath(name).stem, PurePosixPath(name).suffix.lower()
    problems = _id_problems(stem)
    try:
        spec = parse_spec(data, source=source, base_dir=None)
    except SpecError as exc:
        raise SpecError(source, problems + exc.problems) from None
    if problems:
        raise SpecError(source, problems)
    references = []
    for index, reference in enumerate(spec.references):
        content, message = _read_one_reference(reference, read_reference)
        if message is not None:
            problems.append(SpecProblem(f"references[{index}]", message))
        references.append(content)
    if problems:
        raise SpecError(source, problems)
    return SpecFile(stem, suffix, bytes(data), spec, tuple(references))


def parse_spec(text_or_bytes: str | bytes, *, source: str, base_dir: Path | None) -> VideoSpec:
    """The spec in ``text_or_bytes``, by the same rules as ``load_spec``.

    For content that is not a file on disk (the pipeline reads spec snapshots from the
    store). ``source`` names the content in errors and its suffix (.yaml, .yml, .json)
    picks the parser. Reference files are checked on disk only when ``base_dir`` is given;
    their paths are checked to stay inside the spec's folder in any case.
    """
    data = parse_spec_data(text_or_bytes, source)
    try:
        spec = VideoSpec.model_validate(data)
    except ValidationError as exc:
        problems = problems_from_validation_error(
            exc, known_fields=_known_fields, union_tags=(_MUSIC_ON_TAG, _NARRATION_ON_TAG)
        )
        # The model checks the prompt only once every field is valid; report it now too, so
        # one round of fixes is enough.
        lacks_prompt = data.get("beats") is None and data.get("prompt") is None
        if lacks_prompt and not any(problem.field == "prompt" for problem in problems):
            problems.append(SpecProblem("prompt", _PROMPT_REQUIRED.message()))
        raise SpecError(source, problems) from None
    if base_dir is not None:
        folder = Path(base_dir)
        problems = [
            SpecProblem(f"references[{index}]", message)
            for index, reference in enumerate(spec.references)
            if (
                message := _read_one_reference(
                    reference, lambda ref: read_reference_file(ref, folder)
                )[1]
            )
            is not None
        ]
        if problems:
            raise SpecError(source, problems)
    return spec


def _id_problems(stem: str) -> list[SpecProblem]:
    try:
        validate_video_id(stem)
    except ValueError as exc:
        return [SpecProblem("", f"{exc} (the video id is the file name without its extension)")]
    return []


def _read_one_reference(reference: str, read: ReadReference) -> tuple[bytes, str | None]:
    """The bytes of one reference and why they cannot be used (None when they can)."""
    try:
        content = read(reference)
    except UnusableReference as exc:
        return b"", str(exc)
    except Exception as exc:  # noqa: BLE001 - any reader's failure is this reference's problem
        return b"", f"cannot read {reference!r}: {' '.join(str(exc).split()) or type(exc).__name__}"
    return content, reference_data_problem(reference, content)


_NESTED_MODELS: dict[str, type[BaseModel]] = {
    "beats": BeatSpec,
    "music": MusicSpec,
    "narration": NarrationSpec,
    "captions": CaptionsSpec,
}


def _known_fields(loc: tuple[str | int, ...]) -> list[str]:
    """The fields allowed where ``loc`` points: the top level or inside a nested mapping."""
    parents = [part for part in loc[:-1] if isinstance(part, str) and part not in _UNION_TAGS]
    if parents[-2:] == ["captions", "style"]:
        return list(CaptionStyle.model_fields)
    model = _NESTED_MODELS.get(parents[0], VideoSpec) if parents else VideoSpec
    return list(model.model_fields)


_UNION_TAGS = (_MUSIC_ON_TAG, _NARRATION_ON_TAG)
