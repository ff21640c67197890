"""data.fps: clips of different frame rates seen at one rate, so a window spans the same time."""
from __future__ import annotations

from pathlib import Path

import pytest

from mer3d.data.records import ClipRecord
from mer3d.data.sampling import apex_index, clip_duration_s, resample_in_time
from mer3d.errors import UserError


def record(count: int, fps: float, first: int = 100, apex: int | None = None) -> ClipRecord:
    numbers = tuple(range(first, first + count))
    return ClipRecord("samm", "006", "006_1_2", "anger", frames=tuple(Path(f"{n}.jpg") for n in numbers),
                      frame_numbers=numbers, onset=numbers[0], apex=apex, offset=numbers[-1], fps=fps,
                      source="sheet.xlsx", row=7)


def test_200_fps_at_100_keeps_every_second_frame_and_the_duration():
    clip = resample_in_time(record(60, 200.0, apex=131), 100.0)
    assert clip.frame_numbers == tuple(range(100, 160, 2))
    assert [p.name for p in clip.frames[:3]] == ["100.jpg", "102.jpg", "104.jpg"]
    assert clip.fps == 100.0 and clip_duration_s(clip) == pytest.approx(clip_duration_s(record(60, 200.0)))
    # the apex (an odd frame, dropped) moves to the nearest kept frame and stays annotated
    assert clip.apex in (130, 132) and apex_index(clip) == clip.frame_numbers.index(clip.apex)


def test_a_16_frame_window_spans_the_same_time_in_every_part():
    # 0.3 s of a 200 fps (SAMM, CASME II) and of a 100 fps (SMIC) clip, both seen at 100 fps
    samm, smic = resample_in_time(record(60, 200.0), 100.0), resample_in_time(record(30, 100.0), 100.0)
    assert len(samm.frames) == len(smic.frames) == 30


def test_30_fps_at_100_repeats_the_nearest_frames():
    clip = resample_in_time(record(9, 30.0, first=0, apex=4), 100.0)
    assert len(clip.frames) == 27
    assert clip.frame_numbers[:7] == (0, 0, 1, 1, 1, 2, 2)       # frame k/100 s -> nearest 30 fps frame
    assert apex_index(clip) == clip.frame_numbers.index(4)


def test_native_rate_is_unchanged_and_video_or_no_rate_is_a_clear_error():
    same = record(10, 100.0)
    assert resample_in_time(same, 100) is same
    with pytest.raises(UserError, match="sheet.xlsx row 7: data.fps needs the clip's frame rate"):
        resample_in_time(record(10, 0.0), 100.0)
    video = ClipRecord("csv", "1", "a", "happy", video=Path("a.mp4"), onset=0, offset=9, fps=30.0)
    with pytest.raises(UserError, match="a.mp4: data.fps resamples frame folders"):
        resample_in_time(video, 100.0)
