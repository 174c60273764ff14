"""A narrated spec rendered offline through the real job, read back from the files it made.

What a viewer gets is measured, not assumed: the voice is found in the final audio by
removing the music (the prepared music track, fitted per window by least squares: the voice
is what the music does not explain), the subtitle track is read back from final.mp4 and
compared with captions.srt, and the music's level under speech and between speech is the
same least-squares fit's gain.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import dagster as dg
import numpy as np

from videogen_dagster.media.audio import MIX_RATE, decode_audio
from videogen_dagster.media.mix import integrated_loudness
from videogen_dagster.store import layout
from videogen_dagster_tests.graph_tests.support import execute, register, write_spec

NARRATED_SPEC = """\
prompt: A lighthouse keeper's night
duration: 20
fps: 12
beats:
  - description: The lamp is lit at dusk
    narration: The keeper lights the lamp. Night is coming.
  - description: A storm rolls over the sea
  - description: Waves break on the rocks
    narration: The storm arrives with heavy rain.
  - description: Morning calm over the rocks
    narration: By morning, the sea is calm again.
"""

WINDOW = 0.25  # seconds per measured window


def _windows(samples: np.ndarray, start: float, end: float) -> list[tuple[int, int]]:
    step = round(WINDOW * MIX_RATE)
    first, last = round(start * MIX_RATE), round(end * MIX_RATE)
    return [(i, i + step) for i in range(first, last - step + 1, step)]


def _music_fit(final: np.ndarray, music: np.ndarray, a: int, b: int) -> tuple[float, float]:
    """The music's gain in a window and the energy (dBFS) of what the music does not explain."""
    x, y = music[a:b].astype(np.float64), final[a:b].astype(np.float64)
    gain = float(x @ y / max(x @ x, 1e-12))
    residual = y - gain * x
    return gain, 10 * np.log10(float(np.mean(residual**2)) + 1e-12)


def _subtitle_cues(path: Path) -> list[tuple[float, float, str]]:
    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        cues = []
        for packet in container.demux(stream):
            text = bytes(packet)[2:].decode()
            if packet.size and text:
                start = float(packet.pts * stream.time_base)
                cues.append((start, start + float(packet.duration * stream.time_base), text))
        return cues


def _srt_cues(text: str) -> list[tuple[float, float, str]]:
    def seconds(clock: str) -> float:
        h, m, rest = clock.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = []
    for block in text.strip().split("\n\n"):
        _, times, line = block.split("\n", 2)
        start, end = re.split(r" --> ", times)
        cues.append((seconds(start), seconds(end), line))
    return cues


def test_narrated_spec_renders_speech_subtitles_and_ducked_music(instance, tmp_path):
    store_root = tmp_path / "store"
    video_id = register(
        instance, store_root, write_spec(tmp_path / "specs", "keeper.yaml", NARRATED_SPEC)
    )
    result = execute(instance, store_root, video_id)
    assert result.success

    manifest = json.loads((store_root / layout.manifest(video_id)).read_text())
    narrated = manifest["narration"]
    assert [entry["beat_index"] for entry in narrated] == [0, 2, 3]
    assert all(entry["provider"] == "local" and entry["cost"] == 0.0 for entry in narrated)
    assert manifest["final"]["has_subtitles"] is True
    assert manifest["captions"]["mode"] == "soft"
    assert manifest["mix"]["duck_db"] < 0

    final_path = store_root / layout.final_video(video_id)
    final = decode_audio(final_path)
    music = decode_audio(store_root / layout.music(video_id))
    assert abs(final.size - 20 * MIX_RATE) < MIX_RATE // 10

    # Voice: present in each narrated beat while it speaks, absent in the silent beat.
    spans = {e["beat_index"]: (e["start"], e["start"] + e["duration"]) for e in narrated}
    for index, (start, end) in spans.items():
        residual = [_music_fit(final, music, a, b)[1] for a, b in _windows(final, start, end)]
        assert max(residual) > -35, f"beat {index} has no voice: {residual}"
    silent = [_music_fit(final, music, a, b)[1] for a, b in _windows(final, 5.2, 9.8)]
    assert max(silent) < -45, f"the silent beat has sound beyond the music: {silent}"

    # Music: quieter under speech than between (a 12 dB duck, measured within 3 dB).
    under = [
        _music_fit(final, music, a, b)[0]
        for start, end in spans.values()
        for a, b in _windows(final, start + 0.4, end - 0.4)
    ]
    between = [_music_fit(final, music, a, b)[0] for a, b in _windows(final, 5.5, 9.5)]
    duck = 20 * np.log10(np.median(under) / np.median(between))
    assert -15 < duck < -9, duck

    # Loudness about -16 LUFS, and no sample at full scale.
    assert abs(integrated_loudness(final_path, raw=False) + 16) < 1.5
    assert float(np.abs(final).max()) < 0.99

    # The soft subtitle track holds exactly the SRT's cues, tagged English.
    srt = (store_root / layout.captions_srt(video_id)).read_text()
    got, want = _subtitle_cues(final_path), _srt_cues(srt)
    assert len(want) >= 4  # one per sentence: two in beat 0, one in beats 2 and 3
    assert _close(got, want), (got, want)
    with av.open(str(final_path)) as container:
        assert container.streams.subtitles[0].metadata.get("language") == "eng"
    assert (store_root / layout.captions_vtt(video_id)).read_text().startswith("WEBVTT")

    checks = {
        record.dagster_event.event_specific_data.check_name: (
            record.dagster_event.event_specific_data.passed
        )
        for record in instance.all_logs(
            result.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        )
    }
    assert checks["every_narrated_beat_has_speech_that_fits"]
    assert checks["cues_ordered_non_overlapping_inside_video"]
    assert checks["has_subtitle_track_when_captions_on"]


def _close(got: list, want: list) -> bool:
    return len(got) == len(want) and all(
        abs(a[0] - b[0]) < 0.002 and abs(a[1] - b[1]) < 0.002 and a[2] == b[2]
        for a, b in zip(got, want, strict=True)
    )


LONG_TEXT = " ".join(["The keeper climbs every one of the lighthouse's winding stairs."] * 4)


def test_an_over_long_narration_fails_its_beat_naming_length_and_time(instance, tmp_path):
    store_root = tmp_path / "store"
    spec = (
        "duration: 10\nfps: 8\nmusic: false\nbeats:\n"
        "  - description: The lamp\n    narration: The lamp is lit.\n"
        f"  - description: The stairs\n    narration: {LONG_TEXT}\n"
    )
    video_id = register(instance, store_root, write_spec(tmp_path, "long.yaml", spec))
    result = execute(instance, store_root, video_id)
    assert not result.success
    failures = {
        record.dagster_event.step_key: record.dagster_event.step_failure_data.error.message
        for record in instance.all_logs(result.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
    }
    assert list(failures) == ["narration.beat_speech[beat_001]"]
    message = failures["narration.beat_speech[beat_001]"]
    assert "beats[1].narration is too long" in message
    assert f"{len(LONG_TEXT)} characters" in message
    assert "the beat has 4.9 s" in message
    assert "1.25x" in message
    manifest = json.loads((store_root / layout.manifest(video_id)).read_text())
    assert manifest["status"] == "failed"
    assert [(f["what"], f["beat_index"], f["reason"]) for f in manifest["failures"]] == [
        ("beats[1] narration", 1, "too_long")
    ]
    # The other beat's speech and every image and clip were still made.
    assert (store_root / layout.narration(video_id, 0)).is_file()
    assert not (store_root / layout.narration(video_id, 1)).exists()
    assert (store_root / layout.stitched(video_id)).is_file()


PRICED = {
    "price_per_image": 0.01,
    "price_per_video_second": 0.01,
    "price_per_music_second": 0.001,
    "price_per_speech_character": 0.0001,
}


def test_editing_one_narration_pays_only_for_its_speech(instance, tmp_path):
    store_root = tmp_path / "store"
    specs = tmp_path / "specs"
    video_id = register(instance, store_root, write_spec(specs, "keeper.yaml", NARRATED_SPEC))
    assert execute(instance, store_root, video_id, local=PRICED).success
    before = json.loads((store_root / layout.manifest(video_id)).read_text())
    assert before["total_cost"] > 0.1

    edited_text = "The storm arrives, and the keeper waits."
    edited = NARRATED_SPEC.replace("The storm arrives with heavy rain.", edited_text)
    register(instance, store_root, write_spec(specs, "keeper.yaml", edited))
    assert execute(instance, store_root, video_id, local=PRICED).success

    after = json.loads((store_root / layout.manifest(video_id)).read_text())
    assert after["calls"] == 1
    assert after["total_cost"] == round(len(edited_text) * PRICED["price_per_speech_character"], 6)
    new = [entry for entry in after["narration"] if not entry["cache_hit"]]
    assert [(entry["beat_index"], entry["text"]) for entry in new] == [(2, edited_text)]
    assert all(beat["image"]["cache_hit"] for beat in after["beats"])
    assert all(chunk["cache_hit"] for chunk in after["chunks"])
    srt = (store_root / layout.captions_srt(video_id)).read_text()
    assert edited_text in srt and "heavy rain" not in srt


def test_burned_captions_are_drawn_in_the_safe_area_of_a_portrait_video(instance, tmp_path):
    store_root = tmp_path / "store"
    spec = (
        "duration: 5\nfps: 8\naspect_ratio: '9:16'\nmusic: false\n"
        "captions: {mode: burned, style: {color: '#FFFF00', box: false}}\n"
        "beats:\n  - description: A quiet harbour\n"
        "    narration: Boats rest in the quiet harbour at dawn.\n"
    )
    video_id = register(instance, store_root, write_spec(tmp_path, "harbour.yaml", spec))
    assert execute(instance, store_root, video_id).success
    manifest = json.loads((store_root / layout.manifest(video_id)).read_text())
    assert manifest["captions"]["mode"] == "burned"
    assert manifest["captions"]["cue_count"] == 1

    def frame_at(path: Path, seconds: float) -> np.ndarray:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                if frame.time >= seconds:
                    return frame.to_ndarray(format="rgb24").astype(int)
        raise AssertionError("no frame")

    final = frame_at(store_root / layout.final_video(video_id), 1.0)
    plain = frame_at(store_root / layout.stitched(video_id), 1.0)
    height, width, _ = final.shape
    assert height > width
    changed = np.abs(final - plain).sum(axis=2) > 60
    rows, cols = np.nonzero(changed)
    assert rows.size > 50  # the caption is there
    assert rows.min() >= height * 0.85 - 1  # ... only in the bottom 15 %
    assert cols.min() >= width * 0.05 - 1 and cols.max() <= width * 0.95 + 1  # ... within 90 %
    with av.open(str(store_root / layout.final_video(video_id))) as container:
        assert len(container.streams.subtitles) == 1
