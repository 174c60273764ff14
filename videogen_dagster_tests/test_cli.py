"""The ``videogen`` command: validate and schema, exit codes, stderr lines, and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from videogen_dagster import settings
from videogen_dagster.cli import build_parser, main
from videogen_dagster_tests.domain_tests.bad_specs import write_corpus

REPO = Path(__file__).resolve().parents[1]
CITY = REPO / "specs" / "examples" / "city-at-dawn.yaml"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_validate_prints_the_validated_spec_and_chunk_plan(capsys):
    status, out, err = _run(capsys, "validate", str(CITY))
    assert (status, err) == (0, "")
    [result] = json.loads(out)
    assert result["file"] == str(CITY)
    assert result["video_id"] == "city-at-dawn"
    beats = result["spec"]["beats"]
    assert [(b["index"], b["start"], b["duration"]) for b in beats] == [
        (0, 0.0, 2.5),
        (1, 2.5, 10.0),
        (2, 12.5, 2.5),
    ]
    plan = result["chunk_plan"]
    assert plan["chains"] == [[0], [1, 2], [3]]
    assert plan["beat_to_chunk_map"] == {"0": 0, "1": 1, "3": 2}
    assert [c["kind"] for c in plan["chunks"]] == [
        "reference_image",
        "reference_image",
        "continuous",
        "reference_image",
    ]


def test_validate_uses_the_given_clip_lengths(capsys):
    status, out, _ = _run(capsys, "validate", "--clip-lengths", "5,10", str(CITY))
    assert status == 0
    assert json.loads(out)[0]["chunk_plan"]["chains"] == [[0], [1], [2]]


@pytest.mark.parametrize("value", ["five", "5,-1", "0"])
def test_bad_clip_lengths_are_a_usage_error(capsys, value):
    with pytest.raises(SystemExit) as caught:
        main(["validate", "--clip-lengths", value, str(CITY)])
    assert caught.value.code == 2
    assert "--clip-lengths" in capsys.readouterr().err


def test_one_bad_file_fails_the_run_but_good_files_are_still_shown(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("duration: 15\nbeats:\n  - {description: a, duration: -2}\n")
    status, out, err = _run(capsys, "validate", str(CITY), str(bad))
    assert status == 2
    assert [result["video_id"] for result in json.loads(out)] == ["city-at-dawn"]
    assert err == f"{bad}: beats[0].duration: must be greater than 0, got -2\n"


def test_every_bad_spec_is_one_plain_error_block_without_traceback(capsys, tmp_path):
    corpus = write_corpus(tmp_path / "inbox")
    status, out, err = _run(capsys, "validate", *map(str, corpus))
    assert status == 2
    assert json.loads(out) == []
    assert "Traceback" not in err
    lines = err.splitlines()
    for path in corpus:
        assert any(line.startswith(f"{path}: ") for line in lines), path
    # Every line names one of the files.
    assert all(any(line.startswith(f"{path}: ") for path in corpus) for line in lines)


def test_missing_file(capsys, tmp_path):
    status, _, err = _run(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert (status, err) == (2, f"{tmp_path / 'nope.yaml'}: does not exist\n")


def test_truncation_is_a_warning_and_nothing_is_written(capsys, tmp_path, monkeypatch):
    spec = tmp_path / "specs" / "ten-beats.yaml"
    spec.parent.mkdir()
    beats = "".join(f"  - description: scene {i}\n" for i in range(10))
    spec.write_text(f"duration: 15\nbeats:\n{beats}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(settings.STORE_ENV, str(tmp_path / "store"))
    status, out, err = _run(capsys, "validate", str(spec))
    assert status == 0
    assert len(json.loads(out)[0]["spec"]["beats"]) == 3
    assert err == (
        f"{spec}: warning: 10 beats are more than a 15 s video holds "
        "(at most ceil(15 / 5) = 3); kept the first 3 and dropped 7\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["specs"]  # no store, no log


def test_schema_documents_every_field(capsys):
    status, out, _ = _run(capsys, "schema")
    assert status == 0
    schema = json.loads(out)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["duration"]
    models = [schema, *schema["$defs"].values()]
    assert {model["title"] for model in models} == {
        "VideoSpec",
        "BeatSpec",
        "MusicSpec",
        "NarrationSpec",
        "CaptionsSpec",
        "CaptionStyle",
    }
    for model in models:
        assert model["description"]
        for name, field in model["properties"].items():
            assert len(field.get("description", "")) > 20, f"{model['title']}.{name}"
    assert list(schema["properties"]) == (
        [
            "prompt",
            "duration",
            "beats",
            "style",
            "aspect_ratio",
            "fps",
            "music",
            "narration",
            "captions",
            "references",
            "seed",
        ]
    )


def test_parser_has_a_place_for_more_commands():
    parser = build_parser()
    args = parser.parse_args(["validate", "a.yaml"])
    assert callable(args.handler)
    with pytest.raises(SystemExit):
        parser.parse_args([])


def test_installed_command_runs(tmp_path):
    script = Path(sys.executable).parent / "videogen"
    bad = tmp_path / "Bad Name.yaml"
    bad.write_text("duration: 15\nprompt: x\n")
    result = subprocess.run(
        [str(script), "validate", str(CITY), str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert json.loads(result.stdout)[0]["video_id"] == "city-at-dawn"
    assert result.stderr.startswith(f"{bad}: video id 'Bad Name' is not valid")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        ("s3://bucket/videos", "/from/env", "s3://bucket/videos"),
        (None, "/from/env", "/from/env"),
        (None, "", settings.DEFAULT_STORE),
        (None, None, settings.DEFAULT_STORE),
        ("", None, settings.DEFAULT_STORE),
    ],
)
def test_store_is_flag_then_environment_then_default(monkeypatch, flag, env, expected):
    if env is None:
        monkeypatch.delenv(settings.STORE_ENV, raising=False)
    else:
        monkeypatch.setenv(settings.STORE_ENV, env)
    assert settings.resolve_store_uri(flag) == expected
    assert os.environ.get(settings.STORE_ENV) == env
