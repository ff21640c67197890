"""The synthetic demo dataset: CASME II layout, determinism, class-specific motion, atomic writing."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mer3d.data import demo
from mer3d.data.demo import clips, generate
from mer3d.data.datasets import load_dataset
from mer3d.errors import UserError

TINY = {"subjects": 3, "clips_per_subject": 5, "seed": 0, "frame_size": (85, 70), "progress": False}
SHEET_COLUMNS = ["Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame", "OffsetFrame",
                 "Unnamed: 6", "Action Units", "Estimated Emotion"]
FULL_SIZE = (170, 140)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return demo.generate_demo(tmp_path_factory.mktemp("demo") / "data", **TINY)


def read_sheet(root: Path) -> pd.DataFrame:
    return pd.read_excel(root / demo.SHEET_NAME)


def clip_dir(root: Path, row) -> Path:
    return root / "Cropped" / f"sub{int(row['Subject']):02d}" / row["Filename"]


def file_digests(root: Path) -> dict[str, str]:
    """Hash of every frame, plus the sheet's cells (xlsx bytes carry a timestamp)."""
    digests = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted(root.rglob("*.jpg"))}
    digests["sheet"] = read_sheet(root).to_csv()
    return digests


def test_layout_and_sheet_follow_casme2(tiny):
    sheet = read_sheet(tiny)
    assert list(sheet.columns) == SHEET_COLUMNS
    assert len(sheet) == 15
    assert sheet["Unnamed: 2"].isna().all() and sheet["Unnamed: 6"].isna().all()
    assert set(sheet["Estimated Emotion"]) <= set(demo.EMOTION_SHARES)
    for _, row in sheet.iterrows():
        numbers = {int(p.stem.removeprefix("reg_img")) for p in clip_dir(tiny, row).glob("reg_img*.jpg")}
        assert numbers == set(range(row["OnsetFrame"], row["OffsetFrame"] + 1))
        assert row["OnsetFrame"] < row["ApexFrame"] < row["OffsetFrame"]
        assert row["Action Units"]
    assert sheet["OnsetFrame"].nunique() > 1   # numbering starts wherever the clip was cut
    frame = cv2.imread(str(next(tiny.rglob("*.jpg"))), cv2.IMREAD_UNCHANGED)
    assert frame.shape == (*TINY["frame_size"], 3)
    assert "SYNTHETIC" in (tiny / "README.txt").read_text()
    assert json.loads((tiny / "demo.json").read_text())["parameters"]["seed"] == TINY["seed"]


def test_the_casme2_loader_reads_every_clip(tiny):
    dataset = load_dataset("casme2", tiny, check_images=True)
    assert len(dataset.clips) == 15 and not dataset.problems
    assert len(dataset.subjects) == 3


def test_same_seed_same_files_other_seed_other_files(tiny, tmp_path):
    again = demo.generate_demo(tmp_path / "again", **TINY)
    other = demo.generate_demo(tmp_path / "other", **{**TINY, "seed": 1})
    assert file_digests(again) == file_digests(tiny)
    assert file_digests(other) != file_digests(tiny)
    assert not read_sheet(other).equals(read_sheet(tiny))


def region_energy(difference: np.ndarray, top: float, bottom: float) -> float:
    """Mean squared difference over rows top..bottom (fractions of height), central 80% of width."""
    height, width = difference.shape[:2]
    band = difference[int(top * height): int(bottom * height), int(0.1 * width): int(0.9 * width)]
    return float(np.mean(band.astype(np.float64) ** 2))


@pytest.mark.parametrize("emotion, moving, still", [
    ("happiness", (0.65, 0.85), (0.22, 0.36)),    # mouth moves, brows do not
    ("surprise", (0.22, 0.36), (0.65, 0.85)),     # brows move, mouth does not
    ("repression", (0.72, 0.95), (0.22, 0.36)),   # lower lip and chin move, brows do not
])
def test_motion_lands_on_the_class_region(emotion, moving, still):
    subjects = demo.load_subjects(4, 0, FULL_SIZE)
    for index, subject in enumerate(subjects):
        plan = demo.plan_clip(demo.rng_for(7, index), emotion, subject, FULL_SIZE, nuisance=False)
        frames = demo.render_clip(subject, plan).astype(np.float32)
        difference = frames[plan.apex_index] - frames[0]
        assert region_energy(difference, *moving) > 5 * region_energy(difference, *still), subject.source


def test_motion_peaks_at_the_apex_and_is_subtle():
    subject = demo.load_subjects(1, 0, FULL_SIZE)[0]
    plan = demo.plan_clip(demo.rng_for(3), "happiness", subject, FULL_SIZE, nuisance=False)
    frames = demo.render_clip(subject, plan).astype(np.float32)
    energy = [np.mean((frame - frames[0]) ** 2) for frame in frames]
    assert energy[0] == 0
    assert int(np.argmax(energy)) == plan.apex_index
    assert energy[-1] < energy[plan.apex_index]
    field = plan.peak_px * demo.action_unit_field(plan.action_units, FULL_SIZE)
    assert 1.5 <= np.hypot(field[0], field[1]).max() <= 4.0


def test_plans_stay_in_the_recording_ranges():
    subject = demo.load_subjects(1, 0, FULL_SIZE)[0]
    for key in range(40):
        plan = demo.plan_clip(demo.rng_for(11, key), "others", subject, FULL_SIZE)
        assert 30 <= plan.n_frames <= 60
        assert 0.3 * (plan.n_frames - 1) - 1 <= plan.apex_index <= 0.7 * (plan.n_frames - 1) + 1
        assert 1.5 <= plan.peak_px <= 4.0
        assert np.hypot(plan.drift[:, 0], plan.drift[:, 1]).max() <= 1.5 + 1e-6
        assert np.abs(plan.drift[:, 2]).max() <= 0.5 + 1e-6
        assert 2.0 <= plan.noise_sigma <= 3.0


@pytest.mark.parametrize("seed", range(5))
def test_default_assignment_gives_every_subject_three_classes(seed):
    assigned = demo.assign_emotions(10, 12, demo.rng_for(seed, 3))
    assert [len(emotions) for emotions in assigned] == [12] * 10
    assert all(len(set(emotions)) >= 3 for emotions in assigned)
    totals = Counter(e for emotions in assigned for e in emotions)
    assert totals == demo.class_counts(120)
    assert min(totals.values()) >= 10
    assert totals.most_common(1)[0][0] == "others"


def test_three_classes_even_with_few_clips_per_subject():
    # With 4 clips a subject, a plain shuffle of the class pool often leaves someone with two.
    for seed in range(100):
        assigned = demo.assign_emotions(8, 4, demo.rng_for(seed, 3))
        assert all(len(set(emotions)) >= 3 for emotions in assigned), seed


def test_assignment_differs_between_subjects_and_seeds():
    first = demo.assign_emotions(10, 12, demo.rng_for(0, 3))
    assert len({tuple(sorted(emotions)) for emotions in first}) > 1
    assert first != demo.assign_emotions(10, 12, demo.rng_for(1, 3))


def test_complete_set_is_returned_without_regenerating(tiny, monkeypatch):
    before = {p: p.stat().st_mtime_ns for p in tiny.rglob("*")}

    def must_not_run(*args, **kwargs):
        raise AssertionError("regenerated a complete demo set")

    monkeypatch.setattr(generate, "write_dataset", must_not_run)
    assert demo.generate_demo(tiny, **TINY) == tiny
    assert {p: p.stat().st_mtime_ns for p in tiny.rglob("*")} == before


def test_outdated_demo_set_is_replaced(tmp_path):
    out = demo.generate_demo(tmp_path / "data", **{**TINY, "clips_per_subject": 3})
    demo.generate_demo(out, **TINY)
    assert len(read_sheet(out)) == 15
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_killed_generation_leaves_no_dataset(tmp_path, monkeypatch):
    rendered = []

    def crash_on_third_clip(subject, plan):
        rendered.append(plan)
        if len(rendered) == 3:
            raise KeyboardInterrupt
        return real_render(subject, plan)

    real_render = clips.render_clip
    monkeypatch.setattr(clips, "render_clip", crash_on_third_clip)
    with pytest.raises(KeyboardInterrupt):
        demo.generate_demo(tmp_path / "data", **TINY)
    assert list(tmp_path.iterdir()) == []


def test_leftovers_of_dead_generations_are_removed(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    leftover = tmp_path / f"data.tmp-{finished.stdout.strip()}-abc123"
    (leftover / "Cropped").mkdir(parents=True)
    demo.generate_demo(tmp_path / "data", **{**TINY, "subjects": 1, "clips_per_subject": 1})
    assert not leftover.exists()


def test_a_foreign_folder_is_never_overwritten(tmp_path):
    (tmp_path / "mine.txt").write_text("not a demo")
    with pytest.raises(UserError, match="not a mer3d demo"):
        demo.generate_demo(tmp_path, **TINY)
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
