import json

import pytest

from mer3d.data import inspect_dataset
from mer3d.data.datasets import format_inspection
from mer3d.errors import UserError
from fixtures import casme2_row, corrupt_image, write_casme2

KEYS = {"dataset", "root", "annotations", "classes", "clips_total", "clips_per_class", "clips_per_subject",
        "subjects_per_gender", "excluded", "estimated_vs_annotated_apex", "problems"}


@pytest.fixture
def casme2_copy(tmp_path):
    """Three usable clips of two subjects, one clip with a corrupt frame, one fear, one unknown emotion."""
    sheet = write_casme2(tmp_path, [
        casme2_row("01", "EP1", emotion="happiness"),
        casme2_row("01", "EP2", emotion="disgust"),
        casme2_row("02", "EP3", emotion="happiness"),
        casme2_row("02", "EP4", emotion="fear"),
        casme2_row("02", "EP5", emotion="joy"),
        casme2_row(3, "EP6", emotion="others"),
    ])
    corrupt_image(tmp_path / "Cropped" / "sub02" / "EP3" / "reg_img11.jpg")
    return tmp_path, sheet


CORRUPT = "cannot decode image (corrupt, truncated or not an image)"


def test_report_counts_usable_clips_and_lists_problems(casme2_copy):
    root, sheet = casme2_copy
    report = inspect_dataset("casme2", root)
    assert set(report) == KEYS
    assert (report["dataset"], report["root"], report["annotations"]) == ("casme2", str(root), [str(sheet)])
    assert report["classes"] == ["surprise", "repression", "happiness", "disgust", "others"]
    assert report["clips_total"] == 3
    assert list(report["clips_per_class"].items()) == [
        ("surprise", 0), ("repression", 0), ("happiness", 1), ("disgust", 1), ("others", 1)]
    assert report["clips_per_subject"] == {"01": 2, "03": 1}
    assert report["subjects_per_gender"] == {"unknown": 2}
    assert report["excluded"] == {"fear": 1, "joy": 1}
    assert report["problems"] == [
        {"path": str(sheet), "row": 4, "message": f"unreadable image {root / 'Cropped' / 'sub02' / 'EP3' / 'reg_img11.jpg'}: {CORRUPT}"},
        {"path": str(sheet), "row": 6, "message": "unknown emotion 'joy'"},
    ]
    assert json.loads(json.dumps(report)) == report


def test_formatted_report_shows_every_section_and_problem(casme2_copy):
    root, sheet = casme2_copy
    text = format_inspection(inspect_dataset("casme2", root))
    lines = text.splitlines()
    assert f"annotations: {sheet}" in lines
    assert "3 usable clips in 5 classes" in lines
    assert "  happiness   1" in lines and "  surprise    0" in lines
    assert "  01  2" in lines and "  03  1" in lines
    assert "  fear  1" in lines
    assert "problems (2):" in lines
    assert f"  {sheet} row 6: unknown emotion 'joy'" in lines


def test_clean_dataset_says_so(tmp_path):
    write_casme2(tmp_path, [casme2_row(), casme2_row("02", "EP02_01f")])
    lines = format_inspection(inspect_dataset("casme2", tmp_path)).splitlines()
    assert "excluded: none" in lines and "problems: none" in lines


def test_unknown_dataset_or_missing_root_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="unknown dataset 'mmew'"):
        inspect_dataset("mmew", tmp_path)
    with pytest.raises(UserError, match="dataset root not found"):
        inspect_dataset("casme2", tmp_path / "absent")


def test_report_compares_estimated_and_annotated_apexes(casme2_copy):
    root, _ = casme2_copy
    report = inspect_dataset("casme2", root)
    apexes = report["estimated_vs_annotated_apex"]
    assert apexes["clips"] == 3      # the usable clips, all with an annotated apex
    # Fixture clips span frames 10..14, so an estimate is at most 4 frames from the annotation.
    assert 0 <= apexes["median_frames"] <= apexes["p90_frames"] <= 4
    line = (f"estimated vs annotated apex (3 clips): median {apexes['median_frames']:g} frames apart, "
            f"90th percentile {apexes['p90_frames']:g}")
    assert line in format_inspection(report).splitlines()


def test_clips_without_an_annotated_apex_are_not_compared(tmp_path):
    write_casme2(tmp_path, [casme2_row(apex="/")])
    report = inspect_dataset("casme2", tmp_path)
    assert report["clips_total"] == 1 and report["estimated_vs_annotated_apex"] is None
    assert "estimated vs annotated apex: no clip has an annotated apex" in format_inspection(report).splitlines()


def test_a_raw_clip_without_a_face_is_a_problem_as_training_would_skip_it(tmp_path):
    sheet = write_casme2(tmp_path, [casme2_row()], frames_dir="CASME2_RAW_selected", pattern="img{}.jpg")
    report = inspect_dataset("casme2", tmp_path)
    assert report["clips_total"] == 1 and report["estimated_vs_annotated_apex"]["clips"] == 0
    problem, too_few = report["problems"]
    assert too_few["message"] == "1 usable clip(s): training needs at least 2"
    assert problem["path"] == str(sheet) and problem["row"] == 2
    assert "training would skip it" in problem["message"] and "no face found" in problem["message"]


def test_fewer_than_two_usable_clips_is_a_problem_as_train_refuses_them(tmp_path):
    sheet = write_casme2(tmp_path, [casme2_row()])
    report = inspect_dataset("casme2", tmp_path)
    assert report["problems"][-1] == {"path": str(sheet), "row": None,
                                      "message": "1 usable clip(s): training needs at least 2"}
