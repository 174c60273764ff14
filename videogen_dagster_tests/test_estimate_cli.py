"""``videogen estimate``: the providers a render would use, priced per beat, with no API called.

The command reads the same variables as ``videogen render`` (its flags override them) and needs
no API key; the fakes count the requests it makes (none).
"""

from __future__ import annotations

import os

import pytest

from videogen_dagster.cli import main

SPEC = """\
prompt: Lanterns over a harbour
duration: 11
fps: 8
music: false
beats:
  - description: A lantern is lit on the quay
    duration: 2.5
  - description: Lanterns rise over the boats
"""

OVERRIDDEN = ("VIDEOGEN_PLANNER", "VIDEOGEN_IMAGES", "VIDEOGEN_CLIPS", "VIDEOGEN_CLIPS_MODEL")


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment: no provider chosen, no key."""
    for name in (*OVERRIDDEN, "OPENAI_API_KEY", "RUNWAYML_API_SECRET", "VIDEOGEN_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIDEOGEN_STORE", str(tmp_path / "store"))
    return monkeypatch


def test_estimate_prices_each_beat_without_calling_any_api(
    env, tmp_path, capsys, openai_server, runway_server
):
    env.setenv("OPENAI_BASE_URL", f"{openai_server.url}/v1")
    env.setenv("RUNWAYML_BASE_URL", runway_server.url)
    spec = tmp_path / "lanterns.yaml"
    spec.write_text(SPEC)

    code = main(["estimate", str(spec), "--images", "openai", "--clips", "runway"])
    out = capsys.readouterr()
    # The flags count for this estimate only: the process's own environment is left alone.
    assert not {"VIDEOGEN_IMAGES", "VIDEOGEN_CLIPS"} & set(os.environ)
    assert code == 0, out.err
    assert openai_server.requests == [] and runway_server.requests == []
    lines = out.out.splitlines()
    assert lines[0] == f"lanterns ({spec}): 11 s, 2 beats, 2 clips"
    # Runway's gen4_turbo makes whole seconds from 2 to 10: 2.5 s is generated as 3 s, 8.5 as 9.
    beat_0 = next(i for i, line in enumerate(lines) if line.startswith("  beat 0 (0-2.5 s): $0.20"))
    assert "beat 0 storyboard image · openai/" in lines[beat_0 + 1]
    assert lines[beat_0 + 2].endswith("3 s generated, 2.5 s kept · $0.1500")
    assert lines[beat_0 + 5].endswith("9 s generated, 8.5 s kept · $0.4500")
    assert lines[-1].startswith("  total $0.700")
    assert "already in the cache: $0.0000" in lines[-1]


def test_an_invalid_spec_is_one_line_and_the_others_are_still_estimated(env, tmp_path, capsys):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(SPEC)
    bad.write_text("prompt: x\nduration: 5\nfsp: 8\n")
    code = main(["estimate", str(bad), str(good)])
    out = capsys.readouterr()
    assert code == 2
    assert "bad.yaml: fsp:" in out.err and "Traceback" not in out.err
    assert out.out.splitlines()[0].startswith("good (")


def test_an_unknown_backend_is_one_line(env, tmp_path, capsys):
    spec = tmp_path / "lanterns.yaml"
    spec.write_text(SPEC)
    code = main(["estimate", str(spec), "--clips", "sora"])
    out = capsys.readouterr()
    assert code == 2
    assert out.err.startswith("videogen estimate: unknown clips backend 'sora'")
    assert len(out.err.splitlines()) == 1 and out.out == ""


def test_a_ratio_the_clip_model_cannot_make_names_the_file(env, tmp_path, capsys):
    spec = tmp_path / "square.yaml"
    spec.write_text(SPEC.replace("fps: 8", "fps: 8\naspect_ratio: '1:1'"))
    code = main(["estimate", str(spec), "--clips", "runway", "--clips-model", "veo3.1"])
    out = capsys.readouterr()
    assert code == 2
    assert out.err.startswith(f"{spec}: runway (veo3.1) cannot make aspect_ratio '1:1'")


def test_an_uncached_paid_plan_is_an_upper_bound_and_says_the_beats_are_approximate(
    env, tmp_path, capsys, openai_server
):
    env.setenv("OPENAI_BASE_URL", f"{openai_server.url}/v1")
    spec = tmp_path / "kites.yaml"
    spec.write_text("prompt: Kites over a hill. Then rain.\nduration: 9\nfps: 8\n")
    code = main(["estimate", str(spec), "--planner", "openai"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and openai_server.requests == []
    assert out[0].endswith("(approximate)")
    planning = next(line for line in out if "beat planning" in line)
    assert "openai/" in planning and not planning.endswith("$0.0000")
    assert any("planned by openai at render time" in line for line in out)


def test_fal_clips_are_priced_from_its_model_table(env, tmp_path, capsys):
    spec = tmp_path / "lanterns.yaml"
    spec.write_text(SPEC)
    code = main(["estimate", str(spec), "--clips", "fal", "--clips-model", "veo3.1_fast"])
    out = capsys.readouterr().out
    assert code == 0
    # Veo 3.1 Fast makes 4, 6 or 8 s: 2.5 s is generated as 4 s, 8.5 s as 6 + 4 s.
    assert "beat 0 chunk 0 (reference_image) · fal/veo3.1_fast · 4 s generated" in out
    assert "clips $1.4000" in out
