# ruff: noqa: E501  (a table of cases reads best one case per line)
"""The corpus of bad spec files: every way a spec can be wrong that we have thought of.

A table rather than files on disk, because several cases cannot live in git (a FIFO, a
symlink leaving the folder, file names like ``a;rm -rf.yaml``). ``write_case`` makes one
case in a folder and ``write_corpus`` all of them, with each case's extra files named after
the case, so the whole corpus can be dropped into one watched folder (the sensor's test
does that). Files a case puts *outside* the spec's folder go into the folder's parent.

Each case names the field its error must name (``""`` for the file itself) and words the
message must contain.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class BadSpec:
    name: str
    filename: str
    content: bytes | None  # None: ``setup`` makes the spec file itself
    field: str
    message: str
    setup: Callable[[Path, BadSpec], None] | None = None

    def extra(self, suffix: str) -> str:
        """A file name for this case's extra files, unique within a folder."""
        return f"{self.name}-extra{suffix}"


def _image_bytes(image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 9), (30, 120, 200)).save(buffer, format=image_format)
    return buffer.getvalue()


PNG = _image_bytes("PNG")
GIF = _image_bytes("GIF")

_OK = "duration: 15\nprompt: A quiet harbour at dawn.\n"


def _yaml(extra: str) -> bytes:
    return (_OK + extra).encode()


def _with_reference(reference: str) -> bytes:
    return _yaml(f"references: [{reference!r}]\n")


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _not_an_image(folder: Path, case: BadSpec) -> None:
    _write(folder / case.extra(".png"), b"just some text, not pixels\n")


def _empty_image(folder: Path, case: BadSpec) -> None:
    _write(folder / case.extra(".png"), b"")


def _cut_png(folder: Path, case: BadSpec) -> None:
    # Noise does not compress, so the cut falls inside the pixel data, past a valid header.
    noise = Image.frombytes("L", (64, 64), bytes(range(256)) * 16)
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    _write(folder / case.extra(".png"), buffer.getvalue()[: len(buffer.getvalue()) * 2 // 3])


def _gif(folder: Path, case: BadSpec) -> None:
    _write(folder / case.extra(".png"), GIF)


def _directory(folder: Path, case: BadSpec) -> None:
    (folder / case.extra(".png")).mkdir(parents=True)


def _symlink_out(folder: Path, case: BadSpec) -> None:
    outside = folder.parent / f"outside-{case.name}.png"
    _write(outside, PNG)
    (folder / case.extra(".png")).symlink_to(outside)


def _broken_symlink(folder: Path, case: BadSpec) -> None:
    (folder / case.extra(".png")).symlink_to(folder / f"{case.name}-gone.png")


def _symlink_loop(folder: Path, case: BadSpec) -> None:
    (folder / case.extra(".png")).symlink_to(folder / case.extra(".png"))


def _symlink_folder(folder: Path, case: BadSpec) -> None:
    outside = folder.parent / f"outside-{case.name}"
    _write(outside / "x.png", PNG)
    (folder / case.extra("")).symlink_to(outside, target_is_directory=True)


def _fifo_reference(folder: Path, case: BadSpec) -> None:
    os.mkfifo(folder / case.extra(".png"))


def _outside_png(folder: Path, case: BadSpec) -> None:
    _write(folder.parent / f"outside-{case.name}.png", PNG)


def _fifo_spec(folder: Path, case: BadSpec) -> None:
    os.mkfifo(folder / case.filename)


LONG_TEXT = "a" * 2001

BAD_SPECS: tuple[BadSpec, ...] = (
    # --- not a spec at all
    BadSpec("empty-file", "empty-file.yaml", b"", "", "is empty"),
    BadSpec("comments-only", "comments-only.yaml", b"# nothing yet\n", "", "is empty"),
    BadSpec("binary-named-yaml", "binary.yaml", PNG, "", "binary file"),
    BadSpec("latin-1-bytes", "latin1.yaml", _OK.encode() + b"style: caf\xe9\n", "", "not UTF-8"),
    BadSpec("fifo-named-yaml", "fifo.yaml", None, "", "not a regular file", _fifo_spec),
    BadSpec("too-large", "huge.yaml", _yaml("#" * (1024 * 1024)), "", "at most 1048576 bytes"),
    BadSpec("wrong-extension", "notes.txt", _OK.encode(), "", "must end in .yaml"),
    # --- broken YAML / JSON
    BadSpec("yaml-unclosed", "yaml-unclosed.yaml", b"duration: [15\n", "", "not valid YAML"),
    BadSpec("yaml-bad-indent", "yaml-indent.yaml", b"duration: 15\n  prompt: x\n", "", "line 2"),
    BadSpec("yaml-key-twice", "yaml-twice.yaml", _yaml("duration: 20\n"), "", "written twice"),
    BadSpec("yaml-python-tag", "yaml-tag.yaml", _yaml("style: !!python/object/apply:os.system [ls]\n"), "", "constructor"),
    BadSpec("yaml-two-documents", "yaml-docs.yaml", _yaml("---\n") + _OK.encode(), "", "single document"),
    BadSpec("yaml-nested-deep", "deep.yaml", ("seed: " + "[" * 5000 + "]" * 5000).encode(), "", "nested too deeply"),
    BadSpec("json-trailing-comma", "json-comma.json", b'{"duration": 15, "prompt": "x",}', "", "not valid JSON"),
    BadSpec("json-single-quotes", "json-quotes.json", b"{'duration': 15}", "", "line 1, column 2"),
    BadSpec("json-key-twice", "json-twice.json", b'{"duration": 15, "duration": 20, "prompt": "x"}', "", "written twice"),
    BadSpec("top-level-list", "list.yaml", b"- duration: 15\n", "", "must be a mapping"),
    BadSpec("top-level-text", "text.yaml", b"just a sentence\n", "", "must be a mapping"),
    # --- wrong types
    BadSpec("duration-text", "duration-text.yaml", b"duration: fifteen\nprompt: x\n", "duration", "must be a number"),
    BadSpec("duration-quoted", "duration-quoted.yaml", b"duration: '15'\nprompt: x\n", "duration", "must be a number"),
    BadSpec("duration-bool", "duration-bool.yaml", b"duration: true\nprompt: x\n", "duration", "must be a number"),
    BadSpec("json-nan", "json-nan.json", b'{"duration": NaN, "prompt": "x"}', "duration", "finite"),
    BadSpec("fps-fraction", "fps-fraction.yaml", _yaml("fps: 23.976\n"), "fps", "whole number"),
    BadSpec("seed-text", "seed-text.yaml", _yaml("seed: lucky\n"), "seed", "whole number"),
    BadSpec("prompt-number", "prompt-number.yaml", b"duration: 15\nprompt: 42\n", "prompt", "must be text"),
    BadSpec("beats-text", "beats-text.yaml", _yaml("beats: a walk in the park\n"), "beats", "must be a list"),
    BadSpec("beat-text", "beat-text.yaml", _yaml("beats: [a walk]\n"), "beats[0]", "must be a mapping"),
    BadSpec("music-text", "music-text.yaml", _yaml("music: loud\n"), "music", "or false"),
    BadSpec("music-true", "music-true.yaml", _yaml("music: true\n"), "music", "music is on when left out"),
    BadSpec("references-text", "refs-text.yaml", _yaml("references: a.png\n"), "references", "must be a list"),
    # --- out of range
    BadSpec("duration-zero", "duration-zero.yaml", b"duration: 0\nprompt: x\n", "duration", "at least 5"),
    BadSpec("duration-negative", "duration-neg.yaml", b"duration: -15\nprompt: x\n", "duration", "at least 5"),
    BadSpec("duration-601", "duration-601.yaml", b"duration: 601\nprompt: x\n", "duration", "at most 600"),
    BadSpec("duration-inf", "duration-inf.yaml", b"duration: .inf\nprompt: x\n", "duration", "finite"),
    BadSpec("beat-duration-zero", "beat-zero.yaml", _yaml("beats:\n - {description: a}\n - {description: b, duration: 0}\n"), "beats[1].duration", "greater than 0"),
    BadSpec("beat-duration-negative", "beat-neg.yaml", _yaml("beats:\n - {description: a}\n - {description: b}\n - {description: c, duration: -5}\n"), "beats[2].duration", "greater than 0"),
    BadSpec("fps-zero", "fps-zero.yaml", _yaml("fps: 0\n"), "fps", "at least 1"),
    BadSpec("fps-240", "fps-240.yaml", _yaml("fps: 240\n"), "fps", "at most 60"),
    BadSpec("seed-negative", "seed-neg.yaml", _yaml("seed: -1\n"), "seed", "at least 0"),
    BadSpec("aspect-4-3", "aspect.yaml", _yaml("aspect_ratio: 4:3\n"), "aspect_ratio", "'16:9', '9:16' or '1:1'"),
    # --- missing, empty and huge texts
    BadSpec("no-duration", "no-duration.yaml", b"prompt: x\n", "duration", "is required"),
    BadSpec("no-prompt-no-beats", "no-prompt.yaml", b"duration: 15\nstyle: noir\n", "prompt", "is required when 'beats' is left out"),
    BadSpec("empty-beats", "empty-beats.yaml", _yaml("beats: []\n"), "beats", "at least one beat"),
    BadSpec("blank-prompt", "blank-prompt.yaml", b"duration: 15\nprompt: '   '\n", "prompt", "must not be empty"),
    BadSpec("beat-no-description", "beat-nodesc.yaml", _yaml("beats:\n - duration: 5\n"), "beats[0].description", "is required"),
    BadSpec("blank-description", "blank-desc.yaml", _yaml("beats:\n - description: ''\n"), "beats[0].description", "must not be empty"),
    BadSpec("huge-prompt", "huge-prompt.yaml", f"duration: 15\nprompt: {LONG_TEXT}\n".encode(), "prompt", "2001 characters, at most 2000"),
    BadSpec("huge-description", "huge-desc.yaml", _yaml(f"beats:\n - description: ok\n - description: {LONG_TEXT}\n"), "beats[1].description", "too long"),
    BadSpec("huge-style", "huge-style.yaml", _yaml(f"style: {LONG_TEXT}\n"), "style", "too long"),
    BadSpec("control-character", "control-char.yaml", _yaml('style: "noir\\x1b[31m"\n'), "style", "control characters"),
    BadSpec("music-no-prompt", "music-empty.yaml", _yaml("music: {}\n"), "music.prompt", "is required"),
    # --- unknown fields
    BadSpec("unknown-field", "typo.yaml", _yaml("duraton: 20\n"), "duraton", "did you mean 'duration'"),
    BadSpec("unknown-beat-field", "beat-typo.yaml", _yaml("beats:\n - {description: a, length: 5}\n"), "beats[0].length", "not a known field"),
    BadSpec("unknown-music-field", "music-typo.yaml", _yaml("music: {prompt: jazz, volume: 11}\n"), "music.volume", "not a known field"),
    # --- ids (the file's stem) that try to be paths or shell
    BadSpec("id-space-bang", "Bad Id!.yaml", _OK.encode(), "", "video id 'Bad Id!'"),
    BadSpec("id-shell-command", "a;rm -rf.yaml", _OK.encode(), "", "video id 'a;rm -rf'"),
    BadSpec("id-command-substitution", "$(reboot).yaml", _OK.encode(), "", "video id '$(reboot)'"),
    BadSpec("id-upper-case", "UPPER.yaml", _OK.encode(), "", "video id 'UPPER'"),
    BadSpec("id-65-chars", "a" * 65 + ".yaml", _OK.encode(), "", "1 to 64"),
    BadSpec("id-leading-dash", "-rf.yaml", _OK.encode(), "", "not starting with '-'"),
    BadSpec("id-dot-dot", "...yaml", _OK.encode(), "", "video id '..'"),
    BadSpec("id-dots", "x.tar.yaml", _OK.encode(), "", "video id 'x.tar'"),
    BadSpec("id-non-ascii", "café.yaml", _OK.encode(), "", "video id 'café'"),
    # --- references
    BadSpec("ref-missing", "ref-missing.yaml", _with_reference("nowhere.png"), "references[0]", "does not exist"),
    BadSpec("ref-parent", "ref-parent.yaml", _with_reference("../outside-ref-parent.png"), "references[0]", "points outside", _outside_png),
    BadSpec("ref-sneaky-parent", "ref-sneaky.yaml", _with_reference("refs/../../x.png"), "references[0]", "points outside"),
    BadSpec("ref-absolute", "ref-absolute.yaml", _with_reference("/etc/passwd"), "references[0]", "not an absolute path"),
    BadSpec("ref-home", "ref-home.yaml", _with_reference("~/secret.png"), "references[0]", "not an absolute path"),
    BadSpec("ref-backslash", "ref-backslash.yaml", _with_reference("..\\x.png"), "references[0]", "'/'"),
    BadSpec("ref-symlink-out", "ref-symlink.yaml", _with_reference("ref-symlink-out-extra.png"), "references[0]", "is a symbolic link", _symlink_out),
    BadSpec("ref-broken-symlink", "ref-broken.yaml", _with_reference("ref-broken-symlink-extra.png"), "references[0]", "is a symbolic link", _broken_symlink),
    BadSpec("ref-symlink-loop", "ref-loop.yaml", _with_reference("ref-symlink-loop-extra.png"), "references[0]", "is a symbolic link", _symlink_loop),
    BadSpec("ref-not-image", "ref-text.yaml", _with_reference("ref-not-image-extra.png"), "references[0]", "not a PNG, JPEG or WebP", _not_an_image),
    BadSpec("ref-empty-file", "ref-empty.yaml", _with_reference("ref-empty-file-extra.png"), "references[0]", "empty file", _empty_image),
    BadSpec("ref-cut-png", "ref-cut.yaml", _with_reference("ref-cut-png-extra.png"), "references[0]", "damaged image", _cut_png),
    BadSpec("ref-gif", "ref-gif.yaml", _with_reference("ref-gif-extra.png"), "references[0]", "not a PNG, JPEG or WebP", _gif),
    BadSpec("ref-directory", "ref-dir.yaml", _with_reference("ref-directory-extra.png"), "references[0]", "is not a file", _directory),
    BadSpec("ref-symlink-folder", "ref-linked-dir.yaml", _with_reference("ref-symlink-folder-extra/x.png"), "references[0]", "'ref-symlink-folder-extra' is a symbolic link", _symlink_folder),
    BadSpec("ref-fifo", "ref-fifo.yaml", _with_reference("ref-fifo-extra.png"), "references[0]", "is not a file: it is a FIFO", _fifo_reference),
    BadSpec("ref-url", "ref-url.yaml", _with_reference("https://example.com/a.png"), "references[0]", "'https://example.com/a.png' is a URL"),
    # --- numbers Python refuses to convert (more than 4300 digits), anywhere in a spec
    BadSpec("huge-int-yaml", "huge-int.yaml", b"prompt: x\nduration: " + b"9" * 5000 + b"\n", "duration", "5000 characters long"),
    BadSpec("huge-hex-seed", "huge-hex.yaml", _yaml("seed: 0x" + "f" * 5000 + "\n"), "seed", "5002 characters long"),
    BadSpec("huge-int-json", "huge-json.json", b'{"prompt": "x", "duration": 5, "beats": [{"description": "a", "duration": ' + b"1" * 5000 + b"}]}", "beats[0].duration", "5000 characters long"),
    BadSpec("huge-int-alone", "huge-alone.yaml", b"7" * 5000, "", "5000 characters long"),
    # --- keys YAML would read as something other than text: named as written
    BadSpec("key-null", "key-null.yaml", _yaml("null: 3\n"), "null", "is not a known field"),
    BadSpec("key-tilde", "key-tilde.yaml", _yaml("~: 3\n"), "~", "is not a known field"),
    BadSpec("key-yes", "key-yes.yaml", _yaml("beats:\n  - description: a\n    yes: 1\n"), "beats[0].yes", "is not a known field"),
    BadSpec("key-number", "key-number.yaml", _yaml("1: 2\n"), "1", "is not a known field"),
    # --- far too much of a thing
    BadSpec("many-values", "many-values.yaml", _yaml("beats: [" + "1, " * 30000 + "1]\n"), "", "more than 20000 keys and values"),
    BadSpec("many-beats-json", "many-beats.json", b'{"prompt": "x", "duration": 5, "beats": [' + b", ".join([b"1"] * 100000) + b"]}", "beats", "at most 1000"),
    BadSpec("ref-too-many", "ref-many.yaml", _yaml("references: [" + ", ".join(["a.png"] * 11) + "]\n"), "references", "at most 10"),
)  # fmt: skip


def write_case(case: BadSpec, folder: Path) -> Path:
    """Make ``case``'s spec file (and its extra files) in ``folder``; the spec's path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / case.filename
    if case.content is not None:
        path.write_bytes(case.content)
    if case.setup is not None:
        case.setup(folder, case)
    return path


def write_corpus(folder: Path) -> dict[Path, BadSpec]:
    """Every case in ``folder``: the spec path of each, with its case."""
    return {write_case(case, folder): case for case in BAD_SPECS}
