"""The offline provider: real, deterministic media that every later test can check.

Media is small (256×144) to keep the suite fast; the 720p speed figures live in
``bench/bench_media.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from videogen_dagster.media import (
    extract_first_frame,
    extract_last_frame,
    probe,
    probe_bytes,
    psnr,
)
from videogen_dagster.media.images import encode_png, load_image, load_rgb
from videogen_dagster.providers.base import (
    ClipRequest,
    ImageRequest,
    MusicRequest,
    Provider,
    Size,
)
from videogen_dagster.providers.errors import PermanentProviderError, UnsupportedRequestError
from videogen_dagster.providers.local import (
    LocalClips,
    LocalImages,
    LocalMusic,
    LocalSettings,
    local_provider,
)
from videogen_dagster.providers.local_music import SAMPLE_RATE, _pad, _pluck
from videogen_dagster_tests.media_tests.support import SMALL, SMALL_SIZE, audio_samples, storyboard


def _clip_request(start: bytes, **overrides) -> ClipRequest:
    fields = {
        "start_image": start,
        "prompt": "the keeper climbs the stairs",
        "size": SMALL_SIZE,
        "fps": 24,
        "duration": 1.0,
        "seed": 5,
        "style": "watercolour",
    }
    return ClipRequest(**{**fields, **overrides})


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- sizes and the interface -------------------------------------------------------------


@pytest.mark.parametrize(
    ("short_side", "expected"),
    [
        (720, {"16:9": Size(1280, 720), "9:16": Size(720, 1280), "1:1": Size(720, 720)}),
        (144, {"16:9": Size(256, 144), "9:16": Size(144, 256), "1:1": Size(144, 144)}),
        (480, {"16:9": Size(854, 480), "9:16": Size(480, 854), "1:1": Size(480, 480)}),
    ],
)
def test_sizes_per_aspect_ratio_are_even(short_side: int, expected: dict[str, Size]):
    provider = local_provider(LocalSettings(short_side=short_side))

    assert isinstance(provider, Provider)
    assert {ratio: provider.size_for(ratio) for ratio in expected} == expected
    assert provider.clip_lengths == (5.0,)


@pytest.mark.parametrize(
    "settings",
    [{"short_side": 145}, {"clip_lengths": ()}, {"clip_lengths": (10.0, 5.0)}],
)
def test_bad_settings_are_refused(settings: dict):
    with pytest.raises(ValueError):
        LocalSettings(**settings)


def test_planner_delegates_to_the_local_scene_splitter():
    beats = local_provider().planner.plan_beats("A storm. The calm. Dawn.", 15.0, None)

    assert [beat.duration for beat in beats] == [5.0, 5.0, 5.0]
    assert "storm" in beats[0].description.lower()


# --- storyboard images -------------------------------------------------------------------


def test_image_has_the_asked_size_and_is_deterministic():
    images = LocalImages(SMALL)
    request = ImageRequest(prompt="a red kite", size=Size(144, 256), seed=9, style="ink")

    first, second = images.generate_image(request), images.generate_image(request)

    assert load_image(first.data).size == (144, 256)
    assert first.data == second.data
    assert first.media_type == "image/png"


@pytest.mark.parametrize(
    "change",
    [{"prompt": "a second beat: the storm"}, {"style": "neon noir"}, {"seed": 2}],
    ids=["beat", "style", "seed"],
)
def test_images_differ_per_beat_style_and_seed(change: dict):
    base = {"prompt": "a first beat: the calm sea", "size": SMALL_SIZE, "seed": 1, "style": "ink"}
    images = LocalImages(SMALL)

    a = images.generate_image(ImageRequest(**base)).data
    b = images.generate_image(ImageRequest(**{**base, **change})).data

    assert psnr(a, b) < 20


def test_references_lend_their_colours():
    images = LocalImages(SMALL)
    orange = encode_png(np.full((64, 64, 3), (230, 120, 20), dtype=np.uint8))
    request = ImageRequest(prompt="a calm sea", size=SMALL_SIZE, seed=1, style="ink")

    plain = load_rgb(images.generate_image(request).data).astype(float)
    referenced = load_rgb(
        images.generate_image(ImageRequest(**{**vars(request), "references": (orange,)})).data
    ).astype(float)

    def distance(image: np.ndarray) -> float:
        return float(np.linalg.norm(image.mean(axis=(0, 1)) - (230, 120, 20)))

    assert distance(referenced) < distance(plain)


def test_the_description_is_written_on_the_image():
    """The caption band holds white text: near-white pixels there, absent from a blank prompt."""
    captioned = load_rgb(storyboard("The keeper lights the lamp", style=None))
    blank = load_rgb(storyboard("", style=None))
    band = slice(-30, None)

    assert (captioned[band].min(axis=2) > 230).sum() > 50
    assert (blank[band].min(axis=2) > 230).sum() == 0


# --- clips -------------------------------------------------------------------------------


@pytest.mark.parametrize(("fps", "duration"), [(24, 1.0), (30, 2.0), (12, 5.0)])
def test_clip_is_h264_with_exact_frames_and_starts_on_its_image(
    tmp_path: Path, fps: int, duration: float
):
    start = storyboard("a lighthouse at dusk")
    generated = LocalClips(SMALL).generate_clip(_clip_request(start, fps=fps, duration=duration))
    clip = _write(tmp_path / "clip.mp4", generated.data)

    info = probe(clip)
    assert info.frame_count == round(duration * fps)
    assert (info.width, info.height, info.fps) == (256, 144, fps)
    assert info.video_codec == "h264"
    with av.open(str(clip)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    assert generated.media_type == "video/mp4"
    assert psnr(extract_first_frame(clip), start) > 35


def test_clip_moves(tmp_path: Path):
    clip = _write(
        tmp_path / "clip.mp4",
        LocalClips(SMALL).generate_clip(_clip_request(storyboard("a bay"), duration=5.0)).data,
    )

    with av.open(str(clip)) as container:
        frames = [encode_png(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]
    assert psnr(frames[0], frames[-1]) < 30  # the end is visibly elsewhere
    assert min(psnr(a, b) for a, b in zip(frames, frames[1:], strict=False)) > 30  # smoothly


def test_a_ten_second_beat_in_two_chunks_has_a_matching_seam(tmp_path: Path):
    clips = LocalClips(SMALL)
    beat_one, beat_two = storyboard("beat one: the calm"), storyboard("beat two: the storm")
    first = _write(
        tmp_path / "1a.mp4", clips.generate_clip(_clip_request(beat_one, duration=5.0)).data
    )
    second = _write(
        tmp_path / "1b.mp4",
        clips.generate_clip(_clip_request(extract_last_frame(first), duration=5.0)).data,
    )
    other = _write(
        tmp_path / "2a.mp4",
        clips.generate_clip(_clip_request(beat_two, prompt="the storm", duration=5.0)).data,
    )

    assert psnr(extract_last_frame(first), extract_first_frame(second)) > 35
    assert psnr(extract_last_frame(second), extract_first_frame(other)) < 20
    assert probe(first).frame_count + probe(second).frame_count == 240


def test_clip_is_deterministic_and_depends_on_its_start_image():
    clips = LocalClips(SMALL)
    request = _clip_request(storyboard("a bay"))

    assert clips.generate_clip(request).data == clips.generate_clip(request).data
    other = _clip_request(storyboard("a field"))
    assert clips.generate_clip(other).data != clips.generate_clip(request).data


def test_clip_of_a_length_or_size_the_provider_cannot_make_is_refused_before_rendering():
    with pytest.raises(UnsupportedRequestError, match="not 3 s"):
        LocalClips(SMALL).generate_clip(_clip_request(storyboard("a bay"), duration=3.0))
    with pytest.raises(UnsupportedRequestError, match="even clip size"):
        LocalClips(SMALL).generate_clip(_clip_request(storyboard("a bay"), size=Size(255, 144)))


def test_start_image_of_another_size_is_cover_cropped(tmp_path: Path):
    start = storyboard("square", size=Size(144, 144))
    generated = LocalClips(SMALL).generate_clip(_clip_request(start))

    info = probe_bytes(generated.data, ".mp4")
    assert (info.width, info.height) == (256, 144)


# --- music -------------------------------------------------------------------------------


@pytest.mark.parametrize("duration", [3.0, 7.5])
def test_music_has_the_asked_length_and_is_deterministic(duration: float):
    music = LocalMusic(SMALL)
    request = MusicRequest(prompt="hopeful strings", duration=duration, seed=4)

    first, second = music.generate_music(request), music.generate_music(request)

    info = probe_bytes(first.data, ".m4a")
    assert info.has_audio and not info.has_video
    assert info.audio_duration == pytest.approx(duration, abs=0.05)
    assert first.data == second.data
    assert first.media_type == "audio/mp4"


def test_music_is_music_not_a_tone(tmp_path: Path):
    """Several notes sound at once and change over time; different prompts, different tunes."""
    music = LocalMusic(SMALL)
    track = _write(
        tmp_path / "m.m4a",
        music.generate_music(MusicRequest(prompt="a sea shanty", duration=8.0, seed=1)).data,
    )
    samples, rate = audio_samples(track)

    def peaks(window: np.ndarray) -> set[int]:
        spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
        strong = spectrum > spectrum.max() * 0.1
        return {round(i * rate / len(window) / 10) for i in np.flatnonzero(strong)}

    second = int(rate)
    early, late = peaks(samples[2 * second : 3 * second]), peaks(samples[6 * second : 7 * second])
    assert len(early) >= 3 and len(late) >= 3  # chords, not one sine
    assert early != late  # the harmony moves
    assert 20 * math.log10(np.sqrt(np.mean(samples**2))) > -30  # audible
    other = music.generate_music(MusicRequest(prompt="a lullaby", duration=8.0, seed=1))
    assert other.data != track.read_bytes()


def test_notes_are_pure_tones_in_float32():
    """The notes are synthesised in float32 for speed: the angle must be wrapped in float64
    first, or a high note held for seconds gains phase noise (about -60 dB) on top of its
    harmonics, which must stand at 1, 0.3 and 0.1 for a pad and 1 and 1/9 for a pluck."""
    note, frequency = 96, 440.0 * 2 ** (27 / 12)  # a high C, 2093 Hz
    pad = _pad(note, 4.0)
    pluck = _pluck(note, 1.2, decay=0.35, level=0.13, pan=0.0)
    assert pad.dtype == pluck.dtype == np.float32

    def levels(signal: np.ndarray, tone: float) -> tuple[list[float], float]:
        """Each harmonic's level against the first, and everything else's (dB)."""
        window = np.blackman(len(signal)) ** 2  # sidelobes far below the floor we test
        power = np.abs(np.fft.rfft(signal * window)) ** 2
        bins = np.fft.rfftfreq(len(signal), 1 / SAMPLE_RATE)
        near = [np.abs(bins - k * tone) < 15 for k in (1, 2, 3)]
        harmonics = [power[mask].sum() for mask in near]
        rest = power[~np.logical_or.reduce(near)].sum()
        return [math.sqrt(h / harmonics[0]) for h in harmonics], 10 * math.log10(
            rest / sum(harmonics)
        )

    # The steady middle of the pad's right channel (detuned up by 0.1 %): envelope at 1.
    steady = pad[round(0.5 * SAMPLE_RATE) : round(3.1 * SAMPLE_RATE), 1]
    amplitudes, floor = levels(steady.astype(np.float64), frequency * 1.001)
    assert amplitudes == pytest.approx([1.0, 0.3, 0.1], abs=0.005)
    assert floor < -90
    ring = pluck[round(0.02 * SAMPLE_RATE) : round(1.1 * SAMPLE_RATE), 0]
    amplitudes, _ = levels(ring.astype(np.float64), frequency)
    assert amplitudes == pytest.approx([1.0, 0.0, 1 / 9], abs=0.005)


# --- cost and latency --------------------------------------------------------------------


def test_costs_follow_the_price_table():
    settings = LocalSettings(
        short_side=144,
        price_per_image=0.04,
        price_per_video_second=0.05,
        price_per_music_second=0.001,
        clip_lengths=(1.0, 2.0),
    )
    provider = local_provider(settings)
    start = storyboard("priced")

    image = provider.images.generate_image(ImageRequest(prompt="x", size=SMALL_SIZE, seed=1))
    clip = provider.clips.generate_clip(_clip_request(start, duration=2.0))
    music = provider.music.generate_music(MusicRequest(prompt="x", duration=3.0, seed=1))

    assert image.cost == pytest.approx(0.04)
    assert clip.cost == pytest.approx(0.10)
    assert music.cost == pytest.approx(0.003)
    assert (
        local_provider(LocalSettings(short_side=144))
        .images.generate_image(ImageRequest(prompt="x", size=SMALL_SIZE, seed=1))
        .cost
        == 0.0
    )


def test_latency_draws_are_recorded_and_reproducible_from_the_seed():
    def drawn(seed: int | None, prompt: str = "x") -> float:
        settings = LocalSettings(
            short_side=144, image_latency=0.01, latency_jitter=0.5, latency_seed=seed
        )
        request = ImageRequest(prompt=prompt, size=SMALL_SIZE, seed=1)
        return LocalImages(settings).generate_image(request).details["latency"]

    assert drawn(7) == drawn(7)
    assert drawn(7) != drawn(8)
    assert drawn(7, "x") != drawn(7, "y")  # each request draws its own delay
    assert drawn(None) > 0
    no_delay = LocalImages(LocalSettings(short_side=144)).generate_image(
        ImageRequest(prompt="x", size=SMALL_SIZE, seed=1)
    )
    assert no_delay.details["latency"] == 0.0


def test_undecodable_start_or_reference_image_is_a_permanent_refusal_of_the_image():
    with pytest.raises(PermanentProviderError, match="start image") as caught:
        LocalClips(SMALL).generate_clip(_clip_request(b"not an image"))
    assert caught.value.input_kind == "image"
    request = ImageRequest(prompt="x", size=SMALL_SIZE, seed=1, references=(b"junk",))
    with pytest.raises(PermanentProviderError, match="reference image 0"):
        LocalImages(SMALL).generate_image(request)
