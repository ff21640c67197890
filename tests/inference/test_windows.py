import gc
import weakref

import pytest

from mer3d.inference.windows import StreamingWindows, Window, sliding_windows, window_span


def test_span_covers_the_same_time_at_any_frame_rate():
    assert window_span(200, 0.5) == 100     # CASME II
    assert window_span(60, 0.5) == 30       # CASME
    assert window_span(30, 0.5) == 15       # webcam
    assert window_span(13, 0.5) == 7        # 6.5 rounds half up, not to even (6)
    assert window_span(30, 0.001) == 1      # never empty


@pytest.mark.parametrize("fps, duration_s", [(0, 0.5), (30, 0), (-1, 0.5)])
def test_span_rejects_non_positive_settings(fps, duration_s):
    with pytest.raises(ValueError, match="must be positive"):
        window_span(fps, duration_s)


def test_indices_are_spread_evenly_over_a_long_span():
    window = sliding_windows(100, fps=200, duration_s=0.5)[0]     # 100 frames read as 16
    assert (window.start_frame, window.end_frame) == (0, 99)
    assert len(window.indices) == 16 and window.indices[0] == 0 and window.indices[-1] == 99
    steps = [b - a for a, b in zip(window.indices, window.indices[1:])]
    assert set(steps) <= {6, 7} and sorted(window.indices) == list(window.indices)


def test_a_span_shorter_than_the_window_repeats_frames():
    window = sliding_windows(30, fps=30, duration_s=0.25)[0]      # 8 frames read as 16
    assert (window.start_frame, window.end_frame) == (0, 7)
    assert sorted(set(window.indices)) == list(range(8))          # every frame, each about twice
    assert list(window.indices) == sorted(window.indices)


def test_windows_start_every_stride_and_stay_inside_the_input():
    windows = sliding_windows(50, fps=30, duration_s=0.5, frames=16, stride=4)   # span 15
    assert [w.start_frame for w in windows] == list(range(0, 36, 4))
    assert all(w.end_frame == w.start_frame + 14 for w in windows)
    assert all(w.start_frame <= i <= w.end_frame < 50 for w in windows for i in w.indices)


def test_a_partial_last_window_is_left_out():
    assert [w.start_frame for w in sliding_windows(24, fps=30, duration_s=0.5, stride=8)] == [0, 8]


def test_an_input_shorter_than_a_span_gets_one_window_over_all_its_frames():
    spread = (0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4)
    assert sliding_windows(5, fps=200, duration_s=0.5) == [Window(0, 4, spread)]
    assert sliding_windows(0, fps=200, duration_s=0.5) == []


def test_window_times_span_the_duration():
    window = sliding_windows(300, fps=200, duration_s=0.5, stride=50)[1]
    assert window.start_s(200) == pytest.approx(0.25) and window.end_s(200) == pytest.approx(0.75)


def _streamed(frame_count, fps, duration_s, stride):
    windows = StreamingWindows(fps, duration_s, frames=16, stride=stride)
    completed = [done for index in range(frame_count) for done in windows.push(index, f"frame{index}")]
    return completed + windows.finish()


@pytest.mark.parametrize("frame_count, fps, duration_s, stride", [
    (200, 200, 0.5, 8), (57, 30, 0.5, 3), (40, 30, 0.25, 1), (7, 200, 0.5, 8), (1, 30, 0.5, 8), (0, 30, 0.5, 8),
])
def test_streaming_gives_the_windows_of_sliding_windows(frame_count, fps, duration_s, stride):
    streamed = _streamed(frame_count, fps, duration_s, stride)
    assert [window for window, _ in streamed] == sliding_windows(frame_count, fps, duration_s, stride=stride)
    assert all(items == [f"frame{i}" for i in window.indices] for window, items in streamed)


def test_streaming_keeps_only_a_span_of_items():
    class Frame:
        pass

    windows = StreamingWindows(fps=30, duration_s=0.5)    # span 15
    alive = []
    for index in range(300):
        frame = Frame()
        alive.append(weakref.ref(frame))
        windows.push(index, frame)
    del frame
    gc.collect()
    assert sum(ref() is not None for ref in alive) == windows.span == 15


def test_streaming_needs_frames_in_order():
    windows = StreamingWindows(fps=30, duration_s=0.5)
    windows.push(0, "a")
    with pytest.raises(ValueError, match="expected frame 1"):
        windows.push(2, "c")
