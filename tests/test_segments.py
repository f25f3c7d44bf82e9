"""Films written in segments: resume after a kill, start over when something changed, many
films in one run, and torchrun sharing one film's segments."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from media import packets, read_video, write_clip

from filmcolor import segments
from filmcolor.parts import PartsWriter
from filmcolor.pipeline import ColorizeConfig, colorize_video
from filmcolor.segments import Parts, Segment, plan_segments, saved
from filmcolor.shots import shots_from_cuts

ROOT = Path(__file__).resolve().parent.parent

# The CLI in a child process whose network sleeps a little per batch, so that a kill lands
# in the middle of pass 2 (the kill itself is a real SIGKILL).
SLOW_CLI = """
import runpy, sys, time
import filmcolor.pass2 as pass2
real = pass2.add_colour
def slow(job, batch):
    time.sleep(0.1)
    real(job, batch)
pass2.add_colour = slow
sys.argv[0] = "filmcolor"
runpy.run_module("filmcolor.cli", run_name="__main__")
"""


def cli(*args, slow: bool = False, env: dict | None = None) -> list[str]:
    head = [sys.executable, "-c", SLOW_CLI] if slow else [sys.executable, "-m", "filmcolor.cli"]
    return head + [str(a) for a in args]


def child_env(threads: int = 1) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "COLUMNS": "200"}


def kill_once_a_part_is_saved(src: Path, output: Path, *args: str) -> int:
    """A slowed ``colorize SRC -o OUTPUT ARGS`` in a child, SIGKILLed once a part is saved;
    returns its exit code (minus the signal, unless it finished first)."""
    child = subprocess.Popen(
        cli("colorize", src, "-o", output, *args, slow=True),
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while (saved(output) or (0, 0))[0] < 1 and child.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    child.send_signal(signal.SIGKILL)
    return child.wait()


def opts(model: Path, codec: str) -> list:
    return ["--model", model, "--precision", "fp32", "--device", "cpu", "--render-size", "32",
            "--codec", codec, "--batch-size", "4", "--segment-frames", "16"]  # fmt: skip


def test_segments_are_runs_of_whole_shots():
    shots = shots_from_cuts([10, 14, 40, 45], 60, times=[i / 25 for i in range(61)])
    plan = plan_segments(shots, time_base=Fraction(1, 12800), size=16)
    assert [(s.start, s.end) for s in plan] == [(0, 14), (14, 40), (40, 45), (45, 60)]
    assert [s.shot for s in plan] == [0, 2, 3, 4]  # a 26-frame shot is a segment of its own
    assert plan[1].pts == 14 * 512  # where decoding seeks to, in the input's time base


@pytest.mark.slow  # a subprocess killed mid-film, then another run
@pytest.mark.parametrize("codec", ["ffv1", "libx264"])
def test_sigkill_then_resume_gives_the_uninterrupted_film(tmp_path, tiny_model, codec):
    src = tmp_path / "film.mp4"
    write_clip(src, n=64, cuts=(16, 32, 48), audio="aac")
    suffix = ".mkv" if codec == "ffv1" else ".mp4"
    whole, resumed = tmp_path / f"whole{suffix}", tmp_path / f"resumed{suffix}"
    args = opts(tiny_model, codec)
    ran = subprocess.run(
        cli("colorize", src, "-o", whole, *args), env=child_env(), capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr

    # killed mid-film, not finished
    assert kill_once_a_part_is_saved(src, resumed, *args) == -signal.SIGKILL
    done, planned = saved(resumed)
    assert 1 <= done < planned == 4 and not resumed.exists()

    again = subprocess.run(
        cli("colorize", src, "-o", resumed, *args), env=child_env(), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    line = next(ln for ln in again.stderr.splitlines() if ln.startswith("resuming"))
    assert f"{16 * done} of 64 frames are saved" in line
    assert not (tmp_path / f"resumed{suffix}.parts").exists()  # removed after the join

    a, b = read_video(whole), read_video(resumed)  # decodes end to end
    assert len(b["y"]) == 64
    assert b["times"] == a["times"]
    assert packets(resumed, "audio") == packets(whole, "audio") == packets(src, "audio")
    if codec == "ffv1":  # lossless: every decoded frame is the same
        assert (a["y"] == b["y"]).all() and (a["u"] == b["u"]).all() and (a["v"] == b["v"]).all()


def crash_after(monkeypatch, frames: int) -> None:
    """Make pass 2 stop with Ctrl-C once ``frames`` frames went to the parts writer."""
    real = PartsWriter.write_frame

    def write_frame(self, frame, pts):
        if self.frames == frames:
            raise KeyboardInterrupt
        real(self, frame, pts)

    monkeypatch.setattr(PartsWriter, "write_frame", write_frame)


def test_a_changed_option_input_or_fresh_starts_over_and_says_why(tmp_path, colorizer, monkeypatch):
    src = tmp_path / "film.mp4"
    write_clip(src, n=48, cuts=(16, 32))
    out = tmp_path / "out.mp4"
    base = dict(batch_size=4, segment_frames=16, crf=20)

    def run(**kw):
        warnings, reports = [], []
        cfg = ColorizeConfig(src, out, **{**base, **kw})
        colorize_video(cfg, reports.append, warnings.append, colorizer)
        return warnings, [r for r in reports if r.stage == "resume"]

    def interrupt(**kw):
        with monkeypatch.context() as m:
            crash_after(m, 20)
            with pytest.raises(KeyboardInterrupt):
                run(**kw)
        assert saved(out) == (1, 3)

    interrupt()
    warnings, resumed = run(crf=24)
    assert any("not resuming" in w and "--crf changed (20 -> 24)" in w for w in warnings)
    assert resumed == []

    out.unlink()
    interrupt()
    write_clip(src, n=48, cuts=(16, 32), rate=24)  # the input was re-encoded
    warnings, resumed = run()
    assert any("the input file changed" in w for w in warnings)

    out.unlink()
    interrupt()
    warnings, resumed = run(fresh=True)
    assert resumed == [] and not any("resuming" in w for w in warnings)

    out.unlink()
    interrupt()
    warnings, resumed = run(threads=1, max_damaged=3)  # neither changes a pixel
    assert [(r.done, r.total) for r in resumed] == [(16, 48)]
    assert len(read_video(out)["y"]) == 48


def test_claims_are_taken_once(tmp_path):
    parts = [Parts(tmp_path / "film.mp4", {}) for _ in range(2)]
    parts[0].folder.mkdir()
    seg = Segment(0, 0, 10, 0, 0)
    assert parts[0].claim(seg) is True
    assert parts[1].claim(seg) is False


def test_not_enough_space_stops_before_pass_2(tmp_path, colorizer, monkeypatch):
    src = tmp_path / "film.mp4"
    write_clip(src, n=16)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(segments.shutil, "disk_usage", lambda p: usage._replace(free=10_000))
    with pytest.raises(segments.NotEnoughSpace, match="need about .* GB, 0.0 GB are free"):
        colorize_video(ColorizeConfig(src, tmp_path / "o.mkv", codec="ffv1"), colorizer=colorizer)
    assert not (tmp_path / "o.mkv").exists()


@pytest.mark.slow  # two runs of the command in subprocesses
def test_a_folder_with_a_bad_film_reports_it_and_does_the_rest(tmp_path, tiny_model):
    films = tmp_path / "films"
    (films / "reel2").mkdir(parents=True)
    write_clip(films / "a.mp4", n=12, audio="aac")
    write_clip(films / "reel2" / "b.mkv", n=10, codec="ffv1", pix_fmt="gray")
    (films / "broken.mp4").write_text("not a film\n" * 100)
    (films / "notes.txt").write_text("shot list to come")
    out = tmp_path / "colour"
    args = ["colorize", films, "-o", out, *opts(tiny_model, "libx264")]
    env = {**child_env(), "COLUMNS": "400"}  # the table on one line per film
    ran = subprocess.run(cli(*args), env=env, capture_output=True, text=True)
    assert ran.returncode == 3, ran.stderr  # partly done (README: exit codes)
    print(ran.stdout)
    assert "2 colorized, 0 already there, 1 failed" in ran.stdout
    rows = {ln.split()[1]: ln for ln in ran.stdout.splitlines() if ln.startswith("│")}
    assert sorted(rows) == ["a.mp4", "broken.mp4", "reel2/b.mkv"]  # not notes.txt
    assert "done" in rows["a.mp4"] and "done" in rows["reel2/b.mkv"]
    assert "failed" in rows["broken.mp4"] and "is not a video file" in rows["broken.mp4"]
    assert len(read_video(out / "a_color.mp4")["y"]) == 12
    assert len(read_video(out / "reel2" / "b_color.mkv")["y"]) == 10

    again = subprocess.run(cli(*args), env=env, capture_output=True, text=True)
    assert again.returncode == 3
    assert "0 colorized, 2 already there, 1 failed" in again.stdout


@pytest.mark.slow  # torchrun: two processes and a reference run
@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None,
                    reason="torchrun not installed")  # fmt: skip
def test_torchrun_two_processes_give_the_one_process_film(tmp_path, tiny_model):
    src = tmp_path / "film.mp4"
    write_clip(src, n=64, cuts=(16, 32, 48), audio="aac")
    one, two = tmp_path / "one.mkv", tmp_path / "two.mkv"
    args = opts(tiny_model, "ffv1")
    ran = subprocess.run(
        cli("colorize", src, "-o", one, *args), env=child_env(), capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "filmcolor.cli"]
    ran = subprocess.run(
        cmd + ["colorize", str(src), "-o", str(two), *map(str, args)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    a, b = read_video(one), read_video(two)
    assert len(b["y"]) == 64 and b["times"] == a["times"]
    assert (a["y"] == b["y"]).all() and (a["u"] == b["u"]).all() and (a["v"] == b["v"]).all()
    assert packets(two, "audio") == packets(src, "audio")
    assert np.abs(b["u"].astype(int) - 128).mean() > 0.5  # colour did arrive


def test_segments_written_alone_and_in_any_order_give_the_same_film(
    tmp_path, colorizer, monkeypatch
):
    """What torchrun does (each segment its own run of pass 2, in any order) in one process:
    no state of pass 2 (batches, temporal propagation, the optical flow) crosses a segment."""
    src = tmp_path / "film.mp4"
    write_clip(src, n=64, cuts=(16, 32, 48))

    def run(out, order=None):
        cfg = ColorizeConfig(src, out, codec="ffv1", batch_size=4, segment_frames=16)
        colorize_video(cfg, colorizer=colorizer)
        return read_video(out)

    whole = run(tmp_path / "whole.mkv")

    def one_at_a_time(self, world, order=(2, 0, 3, 1)):
        todo = self.missing()
        for k in order:
            assert self.claim(todo[k])
            yield [todo[k]]

    monkeypatch.setattr(Parts, "runs", one_at_a_time)
    alone = run(tmp_path / "alone.mkv")
    for plane in ("y", "u", "v"):
        assert (whole[plane] == alone[plane]).all()
