import logging

import av
import cv2
import numpy as np
import pytest

from mer3d.errors import UserError
from mer3d.inference import video
from mer3d.inference.video import open_source

FRAMES = 20
WIDTH, HEIGHT = 64, 48
BLUE = (200, 0, 0)   # BGR: shows whether channels come back in BGR order


def _frame(index: int) -> np.ndarray:
    """A gradient that brightens by 8 grey levels per frame (so order survives lossy codecs),
    with a blue band in the top rows."""
    ramp = np.linspace(0, 100, WIDTH) + 8 * index
    image = np.repeat(np.tile(ramp, (HEIGHT, 1))[..., None], 3, axis=2).astype(np.uint8)
    image[:8] = BLUE
    return image


def _mean_level(image: np.ndarray) -> float:
    return float(image[8:].mean())   # below the blue band


def _write_video(path, codec="libx264", images=None, rotation=None, options=None):
    """A 25 fps video of ``images`` (default: FRAMES gradient frames)."""
    images = [_frame(index) for index in range(FRAMES)] if images is None else images
    with av.open(str(path), "w", options=options or {}) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for image in images:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _read_all(source):
    with source:
        return list(source.frames())


@pytest.mark.parametrize("name, codec, announced", [
    ("clip.mp4", "libx264", FRAMES), ("clip.mov", "libx264", FRAMES), ("clip.avi", "mpeg4", FRAMES),
    ("clip.mkv", "libx264", None), ("clip.webm", "libvpx", None),
])
def test_a_video_file_gives_its_frames_in_order_with_its_rate(tmp_path, name, codec, announced):
    source = open_source(_write_video(tmp_path / name, codec))
    assert (source.fps, source.frame_count, source.size, source.is_live) == (25, announced, (WIDTH, HEIGHT), False)
    frames = _read_all(source)
    assert [index for index, _ in frames] == list(range(FRAMES)) and source.frame_count == FRAMES
    assert all(frame.shape == (HEIGHT, WIDTH, 3) and frame.dtype == np.uint8 for _, frame in frames)
    levels = [_mean_level(frame) for _, frame in frames]
    assert np.diff(levels) == pytest.approx(8, abs=3)      # in order, none skipped or repeated
    assert levels[0] == pytest.approx(_mean_level(_frame(0)), abs=5)    # YUV and codec rounding
    assert np.abs(frames[0][1][2, 8:56].astype(int) - BLUE).max() < 30


def test_the_given_frame_rate_overrides_the_video_s(tmp_path):
    with open_source(str(_write_video(tmp_path / "clip.mp4")), fps=200) as source:
        assert source.fps == 200


def test_a_rotated_phone_video_comes_upright(tmp_path):
    # Shown turned a quarter counter-clockwise: the blue top band becomes the left band.
    frames = _read_all(open_source(_write_video(tmp_path / "phone.mp4", images=[_frame(0)], rotation=90)))
    upright = frames[0][1]
    assert upright.shape == (WIDTH, HEIGHT, 3)
    assert np.abs(upright[8:56, 2].astype(int) - BLUE).max() < 30


def _write_frames_folder(folder, numbers):
    folder.mkdir()
    for number in numbers:
        cv2.imwrite(str(folder / f"img{number}.png"), _frame(number))
    return folder


def test_a_frames_folder_is_read_in_numerical_order_at_30_fps_unless_told(tmp_path, caplog):
    folder = _write_frames_folder(tmp_path / "EP02_01f", range(8, 12))    # img8, img9, img10, img11
    with caplog.at_level(logging.INFO, logger="mer3d"):
        source = open_source(folder)
    assert source.fps == 30 and "assuming 30 fps" in caplog.text and str(folder) in caplog.text
    assert (source.frame_count, source.size) == (4, (WIDTH, HEIGHT))
    frames = _read_all(source)
    assert [index for index, _ in frames] == [0, 1, 2, 3]
    assert all(np.array_equal(frame, _frame(number)) for (_, frame), number in zip(frames, range(8, 12)))
    assert open_source(folder, fps=200).fps == 200


def test_missing_frame_numbers_in_a_folder_are_warned_about(tmp_path, caplog):
    folder = _write_frames_folder(tmp_path / "clip", [1, 2, 4])
    with caplog.at_level(logging.WARNING, logger="mer3d"):
        assert open_source(folder).frame_count == 3
    assert f"{folder}: 1 missing frames between 1 and 4" in caplog.text


def _corrupt_video(tmp_path):
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return path


def _noise():
    """Incompressible frames, so that every frame fills its own stretch of the file."""
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8) for _ in range(FRAMES)]


def _video_cut_in_its_first_frame(tmp_path):
    data = _write_video(tmp_path / "full.mp4", images=_noise(), options={"movflags": "faststart"}).read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: data.index(b"mdat") + 100])
    return path


def _video_without_frames(tmp_path):
    # An AVI cut just after its header: it announces 20 frames and holds none.
    data = _write_video(tmp_path / "full.avi", "mpeg4").read_bytes()
    path = tmp_path / "empty.avi"
    path.write_bytes(data[: data.index(b"movi") + 4])
    return path


def _folder_without_frames(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.txt").write_text("no images here")
    return folder


def _unknown_extension(tmp_path):
    path = tmp_path / "clip.txt"
    path.write_text("not a video")
    return path


@pytest.mark.parametrize("make_spec, message", [
    (lambda tmp: tmp / "missing.mp4", "missing.mp4: no such file or folder"),
    (_unknown_extension, "clip.txt: not a video"),
    (_corrupt_video, "corrupt.mp4: cannot read video"),
    (_video_cut_in_its_first_frame, "cut.mp4: cannot decode video"),
    (_video_without_frames, "no frames in "),
    (_folder_without_frames, "no frames in "),
    (lambda tmp: 99, "camera 99: cannot be opened"),
    (lambda tmp: "99", "camera 99: cannot be opened"),
])
def test_bad_inputs_are_one_line_user_errors(tmp_path, make_spec, message):
    spec = make_spec(tmp_path)
    with pytest.raises(UserError) as raised:
        open_source(spec)
    assert message in str(raised.value) and str(spec) in str(raised.value)
    assert "\n" not in str(raised.value)


def _truncated(path, fraction=0.6):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


@pytest.mark.parametrize("name, codec, options, symptom", [
    ("cut.mp4", "libx264", {"movflags": "faststart"}, "breaks off"),   # the decoder fails on the cut frame
    ("cut.avi", "mpeg4", None, "ends"),                                # the file just ends early
])
def test_a_truncated_video_gives_the_frames_before_the_break_and_a_warning(tmp_path, caplog, name, codec, options,
                                                                           symptom):
    path = _write_video(tmp_path / name, codec, images=_noise(), options=options)
    with caplog.at_level(logging.WARNING, logger="mer3d"):
        frames = _read_all(open_source(_truncated(path)))
    assert 0 < len(frames) < FRAMES
    assert f"{path}: video {symptom} after frame {len(frames) - 1}" in caplog.text


def test_an_unreadable_image_in_a_folder_is_a_user_error_naming_it(tmp_path):
    folder = _write_frames_folder(tmp_path / "clip", [1, 2, 3])
    (folder / "img2.png").write_bytes(b"not a png")
    with open_source(folder) as source, pytest.raises(UserError, match=r"img2\.png: unreadable image"):
        list(source.frames())


def test_frames_can_be_read_only_once(tmp_path):
    with open_source(_write_frames_folder(tmp_path / "clip", [1, 2])) as source:
        assert len(list(source.frames())) == 2
        with pytest.raises(RuntimeError, match="already read"):
            next(source.frames())


class _FakeCamera:
    """Stands in for cv2.VideoCapture: a 60 fps camera that delivers 3 frames, then fails."""

    released = False

    def __init__(self, index):
        self.delivered = 0

    def isOpened(self):
        return True

    def get(self, prop):
        return 60.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self):
        self.delivered += 1
        return (True, _frame(self.delivered)) if self.delivered <= 3 else (False, None)

    def release(self):
        _FakeCamera.released = True


def test_a_camera_is_live_with_the_driver_s_rate_and_no_length(monkeypatch, caplog):
    monkeypatch.setattr(video.cv2, "VideoCapture", _FakeCamera)
    with caplog.at_level(logging.WARNING, logger="mer3d"):
        with open_source("0") as source:
            assert (source.name, source.is_live, source.fps, source.frame_count) == ("camera 0", True, 60.0, None)
            assert [index for index, _ in source.frames()] == [0, 1, 2]
    assert _FakeCamera.released and "camera 0 stopped delivering frames after frame 2" in caplog.text
