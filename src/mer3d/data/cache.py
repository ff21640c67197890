"""Preprocess clips once, as the paper does (OpenCV gray + resize), and keep them on disk.

Each entry is one ``.npy`` file holding a uint8 array shaped (T, H, W, C), named by a hash of
everything that determines its content: the clip, its source files' sizes and modification times,
the size, the channel count and ``FORMAT_VERSION``. A change to any of them gives a new name, so a
stale entry is never read; entries are written atomically, so a killed build leaves none half-written.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np
from tqdm import tqdm

from mer3d.atomic import atomic_path
from mer3d.data.records import ClipRecord
from mer3d.errors import UserError

# Bump whenever preprocessing changes in a way the key does not capture.
FORMAT_VERSION = 1


def default_cache_dir() -> Path:
    """``$MER3D_CACHE`` when set, else ``~/.cache/mer3d``."""
    configured = os.environ.get("MER3D_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "mer3d"


class ClipCache:
    """Preprocessed clips, built on first use and read from disk afterwards.

    ``size``: frames are resized to size x size. ``channels``: 1 = gray (cv2.cvtColor BGR2GRAY),
    3 = colour in RGB order.
    """

    def __init__(self, cache_dir: str | Path | None = None, size: int = 128, channels: int = 1):
        if channels not in (1, 3):
            raise UserError(f"data.channels must be 1 or 3, not {channels}")
        if size < 1:
            raise UserError(f"data.size must be a positive number of pixels, not {size}")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.size = size
        self.channels = channels

    def entry_path(self, record: ClipRecord) -> Path:
        """Where the entry for ``record`` with these settings lives (whether built or not)."""
        identity = {
            "version": FORMAT_VERSION,
            "clip": record.key,
            "sources": _source_fingerprint(record),
            "size": self.size,
            "channels": self.channels,
        }
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()
        return self.cache_dir / "clips" / f"{digest}.npy"

    def load(self, record: ClipRecord) -> np.ndarray:
        """The preprocessed clip, uint8 (T, H, W, C); decoded and stored first when not cached."""
        path = self.entry_path(record)
        if path.exists():
            return np.load(path)
        clip = self._preprocess(record)
        _write_entry(path, clip)
        return clip

    def build(self, records: Iterable[ClipRecord], progress: bool = True) -> list[np.ndarray]:
        """``load`` every record, in order, with a progress bar."""
        records = list(records)
        bar = tqdm(records, desc="Preprocessing", unit="clip", disable=not progress)
        return [self.load(record) for record in bar]

    def _preprocess(self, record: ClipRecord) -> np.ndarray:
        """Decode and normalise every frame of the clip: uint8 (T, size, size, channels)."""
        if record.frames:
            frames = [_read_frame(path) for path in record.frames]
        elif record.video is not None:
            frames = _read_video(record.video, record.onset, record.offset)
        else:
            where = record.source or record.key
            raise UserError(f"{where}: clip {record.key} has neither frames nor a video")
        return np.stack([self._normalise(frame) for frame in frames])

    def _normalise(self, bgr: np.ndarray) -> np.ndarray:
        """One BGR frame -> uint8 (size, size, channels), the paper's cvtColor + resize."""
        code = cv2.COLOR_BGR2GRAY if self.channels == 1 else cv2.COLOR_BGR2RGB
        converted = cv2.cvtColor(bgr, code)
        height, width = converted.shape[:2]
        # INTER_AREA averages the pixels it merges; when enlarging it degrades to nearest neighbour.
        shrinking = self.size <= height and self.size <= width
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        resized = cv2.resize(converted, (self.size, self.size), interpolation=interpolation)
        return resized.reshape(self.size, self.size, self.channels)


def _source_fingerprint(record: ClipRecord) -> list:
    """The source files with their sizes and modification times (plus the kept range of a video)."""
    if record.frames:
        return [_file_stamp(path) for path in record.frames]
    if record.video is not None:
        return [_file_stamp(record.video), record.onset, record.offset]
    return []


def _file_stamp(path: Path) -> list:
    try:
        stat = Path(path).stat()
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror or error})") from None
    return [str(path), stat.st_size, stat.st_mtime_ns]


def _read_frame(path: Path) -> np.ndarray:
    """One image file -> BGR uint8 (H, W, 3)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # unlike cv2.imread, handles non-ASCII paths
    except OSError as error:
        raise UserError(f"{path}: cannot read ({error.strerror or error})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise UserError(f"{path}: cannot decode image (corrupt, truncated or not an image)")
    return image


def _read_video(path: Path, onset: int | None, offset: int | None) -> list[np.ndarray]:
    """BGR frames numbered onset..offset (from 0; the whole video where not given)."""
    first = onset or 0
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise UserError(f"{path}: cannot open video (missing, corrupt or unsupported codec)")
    frames, number = [], 0
    try:
        # Reading sequentially rather than seeking: seeking is frame-inexact for many codecs.
        while offset is None or number <= offset:
            ok, frame = capture.read()
            if not ok:
                break
            if number >= first:
                frames.append(frame)
            number += 1
    finally:
        capture.release()
    if offset is not None and number <= offset:
        raise UserError(f"{path}: video has {number} readable frames, but the clip ends at frame {offset}")
    if not frames:
        raise UserError(f"{path}: no readable frames from frame {first} on")
    return frames


def _write_entry(path: Path, clip: np.ndarray) -> None:
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as file:
            np.save(file, clip)
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        raise UserError(f"{path}: cannot write cache entry ({error.strerror or error})") from None
