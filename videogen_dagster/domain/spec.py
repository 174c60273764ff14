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
- references must be image files inside the spec's folder (checked after resolving
  symlinks) that can actually be opened and decoded as PNG, JPEG or WebP.

Every problem is reported as a ``SpecProblem`` whose field is pydantic's location written
the way a user writes it (``beats[2].duration``), with the message in plain words: no
pydantic URLs, no tracebacks. The helpers live beside this module: ``spec_files`` (bytes to
data), ``references`` (reference checks) and ``spec_messages`` (errors in plain words).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
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
from videogen_dagster.domain.references import reference_file_problem, reference_path_problem
from videogen_dagster.domain.spec_files import parse_spec_data, read_spec_bytes, suffix_problem
from videogen_dagster.domain.spec_messages import problems_from_validation_error
from videogen_dagster.settings import DEFAULT_CHUNK_SECONDS

__all__ = [
    "AspectRatio",
    "BeatSpec",
    "MusicSpec",
    "VideoSpec",
    "load_spec",
    "parse_spec",
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
MAX_REFERENCE_PATH_CHARS = 500

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


class MusicSpec(BaseModel):
    """The music bed under the whole video."""

    model_config = ConfigDict(extra="forbid")

    prompt: Text = Field(
        description="What the music sounds like: genre, mood, instruments, tempo.",
    )


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
        description=(
            "The scenes, in order. Leave it out to have them planned from 'prompt'; an empty "
            "list is an error."
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


def load_spec(path: Path) -> tuple[str, VideoSpec]:
    """The video id (the file's stem) and the parsed spec of the file at ``path``.

    Raises ``SpecError`` listing every problem found: a bad id, an unreadable or non-text
    file, invalid YAML/JSON, invalid fields, and references that are missing, unreadable,
    not images or outside the spec's folder.
    """
    path = Path(path)
    source = str(path)
    problems: list[SpecProblem] = []
    try:
        validate_video_id(path.stem)
    except ValueError as exc:
        problems.append(
            SpecProblem("", f"{exc} (the video id is the file name without its extension)")
        )
    bad_suffix = suffix_problem(path.suffix)
    if bad_suffix is not None:
        raise SpecError(source, [*problems, bad_suffix])
    try:
        spec = parse_spec(read_spec_bytes(path), source=source, base_dir=path.parent)
    except SpecError as exc:
        raise SpecError(source, problems + exc.problems) from None
    if problems:
        raise SpecError(source, problems)
    return path.stem, spec


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
            exc, known_fields=_known_fields, union_tags=(_MUSIC_ON_TAG,)
        )
        # The model checks the prompt only once every field is valid; report it now too, so
        # one round of fixes is enough.
        lacks_prompt = data.get("beats") is None and data.get("prompt") is None
        if lacks_prompt and not any(problem.field == "prompt" for problem in problems):
            problems.append(SpecProblem("prompt", _PROMPT_REQUIRED.message()))
        raise SpecError(source, problems) from None
    if base_dir is not None:
        problems = [
            SpecProblem(f"references[{index}]", message)
            for index, reference in enumerate(spec.references)
            if (message := reference_file_problem(reference, Path(base_dir))) is not None
        ]
        if problems:
            raise SpecError(source, problems)
    return spec


_NESTED_MODELS: dict[str, type[BaseModel]] = {"beats": BeatSpec, "music": MusicSpec}


def _known_fields(loc: tuple[str | int, ...]) -> list[str]:
    """The fields allowed where ``loc`` points: the top level, inside a beat or inside music."""
    parents = [part for part in loc[:-1] if isinstance(part, str)]
    model = _NESTED_MODELS.get(parents[0], VideoSpec) if parents else VideoSpec
    return list(model.model_fields)
