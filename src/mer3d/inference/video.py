"""Frame sources for prediction: a video file, a folder of numbered frames, or a camera.

Every source yields BGR uint8 frames shaped (H, W, 3), numbered 0, 1, 2, ... in playback order,
and knows its frame rate, which the sliding windows need to cover the same time at any rate.
"""
from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Iterator

import av
import cv2
import numpy as np

from mer3d.data.frames import VIDEO_EXTENSIONS, select_frames, size_problem
from mer3d.errors import UserError

DEFAULT_FPS = 30.0

log = logging.getLogger("mer3d")


class FrameSource:
    """The frames of one input, read once, in order.

    ``name`` names the input in messages, ``fps`` is its frame rate, ``frame_count`` the number of
    frames it announces (None when unknown, as for a camera; once ``frames()`` is exhausted, the
    number actually read), ``is_live`` says whether it is a camera and ``size`` is the (width,
    height) of every frame. Opening reads the first frame, so an input without frames fails when
    it is opened rather than halfway through a prediction.
    """

    is_live = False

    def __init__(self, name: str, fps: float, frame_count: int | None, frames: Iterator[np.ndarray]):
        self.name, self.fps, self.frame_count = name, fps, frame_count
        try:
            first = next(frames, None)
        except BaseException:
            self.close()
            raise
        if first is None:
            self.close()
            raise UserError(f"no frames in {name}")
        problem = size_problem(first, name)
        if problem:
            self.close()
            raise UserError(problem)
        self.size = (first.shape[1], first.shape[0])
        self._unread: Iterator[np.ndarray] | None = itertools.chain([first], frames)

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, frame)`` from index 0; a source can be read only once."""
        if self._unread is None:
            raise RuntimeError(f"the frames of {self.name} were already read")
        unread, self._unread = self._unread, None
        count = 0
        for count, frame in enumerate(unread, start=1):
            yield count - 1, frame
        self.frame_count = count

    def close(self) -> None:
        """Release the input (nothing to release for a folder)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def open_source(spec: str | Path | int, fps: float | None = None) -> FrameSource:
    """The frame source ``spec`` names: a camera number (``0`` or ``"0"``), a frames folder or a
    video file. ``fps``, when given, overrides the input's own frame rate (frames folders have none;
    high-speed footage is often stored with a playback rate that is not its capture rate)."""
    if fps is not None and not fps > 0:
        raise UserError(f"{spec}: the frame rate must be positive, not {fps}")
    camera = _camera_index(spec)
    if camera is not None:
        return CameraSource(camera, fps)
    path = Path(spec)
    if path.is_dir():
        return FolderSource(path, fps)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder")
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        kinds = ", ".join(sorted(VIDEO_EXTENSIONS))
        raise UserError(f"{path}: not a video ({kinds}), a frames folder or a camera number")
    return VideoFileSource(path, fps)


def _camera_index(spec: str | Path | int) -> int | None:
    # A Path is always a file or folder; write ./0 for a folder named 0.
    if isinstance(spec, int):
        return spec
    if isinstance(spec, str) and spec.isascii() and spec.isdigit():
        return int(spec)
    return None


def _frame_rate(given: float | None, found: float | None, name: str) -> float:
    """The rate the caller gave, else the one found in the input, else 30 fps with a note."""
    if given is not None:
        return float(given)
    if found:
        return float(found)
    log.info("%s: no frame rate known, assuming %g fps (CASME II frames are 200 fps, CASME 60); "
             "give the real rate with --fps", name, DEFAULT_FPS)
    return DEFAULT_FPS


class FolderSource(FrameSource):
    """Numbered images (``img9.jpg`` before ``img10.jpg``); a folder has no frame rate of its own."""

    def __init__(self, folder: Path, fps: float | None):
        clip, messages = select_frames(folder, None, None)
        if clip is None:
            raise UserError("; ".join(messages))
        for message in messages:   # repeated or missing frame numbers: the timing is off there
            log.warning("%s: %s", folder, message)
        super().__init__(str(folder), _frame_rate(fps, None, str(folder)), len(clip.paths),
                         _read_images(clip.paths))


def _read_images(paths: tuple[Path, ...]) -> Iterator[np.ndarray]:
    shape = None
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"{path}: unreadable image")
        shape = shape or image.shape
        if image.shape != shape:
            raise UserError(f"{path}: frame is {image.shape[1]}x{image.shape[0]}, "
                            f"but the folder's first frame is {shape[1]}x{shape[0]}")
        yield image


class VideoFileSource(FrameSource):
    """A video file decoded with PyAV, turned upright where the file says it is rotated."""

    def __init__(self, path: Path, fps: float | None):
        try:
            self._container = av.open(str(path))
        except av.error.FFmpegError as error:
            raise UserError(f"{path}: cannot read video ({_reason(error)})") from None
        if not self._container.streams.video:
            self._container.close()
            raise UserError(f"{path}: no video stream")
        # Left without frame threading: it swallows decoding errors, and with them the warning.
        stream = self._container.streams.video[0]
        found = stream.average_rate or stream.guessed_rate
        super().__init__(str(path), _frame_rate(fps, found, str(path)), stream.frames or None,
                         self._decode(path, stream))

    def _decode(self, path: Path, stream: av.video.stream.VideoStream) -> Iterator[np.ndarray]:
        """Frames until the end, or until the file breaks off: a truncated recording still gives
        the frames before the damage, with a warning instead of an error."""
        decoded = 0
        try:
            for frame in self._container.decode(stream):
                yield _upright(frame)
                decoded += 1
        except av.error.FFmpegError as error:
            if not decoded:
                raise UserError(f"{path}: cannot decode video ({_reason(error)})") from None
            log.warning("%s: video breaks off after frame %d (%s); using the frames before it",
                        path, decoded - 1, _reason(error))
            return
        # Some containers (AVI) just end early when truncated; their header still knows the length.
        if self.frame_count and decoded < self.frame_count:
            log.warning("%s: video ends after frame %d of the %d it announces; truncated file?",
                        path, decoded - 1, self.frame_count)

    def close(self) -> None:
        self._container.close()


def _upright(frame: av.VideoFrame) -> np.ndarray:
    """BGR pixels as the video is meant to be seen: phones store portrait video sideways and tag
    the rotation, and a face detector would miss a sideways face."""
    image = frame.to_ndarray(format="bgr24")
    quarter_turns = round(frame.rotation / 90) % 4   # rotation is counter-clockwise, as np.rot90
    return np.ascontiguousarray(np.rot90(image, quarter_turns)) if quarter_turns else image


def _reason(error: av.error.FFmpegError) -> str:
    return error.strerror or str(error)


class CameraSource(FrameSource):
    """A live camera through OpenCV; it delivers frames until it is closed or unplugged."""

    is_live = True

    def __init__(self, index: int, fps: float | None):
        name = f"camera {index}"
        self._capture = _open_camera(index)
        if not self._capture.isOpened():
            raise UserError(f"{name}: cannot be opened (not connected, or in use by another program?)")
        found = self._capture.get(cv2.CAP_PROP_FPS)   # 0 when the driver does not say
        super().__init__(name, _frame_rate(fps, found, name), None, self._grab(name))

    def _grab(self, name: str) -> Iterator[np.ndarray]:
        for count in itertools.count():
            delivered, frame = self._capture.read()
            if not delivered:
                if count:   # a camera with no frame at all is reported by FrameSource
                    log.warning("%s stopped delivering frames after frame %d", name, count - 1)
                return
            yield frame

    def close(self) -> None:
        self._capture.release()


def _open_camera(index: int) -> cv2.VideoCapture:
    # OpenCV prints a warning per backend it tries for a missing camera; the UserError says it once.
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        return cv2.VideoCapture(index)
    finally:
        cv2.utils.logging.setLogLevel(level)
