"""Load a dataset by name, checking every annotation against the files, and report on it.

    dataset = load_dataset("casme2", "/data/CASME2", genders="subject_genders.csv")
    report = inspect_dataset("casme2", "/data/CASME2")     # JSON-ready dict
    print(format_inspection(report))
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from mer3d.data import casme, casme2, casme3, manifest, megc2019, samm, smic
from mer3d.data.cache import video_problem
from mer3d.data.emotions import THREE_CLASSES
from mer3d.data.frames import select_frames
from mer3d.data.inputs import apex_agreement
from mer3d.data.manifest import Annotation, annotation_file, read_subject_genders
from mer3d.data.sampling import resample_in_time
from mer3d.data.records import GENDERS, ClipRecord, Dataset, Problem
from mer3d.errors import UserError


@dataclass(frozen=True)
class DatasetSpec:
    """How to read one dataset, and its label conventions."""

    find_annotations: Callable[[Path, str | Path | None], list[Path]]
    read_annotations: Callable[[Path, list[Path]], tuple[list[Annotation], list[Problem]]]
    classes: tuple[str, ...] | None       # the standard class set; None: every label found
    vocabulary: frozenset[str] | None     # emotions the annotators used; None: any label
    # Datasets whose sheet offers a choice of labels (dataset.labels): the standard classes and the
    # vocabulary of a choice; their read_annotations takes the choice as a third argument.
    label_sets: Callable[[str], tuple[tuple[str, ...], frozenset[str]]] | None = None
    # Datasets recorded by several cameras (dataset.modality): the modalities, the first the default;
    # their read_annotations takes the choice as the keyword ``modality``.
    modalities: tuple[str, ...] | None = None


COMPOSITE = megc2019.NAME   # read by composing the loaders of its parts
DATASETS = {
    "casme2": DatasetSpec(casme2.find_sheet, casme2.read_annotations, casme2.CLASSES, casme2.VOCABULARY),
    "casme": DatasetSpec(casme.find_sheets, casme.read_annotations, casme.CLASSES, casme.VOCABULARY),
    "samm": DatasetSpec(samm.find_sheet, samm.read_annotations, samm.CLASSES, samm.VOCABULARY, samm.label_set),
    "smic": DatasetSpec(smic.find_folders, smic.read_annotations, smic.CLASSES, smic.VOCABULARY,
                        modalities=smic.MODALITIES),
    "casme3": DatasetSpec(casme3.find_sheet, casme3.read_annotations, casme3.CLASSES, casme3.VOCABULARY,
                          casme3.label_set),
    "csv": DatasetSpec(manifest.find_manifest, manifest.read_manifest, None, None),
}


def load_dataset(name: str, root: str | Path, annotations: str | Path | None = None,
                 classes: list[str] | None = None, check_images: bool = False,
                 *, progress: bool = False, genders: str | Path | None = None, labels: str = "emotion",
                 modality: str = "hs", roots: dict | None = None, parts: list[str] | None = None,
                 allow_outside_root: bool = False) -> Dataset:
    """The usable clips of ``classes`` (default: the dataset's standard set), with every problem found.

    ``annotations`` names the sheet/manifest when it is not found under ``root``. With
    ``check_images`` every frame is decoded and a clip with an unreadable one is dropped.
    ``genders`` is a subject-gender CSV (``manifest.read_subject_genders``) for datasets whose
    annotation has no gender column. ``labels`` chooses the sheet's label column where it has a
    choice (``dataset.labels``: SAMM's ``emotion`` or ``objective`` classes). ``modality`` chooses
    the camera of a dataset recorded by several (``dataset.modality``: SMIC's ``hs``, ``vis`` or ``nir``).
    For the composite ``megc2019``, ``annotations`` is its clip list (default: the official one),
    ``roots`` maps parts to folders where they are not ``root/<part>``, and ``parts`` keeps some parts.
    """
    if name == COMPOSITE:
        return _load_composite(root, annotations, classes, check_images, progress, roots, parts)[0]
    return _load(name, root, annotations, classes, check_images, progress, genders, labels, modality,
                 allow_outside_root)[0]



def _load_composite(root: str | Path | None, clip_list: str | Path | None, classes: list[str] | None,
                    check_images: bool, progress: bool, roots: dict | None,
                    parts: list[str] | None) -> tuple[Dataset, list[Path]]:
    """The listed clips of every chosen part, each part read by its own loader with all its emotions,
    relabelled in the list's three classes; returns the dataset and the files read (list, sheets)."""
    if classes is not None and sorted(str(c).lower() for c in classes) != sorted(THREE_CLASSES):
        raise UserError(f"megc2019 has the classes {', '.join(THREE_CLASSES)}; leave dataset.classes null")
    root = Path(root).expanduser() if root else None
    if root is not None and not root.is_dir():
        raise UserError(f"dataset root not found: {root}")
    list_path = annotation_file(clip_list) if clip_list else megc2019.clip_list(root)
    listed = megc2019.read_clip_list(list_path)
    folders = megc2019.part_roots(root, roots, megc2019.check_parts(parts))
    dataset = Dataset(COMPOSITE, root or next(iter(folders.values())), list(THREE_CLASSES), [])
    files = [list_path]
    for part, folder in folders.items():
        spec = _spec(part)
        vocabulary = spec.label_sets("emotion")[1] if spec.label_sets else spec.vocabulary
        loaded, sheets = _load(part, folder, None, sorted(vocabulary), check_images, progress)
        clips, problems = megc2019.select_listed(part, loaded.clips, [e for e in listed if e.part == part], list_path)
        dataset.clips += clips
        dataset.problems += loaded.problems + problems
        if len(loaded.clips) > len(clips):
            dataset.excluded[f"{part}: not in the clip list"] += len(loaded.clips) - len(clips)
        files += sheets
    dataset.fps = _common_fps(dataset.clips)
    return dataset, files


def _load(name: str, root: str | Path, annotations: str | Path | None, classes: list[str] | None,
          check_images: bool, progress: bool, genders: str | Path | None = None,
          labels: str = "emotion", modality: str = "hs", allow_outside_root: bool = False) -> tuple[Dataset, list[Path]]:
    """The dataset and the annotation files it was read from."""
    spec = _spec(name)
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"dataset root not found: {root}")
    standard, vocabulary = spec.label_sets(labels) if spec.label_sets else (spec.classes, spec.vocabulary)
    if labels != "emotion" and spec.label_sets is None:
        raise UserError(f"dataset.labels={labels}: {name} has emotion labels only")
    if spec.modalities is None and modality != "hs":
        raise UserError(f"dataset.modality={modality}: {name} has one modality")
    sheets = spec.find_annotations(root, annotations)
    options = {**({"labels": labels} if spec.label_sets else {}), **({"modality": modality} if spec.modalities else {}),
               **({"allow_outside_root": allow_outside_root} if name == "csv" else {})}
    rows, problems = spec.read_annotations(root, sheets, **options)
    vocabulary = vocabulary or frozenset(row.emotion for row in rows)
    chosen = _choose_classes(name, classes, standard or sorted(vocabulary), vocabulary)
    dataset = Dataset(name, root, chosen, [], problems=problems, fps=_common_fps(rows))
    first_row: dict[tuple[str, str], Annotation] = {}
    # disable=None: a bar on a terminal, nothing in a log file.
    for row in tqdm(rows, desc=f"checking {name} clips", unit="clip", disable=None if progress else True):
        earlier = first_row.setdefault((row.subject, row.name), row)
        if earlier is not row:
            dataset.problems.append(Problem(row.source, row.row, f"clip {row.subject}/{row.name} repeats "
                                                                 f"{earlier.source} row {earlier.row}; ignored"))
        else:
            _admit(dataset, row, vocabulary, check_images)
    # Rows that could not be parsed were reported first; list everything in sheet and row order.
    sheet_order = {str(sheet): index for index, sheet in enumerate(sheets)}
    dataset.problems.sort(key=lambda p: (sheet_order.get(p.path, len(sheets)), p.row or 0))
    dataset.clips = subject_genders(dataset.clips, read_subject_genders(genders) if genders else [], genders)
    return dataset, sheets


def standard_classes(name: str, labels: str = "emotion") -> tuple[str, ...] | None:
    """A dataset's standard class set for a ``dataset.labels`` choice; None where the annotation
    decides (a manifest)."""
    if name == COMPOSITE:
        return THREE_CLASSES
    spec = _spec(name)
    return spec.label_sets(labels)[0] if spec.label_sets else spec.classes


def configured_dataset(config: dict) -> Dataset:
    """The dataset of a config's ``dataset`` section, in time at ``data.fps`` where that is set."""
    ds = config["dataset"]
    if not ds["root"] and not (ds["name"] == COMPOSITE and ds.get("roots")):
        raise UserError("dataset.root is not set: pass --root DIR")
    dataset = load_dataset(ds["name"], ds["root"], ds["annotations"], ds["classes"], genders=ds["genders"],
                           labels=ds.get("labels", "emotion"), modality=ds.get("modality", "hs"),
                           roots=ds.get("roots"), parts=ds.get("parts"),
                           allow_outside_root=ds.get("allow_outside_root", False))
    fps = config["data"].get("fps")
    if fps:
        dataset.clips = [resample_in_time(clip, fps) for clip in dataset.clips]
        dataset.fps = float(fps)
    return dataset


def subject_key(subject: str) -> str:
    """How a subject-gender table's subject matches a clip's: 'sub01', '01' and '1' are one subject."""
    text = subject.strip().lower().removeprefix("sub")
    return (text.lstrip("0") or "0") if text.isdigit() else text


def subject_genders(clips: list[ClipRecord], table: list[tuple[str, str, int]],
                    table_path: str | Path | None) -> list[ClipRecord]:
    """The clips with each subject's gender: from ``table`` ((subject, gender, row) each) or from any
    of the subject's own rows, which must all agree (gender belongs to the subject)."""
    given: dict[str, tuple[str, str]] = {}   # subject -> (gender, where it was given)
    for subject, gender, row in table:
        if subject_key(subject) in given:
            raise UserError(f"{table_path} row {row}: subject {subject} is listed twice "
                            f"(see {given[subject_key(subject)][1]})")
        given[subject_key(subject)] = (gender, f"{table_path} row {row}")
    for clip in clips:
        if clip.gender is None:
            continue
        gender, where = given.setdefault(subject_key(clip.subject), (clip.gender, f"{clip.source} row {clip.row}"))
        if gender != clip.gender:
            raise UserError(f"{clip.source} row {clip.row}: subject {clip.subject} is {clip.gender} here "
                            f"but {gender} in {where}")
    return [dataclasses.replace(c, gender=given.get(subject_key(c.subject), (None,))[0]) for c in clips]


def _admit(dataset: Dataset, row: Annotation, vocabulary: frozenset[str], check_images: bool) -> None:
    """Add the row's clip to the dataset, or count it as excluded, noting every problem."""
    if row.emotion not in dataset.classes:
        dataset.excluded[row.emotion] += 1
        if row.emotion not in vocabulary:
            dataset.problems.append(Problem(row.source, row.row, f"unknown emotion '{row.emotion}'"))
        return
    clip, messages = check_clip(dataset.name, row, check_images)
    dataset.problems += [Problem(row.source, row.row, message) for message in messages]
    if clip is not None:
        dataset.clips.append(clip)


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise UserError(f"unknown dataset '{name}' (known: {', '.join([*DATASETS, COMPOSITE])})")
    return DATASETS[name]


def _choose_classes(name: str, requested: list[str] | None, standard, vocabulary: frozenset[str]) -> list[str]:
    if requested is None:
        return list(standard)
    spelled = {label.lower(): label for label in vocabulary}   # 'ii' asks for SAMM's objective class 'II'
    chosen = [spelled.get(str(c).strip().lower(), str(c).strip().lower()) for c in requested]
    unknown = [c for c in chosen if c not in vocabulary]
    if unknown:
        raise UserError(f"unknown class '{unknown[0]}' for {name} (known: {', '.join(sorted(vocabulary))})")
    if len(chosen) < 2 or len(set(chosen)) < len(chosen):
        raise UserError(f"classes must name at least two different emotions, got {requested}")
    return chosen


def _common_fps(rows: list[Annotation] | list[ClipRecord]) -> float:
    """The frame rate shared by all clips; 0.0 when they differ (each clip carries its own)."""
    rates = {row.fps for row in rows}
    return rates.pop() if len(rates) == 1 else 0.0


def check_clip(dataset: str, row: Annotation, check_images: bool) -> tuple[ClipRecord | None, list[str]]:
    """The clip a row describes, checked against its files; None when it is unusable."""
    messages = []
    apex = row.apex
    if apex is not None and not _within(apex, row.onset, row.offset):
        messages.append(f"apex {apex} is outside onset..offset {row.onset}..{row.offset}; apex ignored")
        apex = None
    record = ClipRecord(dataset=dataset, subject=row.subject, name=row.name, emotion=row.emotion,
                        onset=row.onset, apex=apex, offset=row.offset, action_units=row.action_units,
                        fps=row.fps, gender=row.gender, source=row.source, row=row.row)
    if row.video is not None:
        if not row.video.is_file():
            return None, messages + [f"missing video file {row.video}"]
        problem = video_problem(row.video, row.onset, row.offset) if check_images else None
        if problem:
            return None, messages + [f"unreadable video {problem}"]
        return dataclasses.replace(record, video=row.video), messages
    frames, frame_messages = select_frames(row.folder, row.onset, row.offset, check_images)
    messages += frame_messages
    if frames is None:
        return None, messages
    return dataclasses.replace(record, frames=frames.paths, frame_numbers=frames.numbers), messages


def _within(number: int, low: int | None, high: int | None) -> bool:
    return (low is None or number >= low) and (high is None or number <= high)


def inspect_dataset(name: str, root: str | Path | None, annotations: str | Path | None = None,
                    genders: str | Path | None = None, labels: str = "emotion", modality: str = "hs",
                    roots: dict | None = None, parts: list[str] | None = None,
                    allow_outside_root: bool = False) -> dict:
    """What ``load_dataset`` makes of a dataset, decoding every frame, as a JSON-ready report
    (with ``clips_per_part`` for the composite)."""
    if name == COMPOSITE:
        dataset, sheets = _load_composite(root, annotations, None, True, True, roots, parts)
    else:
        dataset, sheets = _load(name, root, annotations, None, check_images=True, progress=True, genders=genders,
                                labels=labels, modality=modality, allow_outside_root=allow_outside_root)
    apexes, unusable = apex_agreement(dataset.clips)
    dataset.problems += unusable
    if len(dataset.clips) < 2:
        dataset.problems.append(Problem(str(sheets[0]) if sheets else str(dataset.root), None,
                                        f"{len(dataset.clips)} usable clip(s): training needs at least 2"))
    per_class = Counter(clip.emotion for clip in dataset.clips)
    per_subject = Counter(clip.subject for clip in dataset.clips)
    subject_gender = {clip.subject: clip.gender or "unknown" for clip in dataset.clips}
    per_gender = Counter(subject_gender.values())
    report = {
        "dataset": name,
        "root": str(dataset.root),
        "annotations": [str(sheet) for sheet in sheets],
        "classes": list(dataset.classes),
        "clips_total": len(dataset.clips),
        "clips_per_class": {c: per_class[c] for c in dataset.classes},
        "clips_per_subject": dict(sorted(per_subject.items())),
        "subjects_per_gender": {g: per_gender[g] for g in (*GENDERS, "unknown") if per_gender[g]},
        "excluded": dict(dataset.excluded.most_common()),
        "estimated_vs_annotated_apex": apexes,
        "problems": [dataclasses.asdict(problem) for problem in dataset.problems],
    }
    if name == COMPOSITE:
        report["clips_per_part"] = {part: {c: sum(1 for clip in dataset.clips if (clip.dataset, clip.emotion) == (part, c))
                                           for c in dataset.classes}
                                    for part in dict.fromkeys(clip.dataset for clip in dataset.clips)}
    return report


def format_inspection(report: dict) -> str:
    """The report of ``inspect_dataset`` as text for the terminal."""
    lines = [
        f"{report['dataset']} at {report['root']}",
        f"annotations: {', '.join(report['annotations']) or 'none (labels from folders)'}",
        f"{report['clips_total']} usable clips in {len(report['classes'])} classes",
        "",
        "clips per class:",
        *_count_lines(report["clips_per_class"]),
        "",
        *_part_lines(report.get("clips_per_part")),
        "clips per subject:",
        *_count_lines(report["clips_per_subject"]),
        "",
        "subjects per gender:",
        *_count_lines(report["subjects_per_gender"]),
        "",
        "excluded (outside the class set or the clip list):" if report["excluded"] else "excluded: none",
        *_count_lines(report["excluded"]),
        "",
        _apex_line(report["estimated_vs_annotated_apex"]),
        "",
        f"problems ({len(report['problems'])}):" if report["problems"] else "problems: none",
        *(f"  {Problem(**problem)}" for problem in report["problems"]),
    ]
    return "\n".join(lines)


def _part_lines(parts: dict | None) -> list[str]:
    if not parts:
        return []
    counts = {part: f"{sum(per_class.values()):>4}  ({' / '.join(str(n) for n in per_class.values())})"
              for part, per_class in parts.items()}
    classes = " / ".join(next(iter(parts.values())))
    return [f"clips per part ({classes}):", *_count_lines(counts), ""]


def _apex_line(apexes: dict | None) -> str:
    if not apexes:
        return "estimated vs annotated apex: no clip has an annotated apex"
    if not apexes["clips"]:
        return "estimated vs annotated apex: no clip with an annotated apex could be prepared"
    return (f"estimated vs annotated apex ({apexes['clips']} clips): median {apexes['median_frames']:g} frames apart, "
            f"90th percentile {apexes['p90_frames']:g}")


def _count_lines(counts: dict[str, int]) -> list[str]:
    width = max((len(key) for key in counts), default=0)
    return [f"  {key:<{width}}  {count}" for key, count in counts.items()]
