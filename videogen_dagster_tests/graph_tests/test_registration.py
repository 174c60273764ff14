"""Registering several spec files at once (``videogen register`` / ``videogen render``): each
file succeeds or fails on its own, two files of one video are both refused, and a failed
registration leaves the previous one as it was (issue 21, sections 2 and 3)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from videogen_dagster import commands
from videogen_dagster.cli import main
from videogen_dagster.defs.partitions import videos
from videogen_dagster.domain.errors import MAX_SHOWN_PROBLEMS
from videogen_dagster.store import layout
from videogen_dagster_tests.graph_tests.support import write_spec

GOOD = "prompt: {}\nduration: 5\nfps: 8\nmusic: false\n"
AT_MOST = "a number in a spec has at most 100"


def _png(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 9), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _stored(store_root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(store_root)): path.read_bytes()
        for path in sorted(store_root.rglob("*"))
        if path.is_file()
    }


def test_each_file_succeeds_or_fails_on_its_own(instance, tmp_path):
    folder, store_root = tmp_path / "specs", tmp_path / "store"
    paths = [
        write_spec(folder, "a-huge.yaml", "prompt: x\nduration: " + "9" * 5000 + "\n"),
        write_spec(folder, "b-good.yaml", GOOD.format("a boat")),
        write_spec(
            folder, "c-odd-suffix.yaml", GOOD.format("a kite") + "references: [look.p ng]\n"
        ),
        write_spec(folder, "d-fifo-ref.yaml", GOOD.format("a fox") + "references: [pipe.png]\n"),
        write_spec(
            folder, "e-url-ref.yaml", GOOD.format("x") + "references: ['http://a.b/c.png']\n"
        ),
        write_spec(folder, "f-good.json", '{"prompt": "a crane", "duration": 5, "seed": 7}'),
    ]
    (folder / "look.p ng").write_bytes(_png((10, 200, 30)))
    os.mkfifo(folder / "pipe.png")

    video_ids, errors = commands.register(paths, str(store_root), instance)

    assert video_ids == ["b-good", "c-odd-suffix", "f-good"]
    assert set(instance.get_dynamic_partitions(videos.name)) == set(video_ids)
    assert [str(error).splitlines() for error in errors] == [
        [f"{paths[0]}: duration: is a number 5000 characters long; {AT_MOST}"],
        [f"{paths[3]}: references[0]: 'pipe.png' is not a file: it is a FIFO"],
        [
            f"{paths[4]}: references[0]: 'http://a.b/c.png' is a URL; a reference must be an "
            "image file inside the spec's folder (download it next to the spec)"
        ],
    ]
    reference = store_root / layout.input_reference("c-odd-suffix", 0, "look.p ng")
    assert reference.read_bytes() == (folder / "look.p ng").read_bytes()
    assert sorted(p.name for p in store_root.iterdir()) == video_ids


@pytest.mark.parametrize(
    "names",
    [("a/x.yaml", "b/x.yaml"), ("y.yaml", "y.json"), ("z.yaml", "sub/z.yml", "z.json")],
)
def test_two_files_of_one_video_are_both_refused_naming_each_other(instance, tmp_path, names):
    store_root = tmp_path / "store"
    paths = []
    for name in names:
        path = tmp_path / name
        write_spec(path.parent, path.name, GOOD.format(name) if name.endswith("l") else "{}")
        paths.append(path)
    text = '{"prompt": "x", "duration": 5}'
    for path in paths:
        if path.suffix == ".json":
            path.write_text(text)

    video_ids, errors = commands.register([*paths, paths[0]], str(store_root), instance)

    assert video_ids == [] and not store_root.exists()
    assert [error.path for error in errors] == [str(path) for path in paths]
    for path, error in zip(paths, errors, strict=True):
        others = [str(other) for other in paths if other != path]
        assert str(error).startswith(f"{path}: has the same video id {path.stem!r} as ")
        assert all(other in str(error) for other in others)


def test_the_same_file_twice_is_registered_once(instance, tmp_path):
    path = write_spec(tmp_path, "boat.yaml", GOOD.format("a boat"))
    (tmp_path / "sub").mkdir()
    again = tmp_path / "sub" / ".." / "boat.yaml"
    assert commands.register([path, again, path], str(tmp_path / "store"), instance) == (
        ["boat"],
        [],
    )


@pytest.mark.parametrize(
    "bad",
    [
        "prompt: x\nduration: " + "9" * 5000 + "\n",  # Python would refuse to convert it
        "prompt: x\nduration: 5\nreferences: [gone.png]\n",  # a missing reference
        "prompt: x\nduration: 5\nreferences: [link.png]\n",  # a link out of the folder
        "prompt: x\nduration: -1\n",
    ],
)
def test_a_bad_new_version_leaves_the_previous_registration_intact(instance, tmp_path, bad):
    folder, store_root = tmp_path / "specs", tmp_path / "store"
    write_spec(folder, "look.png", "")
    (folder / "look.png").write_bytes(_png((1, 2, 3)))
    (tmp_path / "outside.png").write_bytes(_png((250, 0, 0)))
    (folder / "link.png").symlink_to(tmp_path / "outside.png")
    path = write_spec(folder, "boat.yaml", GOOD.format("a boat") + "references: [look.png]\n")
    assert commands.register([path], str(store_root), instance)[0] == ["boat"]
    before = _stored(store_root)
    assert layout.input_reference("boat", 0, "look.png") in before

    path.write_text(bad)
    video_ids, [error] = commands.register([path], str(store_root), instance)

    assert video_ids == [] and str(error).startswith(f"{path}: ")
    assert _stored(store_root) == before


def test_the_cli_prints_one_line_per_bad_file_and_says_some_failed(
    instance, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    folder = tmp_path / "specs"
    huge = write_spec(folder, "huge.yaml", "prompt: x\nduration: 5\nseed: " + "1" * 5000 + "\n")
    good = write_spec(folder, "good.yaml", GOOD.format("a boat"))
    # A file of thousands of bad entries (80,000 unknown fields, no duration, no prompt): the
    # first few lines and a count, not 80,002 lines.
    many = write_spec(
        folder, "many.json", "{" + ", ".join(f'"k{i}": 1' for i in range(80_000)) + "}"
    )

    status = main(["register", "--store", str(tmp_path / "store"), str(huge), str(good), str(many)])

    out, err = capsys.readouterr()
    assert status == 2 and out.split() == ["good"]
    lines = err.splitlines()
    assert lines[0] == (
        f"{huge}: seed: is a number 5000 characters long; a number in a spec has at most 100"
    )
    assert lines[1:] == [line for line in lines[1:] if line.startswith(f"{many}: ")]
    assert len(lines) == 1 + MAX_SHOWN_PROBLEMS + 1
    assert (
        lines[-1]
        == f"{many}: ... and {80_000 + 2 - MAX_SHOWN_PROBLEMS} more problems (fix these first)"
    )
    assert "Traceback" not in err
