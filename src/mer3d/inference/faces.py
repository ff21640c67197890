"""Finding the face in raw frames and video: one steady crop box per clip.

A micro-expression moves skin by one or two pixels, so a crop box that follows per-frame face
detections (which jitter by several pixels) would bury the expression under box motion. A clip
therefore gets a single box, found on its first frames (the onset end, before anything moves) and
used for every frame. Detection is OpenCV's Haar cascade, shipped inside opencv-python-headless:
no download, no extra dependency.

Eye alignment is deliberately absent: OpenCV's shipped eye cascade (the only eye finder without
another dependency) finds one eye of Grace Hopper's two behind her glasses, and its boxes put the
astronaut's level eyes at 3.7 degrees, more tilt than an upright face needs corrected.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from mer3d.errors import UserError

CASCADE_NAME = "haarcascade_frontalface_default.xml"
DETECTION_SIDE = 320        # px of the longest side the cascade sees (speed; a 640 x 480 frame is halved)
WEAK_VOTES = 0.25           # detections with fewer votes than this share of the best one's are dropped


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
                        f"opencv-python-headless>=4.9,<5 (pip install 'opencv-python-headless>=4.9,<5')")
    return cascade


def steady_box(frames_bgr: Sequence[np.ndarray], detector: FaceDetector, reference_frames: int = 5,
               margin: float = 0.2) -> tuple[FaceBox | None, int]:
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
