"""A video of the predictions (``mer3d predict --render``): each input frame with the face box of
its window, beside a panel with the time, the predicted label and one probability bar per class.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import av
import cv2
import numpy as np

from mer3d.atomic import atomic_path
from mer3d.errors import UserError

BOX_COLOUR = (0, 255, 0)          # BGR; also the bar of the predicted class
BAR_COLOUR = (200, 160, 90)
PANEL_COLOUR = (32, 32, 32)
TEXT_COLOUR = (255, 255, 255)
NO_FACE = "no face"
FONT = cv2.FONT_HERSHEY_SIMPLEX
_BASE_HEIGHT = 480                # text and lines grow with frames taller than this
_FONT_SCALE = 0.45
_ROW = 18                         # panel row height in pixels at scale 1
_MARGIN = 8
_BAR_LENGTH = 100
_PERCENT_WIDTH = 40


def render_predictions(frames: Iterable[tuple[int, np.ndarray]], fps: float, out_path: str | Path,
                       windows: list[dict], classes: list[str]) -> None:
    """Write the frames with their windows' predictions to ``out_path``, an MP4 (H.264 where
    PyAV has libx264, else MPEG-4 Part 2), atomically.

    ``windows`` hold ``start_frame`` and ``end_frame`` (inclusive), ``face_box`` ([x, y, w, h] in
    frame pixels, or None), ``probabilities`` ({class: p}) and ``label``. Where windows overlap,
    a frame shows the window whose centre is nearest to it; a frame in no window, or whose window
    found no face, shows "no face".
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".mp4":
        raise UserError(f"{out_path}: the rendered video is an MP4 file; give it the .mp4 extension")
    window_of = _nearest_windows(windows)
    with atomic_path(out_path) as tmp, av.open(str(tmp), "w", format="mp4") as container:
        layout, stream = None, None
        for index, frame in frames:
            if layout is None:
                layout = _Layout.for_frame(frame, classes)
                stream = _add_video_stream(container, fps, layout.size)
            canvas = _draw(layout, frame, window_of.get(index), classes, index / fps)
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="bgr24")):
                container.mux(packet)
        if stream is None:
            raise ValueError("no frames to render")
        for packet in stream.encode():   # flush the frames the encoder still holds
            container.mux(packet)


def _nearest_windows(windows: list[dict]) -> dict[int, dict]:
    """For each frame index, the window covering it whose centre is nearest (the earlier on a tie)."""
    chosen: dict[int, tuple[float, dict]] = {}
    for window in windows:
        centre = (window["start_frame"] + window["end_frame"]) / 2
        for index in range(window["start_frame"], window["end_frame"] + 1):
            distance = abs(index - centre)
            if index not in chosen or distance < chosen[index][0]:
                chosen[index] = (distance, window)
    return {index: window for index, (_, window) in chosen.items()}


@dataclass(frozen=True)
class _Layout:
    """Where things go on an output frame: the input frame at the top left, the panel to its
    right, the whole padded to an even size (yuv420p stores colour per 2x2 pixels)."""

    frame_width: int
    frame_height: int
    class_count: int
    scale: float          # text, bars and lines grow with frames taller than _BASE_HEIGHT
    name_width: int       # the longest class name, in pixels

    @classmethod
    def for_frame(cls, frame: np.ndarray, classes: list[str]) -> _Layout:
        height, width = frame.shape[:2]
        scale = max(1.0, height / _BASE_HEIGHT)
        names = [cv2.getTextSize(name, FONT, _FONT_SCALE * scale, _text_thickness(scale))[0][0]
                 for name in classes]
        return cls(width, height, len(classes), scale, max(names, default=0))

    def px(self, pixels: float) -> int:
        return round(pixels * self.scale)

    @property
    def bar_left(self) -> int:
        return self.px(2 * _MARGIN) + self.name_width

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the output frames."""
        panel_width = self.bar_left + self.px(_BAR_LENGTH + _PERCENT_WIDTH + _MARGIN)
        panel_height = self.px(2 * _MARGIN + (2 + self.class_count) * _ROW)   # time, label, classes
        return _even(self.frame_width + panel_width), _even(max(self.frame_height, panel_height))


def _draw(layout: _Layout, frame: np.ndarray, window: dict | None, classes: list[str],
          time_s: float) -> np.ndarray:
    if frame.shape[:2] != (layout.frame_height, layout.frame_width):
        raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, "
                         f"the first was {layout.frame_width}x{layout.frame_height}")
    width, height = layout.size
    canvas = np.full((height, width, 3), PANEL_COLOUR, np.uint8)
    picture = canvas[: layout.frame_height, : layout.frame_width]
    picture[:] = frame
    face_window = window if window is not None and window["face_box"] is not None else None
    if face_window is not None:
        _draw_box(picture, face_window["face_box"], layout)   # drawn on the view: never over the panel
    _draw_panel(canvas[:, layout.frame_width :], layout, face_window, classes, time_s)
    return canvas


def _draw_box(picture: np.ndarray, box: list[float], layout: _Layout) -> None:
    x, y, w, h = (round(value) for value in box)
    cv2.rectangle(picture, (x, y), (x + w - 1, y + h - 1), BOX_COLOUR, max(2, layout.px(2)))


def _draw_panel(panel: np.ndarray, layout: _Layout, window: dict | None, classes: list[str],
                time_s: float) -> None:
    """Time, then the label (or "no face"), then a bar per class for a window with a face."""
    _write(panel, f"{time_s:.2f} s", layout.px(_MARGIN), 0, layout)
    _write(panel, NO_FACE if window is None else str(window["label"]), layout.px(_MARGIN), 1, layout)
    if window is None:
        return
    for row, name in enumerate(classes, start=2):
        probability = min(max(float(window["probabilities"].get(name, 0.0)), 0.0), 1.0)
        _write(panel, name, layout.px(_MARGIN), row, layout)
        top = layout.px(_MARGIN + row * _ROW + 4)
        right = layout.bar_left + round(probability * layout.px(_BAR_LENGTH))
        colour = BOX_COLOUR if name == window["label"] else BAR_COLOUR
        cv2.rectangle(panel, (layout.bar_left, top), (right, top + layout.px(_ROW - 8)), colour, cv2.FILLED)
        _write(panel, f"{probability:.0%}", layout.bar_left + layout.px(_BAR_LENGTH + _MARGIN), row, layout)


def _write(panel: np.ndarray, text: str, x: int, row: int, layout: _Layout) -> None:
    baseline = layout.px(_MARGIN + (row + 1) * _ROW - 5)
    cv2.putText(panel, text, (x, baseline), FONT, _FONT_SCALE * layout.scale, TEXT_COLOUR,
                _text_thickness(layout.scale), cv2.LINE_AA)


def _text_thickness(scale: float) -> int:
    return max(1, round(scale))


def _even(pixels: int) -> int:
    return pixels + pixels % 2


def _add_video_stream(container: av.container.OutputContainer, fps: float,
                      size: tuple[int, int]) -> av.video.stream.VideoStream:
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    return stream
