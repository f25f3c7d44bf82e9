"""Shot detection on clips with known cuts, and the shot list CSV."""

from __future__ import annotations

import pytest
from media import shot_frames, write_clip

from filmcolor.shotlist import ShotListError, read_csv, write_csv
from filmcolor.shots import analyse, detect, shots_from_cuts, small_gray


@pytest.mark.parametrize("detector", ["content", "adaptive"])
def test_detector_finds_every_cut_at_its_frame_and_no_other(detector):
    cuts = (17, 40, 58)
    frames = shot_frames(80, cuts)
    assert detect(iter(frames), 25, detector=detector) == list(cuts)


def test_no_cut_in_a_single_moving_shot():
    assert detect(iter(shot_frames(60)), 25) == []


def test_cuts_found_in_an_encoded_file_with_timestamps(tmp_path):
    src = tmp_path / "three.mp4"
    write_clip(src, n=60, cuts=(20, 41))
    found = analyse(src)
    assert found.frames == 60
    assert found.cuts == [20, 41]
    assert [(s.start, s.end) for s in found.shots] == [(0, 20), (20, 41), (41, 60)]
    assert found.shots[1].start_time == pytest.approx(20 / 25)
    assert found.shots[-1].end_time == pytest.approx(60 / 25)


def test_10bit_frames_are_shrunk_to_8bit_for_the_detector():
    frames = shot_frames(40, (20,), bits=10)
    small = [small_gray(f, 10) for f in frames]
    assert small[0].dtype.name == "uint8"
    assert detect(iter(small), 25) == [20]


def test_csv_round_trip_and_a_corrected_list(tmp_path):
    path = write_csv(tmp_path / "s.csv", shots_from_cuts([20, 41], 60, [i / 25 for i in range(61)]))
    assert read_csv(path) == [20, 41]
    lines = path.read_text().splitlines()
    assert lines[0] == "shot,start_frame,frames,start_time,end_time,style"
    assert lines[2].startswith("2,20,21,0.800")
    path.write_text("start_frame\n0\n12\n33\n")  # a person's edit: fewer columns
    assert read_csv(path) == [12, 33]


def test_edited_start_time_is_read_and_the_frame_column_wins_with_a_warning(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("shot,start_frame,start_time\n1,0,0.000\n2,,1.200\n3,40,2.000\n")
    assert read_csv(path, fps=25) == [30, 40]  # an emptied frame: the time is used
    path.write_text("shot,start_frame,start_time\n1,0,0.000\n2,20,1.200\n")
    said = []
    assert read_csv(path, fps=25, on_warning=said.append) == [20]
    assert "line 3" in said[0] and "using start_frame" in said[0]
    path.write_text("start_time\n10.0\n11.2\n")  # the first frame is shown at 10 s
    assert read_csv(path, fps=25, start=10.0) == [30]


def test_a_time_column_takes_every_time_format_style_takes(tmp_path):
    """One time parser: 83.5, 1:23.5 and 00:01:23.5 are the same time in a shot list too."""
    path = tmp_path / "s.csv"
    for when in ("83.5", "1:23.5", "00:01:23.5", "00:01:23.500"):
        path.write_text(f"start_time\n0\n{when}\n")
        assert read_csv(path, fps=25) == [2088], when  # 83.5 s x 25 fps (rounded half to even)


def test_pyscenedetect_csv_and_semicolons_are_read(tmp_path):
    from scenedetect.common import FrameTimecode
    from scenedetect.output import write_scene_list

    tc = [FrameTimecode(f, 25.0) for f in (0, 20, 41, 60)]
    scenes = list(zip(tc, tc[1:], strict=False))
    for cut_row in (True, False):
        path = tmp_path / f"scenedetect{cut_row}.csv"
        write_scene_list(str(path), scenes, include_cut_list=cut_row)
        assert read_csv(path, fps=25) == [20, 41]  # its frames count from 1
    path = tmp_path / "excel.csv"
    path.write_text("shot;start_frame;frames\n1;0;20\n2;20;21\n3;41;19\n")
    assert read_csv(path) == [20, 41]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("start_frame\n0\n33\n12\n", "line 4"),  # out of order
        ("start_frame\n0\n12\n12\n", "line 4"),  # twice
        ("start_frame\n0\n12\n500\n", "past the end"),
        ("start_time\n0\nsoon\n", "line 3"),
    ],
)
def test_shot_lists_out_of_order_or_past_the_end_are_refused(tmp_path, text, words):
    path = tmp_path / "s.csv"
    path.write_text(text)
    with pytest.raises(ShotListError, match=words):
        read_csv(path, fps=25, total=60)


@pytest.mark.parametrize("text", ["shot,start\n1,0\n", "start_frame\n0\nten\n"])
def test_bad_csv_is_a_clear_error(tmp_path, text):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ShotListError, match="bad.csv"):
        read_csv(path)
    with pytest.raises(ShotListError, match="not found"):
        read_csv(tmp_path / "none.csv")


@pytest.mark.parametrize(
    ("frames", "words"),
    [
        ("25", ["line 2", "frames 25", "overlaps the next shot (line 3, from frame 20)"]),
        ("15", ["line 2", "frames 15", "leaves frames 15-19"]),
    ],
)
def test_a_frames_cell_that_disagrees_with_the_next_start_is_warned_about(tmp_path, frames, words):
    # After a merge or a split by hand, the frames column may be stale: the next start wins.
    path = tmp_path / "edited.csv"
    path.write_text(f"shot,start_frame,frames\n1,0,{frames}\n2,20,20\n3,40,20\n")
    said = []
    assert read_csv(path, fps=25, total=60, on_warning=said.append) == [20, 40]
    assert len(said) == 1
    for word in words:
        assert word in said[0], said[0]
    path.write_text("shot,start_frame,frames\n1,0,20\n2,20,20\n3,40,20\n")  # agrees: no word
    read_csv(path, on_warning=said.append)
    assert len(said) == 1


def test_a_header_without_rows_is_refused_not_one_shot(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("shot,start_frame,frames,start_time,end_time,style\n")
    with pytest.raises(ShotListError, match="lists no shots"):
        read_csv(path, fps=25)


def test_decimal_commas_as_european_spreadsheets_write_are_read(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_text("shot;start_frame;frames;start_time\n1;;20;0,000\n2;;21;0,800\n3;;19;1,640\n")
    assert read_csv(path, fps=25) == [20, 41]
    path.write_text('start_time\n"0,0"\n"00:00:01,5"\n')  # quoted, and as subtitles write it
    assert read_csv(path, fps=10) == [15]
