import logging
import re

import cv2
import numpy as np
import pytest

from mer3d.data.cache import ClipCache
from mer3d.data.preprocess import preprocess_frame
from mer3d.data.records import ClipRecord
from mer3d.errors import UserError
from mer3d.inference.faces import FaceBox, FaceDetector, steady_box
from videos import (TRUE_FACES, centred_on_canvas, face_photo, moving_clip, side_by_side, still_head_clip,
                    tight_crop, write_frames, write_video)

# A face this wide in a 640 x 480 scene looks like a CASME2_RAW_selected frame.
RAW_FACE_WIDTH = 200


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


def gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)


def overlap(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union."""
    width = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    height = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    shared = max(width, 0) * max(height, 0)
    return shared / (a.area + b.area - shared)


def contains_centre(box: FaceBox, face: FaceBox) -> bool:
    centre_x, centre_y = face.x + face.w / 2, face.y + face.h / 2
    return box.x <= centre_x <= box.x + box.w and box.y <= centre_y <= box.y + box.h


def raw_record(root, name: str, frames, pattern: str = "img{}.jpg") -> ClipRecord:
    """A CASME II raw clip: frames under CASME2_RAW_selected/sub01/<name>/."""
    paths = write_frames(root / "CASME2_RAW_selected" / "sub01" / name, frames, pattern)
    return ClipRecord("casme2", "01", name, "others", frames=tuple(paths))


def mean_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.mark.parametrize("name", sorted(TRUE_FACES))
def test_the_face_is_found_on_real_photographs(detector, name):
    faces = detector.detect(gray(face_photo(name)))
    assert len(faces) == 1
    assert overlap(faces[0], TRUE_FACES[name]) > 0.5


def test_face_box_as_json():
    assert FaceBox(3, -4, 50, 60).as_list() == [3, -4, 50, 60]


@pytest.mark.parametrize("name", sorted(TRUE_FACES))
def test_steady_box_is_square_with_margin_around_the_face(detector, name):
    frames = still_head_clip(face_photo(name), 5, noise_sigma=2.0, seed=1)
    box, faces = steady_box(frames, detector, margin=0.2)
    largest = [detector.detect(gray(frame))[0] for frame in frames]
    assert faces == 1 and box.w == box.h
    assert box.w == pytest.approx(1.4 * np.median([face.w for face in largest]), abs=1)
    assert contains_centre(box, TRUE_FACES[name]) and overlap(box, TRUE_FACES[name]) > 0.3


def test_per_frame_boxes_jitter_but_the_clip_box_does_not(detector, tmp_path):
    """Sensor noise alone moves per-frame detections by pixels; the clip's one box stays put."""
    frames = still_head_clip(face_photo("grace_hopper"), 15, noise_sigma=2.0, seed=0)
    per_frame = np.array([detector.detect(gray(frame))[0].as_list() for frame in frames])
    assert np.ptp(per_frame, axis=0).max() >= 3
    # A clip started at frame 0, 5 or 10 gets the same box to within 2 px of a 64 px input.
    windows = np.array([steady_box(frames[start:], detector)[0].as_list() for start in (0, 5, 10)])
    assert np.ptp(windows, axis=0).max() * 64 / windows[0, 2] < 2
    # Every frame of the cached clip is the same crop: only the noise differs from the clean photo
    # (lossless PNG frames, so that JPEG artefacts do not hide a moving box).
    record = raw_record(tmp_path, "EP01", frames, "img{}.png")
    clip = ClipCache(tmp_path / "cache", size=64, face_crop="on").load(record)
    clean = preprocess_frame(face_photo("grace_hopper"), 64, 1, steady_box(frames, detector)[0])
    assert max(mean_abs_difference(frame, clean) for frame in clip) < 1.5


def test_one_bad_reference_frame_does_not_move_the_box(detector):
    photo = face_photo("astronaut")
    still, _ = steady_box(moving_clip(photo, [(0, 0)] * 5), detector)
    one_off = moving_clip(photo, [(0, 0), (0, 0), (90, 40), (0, 0), (0, 0)])
    one_blank = moving_clip(photo, [(0, 0)] * 4) + [np.full_like(photo, 128)]
    for frames in (one_off, one_blank):
        box, _ = steady_box(frames, detector)
        assert np.abs(np.subtract(box.as_list(), still.as_list())).max() <= 2


def test_several_faces_take_the_largest_and_say_how_many(detector, tmp_path, caplog):
    both = side_by_side(face_photo("grace_hopper"), face_photo("astronaut"))
    box, faces = steady_box([both] * 3, detector)
    assert faces == 2
    assert contains_centre(box, TRUE_FACES["grace_hopper"])    # 200 px wide, the astronaut's 90 px
    record = raw_record(tmp_path, "EP02", [both] * 3)
    with caplog.at_level(logging.WARNING, logger="mer3d"):
        ClipCache(tmp_path / "cache", size=32, face_crop="auto").load(record)
    assert "2 faces in the first frames; took the largest" in caplog.text
    assert str(record.frames[0].parent) in caplog.text


def test_no_face_gives_no_box(detector):
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(5)]
    assert steady_box(noise, detector) == (None, 0)


@pytest.mark.parametrize("name", sorted(TRUE_FACES))
def test_raw_frames_and_a_face_crop_of_them_give_near_identical_clips(tmp_path, name):
    """A CASME2_RAW_selected clip (auto crops it) and the same face in a tight crop (cropped too)."""
    raw = still_head_clip(centred_on_canvas(name, RAW_FACE_WIDTH), 5, noise_sigma=2.0, seed=2)
    cropped = still_head_clip(tight_crop(name), 5, noise_sigma=2.0, seed=3)
    cropped_paths = write_frames(tmp_path / "Cropped" / "sub01" / "EP03", cropped, "reg_img{}.jpg")
    raw_clip = raw_record(tmp_path, "EP03", raw)
    from_raw = ClipCache(tmp_path / "cache", size=64, face_crop="auto").load(raw_clip)
    from_crop = ClipCache(tmp_path / "cache", size=64, face_crop="on").load(
        ClipRecord("casme2", "01", "EP03", "others", frames=tuple(cropped_paths)))
    whole_raw_frames = ClipCache(tmp_path / "cache", size=64, face_crop="off").load(raw_clip)
    assert from_raw.shape == from_crop.shape == (5, 64, 64, 1)
    # Measured 6.6 (grace_hopper) and 7.0 (astronaut): Haar boxes of one face in two framings
    # differ by 1-3 % of their size, and moving a 64 px face crop by half a pixel alone costs ~6.
    assert mean_abs_difference(from_raw, from_crop) < 10
    assert mean_abs_difference(whole_raw_frames, from_crop) > 30


def test_a_video_clip_is_face_cropped_like_its_frames(tmp_path):
    frames = still_head_clip(centred_on_canvas("astronaut", RAW_FACE_WIDTH), 6, noise_sigma=2.0, seed=4)
    video = write_video(tmp_path / "clip.mp4", frames, fps=30)
    cache = ClipCache(tmp_path / "cache", size=64, face_crop="auto")
    from_video = cache.load(ClipRecord("csv", "s1", "v1", "others", video=video))
    from_frames = cache.load(raw_record(tmp_path, "EP04", frames))
    assert from_video.shape == (6, 64, 64, 1)
    assert mean_abs_difference(from_video, from_frames) < 5


def test_a_missing_cascade_file_names_the_opencv_package(monkeypatch, tmp_path):
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path) + "/")
    with pytest.raises(UserError, match=re.escape("opencv-contrib-python-headless>=4.9,<5")):
        FaceDetector()
