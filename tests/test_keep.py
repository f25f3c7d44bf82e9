"""What goes in comes out, around the pixels: tags, dispositions, interlacing, timing, the
container."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from media import shot_frames, write_clip

from filmcolor.pipeline import ColorizeConfig, colorize_video


def run(src, out, colorizer, **kw):
    return colorize_video(ColorizeConfig(src, out, **kw), colorizer=colorizer)


def write_labelled_mkv(path):
    """An MKV with a title and comment, a labelled video stream, two labelled audio streams
    (one default, one forced) and a German subtitle stream."""
    Disposition = av.stream.Disposition
    with av.open(str(path), "w") as out:
        out.metadata.update(title="The Lost World", comment="scanned from a 35 mm print")
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.metadata.update(language="eng", title="restored picture")
        vs.disposition = Disposition.default
        audio = []
        for lang, title, disp in [
            ("eng", "Organ score", Disposition.default),
            ("fre", "Commentaire", Disposition.comment | Disposition.forced),
        ]:
            a = out.add_stream("flac", rate=48000, layout="mono")
            a.metadata.update(language=lang, title=title)
            a.disposition = disp
            audio.append(a)
        s = out.add_mux_stream("subrip")
        s.metadata.update(language="ger", title="Zwischentitel")
        s.disposition = Disposition.forced
        for i, f in enumerate(shot_frames(10)):
            frame = av.VideoFrame.from_ndarray(f, format="gray").reformat(format="yuv420p")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        for a in audio:
            for k in range(8):
                af = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "flt", "mono")
                af.sample_rate, af.pts = 48000, k * 1024
                out.mux(a.encode(af))
            out.mux(a.encode(None))
        p = av.Packet(b"THE END")
        p.stream, p.time_base, p.pts, p.dts, p.duration = s, vs.time_base, 0, 0, 100
        out.mux(p)


def labels(path):
    with av.open(str(path)) as c:
        tags = {k.lower(): v for k, v in c.metadata.items() if k.lower() != "encoder"}
        streams = [
            (
                s.type,
                s.metadata.get("language"),
                s.metadata.get("title"),
                int(s.disposition),
            )
            for s in c.streams
        ]
    return tags, streams


def test_container_and_stream_labels_and_dispositions_are_kept(tmp_path, colorizer):
    src = tmp_path / "labelled.mkv"
    write_labelled_mkv(src)
    out = tmp_path / "labelled_color.mkv"
    run(src, out, colorizer)
    tags, streams = labels(out)
    assert tags == {"title": "The Lost World", "comment": "scanned from a 35 mm print"}
    assert streams == labels(src)[1]
    assert streams[2][1:] == ("fre", "Commentaire", 8 | 64)  # comment + forced


def frame_times(path):
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        return vs.time_base, [float(f.pts * f.time_base) for f in c.decode(vs)]


@pytest.mark.parametrize("codec", ["libx264", "ffv1"])
def test_avi_gets_the_input_frame_rate_in_order(tmp_path, colorizer, codec):
    src = tmp_path / "film.mp4"
    write_clip(src, n=12, audio="aac")
    out = tmp_path / "film.avi"
    result = run(src, out, colorizer, codec=codec)
    time_base, times = frame_times(out)
    assert time_base == Fraction(1, 25)  # not 1/600
    assert len(times) == 12 and not result.warnings
    # every frame 1/25 s after the last, in order (AVI stores no pts: FFmpeg's H.264 parser
    # guesses them one frame late, the same for every frame)
    first = 1 if codec == "libx264" else 0
    assert times == pytest.approx([(first + i) / 25 for i in range(12)])


def test_variable_rate_film_in_avi_is_said_to_lose_its_timing(tmp_path, colorizer):
    src = tmp_path / "vfr.mkv"
    write_clip(
        src, n=10, pts=[0, 40, 80, 200, 240, 280, 320, 400, 440, 480], time_base=Fraction(1, 1000)
    )
    result = run(src, tmp_path / "vfr.avi", colorizer, codec="ffv1")
    assert any("constant" in w and ".mkv" in w for w in result.warnings)


def test_default_output_keeps_the_container_when_it_holds_every_stream(tmp_path):
    from filmcolor.pipeline import default_output

    subs = tmp_path / "subs.mkv"
    write_clip(subs, n=4, subtitles=True)
    assert default_output(subs) == tmp_path / "subs_color.mkv"  # MP4 holds no SubRip
    mulaw = tmp_path / "mulaw.mov"
    write_clip(mulaw, n=4, audio="pcm_mulaw")
    assert default_output(mulaw) == tmp_path / "mulaw_color.mov"
    assert default_output(mulaw, "prores") == tmp_path / "mulaw_color.mov"
    webm = tmp_path / "clip.webm"
    write_clip(webm, n=4, codec="libvpx-vp9")
    assert default_output(webm) == tmp_path / "clip_color.mp4"  # WebM holds no H.264


def test_colorize_without_o_writes_an_mkv_beside_an_mkv(tmp_path, tiny_model):
    from typer.testing import CliRunner

    from filmcolor.cli import app

    src = tmp_path / "subs.mkv"
    write_clip(src, n=6, subtitles=True)
    args = ["colorize", str(src), "--model", str(tiny_model), "--precision", "fp32"]
    result = CliRunner().invoke(app, [*args, "--render-size", "32"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["subs.mkv", "subs_color.mkv"]


def field_facts(path):
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        flags = [f.interlaced_frame for f in c.decode(vs)]
        return vs.codec_context.field_order, all(flags), len(flags)


@pytest.mark.parametrize(
    ("x264_params", "order", "codec"),
    [("tff=1", 2, "libx264"), ("bff=1", 3, "libx264"), ("tff=1", 2, "ffv1")],
)
def test_interlaced_input_stays_interlaced_with_its_field_order(
    tmp_path, colorizer, x264_params, order, codec
):
    src = tmp_path / "fields.mp4"
    write_clip(src, n=8, options={"x264-params": f"interlaced=1:{x264_params}"})
    assert field_facts(src) == (order, True, 8)  # 2 = top field first, 3 = bottom
    out = tmp_path / "fields_color.mkv"
    result = run(src, out, colorizer, codec=codec)
    assert field_facts(out)[0] == order
    if codec == "libx264":  # coded as fields: each picture says it is interlaced
        assert field_facts(out) == (order, True, 8)
    assert any("stays interlaced" in w for w in result.warnings)
