"""The frames of a clip folder: finding the folder, ordering its frames, checking them.

Frame files carry their frame number as the last run of digits in the name (``reg_img46.jpg``,
``img46.jpg``, ``EP02_01f-46.jpg``, ``006_05562.jpg``); frames are ordered by that number, never
by name, so ``img9`` comes before ``img10``.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mer3d.errors import UserError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm"})
SUBJECT_FOLDER = re.compile(r"sub\d+")   # as clip_folder names them: sub01, never Sub01
_DIGIT_RUNS = re.compile(r"\d+")
_SEARCH_DEPTH = 4          # CASME_A/Section A/subNN sits 2 deep, a doubly nested raw copy 3
_EXAMPLES_SHOWN = 5
MIN_FRAME_SIDE = 16        # px


def frame_number(path: str | Path) -> int | None:
    """The last run of digits in the file's stem (``EP02_01f-46.jpg`` -> 46), None without one."""
    runs = _DIGIT_RUNS.findall(Path(path).stem)
    return int(runs[-1]) if runs else None


def list_frames(folder: str | Path) -> list[tuple[int, Path]]:
    """``(frame number, path)`` of the folder's numbered images, in numerical order."""
    numbered = []
    for path in Path(folder).iterdir():
        # Dot files such as macOS '._img46.jpg' copies are metadata, not frames.
        if path.name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            continue
        number = frame_number(path)
        if number is not None:
            numbered.append((number, path))
    return sorted(numbered)


class UnreadableImage(Exception):
    """A frame that training could not use: missing, corrupt, truncated, or too small."""


def read_image(path: str | Path) -> np.ndarray:
    """One frame as training reads it: BGR uint8 (H, W, 3). A file OpenCV cannot decode completely
    (a truncated JPEG included) or smaller than ``MIN_FRAME_SIDE`` on a side is an UnreadableImage."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # unlike cv2.imread, handles non-ASCII paths
    except OSError as error:
        raise UnreadableImage(f"{path}: cannot read ({error.strerror or error})") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise UnreadableImage(f"{path}: cannot decode image (corrupt, truncated or not an image)")
    problem = size_problem(image, path)
    if problem:
        raise UnreadableImage(problem)
    return image


def size_problem(frame: np.ndarray, name) -> str | None:
    """Why a frame is too small to show a micro-expression (below ``MIN_FRAME_SIDE`` on a side),
    naming ``name`` (its file or input); None when it is large enough."""
    if min(frame.shape[:2]) >= MIN_FRAME_SIDE:
        return None
    return (f"{name}: frames are {frame.shape[1]}x{frame.shape[0]} px, smaller than the "
            f"{MIN_FRAME_SIDE}x{MIN_FRAME_SIDE} px a face needs to show any movement")


def image_problem(path: str | Path) -> str | None:
    """Why training could not use this frame (``read_image``), None when it can."""
    try:
        read_image(path)
    except UnreadableImage as error:
        return str(error)
    return None


def subject_parents(root: Path, pattern: re.Pattern = SUBJECT_FOLDER,
                    what: str = "subject folders (sub01, sub02, ...)") -> list[Path]:
    """Folders at or below ``root`` that hold subject folders (``sub01`` ...), shallowest first.

    Copies of the datasets wrap the subject folders differently (``Cropped/``,
    ``CASME2_RAW_selected/CASME2_RAW_selected/``, ``CASME_A/Section A/``, or none when ``root`` is
    the frames folder itself), so they are searched for rather than assumed. ``pattern`` names a
    subject folder (CASME II's ``sub01`` by default), ``what`` them in the error.
    """
    parents, level = [], [root]
    for _ in range(_SEARCH_DEPTH):
        below = []
        for folder in level:
            children = sorted(subfolders(folder))
            if any(pattern.fullmatch(child.name) for child in children):
                parents.append(folder)
            below += [child for child in children if not pattern.fullmatch(child.name)]
        level = below
    if not parents:
        raise UserError(f"{root}: no {what} found; is this the dataset root?")
    return parents


def subfolders(folder: Path) -> list[Path]:
    """The folders directly inside ``folder``, hidden ones left out, in no particular order."""
    with os.scandir(folder) as entries:
        return [Path(e.path) for e in entries if e.is_dir() and not e.name.startswith(".")]


def clip_folder(parents: list[Path], subject: str, name: str) -> Path:
    """``<parent>/sub<subject>/<name>`` under the first parent that has it, else under the first
    parent (a path that does not exist, for the missing-folder message)."""
    candidates = [parent / f"sub{subject}" / name for parent in parents]
    return next((c for c in candidates if c.is_dir()), candidates[0])


@dataclass(frozen=True)
class ClipFrames:
    """The frames of a clip kept after matching the folder against the annotated range."""

    paths: tuple[Path, ...]
    numbers: tuple[int, ...]


def select_frames(folder: Path, onset: int | None, offset: int | None,
                  check_images: bool = False) -> tuple[ClipFrames | None, list[str]]:
    """The folder's frames within ``onset..offset``, and a message for every disagreement.

    A missing or unset ``onset``/``offset`` keeps the folder's frames from its first / up to its
    last. Returns None instead of frames when nothing usable remains.
    """
    if not folder.is_dir():
        return None, [f"missing frame folder {folder}"]
    frames, messages = _first_per_number(list_frames(folder), folder)
    if not frames:
        return None, [f"no frames in {folder}"]
    first, last = frames[0][0], frames[-1][0]
    low = first if onset is None else onset
    high = last if offset is None else offset
    messages += _range_messages(folder, onset, offset, first, last)
    kept = [(n, p) for n, p in frames if low <= n <= high]
    if len(kept) < len(frames):
        messages.append(f"{len(frames) - len(kept)} frames outside onset..offset {low}..{high} ignored")
    if not kept:
        return None, messages + [f"no frames of {folder} inside onset..offset {low}..{high}"]
    if len(kept) < 2:
        return None, messages + [f"only one frame of {folder} inside onset..offset {low}..{high}: "
                                 f"a clip needs at least 2 frames to show any motion"]
    messages += _gap_messages(kept, max(low, first), min(high, last))
    if check_images:
        unreadable = [problem for _, p in kept if (problem := image_problem(p))]
        if unreadable:
            more = f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""
            return None, messages + [f"unreadable image {unreadable[0]}{more}"]
    numbers, paths = zip(*kept)
    return ClipFrames(tuple(paths), tuple(numbers)), messages


def _first_per_number(frames: list[tuple[int, Path]], folder: Path) -> tuple[list[tuple[int, Path]], list[str]]:
    # Two files with one number (img46.jpg and img46.png) would put a frame twice into the clip.
    unique: dict[int, Path] = {}
    for number, path in frames:
        unique.setdefault(number, path)
    repeated = len(frames) - len(unique)
    messages = [f"{repeated} files in {folder} repeat a frame number; the first by name is used"] if repeated else []
    return sorted(unique.items()), messages


def _range_messages(folder: Path, onset: int | None, offset: int | None, first: int, last: int) -> list[str]:
    messages = []
    if onset is not None and onset < first:
        messages.append(f"onset {onset} is before the first frame {first} in {folder}")
    if offset is not None and offset > last:
        messages.append(f"offset {offset} is after the last frame {last} in {folder}")
    return messages


def _gap_messages(kept: list[tuple[int, Path]], low: int, high: int) -> list[str]:
    present = {n for n, _ in kept}
    missing = [n for n in range(low, high + 1) if n not in present]
    if not missing:
        return []
    shown = ", ".join(map(str, missing[:_EXAMPLES_SHOWN])) + (", ..." if len(missing) > _EXAMPLES_SHOWN else "")
    return [f"{len(missing)} missing frames between {low} and {high}: {shown}"]
