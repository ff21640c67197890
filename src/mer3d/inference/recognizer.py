"""Recognize micro-expressions in any video: frames -> steady face crop -> 16-frame windows that
span what one training window spanned -> the training representation -> class probabilities.

A window is prepared exactly as a training clip: the same face crop, size and magnification, and
for motion representations the same flow method, computed at the same resolution. Its reference
frame (``diff``, onset-referenced flow) is the window's first frame: a video has no annotated onset.

    from mer3d import Recognizer
    recognizer = Recognizer.from_pretrained("runs/casme2")          # a run folder or .safetensors
    result = recognizer.predict_video("clip.mp4", stride=8)
    for w in result.windows:
        print(w.start_s, w.end_s, w.label, w.probabilities)
"""
from __future__ import annotations

import csv
import json
import logging
import math
import numbers
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from scipy.special import softmax

from ..atomic import atomic_path, atomic_write_text, check_writable
from ..data.preprocess import preprocess_frame
from ..data.flow import estimate_apex
from ..data.magnify import Magnification, magnify_clip
from ..data.motion_cache import motion_entry
from ..data.representation import flow_resolution, representation, to_network_input
from ..data.sampling import eval_window_starts, fit_length, take_window
from ..errors import UserError
from .backends import Backend, open_backend
from .faces import FaceDetector, LandmarkAligner, steady_box
from .video import open_source
from .windows import StreamingWindows, Window

log = logging.getLogger("mer3d")

DEFAULT_FPS = 200.0        # CASME II's rate, for weights that do not record their training frame rate
BATCH = 8
APEX_SEARCH_FRAMES = 16    # frames an apex-flow window reads to find its apex in
NO_FACE_HINT = " (frames that are already face crops, like CASME II's Cropped/, need --face-crop off)"
RESULT_SUFFIXES = (".json", ".csv")
NOT_FINITE = "the network's output is not a number (NaN or infinite); are the weights damaged?"
MAX_SPAN_FRAMES = 10 ** 7  # input frames one window may span: far beyond any micro-expression


def check_results_path(path: str | Path, option: str = "--out") -> Path:
    """Refuse up front a results file ``VideoPrediction.save`` could not write: a UserError naming
    ``option`` and ``path`` for a suffix other than .json/.csv or a place no file can be written."""
    path = Path(path)
    if path.suffix.lower() not in RESULT_SUFFIXES:
        raise UserError(f"{option} {path}: must end in .json or .csv")
    return check_writable(path, option)


def check_stride(stride, option: str = "stride") -> int:
    """``stride`` if it is a positive whole number of frames; a UserError naming ``option`` otherwise."""
    if isinstance(stride, bool) or not isinstance(stride, numbers.Integral) or stride < 1:
        raise UserError(f"{option} {stride!r}: must be a positive whole number of input frames")
    return int(stride)


def check_seconds(value, option: str = "duration") -> float:
    """``value`` (a number or numeric text) as seconds, if finite and positive; a UserError naming
    ``option`` otherwise."""
    try:
        seconds = float(value) if isinstance(value, (str, numbers.Real)) and not isinstance(value, bool) else None
    except ValueError:
        seconds = None
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise UserError(f"{option} {value!r}: expected a finite positive number of seconds, 'window' or 'typical'")
    return seconds


@dataclass(frozen=True)
class ClipPrediction:
    probabilities: dict[str, float]
    label: str


@dataclass(frozen=True)
class WindowPrediction:
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int
    face_box: list[int] | None
    probabilities: dict[str, float] | None
    label: str | None


@dataclass
class VideoPrediction:
    input: str
    fps: float
    classes: list[str]
    windows: list[WindowPrediction] = field(default_factory=list)
    no_face_spans: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    window_span_s: float = 0.0     # how much of the video each window covered (end_s - start_s)
    window_frames: int = 0         # frames the network read from each window

    def to_dict(self) -> dict:
        return {"input": self.input, "fps": self.fps, "classes": self.classes,
                "window_span_s": self.window_span_s, "window_frames": self.window_frames,
                "windows": [asdict(w) for w in self.windows], "no_face_spans": self.no_face_spans,
                "notes": self.notes}

    def save(self, path: str | Path) -> Path:
        """Write JSON (``.json``) or one CSV row per window (``.csv``)."""
        path = check_results_path(path)      # .json or .csv, writable
        if path.suffix.lower() == ".json":
            atomic_write_text(path, json.dumps(self.to_dict(), indent=2))
        else:
            self._save_csv(path)
        return path

    def _save_csv(self, path: Path) -> None:
        columns = ["start_s", "end_s", "start_frame", "end_frame", "face_box", "label"] + [f"p_{c}" for c in self.classes]
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for w in self.windows:
                row = {k: getattr(w, k) for k in columns[:6]}
                row["face_box"] = " ".join(map(str, w.face_box)) if w.face_box else ""
                row.update({f"p_{c}": f"{p:.6f}" for c, p in (w.probabilities or {}).items()})
                writer.writerow(row)


class Recognizer:
    """A trained mer3d model plus the exact preprocessing it was trained with."""

    def __init__(self, backend: Backend, detector: FaceDetector | None = None):
        self.backend = backend
        self.classes = list(backend.classes)
        data = backend.meta.get("data", {})
        self.channels, self.frames, self.size = backend.input_shape[0], backend.input_shape[1], backend.input_shape[2]
        self.data = data
        self.representation = representation(data.get("representation", "gray"))
        # Motion is computed on gray frames at the resolution training computed it at.
        self.frames_size = flow_resolution({**data, "size": self.size}) if self.representation.motion else self.size
        self.frames_channels = 1 if self.representation.motion else self.channels
        # Frames read per window: the network's, or for apex-flow (one image) enough to find an apex in.
        self.window_frames = APEX_SEARCH_FRAMES if self.representation.stored == "apex-flow" else self.frames
        self.magnification = Magnification.from_config(data.get("magnify"))
        # "window": the span of one training window (16 frames at the training rate), so the network
        # sees motion at the speed it learnt it; "typical": the training clips' onset-offset time.
        self.window_duration_s = backend.meta.get("window_duration_s") or self.frames / DEFAULT_FPS
        self.typical_duration_s = backend.meta.get("typical_duration_s")
        self.detector = detector or FaceDetector()
        # Eye-aligned crops where the weights were trained on them (weights from before the
        # setting existed were not).
        self.aligner = LandmarkAligner() if data.get("face_align", False) else None

    @classmethod
    def from_pretrained(cls, path: str | Path, backend: str = "torch", precision: str = "bf16") -> "Recognizer":
        return cls(open_backend(path, backend, precision))

    def _probabilities(self, clips: list[np.ndarray], fps: float) -> np.ndarray:
        """Softmax over the backend's logits for preprocessed clips (T, S, S, C) uint8 whose frames
        are ``fps`` apart."""
        x = np.stack([self.network_input(c, fps).numpy() for c in clips])
        return softmax(self.backend.predict_logits(x.astype(np.float32)), axis=1)

    def network_input(self, clip: np.ndarray, fps: float):
        """A preprocessed window (T, S, S, C) uint8 -> the network's input (C, T, H, W), computed as
        for training, with the window's first frame as its reference (and, for apex-flow, its
        estimated apex)."""
        if self.magnification is not None:
            clip = magnify_clip(clip, fps, self.magnification)
        stored = self.representation.stored
        if stored != "frames":
            gray, data = clip[..., 0], self.data
            apex = estimate_apex(gray) if stored == "apex-flow" else None
            clip = motion_entry(stored, gray, data.get("flow", "tvl1"), data.get("flow_reference", "onset"),
                                self.size, apex)
        return to_network_input(clip, clip[0], self.representation.name)

    def _crop_clip(self, frames: Sequence[np.ndarray], face_crop: bool) -> tuple[np.ndarray | None, list[int] | None, int]:
        """Preprocessed clip, face box and faces seen; the whole frame when ``face_crop`` is off
        (frames that are already face crops, like CASME II's Cropped/)."""
        if not face_crop:
            height, width = frames[0].shape[:2]
            clip = np.stack([preprocess_frame(f, self.frames_size, self.frames_channels) for f in frames])
            return clip, [0, 0, width, height], 1
        # A window repeats frames when it spans fewer input frames than the network takes; detect
        # on distinct frames only (detection is the costliest step of predict).
        distinct = list({id(f): f for f in frames}.values())
        box, faces = steady_box(distinct, self.detector)
        if box is None:
            return None, None, 0
        face = self.aligner.align(distinct, box) if self.aligner else box
        clip = np.stack([preprocess_frame(f, self.frames_size, self.frames_channels, face) for f in frames])
        return clip, box.as_list(), faces

    def predict_clip(self, frames: Sequence[np.ndarray], face_crop: bool = True,
                     fps: float | None = None) -> ClipPrediction:
        """One clip of BGR frames (a whole micro-expression, onset first, ``fps`` apart: by default
        the training rate): the window centred on the middle, as in evaluation. ``face_crop=False``
        for frames that are already face crops."""
        frames = [f if f.ndim == 3 else np.repeat(f[..., None], 3, axis=2) for f in frames]
        clip, _, _ = self._crop_clip(frames, face_crop)
        if clip is None:
            raise UserError(f"no face found in the clip's first frames{NO_FACE_HINT}")
        if self.representation.stored == "apex-flow":   # onset to (estimated) apex: the whole clip
            window = clip
        else:
            clip = fit_length(clip, self.frames)
            window = take_window(clip, eval_window_starts(len(clip), self.frames, None)[0], self.frames)
        probs = self._probabilities([window], fps or self.backend.meta.get("fps") or DEFAULT_FPS)[0]
        if not np.isfinite(probs).all():
            raise UserError(f"the clip: {NOT_FINITE}")
        return ClipPrediction({c: float(p) for c, p in zip(self.classes, probs)}, self.classes[int(probs.argmax())])

    def duration(self, duration_s: float | str | None) -> float:
        """Seconds one window spans: a number, ``"window"`` (one training window's span), ``"typical"``
        (the training clips' typical onset-offset duration, else the window's) or None, the default:
        ``"window"``, so the network sees motion at its training speed; ``"typical"`` for apex-flow,
        whose one image needs a window that holds a micro-expression's onset and apex."""
        if duration_s is None:
            duration_s = "typical" if self.representation.stored == "apex-flow" else "window"
        if duration_s == "window":
            return self.window_duration_s
        if duration_s == "typical":
            return self.typical_duration_s or self.window_duration_s
        return check_seconds(duration_s)

    def predict_video(self, source: str | Path | int, stride: int = 8, duration_s: float | str | None = None,
                      fps: float | None = None, on_window: Callable[[WindowPrediction], None] | None = None,
                      face_crop: bool = True) -> VideoPrediction:
        """Slide 16-frame windows spanning ``duration_s`` seconds (default: the training data's
        typical micro-expression duration, see ``duration``) every ``stride`` input frames over a
        video file, a frames folder or a camera index."""
        stride, span_s = check_stride(stride), self.duration(duration_s)    # before the input is opened
        if fps is not None and not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
            raise UserError(f"fps {fps!r}: the input's frame rate must be a finite positive number")
        with open_source(source, fps=fps) as src:
            if span_s * src.fps > MAX_SPAN_FRAMES:
                raise UserError(f"{source}: a window of {span_s:g} s spans more than {MAX_SPAN_FRAMES} frames "
                                f"at {src.fps:g} fps; give a shorter duration")
            stream = StreamingWindows(src.fps, span_s, self.window_frames, stride)
            result = VideoPrediction(str(source), float(src.fps), self.classes,
                                     window_span_s=stream.span / src.fps, window_frames=self.window_frames)
            _note(result, f"each window: {self.window_frames} frames read from {stream.span} input frames "
                          f"({stream.span / src.fps:.3f} s at {src.fps:g} fps)")
            pending: list[tuple[Window, list[np.ndarray]]] = []
            for index, frame in src.frames():
                pending += stream.push(index, frame)
                if len(pending) >= BATCH or (pending and src.is_live):
                    self._decide(pending, result, on_window, face_crop)
                    pending = []
            self._decide(pending + stream.finish(), result, on_window, face_crop)
        if not result.windows:
            raise UserError(f"{source}: shorter than one window ({stream.span} frames at {src.fps:g} fps)")
        if all(w.label is None for w in result.windows):
            raise UserError(f"{source}: no face found anywhere in the video{NO_FACE_HINT}")
        return result

    def _decide(self, pending, result: VideoPrediction, on_window, face_crop: bool) -> None:
        crops, faces = [], []
        for window, frames in pending:
            clip, box, count = self._crop_clip(frames, face_crop)
            crops.append(clip)
            faces.append(box)
            if count > 1:
                _note(result, f"several faces in frames {window.start_frame}-{window.end_frame}: took the largest")
        ready = [c for c in crops if c is not None]
        # A window's frames are spread over its span: their own rate is frames / span.
        probs = iter(self._probabilities(ready, self.window_frames / result.window_span_s)) if ready else iter(())
        for (window, _), clip, box in zip(pending, crops, faces):
            p = next(probs) if clip is not None else None
            if p is not None and not np.isfinite(p).all():
                raise UserError(f"{result.input}: window of frames {window.start_frame}-{window.end_frame} "
                                f"({window.start_s(result.fps):.3f}-{window.end_s(result.fps):.3f} s): {NOT_FINITE}")
            prediction = WindowPrediction(
                window.start_s(result.fps), window.end_s(result.fps), window.start_frame, window.end_frame, box,
                {c: float(v) for c, v in zip(self.classes, p)} if p is not None else None,
                self.classes[int(p.argmax())] if p is not None else None)
            result.windows.append(prediction)
            if p is None:
                _extend_no_face(result, prediction)
            if on_window:
                on_window(prediction)


def _note(result: VideoPrediction, text: str) -> None:
    if text not in result.notes:
        result.notes.append(text)


def _extend_no_face(result: VideoPrediction, w: WindowPrediction) -> None:
    """Merge overlapping windows without a face into spans, reported as such (never guessed)."""
    spans = result.no_face_spans
    if spans and w.start_frame <= spans[-1]["end_frame"] + 1:
        spans[-1].update(end_frame=max(spans[-1]["end_frame"], w.end_frame), end_s=max(spans[-1]["end_s"], w.end_s))
    else:
        spans.append({"start_s": w.start_s, "end_s": w.end_s, "start_frame": w.start_frame, "end_frame": w.end_frame})

