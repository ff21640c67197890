"""SMIC (Li et al., FG 2013: SMIC-E / SMIC): labels from the folders, no annotation sheet.

Clips are ``<modality>/s<N>/micro/<negative|positive|surprise>/s<N>_<ne|po|sur>_<NN>/`` with
frames ``image<number>.bmp`` (the cropped release ``SMIC_all_cropped/<modality>/...`` names them
``reg_image<number>.bmp``; some copies hold ``.jpg``). ``<modality>`` is ``HS`` (high speed,
100 fps), ``VIS`` or ``NIR`` (25 fps), chosen by ``dataset.modality`` (hs | vis | nir); ``root``
may be the dataset folder, ``SMIC_all_cropped`` or the modality folder itself (``HS``). Where a
root holds both the raw and the cropped release, the shallower (raw) one is read.

The class is the class folder's name (all three classes are the standard set); a clip folder
whose tag disagrees with it (``negative/s1_po_01``) is a problem and is skipped. There is no
onset/apex/offset annotation: onset and offset are the first and last frame of the folder and
apex is None, so ``data.apex: annotated`` estimates the apex and ``middle`` takes the midpoint.
Subjects are kept as their folders name them (``s1``, ``s2``, ...); the MEGC composite list
writes ``s01``, which a caller matching that list must translate. With no sheet, each clip's
source is its folder and its row is None.
"""
from __future__ import annotations

import re
from pathlib import Path

from mer3d.data.frames import list_frames, subfolders
from mer3d.data.manifest import Annotation
from mer3d.data.records import Problem
from mer3d.errors import UserError

CLASSES = ("negative", "positive", "surprise")
VOCABULARY = frozenset(CLASSES)
MODALITIES = ("hs", "vis", "nir")
FPS = {"hs": 100.0, "vis": 25.0, "nir": 25.0}
TAGS = {"ne": "negative", "po": "positive", "sur": "surprise"}
CROPPED = "SMIC_all_cropped"
MICRO = "micro"
SUBJECT_FOLDER = re.compile(r"s(\d+)", re.IGNORECASE)
CLIP_NAME = re.compile(r"s\d+_([a-z]+)_\d+", re.IGNORECASE)


def check_modality(modality: str) -> str:
    if modality not in MODALITIES:
        raise UserError(f"dataset.modality must be one of {', '.join(MODALITIES)}, got '{modality}'")
    return modality


def find_folders(root: Path, annotations: str | Path | None) -> list[Path]:
    """SMIC has no annotation file: its labels are its folders."""
    if annotations:
        raise UserError(f"{annotations}: smic has no annotation sheet; its labels come from its folders")
    return []


def modality_folder(root: Path, modality: str = "hs") -> Path:
    """The ``HS``/``VIS``/``NIR`` folder holding the subject folders: root itself, ``root/<M>``,
    or ``<M>`` one folder down (``SMIC_all_cropped/HS``), shallowest first."""
    wanted = check_modality(modality).upper()
    candidates = [root] if root.name.upper() == wanted or root.name.upper() not in {m.upper() for m in MODALITIES} else []
    level = [root]
    for _ in range(2):
        children = [child for folder in level for child in sorted(subfolders(folder))]
        candidates += [child for child in children if child.name.upper() == wanted]
        level = [child for child in children if child.name.upper() not in {m.upper() for m in MODALITIES}]
    for folder in candidates:
        if _subject_folders(folder):
            return folder
    raise UserError(f"{root}: no SMIC {wanted} folder with subject folders (s1, s2, ...) found "
                    f"for dataset.modality={modality}")


def read_annotations(root: Path, sheets: list[Path], modality: str = "hs") -> tuple[list[Annotation], list[Problem]]:
    """One annotation per clip folder of the modality, labelled by its class folder."""
    fps = FPS[check_modality(modality)]
    annotations, problems = [], []
    for subject in _subject_folders(modality_folder(root, modality)):
        micro = next((f for f in sorted(subfolders(subject)) if f.name.lower() == MICRO), None)
        if micro is None:
            continue                    # subjects without micro-expressions have no micro folder
        for class_folder in sorted(subfolders(micro)):
            emotion = class_folder.name.lower()
            if emotion not in VOCABULARY:
                problems.append(Problem(str(class_folder), None, f"unknown class folder '{class_folder.name}' "
                                        f"(known: {', '.join(CLASSES)}); its clips are skipped"))
                continue
            for clip in sorted(subfolders(class_folder)):
                tagged = CLIP_NAME.fullmatch(clip.name)
                tag = tagged.group(1).lower() if tagged else None
                if tag is not None and TAGS.get(tag) != emotion:
                    problems.append(Problem(str(clip), None, f"clip {clip.name} is tagged '{tag}' but lies in "
                                            f"class folder {class_folder.name}; skipped"))
                    continue
                numbers = [number for number, _ in list_frames(clip)]
                # Empty and one-frame folders are reported by the frame check (select_frames).
                annotations.append(Annotation(
                    subject=subject.name, name=clip.name, emotion=emotion,
                    onset=numbers[0] if numbers else None, apex=None, offset=numbers[-1] if numbers else None,
                    action_units="", fps=fps, source=str(clip), row=None, folder=clip))
    return annotations, problems


def _subject_folders(folder: Path) -> list[Path]:
    """The ``s<N>`` folders, in subject-number order."""
    found = [(int(m.group(1)), f) for f in subfolders(folder) if (m := SUBJECT_FOLDER.fullmatch(f.name))]
    return [f for _, f in sorted(found)]

