"""``videogen render`` as a function: its render processes are forked from a server that
outlives one call, yet each run is configured from the caller's environment of the moment."""

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import pytest
import yaml

from videogen_dagster.commands import render
from videogen_dagster.instance import INSTANCE_CONFIG
from videogen_dagster.media import probe

SMALL = {"resources": {"generation": {"config": {"local": {"short_side": 64}}}}}


def _spec(folder: Path, name: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"prompt: A {name} at dusk\nduration: 5\nfps: 8\nmusic: false\n")
    return path


def test_each_render_uses_the_environment_it_is_called_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    overrides = yaml.safe_load(INSTANCE_CONFIG.read_text())
    store, home = tmp_path / "store", tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
        monkeypatch.delenv("VIDEOGEN_IMAGES", raising=False)
        (first,), _ = render(
            [_spec(tmp_path, "fox")], str(store), instance, run_config=SMALL, out=io.StringIO()
        )
        assert first.success, first.errors
        assert probe(Path(first.final_uri)).duration == pytest.approx(5, abs=1 / 8)

        # The fork server started above; this render must still see the new setting.
        monkeypatch.setenv("VIDEOGEN_IMAGES", "openai")
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        (second,), _ = render([_spec(tmp_path, "owl")], str(store), instance, out=io.StringIO())

    assert not second.success
    assert "OPENAI_API_KEY" in " ".join(second.errors)


def test_progress_follows_each_video_to_its_end(tmp_path: Path):
    overrides = yaml.safe_load(INSTANCE_CONFIG.read_text())
    specs = []
    for name in ("fox", "owl"):
        path = tmp_path / f"{name}.yaml"
        beats = "".join(f"  - description: {name} scene {i}\n    duration: 5\n" for i in range(2))
        path.write_text(f"prompt: A {name}\nduration: 10\nfps: 8\nmusic: false\nbeats:\n{beats}")
        specs.append(path)
    out, home = io.StringIO(), tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=overrides) as instance:
        outcomes, _ = render(
            specs, str(tmp_path / "store"), instance, run_config=SMALL, out=out, poll_seconds=0.1
        )
    assert all(outcome.success for outcome in outcomes)

    lines = out.getvalue().splitlines()
    for name in ("fox", "owl"):
        shown = [line for line in lines if line.startswith(f"[{name}] ")]
        assert shown[-2].startswith(f"[{name}] images 2/2 · clips 2/2 · ")
        # Polled every 0.1 s: the last step seen comes after the clips; the final video itself
        # when it outlasted a poll (on a quiet machine it can start and end between two).
        assert shown[-2].rsplit(" · ", 1)[-1] in {"stitched_video", "final_video"}
        assert shown[-1].startswith(f"[{name}] done: ")
        assert len(shown) == len(set(shown)) > 1  # a line when something changed, not per poll


def test_the_command_can_start_the_fork_server_before_it_imports_dagster():
    """What lets ``videogen render`` overlap the server's imports with its own: starting the
    server needs none of Dagster in the caller, and a second start reuses the first server."""
    script = textwrap.dedent(
        """
        import json, os, sys, time
        from videogen_dagster import fork_server

        def servers():
            # Fork servers of this process, once one has replaced its forked copy of this
            # process by its own program (start() returns once it is forked).
            deadline = time.monotonic() + 60
            while not (found := _servers()) and time.monotonic() < deadline:
                time.sleep(0.02)
            return found

        def _servers():
            found = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    stat = open(f"/proc/{pid}/stat").read()
                    cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
                except OSError:
                    continue
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                if parent == os.getpid() and b"multiprocessing.forkserver" in cmdline:
                    found.append(int(pid))
            return found

        fork_server.start()
        first = servers()
        fork_server.start()
        print(json.dumps({"first": first, "again": servers(), "dagster": "dagster" in sys.modules}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    seen = json.loads(done.stdout)
    assert len(seen["first"]) == 1, seen
    assert seen["again"] == seen["first"]
    assert not seen["dagster"]
