"""Preprocess clips once, as the paper does (OpenCV gray + resize), and keep them on disk.

Raw recordings (the face somewhere in a bigger scene) are first cropped to one steady face box per
clip; ``face_crop`` says when (see ``ClipCache``), and ``face_align`` whether the crop also levels
the eyes.

Each entry is one ``.npy`` file holding a uint8 array shaped (T, H, W, C), named by a hash of
everything that determines its content: the clip, its source files' sizes and modification times,
the size, the channel count, the face-crop setting and whether it cropped this clip, whether it
aligned the eyes, the motion magnification (``data.magnify``) and ``FORMAT_VERSION``. A change to
any of them gives a new name, so a stale entry is never read; entries are written atomically, so a
killed build leaves none half-written.

An entry's bytes are the ``.npy`` file followed by a 40-byte checksum trailer (``atomic.checksummed``:
``MER3DSUM`` and the BLAKE2b-256 digest of the ``.npy`` bytes; ``np.load`` ignores it). ``read_entry``
checks it, so an entry damaged later (truncated, a flipped bit, emptied, not an array) is rebuilt
with a warning naming it, never used. Processes sharing a cache at once may build the same entry
twice; each write is atomic and the contents equal, so neither sees a torn one.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from mer3d.atomic import ChecksumWriter, DamagedFile, atomic_path, verified
from mer3d.data.frames import UnreadableImage, read_image, size_problem
from mer3d.data.magnify import Magnification, magnify_clip
from mer3d.data.preprocess import preprocess_frame
from mer3d.data.records import ClipRecord
from mer3d.errors import UserError
from mer3d.inference.faces import (FaceAlignment, FaceBox, FaceDetector, LandmarkAligner, require_landmark_aligner,
                                   steady_box)

# Bump whenever preprocessing (face detection included) changes in a way the key does not capture,
# or the entry's layout changes (2: the checksum trailer).
FORMAT_VERSION = 2
FACE_CROP_MODES = ("auto", "on", "off")
RAW_FRAMES_FOLDER = "casme2_raw_selected"   # CASME II's uncropped frames, compared in lower case
SMIC_CROPPED_FOLDER = "smic_all_cropped"    # SMIC's cropped release; its other frames are whole scenes
REFERENCE_FRAMES = 5                        # first frames of a clip that place its face box

log = logging.getLogger("mer3d")


class UnusableClip(UserError):
    """One clip cannot be read or cropped (its frames or video are damaged, no face is found); the
    others may still be used."""


def default_cache_dir() -> Path:
    """``$MER3D_CACHE`` when set, else ``~/.cache/mer3d``."""
    configured = os.environ.get("MER3D_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "mer3d"


class ClipCache:
    """Preprocessed clips, built on first use and read from disk afterwards.

    ``size``: frames are resized to size x size. ``channels``: 1 = gray (cv2.cvtColor BGR2GRAY),
    3 = colour in RGB order. ``face_crop``: ``off`` resizes whole frames; ``on`` crops every frame
    of a clip to one steady face box first; ``auto`` (the configuration's default) crops raw
    recordings only (see ``is_raw``). YAML's ``true``/``false`` mean ``on``/``off``.
    ``face_align``: cropped clips are also turned and scaled so the eyes lie level at a fixed
    distance (``LandmarkAligner``; needs the ``align`` extra). ``magnify``: linear Eulerian motion
    magnification of the preprocessed clip (``data.magnify``), at the clip's own frame rate.
    """

    def __init__(self, cache_dir: str | Path | None = None, size: int = 128, channels: int = 1,
                 face_crop: str | bool = "off", face_align: bool = False, magnify: Magnification | None = None):
        if channels not in (1, 3):
            raise UserError(f"data.channels must be 1 or 3, not {channels}")
        if size < 1:
            raise UserError(f"data.size must be a positive number of pixels, not {size}")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.size = size
        self.channels = channels
        self.face_crop = face_crop_mode(face_crop)
        if face_align:
            require_landmark_aligner()   # now, not after decoding the first raw clip
        self.face_align = face_align
        self.magnify = magnify

    def crops_face(self, record: ClipRecord) -> bool:
        """Whether this clip's frames are cropped to its face before resizing."""
        return self.face_crop == "on" or (self.face_crop == "auto" and is_raw(record))

    def aligns_face(self, record: ClipRecord) -> bool:
        """Whether this clip's face crop is eye-aligned."""
        return self.face_align and self.crops_face(record)

    def entry_path(self, record: ClipRecord) -> Path:
        """Where the entry for ``record`` with these settings lives (whether built or not)."""
        identity = {
            "version": FORMAT_VERSION,
            "clip": record.key,
            "sources": _source_fingerprint(record),
            "size": self.size,
            "channels": self.channels,
            "face_crop": [self.face_crop, self.crops_face(record)],
        }
        if self.aligns_face(record):
            # Named only where it changes the entry, so every existing entry keeps its name.
            identity["face_align"] = True
        if self.magnify is not None:
            identity["magnify"] = self.magnify.key()
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()
        return self.cache_dir / "clips" / f"{digest}.npy"

    def load(self, record: ClipRecord) -> np.ndarray:
        """The preprocessed clip, uint8 (T, H, W, C); decoded and stored first when not cached."""
        path = self.entry_path(record)
        cached = read_entry(path)
        if cached is not None:
            return cached
        clip = self._preprocess(record)
        write_entry(path, clip)
        return clip

    def _preprocess(self, record: ClipRecord) -> np.ndarray:
        """Decode and normalise every frame of the clip: uint8 (T, size, size, channels)."""
        frames = _decode(record)
        face = self._face(record, frames) if self.crops_face(record) else None
        clip = np.stack([preprocess_frame(frame, self.size, self.channels, face) for frame in frames])
        if self.magnify is None:
            return clip
        if not record.fps:
            raise UserError(f"{_clip_location(record)}: data.magnify needs the clip's frame rate, which its "
                            f"annotation does not give")
        return magnify_clip(clip, record.fps, self.magnify)

    @cached_property
    def _detector(self) -> FaceDetector:
        return FaceDetector()

    @cached_property
    def _aligner(self) -> LandmarkAligner:
        return LandmarkAligner()

    def _face(self, record: ClipRecord, frames: list[np.ndarray]) -> FaceBox | FaceAlignment:
        """What every frame of the clip is cut to: its steady box, eye-aligned when asked."""
        box = self._face_box(record, frames)
        return self._aligner.align(frames, box, REFERENCE_FRAMES) if self.face_align else box

    def _face_box(self, record: ClipRecord, frames: list[np.ndarray]) -> FaceBox:
        """The clip's steady face box; never a silent fallback to the whole frame."""
        box, faces = steady_box(frames, self._detector, REFERENCE_FRAMES)
        where = _clip_location(record)
        if box is None:
            raise UnusableClip(f"{where}: no face found in the first {min(REFERENCE_FRAMES, len(frames))} frames "
                            f"(data.face_crop={self.face_crop}; use off for frames that are already face crops)")
        if faces > 1:
            log.warning("%s: %d faces in the first frames; took the largest", where, faces)
        return box


def face_crop_mode(value: str | bool) -> str:
    """``auto``, ``on`` or ``off``; YAML 1.1 reads an unquoted on/off as true/false."""
    mode = ("on" if value else "off") if isinstance(value, bool) else value
    if mode not in FACE_CROP_MODES:
        raise UserError(f"data.face_crop must be auto, on or off, not {value!r}")
    return mode


def is_raw(record: ClipRecord) -> bool:
    """Whether the clip is a raw recording, the face somewhere in a bigger scene: a video, CASME II
    frames under ``CASME2_RAW_selected``, SMIC frames outside ``SMIC_all_cropped``, or CAS(ME)^3's
    ``color`` frames (whole-scene camera frames; the release has no cropped faces). ``Cropped/``
    and other frame folders are taken to be face crops already."""
    if record.video is not None:
        return True
    if not record.frames:
        return False
    parts = [part.lower() for part in Path(record.frames[0]).parts]
    return (RAW_FRAMES_FOLDER in parts or record.dataset == "casme3"
            or (record.dataset == "smic" and SMIC_CROPPED_FOLDER not in parts))


def _clip_location(record: ClipRecord) -> Path | str:
    """What names the clip in messages: its video or frames folder."""
    if record.video is not None:
        return record.video
    return Path(record.frames[0]).parent if record.frames else record.key


def _decode(record: ClipRecord) -> list[np.ndarray]:
    """Every frame of the clip, BGR uint8."""
    if record.frames:
        return [_read_frame(path) for path in record.frames]
    if record.video is not None:
        return _read_video(record.video, record.onset, record.offset)
    where = record.source or record.key
    raise UnusableClip(f"{where}: clip {record.key} has neither frames nor a video")


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
        raise UnusableClip(f"{path}: cannot read ({error.strerror or error})") from None
    return [str(path), stat.st_size, stat.st_mtime_ns]


def _read_frame(path: Path) -> np.ndarray:
    """One image file -> BGR uint8 (H, W, 3)."""
    try:
        return read_image(path)
    except UnreadableImage as error:
        raise UnusableClip(str(error)) from None


def _read_video(path: Path, onset: int | None, offset: int | None) -> list[np.ndarray]:
    """BGR frames numbered onset..offset (from 0; the whole video where not given)."""
    first = onset or 0
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise UnusableClip(f"{path}: cannot open video (missing, corrupt or unsupported codec)")
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
        raise UnusableClip(f"{path}: video has {number} readable frames, but the clip ends at frame {offset}")
    if not frames:
        raise UnusableClip(f"{path}: no readable frames from frame {first} on")
    if len(frames) < 2:
        raise UnusableClip(f"{path}: one readable frame from frame {first} on; a clip needs at least 2 to show motion")
    return frames


def video_problem(path: Path, onset: int | None, offset: int | None) -> str | None:
    """Why training could not read the clip's frames from this video (every frame decoded), None
    when it can."""
    try:
        frames = _read_video(path, onset, offset)
    except UnusableClip as error:
        return str(error)
    return size_problem(frames[0], path)


def write_entry(path: Path, clip: np.ndarray) -> None:
    """Store ``clip`` at ``path`` atomically: its ``.npy`` bytes and their checksum trailer."""
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as file:
            writer = ChecksumWriter(file)
            np.save(writer, clip)
            writer.finish()
            file.flush()
            os.fsync(file.fileno())
    except OSError as error:
        raise UserError(f"{path}: cannot write cache entry ({error.strerror or error})") from None


def read_entry(path: Path) -> np.ndarray | None:
    """The array stored at ``path`` by ``write_entry``; None when there is none, or when the entry
    is damaged (then with a warning naming it: the caller rebuilds it)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise UserError(f"{path}: cannot read cache entry ({error.strerror or error})") from None
    try:
        return np.load(io.BytesIO(verified(data)), allow_pickle=False)
    except DamagedFile as error:
        reason = str(error)
    except (ValueError, EOFError, OSError) as error:   # checksum right, yet not an .npy array
        reason = f"not an array ({error.__class__.__name__})"
    log.warning("%s: damaged cache entry, rebuilding it (%s)", path, reason)
    return None
