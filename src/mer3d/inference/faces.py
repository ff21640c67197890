"""Finding the face in raw frames and video: one steady crop box per clip.

A micro-expression moves skin by one or two pixels, so a crop box that follows per-frame face
detections (which jitter by several pixels) would bury the expression under box motion. A clip
therefore gets a single box, found on its first frames (the onset end, before anything moves) and
used for every frame. Detection is OpenCV's Haar cascade, shipped inside opencv-contrib-python-headless:
no download, no extra dependency.

Eye alignment (``data.face_align``) is optional: it needs dlib's landmark predictor, from the
``align`` extra. OpenCV's shipped eye cascade is no substitute: it finds one eye of Grace Hopper's
two behind her glasses. Alignment follows the same rule as the box: one similarity transform per
clip, from its first frames, applied to every frame.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from mer3d.errors import UserError

CASCADE_NAME = "haarcascade_frontalface_default.xml"
DETECTION_SIDE = 320        # px of the longest side the cascade sees (speed; a 640 x 480 frame is halved)
WEAK_VOTES = 0.25           # detections with fewer votes than this share of the best one's are dropped
BOX_MARGIN = 0.2            # share of the face's side that steady_box adds on every side

LANDMARK_PACKAGE = "face_recognition_models"
LANDMARK_MODEL = "shape_predictor_5_face_landmarks.dat"   # eye corners (0-1, 2-3) and nose base (4)
ALIGN_EXTRA_MISSING = "data.face_align needs the align extra: pip install 'mer3d[align]'"
# Where an aligned crop puts the eyes, as shares of its side. The steady box frames the shipped
# photographs with the eyes 0.26-0.31 of its side apart and 0.42-0.43 of it from the top; these
# keep that framing (0.4 apart would cut off the chin, where AU17 shows).
EYE_DISTANCE = 0.3
EYE_MIDPOINT = (0.5, 0.42)


@dataclass(frozen=True)
class FaceBox:
    """A face rectangle in frame pixels: top-left corner (x, y), width w, height h.

    x and y may be negative, and the box may reach past the frame: cropping pads those pixels.
    """

    x: int
    y: int
    w: int
    h: int

    def as_list(self) -> list[int]:
        """[x, y, w, h], as JSON output gives it."""
        return [self.x, self.y, self.w, self.h]

    @property
    def area(self) -> int:
        return self.w * self.h


class FaceDetector:
    """Frontal faces by OpenCV's Haar cascade, on a copy downscaled to ``detection_side`` px."""

    def __init__(self, detection_side: int = DETECTION_SIDE):
        self.detection_side = detection_side
        self.cascade = load_cascade()

    def detect(self, gray: np.ndarray) -> list[FaceBox]:
        """Faces in a uint8 gray frame, in its pixels, largest first.

        A detection with under ``WEAK_VOTES`` of the best one's votes (overlapping cascade hits)
        is dropped: on the shipped photographs such hits are clothing (4-6 votes beside the
        face's 22-35), while a second real face keeps about half the votes of the first.
        """
        scale = min(1.0, self.detection_side / max(gray.shape[:2]))
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        found, votes = self.cascade.detectMultiScale2(small, scaleFactor=1.1, minNeighbors=5)
        if len(found) == 0:
            return []
        strong = [box for box, count in zip(found, votes) if count >= WEAK_VOTES * max(votes)]
        boxes = [FaceBox(*(int(round(v / scale)) for v in box)) for box in strong]
        return sorted(boxes, key=lambda box: box.area, reverse=True)


def load_cascade() -> cv2.CascadeClassifier:
    """The frontal-face cascade shipped with OpenCV; a clear error when this OpenCV build lacks it."""
    folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
    path = Path(folder) / CASCADE_NAME
    cascade = cv2.CascadeClassifier(str(path)) if folder and path.is_file() else None
    if cascade is None or cascade.empty():
        raise UserError(f"{path}: OpenCV's face cascade is missing or unreadable; mer3d needs "
                        f"opencv-contrib-python-headless>=4.9,<5 (pip install 'opencv-contrib-python-headless>=4.9,<5')")
    return cascade


def steady_box(frames_bgr: Sequence[np.ndarray], detector: FaceDetector, reference_frames: int = 5,
               margin: float = BOX_MARGIN) -> tuple[FaceBox | None, int]:
    """One square crop box for a whole clip, and the most faces seen in any reference frame.

    The largest face of each of the first ``reference_frames`` frames votes; the box is the
    median centre and median size of those votes (one bad detection cannot move it), made square
    on the larger side and widened by ``margin`` of that side on every side. The box is kept
    centred on the face even where it leaves the frame: ``preprocess_frame`` pads the missing
    pixels by repeating the frame's edge, so the face sits in the same place in every clip.
    Returns ``(None, 0)`` when no reference frame shows a face.
    """
    votes, most_faces = [], 0
    for frame in frames_bgr[:reference_frames]:
        faces = detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        most_faces = max(most_faces, len(faces))
        if faces:
            votes.append(faces[0])
    if not votes:
        return None, 0
    centre_x = np.median([box.x + box.w / 2 for box in votes])
    centre_y = np.median([box.y + box.h / 2 for box in votes])
    side = int(round(np.median([max(box.w, box.h) for box in votes]) * (1 + 2 * margin)))
    return FaceBox(int(round(centre_x - side / 2)), int(round(centre_y - side / 2)), side, side), most_faces


@dataclass(frozen=True)
class FaceAlignment:
    """A clip's aligned face crop: ``matrix`` (2 x 3, rows of a similarity transform) maps frame
    pixels to a ``side`` x ``side`` crop with the eyes level, ``EYE_DISTANCE`` of the side apart
    and their midpoint at ``EYE_MIDPOINT``. Tuples rather than an array keep it comparable and
    hashable."""

    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]
    side: int


def landmark_model_path() -> Path | None:
    """dlib's 5-point landmark model inside face_recognition_models, or None where it is missing.

    Found from the package's import spec, without importing it: its ``__init__`` imports
    pkg_resources, which current setuptools no longer ships.
    """
    spec = importlib.util.find_spec(LANDMARK_PACKAGE)
    folders = spec.submodule_search_locations if spec is not None else None
    if not folders:
        return None
    path = Path(list(folders)[0]) / "models" / LANDMARK_MODEL
    return path if path.is_file() else None


def landmark_aligner_available() -> bool:
    """Whether the ``align`` extra (dlib and its landmark model) is installed."""
    return importlib.util.find_spec("dlib") is not None and landmark_model_path() is not None


def require_landmark_aligner() -> None:
    """A one-line UserError naming the extra to install where it is missing."""
    if not landmark_aligner_available():
        raise UserError(ALIGN_EXTRA_MISSING)


class LandmarkAligner:
    """Eyes level at a fixed distance: dlib's 5-point shape predictor on a clip's first frames."""

    def __init__(self):
        require_landmark_aligner()
        import dlib   # the align extra, absent from the default install

        self._rectangle = dlib.rectangle
        self._predictor = dlib.shape_predictor(str(landmark_model_path()))

    def eye_centres(self, gray: np.ndarray, face: FaceBox) -> np.ndarray:
        """The two eye centres (each the middle of its two corners) in a uint8 gray frame, for the
        face square ``face`` as the detector gives it: [[x, y] of the left one in the image, [x, y]
        of the right one]."""
        shape = self._predictor(gray, self._rectangle(face.x, face.y, face.x + face.w, face.y + face.h))
        corners = np.array([(shape.part(i).x, shape.part(i).y) for i in range(4)], dtype=np.float64)
        centres = corners.reshape(2, 2, 2).mean(axis=1)
        return centres[np.argsort(centres[:, 0])]

    def align(self, frames_bgr: Sequence[np.ndarray], box: FaceBox, reference_frames: int = 5) -> FaceAlignment:
        """The one transform for a whole clip whose ``steady_box`` is ``box``.

        The eyes are the median of their positions in the first ``reference_frames`` frames (one
        bad frame cannot move them), found in the detector's square inside ``box`` (the predictor
        was trained on detector boxes; a box with margin misplaces its points). The crop keeps
        ``box``'s side, so the face is resampled near its recorded resolution.
        """
        square = detector_square(box)
        eyes = np.median([self.eye_centres(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), square)
                          for frame in frames_bgr[:reference_frames]], axis=0)
        return eyes_level(eyes, box.w)


def detector_square(box: FaceBox, margin: float = BOX_MARGIN) -> FaceBox:
    """The face square a detector gave, from the ``steady_box`` it was widened into."""
    side = box.w / (1 + 2 * margin)
    inset = (box.w - side) / 2
    return FaceBox(int(round(box.x + inset)), int(round(box.y + inset)), int(round(side)), int(round(side)))


def eyes_level(eyes: np.ndarray, side: int) -> FaceAlignment:
    """The similarity transform that rotates the eye line ``eyes`` ([[x, y], [x, y]], left to right)
    level, scales it to ``EYE_DISTANCE`` of ``side`` and moves its midpoint to ``EYE_MIDPOINT``."""
    left, right = eyes
    dx, dy = right - left
    midpoint = (left + right) / 2
    # getRotationMatrix2D turns counter-clockwise on screen for a positive angle; the eye line's
    # angle (y pointing down) is exactly the turn that levels it.
    angle = float(np.degrees(np.arctan2(dy, dx)))
    scale = EYE_DISTANCE * side / float(np.hypot(dx, dy))
    matrix = cv2.getRotationMatrix2D((float(midpoint[0]), float(midpoint[1])), angle, scale)
    matrix[:, 2] += np.array(EYE_MIDPOINT) * side - midpoint   # the turn keeps the midpoint; now move it
    return FaceAlignment(tuple(tuple(float(v) for v in row) for row in matrix), side)
