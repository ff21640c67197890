"""Frame-rate-aware sliding windows: which input frames the network reads for each prediction.

The network reads ``frames`` (16) frames at a time. A micro-expression takes about the same time
at any frame rate, so a window covers ``duration_s`` seconds of input (the span: 100 frames of a
200 fps CASME II video for 0.5 s, 15 of a 30 fps webcam) and its ``frames`` indices are spread
evenly over that span. When the span has fewer frames than the network reads, indices repeat:
temporal upsampling by nearest frame, so a window keeps its duration at any rate rather than
stretching over neutral frames around the expression.

Windows start every ``stride`` input frames. Positions are 0-based input frame indices and rounding
is half up throughout (Python's ``round`` rounds halves to even, which would make the spacing of
indices uneven).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

Item = TypeVar("Item")


@dataclass(frozen=True)
class Window:
    """Input frames ``start_frame`` .. ``end_frame`` (inclusive) and the ``indices`` of the frames
    the network reads from them, in order (repeated where the span is shorter than the window)."""

    start_frame: int
    end_frame: int
    indices: tuple[int, ...]

    def start_s(self, fps: float) -> float:
        """When the window's first frame starts, in seconds from the first input frame."""
        return self.start_frame / fps

    def end_s(self, fps: float) -> float:
        """When the window's last frame ends, so ``end_s - start_s`` is the span's duration."""
        return (self.end_frame + 1) / fps


def window_span(fps: float, duration_s: float) -> int:
    """Input frames one window covers: ``duration_s * fps`` rounded half up, at least 1.

    Deliberately not raised to the network's frame count (see the module docstring).
    """
    _require_positive(fps=fps, duration_s=duration_s)
    return max(1, _round_half_up(duration_s * fps))


def sliding_windows(frame_count: int, fps: float, duration_s: float, frames: int = 16,
                    stride: int = 8) -> list[Window]:
    """Windows over an input of ``frame_count`` frames, one starting every ``stride`` frames.

    A window that would run past the last frame is left out, except that an input shorter than a
    span gets one window over all its frames (so every non-empty input gets a prediction).
    """
    span = window_span(fps, duration_s)
    _require_positive(frames=frames, stride=stride)
    if frame_count < 1:
        return []
    if frame_count < span:
        return [_window(0, frame_count, frames)]
    return [_window(start, span, frames) for start in range(0, frame_count - span + 1, stride)]


class StreamingWindows(Generic[Item]):
    """``sliding_windows`` for an input of unknown length, such as a camera: push each frame (or
    anything computed from it, such as a face crop) as it arrives and get every window it completes.

    Only the last ``span`` items are kept, so memory stays bounded however long the stream runs.
    """

    def __init__(self, fps: float, duration_s: float, frames: int = 16, stride: int = 8):
        self.span = window_span(fps, duration_s)
        _require_positive(frames=frames, stride=stride)
        self.frames, self.stride = frames, stride
        self._recent: deque[Item] = deque(maxlen=self.span)   # all that a later window can need
        self._count = 0

    def push(self, index: int, item: Item) -> list[tuple[Window, list[Item]]]:
        """Add input frame ``index`` (0, 1, 2, ... without gaps); the windows it completes, each
        with its items in window order."""
        if index != self._count:
            raise ValueError(f"expected frame {self._count} next, not {index}")
        self._recent.append(item)
        self._count += 1
        start = self._count - self.span
        if start < 0 or start % self.stride:
            return []
        return [self._take(_window(start, self.span, self.frames))]

    def finish(self) -> list[tuple[Window, list[Item]]]:
        """At the end of the stream: the one window over all frames of a stream shorter than a
        span (as ``sliding_windows`` gives), else nothing."""
        if 0 < self._count < self.span:
            return [self._take(_window(0, self._count, self.frames))]
        return []

    def _take(self, window: Window) -> tuple[Window, list[Item]]:
        first_kept = self._count - len(self._recent)
        return window, [self._recent[index - first_kept] for index in window.indices]


def _window(start: int, length: int, frames: int) -> Window:
    """The window over input frames ``start`` .. ``start + length - 1``."""
    end = start + length - 1
    return Window(start, end, tuple(_round_half_up(position) for position in np.linspace(start, end, frames)))


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def _require_positive(**values: float) -> None:
    for name, value in values.items():
        if not value > 0:
            raise ValueError(f"{name} must be positive, not {value}")
