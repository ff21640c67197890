from pathlib import Path

import numpy as np
import pytest
import torch

from mer3d.data.records import ClipRecord
from mer3d.data.sampling import apex_index, eval_window_starts, fit_length, random_window_start, take_window


def ramp_clip(length, size=4):
    """uint8 (T, H, W, 1) whose frame t is filled with 10 * t."""
    return np.stack([np.full((size, size, 1), 10 * t, np.uint8) for t in range(length)])


def test_short_clip_is_interpolated_to_the_window_length():
    clip = ramp_clip(5)
    fitted = fit_length(clip, 16)
    assert fitted.shape == (16, 4, 4, 1) and fitted.dtype == np.uint8
    assert np.array_equal(fitted[0], clip[0]) and np.array_equal(fitted[-1], clip[-1])
    expected = np.rint(np.linspace(0, 40, 16))  # linear between neighbours of a linear ramp
    assert np.array_equal(fitted[:, 0, 0, 0], expected)


def test_single_frame_clip_is_repeated():
    clip = ramp_clip(4)[2:3]
    fitted = fit_length(clip, 16)
    assert fitted.shape[0] == 16 and (fitted == 20).all()


def test_long_enough_clip_is_unchanged():
    clip = ramp_clip(20)
    assert fit_length(clip, 16) is clip
    assert fit_length(clip, 20) is clip


def test_random_starts_cover_the_whole_range_and_no_more():
    generator = torch.Generator().manual_seed(0)
    starts = {random_window_start(20, 16, generator) for _ in range(300)}
    assert starts == {0, 1, 2, 3, 4}


def test_random_start_is_zero_when_the_clip_is_no_longer_than_the_window():
    generator = torch.Generator().manual_seed(0)
    assert random_window_start(16, 16, generator) == 0
    assert random_window_start(7, 16, generator) == 0


def test_random_starts_are_reproducible():
    draws = [[random_window_start(100, 16, torch.Generator().manual_seed(seed)) for _ in range(5)] for seed in (3, 3)]
    assert draws[0] == draws[1]


def test_one_eval_window_is_centred_on_the_apex():
    assert eval_window_starts(60, 16, apex_index=30) == [22]  # apex at window position 8 of 16
    window = range(22, 22 + 16)
    assert window[8] == 30


def test_eval_window_near_the_ends_is_clamped():
    assert eval_window_starts(60, 16, apex_index=2) == [0]
    assert eval_window_starts(60, 16, apex_index=58) == [44]
    assert eval_window_starts(60, 16, apex_index=500) == [44]


def test_eval_window_without_apex_is_the_middle():
    assert eval_window_starts(60, 16, apex_index=None) == [22]
    assert eval_window_starts(17, 16, apex_index=None) == [0]
    assert eval_window_starts(16, 16, apex_index=None) == [0]


def test_several_eval_windows_spread_evenly_and_deterministically():
    assert eval_window_starts(56, 16, apex_index=10, windows=5) == [0, 10, 20, 30, 40]
    assert eval_window_starts(16, 16, apex_index=None, windows=3) == [0, 0, 0]
    with pytest.raises(ValueError):
        eval_window_starts(56, 16, None, windows=0)


def test_take_window():
    clip = ramp_clip(20)
    window = take_window(clip, 3, 16)
    assert window.shape[0] == 16 and window[0, 0, 0, 0] == 30 and window[-1, 0, 0, 0] == 180
    with pytest.raises(ValueError):
        take_window(clip, 5, 16)


def test_apex_index_of_an_image_sequence_is_its_position():
    frames = tuple(Path(f"img{n}.jpg") for n in (10, 11, 13, 14))
    record = ClipRecord("d", "s", "c", "happy", frames=frames, frame_numbers=(10, 11, 13, 14), apex=13)
    assert apex_index(record) == 2
    assert apex_index(ClipRecord("d", "s", "c", "happy", frames=frames, frame_numbers=(10, 11, 13, 14))) is None
    missing = ClipRecord("d", "s", "c", "happy", frames=frames, frame_numbers=(10, 11, 13, 14), apex=12)
    assert apex_index(missing) is None


def test_apex_index_of_a_video_counts_from_the_onset():
    record = ClipRecord("d", "s", "c", "happy", video=Path("v.avi"), onset=5, apex=9, offset=20)
    assert apex_index(record) == 4
    assert apex_index(ClipRecord("d", "s", "c", "happy", video=Path("v.avi"), apex=9)) == 9
    outside = ClipRecord("d", "s", "c", "happy", video=Path("v.avi"), onset=5, apex=30, offset=20)
    assert apex_index(outside) is None
