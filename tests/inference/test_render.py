import av
import numpy as np
import pytest

from mer3d.errors import UserError
from mer3d.inference.render import BOX_COLOUR, render_predictions

CLASSES = ["surprise", "repression", "happiness", "disgust", "others"]
BACKGROUND = 60
WIDTH, HEIGHT = 64, 48
BOX = [10, 8, 20, 16]   # x, y, w, h
WITH_FACE = {"start_frame": 0, "end_frame": 9, "face_box": BOX, "label": "surprise",
             "probabilities": {"surprise": 0.6, "repression": 0.05, "happiness": 0.05, "disgust": 0.1,
                               "others": 0.2}}
WITHOUT_FACE = {"start_frame": 5, "end_frame": 14, "face_box": None, "label": None, "probabilities": {}}


def _frames(count, width=WIDTH, height=HEIGHT):
    return ((index, np.full((height, width, 3), BACKGROUND, np.uint8)) for index in range(count))


def _read_back(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="bgr24") for frame in container.decode(stream)]
        return container.format.name, stream.codec_context.name, stream.average_rate, frames


def _is_box_colour(pixels):
    return np.abs(pixels.astype(int) - BOX_COLOUR).max(axis=-1) < 40


def test_frames_show_the_box_and_bars_of_their_window_or_no_face(tmp_path):
    out = tmp_path / "predictions.mp4"
    render_predictions(_frames(20), 25, out, [WITH_FACE, WITHOUT_FACE], CLASSES)
    container_format, codec, rate, frames = _read_back(out)
    assert "mp4" in container_format.split(",") and codec in {"h264", "mpeg4"} and rate == 25
    assert len(frames) == 20
    height, width = frames[0].shape[:2]
    assert height % 2 == 0 and width % 2 == 0 and height >= HEIGHT and width > WIDTH   # panel on the right
    x, y, w, h = BOX
    top_and_left_edge = [(y, x + w // 2), (y + h // 2, x)]
    boxed = [i for i, frame in enumerate(frames) if all(_is_box_colour(frame[p]) for p in top_and_left_edge)]
    # Frames 5-14 are in both windows; up to frame 7 the face window's centre (4.5) is as near or nearer.
    assert boxed == list(range(8))
    bar_of_top_class = [i for i, frame in enumerate(frames) if _is_box_colour(frame[:, WIDTH:]).sum() > 30]
    assert bar_of_top_class == boxed
    for frame in frames[8:]:   # no face, then no window: the picture is untouched
        assert np.abs(frame[:HEIGHT, :WIDTH].astype(int) - BACKGROUND).max() < 8


def test_odd_frame_sizes_are_padded_to_even(tmp_path):
    out = tmp_path / "odd.mp4"
    render_predictions(_frames(3, width=63, height=301), 30, out, [WITH_FACE], CLASSES)
    _, _, _, frames = _read_back(out)
    assert len(frames) == 3 and frames[0].shape[0] == 302 and frames[0].shape[1] % 2 == 0


def test_the_file_appears_whole_or_not_at_all(tmp_path):
    def interrupted():
        yield from _frames(5)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_predictions(interrupted(), 25, tmp_path / "out.mp4", [WITH_FACE], CLASSES)
    assert list(tmp_path.iterdir()) == []
    render_predictions(_frames(2), 25, tmp_path / "out.mp4", [WITH_FACE], CLASSES)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_only_mp4_is_written(tmp_path):
    with pytest.raises(UserError, match=r"out\.avi: .*\.mp4"):
        render_predictions(_frames(2), 25, tmp_path / "out.avi", [WITH_FACE], CLASSES)
