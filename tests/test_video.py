"""The video pipeline on generated clips: what goes in comes out, plus colour in chroma only."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from media import packets, read_video, write_clip

from filmcolor.checks import AlreadyColourError
from filmcolor.pipeline import ColorizeConfig, colorize_video
from filmcolor.shotlist import write_csv
from filmcolor.shots import shots_from_cuts
from filmcolor.styles import style_vector
from filmcolor.video.mux import VideoOutputError, plan_streams
from filmcolor.video.probe import VideoInputError, probe


def run(src, out, colorizer, **kw):
    cfg = ColorizeConfig(src, out, **kw)
    return colorize_video(cfg, colorizer=colorizer)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_luma_timestamps_and_audio_survive_lossless(tmp_path, colorizer):
    src = tmp_path / "film.mp4"
    write_clip(src, n=40, cuts=(20,), audio="aac")  # x264 with B-frames, AAC
    out = tmp_path / "out.mp4"
    result = run(src, out, colorizer, codec="ffv1")
    a, b = read_video(src), read_video(out)
    assert result.frames == 40 and b["y"].shape == a["y"].shape
    assert np.abs(a["y"].astype(int) - b["y"]).mean() <= 1  # display order, untouched luma
    assert (a["y"] == b["y"]).all()  # ffv1 is lossless: exactly the input's Y
    assert b["times"] == pytest.approx(a["times"], abs=1e-6)
    assert packets(out, "audio") == packets(src, "audio")  # copied packet for packet
    assert b["u"].std() > 0.5 or b["v"].std() > 0.5  # colour did arrive, in chroma
    assert leftovers(tmp_path) == []


def test_default_x264_output_keeps_luma_at_crf0(tmp_path, colorizer):
    src = tmp_path / "film.mp4"
    write_clip(src, n=24)
    out = tmp_path / "film_color.mp4"
    run(src, out, colorizer, crf=0)
    a, b = read_video(src), read_video(out)
    assert b["formats"] == {"yuv420p"}
    assert np.abs(a["y"].astype(int) - b["y"]).mean() <= 1


def test_variable_frame_rate_timestamps_survive(tmp_path, colorizer):
    pts = [0, *np.cumsum([40, 40, 80, 40, 120, 40, 40, 200, 40, 40] * 3)[:29]]
    src = tmp_path / "vfr.mkv"
    write_clip(src, n=30, pts=[int(p) for p in pts], time_base=Fraction(1, 1000), audio="flac")
    out = tmp_path / "vfr_color.mp4"
    run(src, out, colorizer)
    a, b = read_video(src), read_video(out)
    assert len(b["times"]) == 30
    assert b["times"] == pytest.approx(a["times"], abs=1e-3)
    assert packets(out, "audio") == packets(src, "audio")  # FLAC fits MP4: copied


def test_odd_size_keeps_size(tmp_path, colorizer):
    from media import shot_frames

    src = tmp_path / "odd.mkv"
    write_clip(src, shot_frames(12, size=(63, 47)), codec="ffv1", pix_fmt="gray")
    for codec in ("libx264", "ffv1"):
        out = tmp_path / f"odd_{codec}.mp4"
        run(src, out, colorizer, codec=codec, crf=0 if codec == "libx264" else None)
        b = read_video(out)
        assert (b["width"], b["height"]) == (63, 47)
        assert (b["y"] == read_video(src)["y"]).all()


def test_rotation_sar_and_colour_tags_survive(tmp_path, colorizer):
    src = tmp_path / "tagged.mp4"
    write_clip(src, n=12, rotation=90, sar=Fraction(4, 3), color_range=2, colorspace=1)
    out = tmp_path / "tagged_color.mp4"
    run(src, out, colorizer)
    b = read_video(out)
    assert b["rotation"] == 90
    assert b["sar"] == Fraction(4, 3)
    assert b["color_range"] == 2  # full range stays full range
    assert b["colorspace"] == 1  # BT.709


def test_10bit_gray_stays_10bit(tmp_path, colorizer):
    src = tmp_path / "deep.mkv"
    frames = write_clip(src, n=10, codec="ffv1", pix_fmt="gray10le")
    assert frames.max() > 255
    out = tmp_path / "deep.mkv.out.mkv"
    run(src, out, colorizer, codec="ffv1")
    b = read_video(out)
    assert b["formats"] == {"yuv444p10le"}
    assert (b["y"] == read_video(src)["y"]).all()
    x264 = run(src, tmp_path / "deep.mp4", colorizer)  # x264 takes 10 bits too
    assert read_video(x264.output)["formats"] == {"yuv420p10le"}


def test_colour_input_keeps_its_luma(tmp_path, colorizer):
    src = tmp_path / "colour.mkv"
    write_clip(src, n=8, codec="ffv1", pix_fmt="yuv444p", rgb=True)
    out = tmp_path / "colour_out.mkv"
    with pytest.raises(AlreadyColourError, match="--force"):  # colour is not replaced unasked
        run(src, out, colorizer, codec="ffv1")
    assert not out.exists()
    run(src, out, colorizer, codec="ffv1", force=True)
    assert (read_video(out)["y"] == read_video(src)["y"]).all()


def test_batches_never_span_a_cut_and_each_shot_gets_its_vector(tmp_path, colorizer, monkeypatch):
    src = tmp_path / "two.mp4"
    write_clip(src, n=40, cuts=(20,))
    calls = []
    real = colorizer.ab
    monkeypatch.setattr(colorizer, "ab", lambda l, g: calls.append((len(l), g)) or real(l, g))
    run(src, tmp_path / "o.mp4", colorizer, batch_size=8)
    assert [n for n, _ in calls] == [8, 8, 4, 8, 8, 4]
    assert all(torch_equal(g, calls[0][1]) for _, g in calls[:3])
    assert not torch_equal(calls[0][1], calls[3][1])  # the second shot has its own colours


def test_a_batch_too_large_for_memory_is_lowered_and_said_once(tmp_path, colorizer, monkeypatch):
    import filmcolor.pipeline as pipeline
    from filmcolor.checks import BATCH_SHARE, batch_frame_bytes

    src = tmp_path / "long.mp4"
    write_clip(src, n=40)  # one shot of 64x48 frames
    each = batch_frame_bytes(64, 48, colorizer.render_size)
    memory = BATCH_SHARE * 6 * each  # takes 6 frames
    monkeypatch.setattr(pipeline, "memory_of", lambda device: memory)
    calls = []
    real = colorizer.ab
    monkeypatch.setattr(colorizer, "ab", lambda l, g: calls.append(len(l)) or real(l, g))
    result = run(src, tmp_path / "o.mp4", colorizer, batch_size=100_000)
    assert max(calls) == 6 and sum(calls) == 40  # no batch above what the memory takes
    said = [w for w in result.warnings if "--batch-size" in w]
    assert len(said) == 1 and "100000 lowered to 6" in said[0]
    calls.clear()
    result = run(src, tmp_path / "o2.mp4", colorizer, batch_size=4)  # fits: kept, no word
    assert max(calls) == 4 and not [w for w in result.warnings if "--batch-size" in w]


def test_a_batch_of_full_hd_frames_at_the_default_fits_a_small_machine():
    from filmcolor.checks import max_batch
    from filmcolor.config import DEFAULT_RENDER_SIZE

    assert max_batch(1920, 1080, DEFAULT_RENDER_SIZE, 8 * 2**30) >= 8  # the default batch
    assert max_batch(320, 240, DEFAULT_RENDER_SIZE, 8 * 2**30) < 480  # the shot


def test_style_gives_one_vector_and_given_shots_are_used(tmp_path, colorizer, monkeypatch):
    from PIL import Image

    src = tmp_path / "two.mp4"
    write_clip(src, n=30)
    ref = tmp_path / "ref.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))).save(ref)
    csv = write_csv(tmp_path / "shots.csv", shots_from_cuts([10], 30))
    calls = []
    real = colorizer.ab
    monkeypatch.setattr(colorizer, "ab", lambda l, g: calls.append((len(l), g)) or real(l, g))
    run(src, tmp_path / "o.mp4", colorizer, batch_size=16, style=ref, shots=csv)
    assert [n for n, _ in calls] == [10, 16, 4]  # split at the given cut, not a detected one
    style = style_vector(colorizer, ref)
    assert all(torch_equal(g, style) for _, g in calls)


def test_memory_is_bounded_by_the_queues(tmp_path, colorizer, monkeypatch):
    """The decoder never runs more than a few batches ahead of the encoder."""
    import filmcolor.pass2 as pass2
    import filmcolor.video.writer as vio

    src = tmp_path / "long.mkv"
    write_clip(src, n=120, codec="ffv1", pix_fmt="gray")
    decoded, encoded, lag = [0], [0], []  # pass 2's decoder only (pass 1 is in shots)
    real_luma, real_write = pass2.luma_plane, vio.VideoWriter.write_frame

    def luma(frame):
        decoded[0] += 1
        lag.append(decoded[0] - encoded[0])
        return real_luma(frame)

    def write(self, frame, pts):
        encoded[0] += 1
        return real_write(self, frame, pts)

    monkeypatch.setattr(pass2, "luma_plane", luma)
    monkeypatch.setattr(vio.VideoWriter, "write_frame", write)
    run(src, tmp_path / "o.mkv", colorizer, codec="ffv1", batch_size=4, style=None)
    assert encoded[0] == 120
    assert (
        len(lag) == 120 and max(lag) <= 40
    )  # queues: 16 frames in, 2 batches out, 1 batch in hand


def test_pcm_that_mp4_cannot_hold_is_transcoded_with_a_warning(tmp_path, colorizer):
    src = tmp_path / "mulaw.mov"
    write_clip(src, n=12, audio="pcm_mulaw")
    out = tmp_path / "mulaw.mp4"
    result = run(src, out, colorizer)
    assert any("pcm_mulaw" in w and "aac" in w for w in result.warnings)
    assert result.frames == 12 and len(read_video(out)["y"]) == 12
    codec, rate, sound = _decoded_audio(out)
    assert (codec, rate) == ("aac", 48000)
    # What a listener notices: the whole clip's length (AAC pads at most 2 frames of 1024
    # samples), the same 440 Hz tone, at the same loudness (0.3 peak: RMS 0.212).
    _, _, before = _decoded_audio(src)
    assert len(before) <= len(sound) <= len(before) + 2048
    middle = sound[2048 : len(before) - 2048]
    spectrum = np.abs(np.fft.rfft(middle))
    assert abs(np.fft.rfftfreq(len(middle), 1 / rate)[spectrum.argmax()] - 440) < 5
    assert np.sqrt((middle**2).mean()) == pytest.approx(0.3 / np.sqrt(2), rel=0.05)


def test_stereo_pcm_from_mkv_into_mp4_is_transcoded_before_the_work(tmp_path, colorizer):
    # An archival master: an MKV with stereo PCM (Matroska names no channel order, so it reads
    # as "2 channels"). FFmpeg's MP4 muxer lists PCM among its codecs but refuses this stream
    # when it closes the file: found before pass 1, transcoded, through the segmented path.
    src = tmp_path / "master.mkv"
    write_clip(src, n=40, cuts=(20,), audio="pcm_s16le", layout="stereo")
    out = tmp_path / "master.mp4"
    plans = plan_streams(probe(src), out)
    assert [(p.codec, p.action, p.target_codec) for p in plans] == [
        ("pcm_s16le", "transcode", "aac")
    ]
    result = run(src, out, colorizer, segment_frames=16)  # three parts, joined
    assert any("pcm_s16le" in w and "aac" in w for w in result.warnings)
    assert result.frames == 40 and len(read_video(out)["y"]) == 40
    with av.open(str(out)) as c:
        assert c.streams.audio[0].layout.name == "stereo"
    codec, rate, sound = _decoded_audio(out)  # both channels, interleaved
    _, _, before = _decoded_audio(src)
    assert (codec, rate) == ("aac", 48000)
    assert len(before) <= len(sound) <= len(before) + 2 * 2048
    middle = sound[4096 : len(before) - 4096]
    assert np.sqrt((middle**2).mean()) == pytest.approx(0.3 / np.sqrt(2), rel=0.05)
    assert not leftovers(tmp_path) and not (tmp_path / "master.mp4.parts").exists()


def _decoded_audio(path):
    """(codec, sample rate, every decoded sample of the first audio stream as float32)."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        chunks = [f.to_ndarray().astype(np.float32).reshape(-1) for f in c.decode(stream)]
        return stream.codec_context.name, stream.rate, np.concatenate(chunks)


def test_subtitles_mp4_cannot_hold_stop_before_work_naming_mkv(tmp_path, colorizer, monkeypatch):
    src = tmp_path / "subs.mkv"
    write_clip(src, n=12, subtitles=True)
    kept = run(src, tmp_path / "subs_color.mkv", colorizer)  # Matroska holds SubRip: copied
    assert packets(kept.output, "subtitle") == [b"one", b"two"]
    monkeypatch.setattr(colorizer, "ab", lambda *a: pytest.fail("the network ran"))
    with pytest.raises(VideoOutputError, match=r"\.mkv"):
        run(src, tmp_path / "subs.mp4", colorizer)
    assert not (tmp_path / "subs.mp4").exists()


def test_interrupt_leaves_nothing_under_the_final_name(tmp_path, colorizer, monkeypatch):
    src = tmp_path / "film.mp4"
    write_clip(src, n=40, audio="aac")
    monkeypatch.setattr(colorizer, "ab", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        run(src, tmp_path / "out.mp4", colorizer)
    assert not (tmp_path / "out.mp4").exists()
    assert leftovers(tmp_path) == ["out.mp4.parts"]  # kept to resume from
    kept = {p.suffix for p in (tmp_path / "out.mp4.parts").iterdir()}
    assert kept <= {".json", ".safetensors", ".claim"}  # no half-written part


def test_existing_output_and_input_as_output_are_refused(tmp_path, colorizer):
    src = tmp_path / "film.mp4"
    write_clip(src, n=8)
    (tmp_path / "taken.mp4").write_bytes(b"keep me")
    with pytest.raises(VideoOutputError, match="--overwrite"):
        run(src, tmp_path / "taken.mp4", colorizer)
    assert (tmp_path / "taken.mp4").read_bytes() == b"keep me"
    with pytest.raises(VideoOutputError, match="is the input"):
        run(src, src, colorizer, overwrite=True)
    run(src, tmp_path / "taken.mp4", colorizer, overwrite=True)
    assert read_video(tmp_path / "taken.mp4")["y"].shape[0] == 8


def test_truncated_file_colorizes_what_is_there_and_says_so(tmp_path, colorizer):
    whole = tmp_path / "whole.mkv"
    write_clip(whole, n=40, codec="ffv1", pix_fmt="gray")
    data = whole.read_bytes()
    src = tmp_path / "cut.mkv"
    src.write_bytes(data[: len(data) * 6 // 10])
    result = run(src, tmp_path / "cut.mp4", colorizer)
    assert 5 < result.frames < 40
    assert read_video(tmp_path / "cut.mp4")["y"].shape[0] == result.frames


def corrupt_jpeg_packets(path, which):
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 3) if data[i : i + 3] == b"\xff\xd8\xff"]
    for k in which:
        i = starts[k]
        data[i : i + 600] = bytes(600)  # no start-of-image marker, no headers
    path.write_bytes(bytes(data))


def test_a_few_damaged_packets_are_skipped_and_reported(tmp_path, colorizer):
    src = tmp_path / "mjpeg.mkv"
    write_clip(src, n=30, codec="mjpeg", pix_fmt="yuvj420p")
    corrupt_jpeg_packets(src, [10, 11])
    result = run(src, tmp_path / "o.mp4", colorizer)
    assert result.report.damaged_packets == 2
    assert result.frames == 28
    assert any("damaged" in w for w in result.warnings)


def test_too_many_damaged_packets_stop_with_a_clear_error(tmp_path, colorizer):
    src = tmp_path / "mjpeg.mkv"
    write_clip(src, n=30, codec="mjpeg", pix_fmt="yuvj420p")
    corrupt_jpeg_packets(src, range(5, 20))
    with pytest.raises(VideoInputError, match="damaged"):
        run(src, tmp_path / "o.mp4", colorizer, max_damaged=3)
    assert not (tmp_path / "o.mp4").exists()
    assert leftovers(tmp_path) == []


def test_probe_reads_what_the_output_must_keep(tmp_path):
    src = tmp_path / "p.mp4"
    write_clip(src, n=10, rotation=270, sar=Fraction(2, 1), audio="aac")
    info = probe(src)
    assert (info.width, info.height, info.fps) == (64, 48, 25)
    assert info.rotation == 270 and info.sar == 2 and info.bit_depth == 8
    assert [s.kind for s in info.streams] == ["audio"]
    assert not info.interlaced


def torch_equal(a, b) -> bool:
    return a.shape == b.shape and bool((a == b).all())


def test_header_that_lies_about_frame_count_is_reported(tmp_path, colorizer):
    whole = tmp_path / "whole.mp4"
    write_clip(
        whole, n=40, codec="mjpeg", pix_fmt="yuvj420p", container_options={"movflags": "faststart"}
    )
    src = tmp_path / "short.mp4"
    src.write_bytes(whole.read_bytes()[: whole.stat().st_size * 6 // 10])
    assert probe(src).frames_in_header == 40
    result = run(src, tmp_path / "o.mp4", colorizer)
    assert result.frames < 40
    assert read_video(tmp_path / "o.mp4")["y"].shape[0] == result.frames
    assert any("header says 40" in w for w in result.warnings)


def test_interlaced_input_is_warned_about(tmp_path, colorizer):
    src = tmp_path / "tff.mp4"
    write_clip(src, n=8, options={"x264-params": "interlaced=1:tff=1"})
    assert probe(src).interlaced
    result = run(src, tmp_path / "o.mp4", colorizer)
    assert any("interlaced" in w for w in result.warnings)


def test_stage_clock_times_every_thread_without_changing_the_output(
    tmp_path, colorizer, monkeypatch
):
    """pass 2 with its StageClock on writes the same frames, and times each thread's steps."""
    import filmcolor.pipeline as pipeline
    from filmcolor.pass2 import StageClock

    src = tmp_path / "clip.mkv"
    write_clip(src, n=12, codec="ffv1", pix_fmt="gray")
    run(src, tmp_path / "off.mkv", colorizer, codec="ffv1", batch_size=4, style=None)
    clock, real = StageClock(), pipeline.run_pass2

    def with_clock(job, frames, writer):
        job.clock = clock
        return real(job, frames, writer)

    monkeypatch.setattr(pipeline, "run_pass2", with_clock)
    run(src, tmp_path / "on.mkv", colorizer, codec="ffv1", batch_size=4, style=None)
    off, on = read_video(tmp_path / "off.mkv"), read_video(tmp_path / "on.mkv")
    assert off["u"] is not None
    assert all(np.array_equal(off[k], on[k]) for k in ("y", "u", "v"))
    assert clock.calls["decode", "luma_plane"] == 12
    assert clock.calls["network", "network_ab"] == 3
    assert clock.calls["encode", "x264_write"] == 12
    assert {t for t, s in clock.wall if s == "total"} == {"decode", "network", "encode"}
