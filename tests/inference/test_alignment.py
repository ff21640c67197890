"""Optional eye alignment (``data.face_align``, the ``align`` extra): eyes level at a fixed distance,
one transform per clip, the same crops in the cache and the Recognizer. Without the extra: a
one-line UserError, and the default settings, crops and cache keys stay as they were.

The dlib tests skip where the extra is missing (the default install); the rest run everywhere.
"""
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from mer3d import Recognizer
from mer3d.config import load_config
from mer3d.data.cache import ClipCache
from mer3d.data.preprocess import preprocess_frame
from mer3d.data.records import ClipRecord
from mer3d.errors import UserError
from mer3d.inference import faces
from mer3d.inference.faces import EYE_DISTANCE, FaceDetector, LandmarkAligner, landmark_model_path, steady_box
from videos import face_photo, still_head_clip, write_frames

MISSING_EXTRA = "data.face_align needs the align extra: pip install 'mer3d[align]'"
# Entry names the cache gave a clip without source files before data.face_align existed.
# Entry names of cache format 2 (entries with a checksum trailer) without alignment.
KEYS_BEFORE = {"on": "e3afce97a69f8a39a149d21bf99f7a8c593007d3b3c0d9c59db43444450f7a54.npy",
               "off": "bf108f0dd18a6b76c9fca1500f07be00b9a5cc6c85e831c0bc1139a4712663f9.npy",
               "auto": "b618e836f4288f0103f0960fb8f6b687d83193e8441b55622d1913a263edc639.npy"}


def weights_backend(data: dict, size: int = 64) -> SimpleNamespace:
    """What a Recognizer reads from weights: classes, input shape and the sidecar's settings."""
    return SimpleNamespace(classes=["a", "b"], input_shape=(1, 8, size, size), meta={"data": data})


def rotated(photo: np.ndarray, degrees: float) -> np.ndarray:
    """The photograph turned ``degrees`` counter-clockwise on screen about its centre."""
    height, width = photo.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    return cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_without_the_extra_face_align_is_a_one_line_user_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "dlib", None)      # dlib missing, as in the default install
    assert not faces.landmark_aligner_available()
    with pytest.raises(UserError) as cache_error:
        ClipCache(tmp_path, face_crop="auto", face_align=True)
    with pytest.raises(UserError) as recognizer_error:
        Recognizer(weights_backend({"face_align": True}))
    assert str(cache_error.value) == str(recognizer_error.value) == MISSING_EXTRA


def test_face_align_is_off_by_default_for_settings_and_older_weights(tmp_path):
    assert load_config()["data"]["face_align"] is False
    with pytest.raises(UserError, match="data.face_align must be true or false"):
        load_config(overrides=["data.face_align=sometimes"])
    assert ClipCache(tmp_path).face_align is False
    assert Recognizer(weights_backend({})).aligner is None      # weights from before the setting


def test_default_cache_keys_are_unchanged_and_aligned_entries_get_their_own(monkeypatch, tmp_path):
    monkeypatch.setattr(faces, "landmark_aligner_available", lambda: True)   # keys need no dlib
    clip = ClipRecord("test", "sub01", "clip1", "happiness")

    def entry_name(face_crop: str, face_align: bool) -> str:
        return ClipCache(tmp_path, face_crop=face_crop, face_align=face_align).entry_path(clip).name

    assert {mode: entry_name(mode, False) for mode in KEYS_BEFORE} == KEYS_BEFORE
    assert entry_name("off", True) == KEYS_BEFORE["off"]                   # nothing cropped, nothing aligned
    assert entry_name("on", True) not in KEYS_BEFORE.values()


@pytest.fixture(scope="module")
def aligner():
    pytest.importorskip("dlib", reason="needs the align extra: pip install 'mer3d[align]'")
    return LandmarkAligner()


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


@pytest.fixture(scope="module")
def eye_line(aligner, detector):
    """Measures a gray face crop: (eye line angle in degrees, eye distance / crop side). Uses
    dlib's 68-point model, not the 5-point one that aligns, so the check is independent."""
    import dlib

    predictor = dlib.shape_predictor(str(landmark_model_path().with_name("shape_predictor_68_face_landmarks.dat")))

    def measure(gray: np.ndarray) -> tuple[float, float]:
        face = detector.detect(gray)[0]
        shape = predictor(gray, dlib.rectangle(face.x, face.y, face.x + face.w, face.y + face.h))
        points = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
        left, right = sorted((points[36:42].mean(0), points[42:48].mean(0)), key=lambda eye: eye[0])
        dx, dy = right - left
        return float(np.degrees(np.arctan2(dy, dx))), float(np.hypot(dx, dy) / gray.shape[1])

    return measure


# The photographs' own eye lines tilt about -3 (Grace Hopper) and +3 degrees (astronaut); each is
# turned further the same way, to about 11 degrees.
@pytest.mark.parametrize("name, degrees", [("grace_hopper", 8), ("astronaut", -8)])
def test_aligned_crop_has_level_eyes_at_the_fixed_distance(aligner, detector, eye_line, name, degrees):
    frame = rotated(face_photo(name), degrees)
    box, _ = steady_box([frame], detector)
    tilt, _ = eye_line(preprocess_frame(frame, 256, 1, box)[..., 0])
    angle, distance = eye_line(preprocess_frame(frame, 256, 1, aligner.align([frame], box))[..., 0])
    assert abs(tilt) > 8                       # the box crop keeps the tilt
    assert abs(angle) < 2
    assert distance == pytest.approx(EYE_DISTANCE, rel=0.05)


def test_noisy_clip_gets_one_transform_in_the_cache_and_the_recognizer(aligner, eye_line, tmp_path):
    frames = still_head_clip(rotated(face_photo("grace_hopper"), 8), 8, noise_sigma=2.0, seed=0)
    paths = write_frames(tmp_path / "frames", frames, pattern="img{}.png")    # lossless: same pixels
    record = ClipRecord("test", "sub01", "noisy", "happiness", frames=tuple(paths), frame_numbers=tuple(range(1, 9)))
    clip = ClipCache(tmp_path / "cache", size=256, face_crop="on", face_align=True).load(record)
    # One transform for the clip: its frames differ by sensor noise only. Aligning each frame on
    # its own would move the crop by up to 7 px between frames (6-11 gray levels here).
    assert np.abs(clip - clip.mean(0)).mean() < 1.0
    angle, distance = eye_line(clip.mean(0).round().astype(np.uint8)[..., 0])
    assert abs(angle) < 2
    assert distance == pytest.approx(EYE_DISTANCE, rel=0.05)
    recognized, _, _ = Recognizer(weights_backend({"face_align": True}, size=256))._crop_clip(frames)
    np.testing.assert_array_equal(recognized, clip)                        # inference crops as training did
