"""The MEGC 2019 composite recognition benchmark: CASME II + SAMM + SMIC-HS in three classes.

The benchmark is defined by its official clip list (442 rows ``db,subject,clip,label``, no header;
label 0 negative, 1 positive, 2 surprise), shipped inside the package as
``resources/megc2019_composite_3class.csv``; ``dataset.annotations`` may name another list in the
same format (the public 441-row variant without SAMM 032_3_1), and a root holding one
``megc2019*.csv`` (the demo's) uses that one. ``inspect`` names the list used. Each part is read
from its own folder by its own loader (``--root DIR`` holding ``casme2/``, ``samm/`` and ``smic/``,
or ``dataset.roots`` naming each), and only the listed clips are kept, labelled as the list labels
them. The list spells subjects and clips its own way (``sub01``, SAMM ``6``, SMIC ``s01`` and
``s01_ne_01`` where the folders say ``s1`` and ``s1_ne_01``), so names are matched with their
numbers compared as numbers. Subjects are namespaced per part (``casme2/sub01``, ``samm/006``,
``smic/s1``): 68 subjects in all, for leave-one-subject-out.
"""
from __future__ import annotations

import csv
import dataclasses
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mer3d.data.emotions import THREE_CLASSES, three_class
from mer3d.data.records import ClipRecord, Problem
from mer3d.errors import UserError

NAME = "megc2019"
PARTS = ("casme2", "samm", "smic")
LIST_NAME = "megc2019_composite_3class.csv"
# Folder names a part is found under in --root, compared lower-cased.
PART_FOLDERS = {"casme2": ("casme2", "casme_2", "casme ii", "casmeii"), "samm": ("samm",),
                "smic": ("smic", "smic-e", "smic_e", "smic-hs", "smic_hs")}

# Published results on the full composite (UF1, UAR), and per part where the paper gives them:
# MEGC 2019 summary (See et al., FG 2019) and each method's paper; all use LOSO over the 68
# subjects with a fixed recipe. Later methods (e.g. HTNet 0.8603 / 0.8475) are left out: their
# code keeps each test subject's best epoch, which mer3d never does.
PUBLISHED = {
    "LBP-TOP": {"composite": (0.5882, 0.5785), "casme2": (0.7026, 0.7429), "samm": (0.3954, 0.4102),
                "smic": (0.2000, 0.5280)},
    "Bi-WOOF": {"composite": (0.6296, 0.6227)},
    "OFF-ApexNet": {"composite": (0.7196, 0.7096)},
    "CapsuleNet": {"composite": (0.6520, 0.6506)},
    "Dual-Inception": {"composite": (0.7322, 0.7278)},
    "STSTNet": {"composite": (0.7353, 0.7605), "casme2": (0.8382, 0.8686), "samm": (0.6588, 0.6810),
                "smic": (0.6801, 0.7013)},
    "RCN": {"composite": (0.7432, 0.7190)},
}


@dataclass(frozen=True)
class ListedClip:
    """One row of the clip list: the part, subject and clip as the list spells them, the class."""

    part: str
    subject: str
    clip: str
    label: str
    row: int


def official_list() -> Path:
    """The shipped official clip list."""
    return Path(str(resources.files("mer3d.data").joinpath("resources", LIST_NAME)))


def clip_list(root: Path | None) -> Path:
    """The list a composite root brings with it (one ``megc2019*.csv`` directly in it, as the demo
    writes), else the official one."""
    own = sorted(root.glob("megc2019*.csv")) if root is not None else []
    return own[0] if len(own) == 1 else official_list()


def read_clip_list(path: str | Path) -> list[ListedClip]:
    """The rows of a clip list (``db,subject,clip,label``; a header row naming ``db`` is allowed)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read the clip list ({error.__class__.__name__})") from None
    listed, seen = [], {}
    for number, cells in enumerate(csv.reader(lines), start=1):
        cells = [cell.strip() for cell in cells]
        if not any(cells) or (number == 1 and cells[0].lower() == "db"):
            continue
        clip = _listed(path, number, cells)
        key = (clip.part, name_key(clip.subject), name_key(clip.clip))
        if key in seen:
            raise UserError(f"{path} row {number}: clip {clip.part}/{clip.clip} is listed again (row {seen[key]})")
        seen[key] = number
        listed.append(clip)
    if not listed:
        raise UserError(f"{path}: the clip list has no rows")
    return listed


def _listed(path: Path, number: int, cells: list[str]) -> ListedClip:
    if len(cells) != 4:
        raise UserError(f"{path} row {number}: expected 4 fields db,subject,clip,label, found {len(cells)}")
    part, subject, clip, label = cells
    if part.lower() not in PARTS:
        raise UserError(f"{path} row {number}: unknown db '{part}' (known: {', '.join(PARTS)})")
    if label not in ("0", "1", "2"):
        raise UserError(f"{path} row {number}: label must be 0 (negative), 1 (positive) or 2 (surprise), "
                        f"got '{label}'")
    if not subject or not clip:
        raise UserError(f"{path} row {number}: empty subject or clip")
    return ListedClip(part.lower(), subject, clip, THREE_CLASSES[int(label)], number)


def name_key(name: str) -> str:
    """How list and folder names are matched: lower case, no 'sub' prefix, numbers without leading
    zeros ('sub01' ~ '01', 's01_ne_01' ~ 's1_ne_01', '6' ~ '006')."""
    text = name.strip().lower().removeprefix("sub")
    return re.sub(r"\d+", lambda digits: str(int(digits.group())), text)


def check_parts(parts: list[str] | None) -> tuple[str, ...]:
    """``dataset.parts`` as a tuple in the benchmark's order; null means all three."""
    if parts is None:
        return PARTS
    if isinstance(parts, str):
        parts = [parts]
    unknown = [p for p in parts if str(p).lower() not in PARTS]
    if unknown or not parts:
        raise UserError(f"dataset.parts must name some of {', '.join(PARTS)}, got {parts}")
    chosen = {str(p).lower() for p in parts}
    return tuple(p for p in PARTS if p in chosen)


def part_roots(root: Path | None, roots: dict | None, parts: tuple[str, ...]) -> dict[str, Path]:
    """Each part's folder: ``roots[part]`` where given, else the part's folder in ``root``."""
    roots = {str(k).lower(): v for k, v in (roots or {}).items()}
    unknown = sorted(set(roots) - set(PARTS))
    if unknown:
        raise UserError(f"dataset.roots: unknown part '{unknown[0]}' (known: {', '.join(PARTS)})")
    found = {}
    for part in parts:
        if roots.get(part):
            folder = Path(roots[part]).expanduser()
        elif root is not None:
            folder = _part_folder(root, part)
        else:
            raise UserError(f"megc2019: no folder for part {part}; pass --root DIR holding {part}/ or set "
                            f"dataset.roots.{part}")
        if not folder.is_dir():
            raise UserError(f"megc2019: part {part} not found at {folder}; set dataset.roots.{part}=DIR, or leave "
                            f"the part out with dataset.parts (e.g. [{', '.join(p for p in parts if p != part)}])")
        found[part] = folder
    return found


def _part_folder(root: Path, part: str) -> Path:
    children = {child.name.lower(): child for child in sorted(root.iterdir()) if child.is_dir()} if root.is_dir() else {}
    return next((children[name] for name in PART_FOLDERS[part] if name in children), root / part)


def namespaced_subject(part: str, subject: str) -> str:
    """The composite's subject name: its part, then its folder name (CASME II's '01' is 'sub01')."""
    return f"{part}/sub{subject}" if part == "casme2" and not subject.startswith("sub") else f"{part}/{subject}"


def select_listed(part: str, records: list[ClipRecord], listed: list[ListedClip],
                  list_path: Path) -> tuple[list[ClipRecord], list[Problem]]:
    """The part's listed clips, relabelled with the list's class and namespaced, in list order,
    and a problem for every listed clip that is not usable on disk or whose own label disagrees."""
    by_name = {(name_key(r.subject), name_key(r.name)): r for r in records}
    clips, problems = [], []
    for entry in listed:
        record = by_name.get((name_key(entry.subject), name_key(entry.clip)))
        if record is None:
            problems.append(Problem(str(list_path), entry.row, f"listed clip {part} {entry.subject}/{entry.clip} "
                                    f"is not among the usable clips of the {part} folder; skipped"))
            continue
        own = three_class(record.emotion)
        if own != entry.label:
            problems.append(Problem(str(list_path), entry.row, f"listed as {entry.label}, but {record.source} "
                                    f"row {record.row} labels {record.name} '{record.emotion}'; the list's label is used"))
        clips.append(dataclasses.replace(record, dataset=part, emotion=entry.label,
                                         subject=namespaced_subject(part, record.subject)))
    return clips, problems
