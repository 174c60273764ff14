"""Reading a spec's inputs once, through a checked descriptor, and numbers Python refuses.

``read_regular_file`` and ``read_reference_file`` are what registration reads through: what
they return is what is checked and stored, so they must refuse anything that is not one
regular file of bounded size (a FIFO or a device without blocking, a link, a folder), by
looking at the descriptor they opened rather than at the path.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from videogen_dagster.domain.errors import SpecError
from videogen_dagster.domain.references import UnusableReference, read_reference_file
from videogen_dagster.domain.spec import parse_spec, read_spec_file, spec_from_bytes
from videogen_dagster.domain.spec_files import UnreadableFile, read_regular_file

GOOD = "prompt: x\nduration: 5\n"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (9, 99, 199)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_regular_file_is_read_whole(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_bytes(b"x" * 3000)
    assert read_regular_file(path, limit=3000) == b"x" * 3000


@pytest.mark.parametrize(
    ("make", "kind", "reason"),
    [
        (lambda p: os.mkfifo(p), "not-regular", "is not a regular file: it is a FIFO"),
        (lambda p: p.mkdir(), "folder", "is not a regular file: it is a folder"),
        (lambda p: p.symlink_to("/dev/zero"), "not-regular", "it is a character device"),
        (lambda p: p.write_bytes(b"x" * 101), "too-large", "is 101 bytes"),
        (lambda p: None, "missing", "does not exist"),
    ],
)
def test_anything_but_a_small_regular_file_is_refused_without_blocking(
    tmp_path, make, kind, reason
):
    path = tmp_path / "thing.yaml"
    make(path)
    with pytest.raises(UnreadableFile) as caught:
        read_regular_file(path, limit=100)
    assert (caught.value.kind, reason in caught.value.reason) == (kind, True)


def test_a_link_is_refused_when_links_are_not_followed(tmp_path):
    (tmp_path / "real.png").write_bytes(b"data")
    (tmp_path / "link.png").symlink_to(tmp_path / "real.png")
    assert read_regular_file(tmp_path / "link.png", limit=10) == b"data"
    with pytest.raises(UnreadableFile, match="is a symbolic link"):
        read_regular_file(tmp_path / "link.png", limit=10, follow_symlinks=False)


def test_a_reference_is_read_through_its_folders(tmp_path):
    (tmp_path / "refs" / "deep").mkdir(parents=True)
    (tmp_path / "refs" / "deep" / "look.png").write_bytes(_png())
    assert read_reference_file("refs/deep/look.png", tmp_path) == _png()


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("refs/look.png", "'refs/look.png': 'refs' is a symbolic link"),
        ("file.png/look.png", "'file.png/look.png': 'file.png' is not a folder"),
        ("none/look.png", "the file 'none/look.png' does not exist"),
        ("pipe.png", "'pipe.png' is not a file: it is a FIFO"),
    ],
)
def test_a_reference_path_with_a_link_or_a_non_folder_is_refused(tmp_path, reference, message):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "look.png").write_bytes(_png())
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "refs").symlink_to(outside, target_is_directory=True)
    (folder / "file.png").write_bytes(_png())
    os.mkfifo(folder / "pipe.png")
    with pytest.raises(UnusableReference) as caught:
        read_reference_file(reference, folder)
    assert message in str(caught.value)


def test_read_spec_file_returns_the_bytes_it_checked(tmp_path):
    (tmp_path / "look.png").write_bytes(_png())
    path = tmp_path / "boat.yaml"
    path.write_text(GOOD + "references: [look.png]\n")
    loaded = read_spec_file(path)
    assert (loaded.video_id, loaded.suffix) == ("boat", ".yaml")
    assert loaded.data == path.read_bytes() and loaded.references == (_png(),)


def test_a_reference_reader_that_fails_in_any_way_is_that_reference_s_problem():
    def read(reference: str) -> bytes:
        raise RuntimeError(f"the network dropped {reference}")

    with pytest.raises(SpecError) as caught:
        spec_from_bytes(
            "boat.yaml", (GOOD + "references: [a.png]\n").encode(), source="s3://b/boat.yaml",
            read_reference=read,
        )  # fmt: skip
    assert str(caught.value) == (
        "s3://b/boat.yaml: references[0]: cannot read 'a.png': the network dropped a.png"
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("prompt: x\nduration: -" + "9" * 200 + "\n", "duration"),
        (GOOD + "seed: 0b" + "1" * 5000 + "\n", "seed"),
        (GOOD + "seed: 0" + "7" * 5000 + "\n", "seed"),  # octal
        (GOOD + "fps: 1" + "_0" * 3000 + "\n", "fps"),
        (GOOD + "music: {prompt: " + "1" * 5000 + "}\n", "music.prompt"),
        (GOOD + "beats:\n  - description: a\n  - description: " + "2" * 5000 + "\n", "beats[1].description"),  # noqa: E501
        (GOOD + "references: [" + "3" * 5000 + "]\n", "references[0]"),
    ],
)  # fmt: skip
def test_a_too_long_number_anywhere_is_one_problem_naming_its_field(text, field):
    with pytest.raises(SpecError) as caught:
        parse_spec(text, source="n.yaml", base_dir=None)
    [line] = str(caught.value).splitlines()
    assert line.startswith(f"n.yaml: {field}: is a number ") and "at most 100" in line


def test_a_number_that_fits_is_still_a_number():
    spec = parse_spec(GOOD + "seed: 0x" + "f" * 8 + "\n", source="n.yaml", base_dir=None)
    assert spec.seed == 2**32 - 1


def test_reading_an_inbox_path_does_not_follow_into_a_fifo(tmp_path: Path):
    """A spec replaced by a FIFO after the inbox was listed: refused, not waited on."""
    os.mkfifo(tmp_path / "late.yaml")
    with pytest.raises(SpecError, match="late.yaml: is not a regular file: it is a FIFO"):
        read_spec_file(tmp_path / "late.yaml")
