"""The synthetic MEGC 2019 composite: three real layouts read by their loaders, the official-format
clip list, class shares, class-specific motion, determinism, atomic writing."""
from __future__ import annotations

import csv
import hashlib
import inspect
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import openpyxl
import pandas as pd
import pytest

from mer3d.data import samm
from mer3d.data.datasets import load_dataset
from mer3d.data.demo import (EMOTION_ACTIONS, LIST_NAME, PARTS, action_unit_field, clips, composite,
                             generate_composite_demo, rng_for)
from mer3d.data.demo.actions import LANDMARKS
from mer3d.data.demo.classes import assign_grouped_emotions
from mer3d.data.demo.motion import CLIP_FRAMES
from mer3d.data.demo.seeds import ASSIGNMENT
from mer3d.data.emotions import THREE_CLASSES, three_class
from mer3d.errors import UserError

SMALL = {"subjects_per_part": 2, "clips_per_subject": 4, "seed": 0, "frame_size": (85, 70), "progress": False}
CLIPS_PER_PART = 8
FPS = {"casme2": 200.0, "samm": 200.0, "smic": 100.0}
# Every emotion each part may show, so that loading drops nothing (SAMM's standard set leaves out three).
ALL_CLASSES = {"casme2": None, "samm": sorted(samm.VOCABULARY), "smic": None}
# Subject and clip as the official list writes them, per db.
LISTED = {"casme2": (r"sub\d\d", r"EP\d\d_\d\d"), "samm": (r"[1-9]\d*", r"\d{3}_\d+_\d+"),
          "smic": (r"s\d\d", r"s\d\d_(ne|po|sur)_\d\d")}


@pytest.fixture(scope="module")
def composite_set(tmp_path_factory) -> Path:
    return generate_composite_demo(tmp_path_factory.mktemp("composite") / "data", **SMALL)


@pytest.fixture(scope="module")
def loaded(composite_set) -> dict:
    return {name: load_dataset(name, composite_set / name, classes=ALL_CLASSES[name], check_images=True)
            for name in FPS}


def read_list(root: Path) -> list[list[str]]:
    with open(root / LIST_NAME, newline="") as f:
        return list(csv.reader(f))


def listed_folder(root: Path, db: str, subject: str, clip: str, label: int) -> Path:
    """Where the real layouts keep a listed clip, following the official list's conventions."""
    if db == "casme2":
        return root / "casme2" / "Cropped" / subject / clip
    if db == "samm":
        return root / "samm" / "SAMM" / f"{int(subject):03d}" / clip
    unpadded = f"s{int(subject[1:])}"     # the list pads SMIC's s1 to s01, the folders do not
    return (root / "smic" / "SMIC_all_cropped" / "HS" / unpadded / "micro" / THREE_CLASSES[label]
            / re.sub(r"^s0*(\d+)", r"s\1", clip))


def file_digests(root: Path) -> dict[str, str]:
    """Hash of every file; a sheet by its cells (xlsx bytes carry a timestamp)."""
    return {str(p.relative_to(root)): pd.read_excel(p, header=None).to_csv() if p.suffix == ".xlsx"
            else hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_each_part_loads_with_its_own_loader(loaded):
    for name, dataset in loaded.items():
        assert dataset.problems == [], name
        assert len(dataset.clips) == CLIPS_PER_PART, name
        assert len({clip.subject for clip in dataset.clips}) == SMALL["subjects_per_part"], name
        assert dataset.fps == FPS[name]
    assert {clip.subject for clip in loaded["samm"].clips} == {"006", "007"}
    assert {clip.subject for clip in loaded["smic"].clips} == {"s1", "s2"}
    # With its standard class set, SAMM leaves out disgust, fear and sadness as for the real data.
    standard = load_dataset("samm", loaded["samm"].root)
    assert not standard.problems and len(standard.clips) + sum(standard.excluded.values()) == CLIPS_PER_PART


def test_every_listed_clip_exists_with_its_class(composite_set, loaded):
    rows = read_list(composite_set)
    assert [db for db, *_ in rows] == sorted((db for db, *_ in rows), key=["casme2", "smic", "samm"].index)
    emotion_at = {clip.frames[0].parent: clip.emotion for dataset in loaded.values() for clip in dataset.clips}
    for db, subject, clip, label in rows:
        subject_pattern, clip_pattern = LISTED[db]
        assert re.fullmatch(subject_pattern, subject) and re.fullmatch(clip_pattern, clip), (db, subject, clip)
        folder = listed_folder(composite_set, db, subject, clip, int(label))
        assert THREE_CLASSES[int(label)] == three_class(emotion_at[folder]), folder
    # Exactly the clips of the three classes are listed; others and Other only in the sheets.
    listed = {listed_folder(composite_set, db, subject, clip, int(label)) for db, subject, clip, label in rows}
    assert len(listed) == len(rows)
    assert listed == {folder for folder, emotion in emotion_at.items() if three_class(emotion)}
    assert {"others", "other"} & set(emotion_at.values())


def test_subjects_show_two_classes_and_parts_have_their_own_faces(composite_set):
    classes = defaultdict(set)
    for db, subject, _, label in read_list(composite_set):
        classes[db, subject].add(label)
    assert len(classes) == 3 * SMALL["subjects_per_part"]
    assert all(len(labels) >= 2 for labels in classes.values())
    faces = json.loads((composite_set / "demo.json").read_text())["faces"]
    sources = [source for part in faces.values() for source in part.values()]
    assert len(set(sources)) == len(sources) == 3 * SMALL["subjects_per_part"]
    assert "SYNTHETIC" in (composite_set / "README.txt").read_text()


def test_default_class_shares_follow_the_real_composite():
    defaults = inspect.signature(generate_composite_demo).parameters
    subjects, per_subject = defaults["subjects_per_part"].default, defaults["clips_per_subject"].default
    for seed in range(5):
        listed = Counter()
        for index, part in enumerate(PARTS):
            assigned = assign_grouped_emotions(subjects, per_subject, rng_for(seed, ASSIGNMENT, index), part.shares,
                                               composite.composite_class)
            labels = [[three_class(e) for e in emotions if three_class(e)] for emotions in assigned]
            assert all(len(set(subject)) >= 2 for subject in labels), part.name
            listed.update(label for subject in labels for label in subject)
        total = sum(listed.values())
        assert 0.50 <= listed["negative"] / total <= 0.62
        assert 0.20 <= listed["positive"] / total <= 0.30
        assert 0.14 <= listed["surprise"] / total <= 0.24


def rises(field, landmarks) -> bool:
    """Whether the skin at all ``landmarks`` moves up by more than half the field's peak."""
    height, width = field.shape[1:]
    return all(field[1, round(LANDMARKS[name][1] * height), round(LANDMARKS[name][0] * width)] < -0.5
               for name in landmarks)


def test_composite_classes_are_told_apart_by_their_motion():
    # Positive alone lifts the lip corners, surprise alone the outer brows; negative does neither.
    emotions = {emotion for part in PARTS for emotion in part.shares if three_class(emotion)}
    assert emotions == {"anger", "contempt", "disgust", "fear", "happiness", "repression", "sadness", "surprise"}
    for emotion in emotions:
        always, alternatives = EMOTION_ACTIONS[emotion]
        for extra in alternatives:
            field = action_unit_field(always + extra, (170, 140))
            assert rises(field, ("mouth_corner_l", "mouth_corner_r")) == (three_class(emotion) == "positive")
            assert rises(field, ("brow_outer_l", "brow_outer_r")) == (three_class(emotion) == "surprise")


def test_smic_clips_last_as_long_with_half_the_frames(loaded):
    # Clips last 30-60 frames at 200 fps, so 15-30 at SMIC's 100.
    shortest, longest = CLIP_FRAMES
    for name, dataset in loaded.items():
        step = round(200 / dataset.fps)
        for clip in dataset.clips:
            assert -(-shortest // step) <= len(clip.frames) <= -(-longest // step), (name, clip.name)
            assert clip.frame_numbers == tuple(range(clip.frame_numbers[0], clip.frame_numbers[-1] + 1))


def test_samm_sheet_and_frames_look_like_the_real_ones(composite_set, loaded):
    grid = list(openpyxl.load_workbook(composite_set / "samm" / samm.SHEET_NAME)[samm.TABLE_NAME]
                .iter_rows(values_only=True))
    header = next(index for index, row in enumerate(grid) if row[:2] == ("Subject", "Filename"))
    assert header > 1 and grid[0][0]
    rows = [dict(zip(grid[header], row)) for row in grid[header + 1:]]
    assert {row["Subject"] for row in rows} == {6, 7}
    assert all(row["Estimated Emotion"] in {"Anger", "Contempt", "Disgust", "Fear", "Happiness", "Sadness",
                                            "Surprise", "Other"} for row in rows)
    assert all(1 <= row["Objective Classes"] <= 7 for row in rows)
    for clip in loaded["samm"].clips:
        assert re.fullmatch(rf"{clip.subject}_\d{{4,5}}\.jpg", clip.frames[0].name)
        assert cv2.imread(str(clip.frames[0]), cv2.IMREAD_UNCHANGED).shape == SMALL["frame_size"]
    objective = load_dataset("samm", composite_set / "samm", labels="objective")
    assert not objective.problems and len(objective.clips) == CLIPS_PER_PART


def test_same_arguments_same_files_other_seed_other_files(composite_set, tmp_path):
    again = generate_composite_demo(tmp_path / "again", **SMALL)
    assert file_digests(again) == file_digests(composite_set)
    other = generate_composite_demo(tmp_path / "other", **{**SMALL, "seed": 1})
    assert file_digests(other) != file_digests(composite_set)


def test_complete_set_is_returned_without_regenerating(composite_set, monkeypatch):
    def must_not_run(*args, **kwargs):
        raise AssertionError("regenerated a complete composite")

    monkeypatch.setattr(composite, "write_composite", must_not_run)
    assert generate_composite_demo(composite_set, **SMALL) == composite_set


def test_interrupted_generation_leaves_no_half_set(tmp_path, monkeypatch):
    rendered = []

    def crash_in_the_second_part(subject, plan):
        rendered.append(plan)
        if len(rendered) == CLIPS_PER_PART + 2:
            raise KeyboardInterrupt
        return real_render(subject, plan)

    real_render = clips.render_clip
    monkeypatch.setattr(clips, "render_clip", crash_in_the_second_part)
    with pytest.raises(KeyboardInterrupt):
        generate_composite_demo(tmp_path / "data", **SMALL)
    assert list(tmp_path.iterdir()) == []


def test_too_few_clips_per_subject_is_refused(tmp_path):
    with pytest.raises(UserError, match="3 clips per subject"):
        generate_composite_demo(tmp_path / "data", **{**SMALL, "clips_per_subject": 2})
    assert list(tmp_path.iterdir()) == []
