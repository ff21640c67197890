"""The MEGC 2019 composite: the official list, the three parts in their own layouts, namespacing."""
from __future__ import annotations

import shutil

import pytest
from fixtures import read_listed, write_megc2019

from mer3d.data.datasets import inspect_dataset, load_dataset
from mer3d.data.megc2019 import name_key, official_list, read_clip_list
from mer3d.errors import UserError
from mer3d.training.protocols import loso_splits

EXPECTED_PER_PART = {"casme2": {"negative": 88, "positive": 32, "surprise": 25},
                     "samm": {"negative": 92, "positive": 26, "surprise": 15},
                     "smic": {"negative": 70, "positive": 51, "surprise": 43}}


@pytest.fixture(scope="module")
def full_composite(tmp_path_factory):
    """Every clip of the official list on disk, as tiny three-frame clips."""
    return write_megc2019(tmp_path_factory.mktemp("megc"), read_listed(official_list()))


def small_list(tmp_path, rows):
    path = tmp_path / "list.csv"
    path.write_text("".join(f"{db},{subject},{clip},{label}\n" for db, subject, clip, label in rows))
    return path


SMALL = [("casme2", "sub01", "EP02_01f", 1), ("casme2", "sub02", "EP01_11f", 0),
         ("samm", "6", "006_1_2", 0), ("samm", "7", "007_3_1", 2),
         ("smic", "s01", "s01_ne_01", 0), ("smic", "s02", "s02_po_03", 1)]


def test_official_list_is_shipped_with_442_clips_of_68_subjects():
    listed = read_clip_list(official_list())
    assert len(listed) == 442
    assert len({(c.part, name_key(c.subject)) for c in listed}) == 68


def test_inspect_full_list_counts_per_part_and_class(full_composite):
    report = inspect_dataset("megc2019", full_composite)
    assert report["problems"] == []
    assert report["clips_total"] == 442
    assert report["clips_per_part"] == EXPECTED_PER_PART
    assert report["clips_per_class"] == {"negative": 250, "positive": 109, "surprise": 83}
    assert len(report["clips_per_subject"]) == 68
    assert report["excluded"] == {"casme2: not in the clip list": 1, "samm: not in the clip list": 1}


def test_subjects_are_namespaced_and_give_68_folds(full_composite):
    dataset = load_dataset("megc2019", full_composite)
    subjects = [clip.subject for clip in dataset.clips]
    assert {"casme2/sub01", "samm/006", "smic/s1"} <= set(subjects)
    folds = loso_splits(subjects)
    assert len(folds) == 68
    assert {"casme2_sub01", "samm_006", "smic_s1"} <= {fold.name for fold in folds}
    assert {clip.dataset for clip in dataset.clips} == {"casme2", "samm", "smic"}


def test_a_missing_part_is_an_error_or_an_explicit_subset(tmp_path):
    root = write_megc2019(tmp_path / "c", SMALL)
    shutil.rmtree(root / "samm")
    with pytest.raises(UserError, match="part samm not found .*dataset.parts"):
        load_dataset("megc2019", root, small_list(tmp_path, SMALL))
    dataset = load_dataset("megc2019", root, small_list(tmp_path, SMALL), parts=["smic", "casme2"])
    assert sorted({clip.dataset for clip in dataset.clips}) == ["casme2", "smic"]
    assert len(dataset.clips) == 4


def test_roots_name_parts_kept_elsewhere(tmp_path):
    root = write_megc2019(tmp_path / "c", SMALL)
    elsewhere = tmp_path / "SAMM_copy"
    shutil.move(root / "samm", elsewhere)
    dataset = load_dataset("megc2019", root, small_list(tmp_path, SMALL), roots={"samm": str(elsewhere)})
    assert len(dataset.clips) == 6
    with pytest.raises(UserError, match="unknown part 'casme'"):
        load_dataset("megc2019", root, small_list(tmp_path, SMALL), roots={"casme": str(elsewhere)})


def test_listed_clip_not_on_disk_and_label_disagreement_are_reported(tmp_path):
    root = write_megc2019(tmp_path / "c", SMALL)
    rows = [*SMALL, ("smic", "s03", "s03_sur_01", 2)]
    rows[0] = ("casme2", "sub01", "EP02_01f", 2)    # the sheet says happiness
    listed = small_list(tmp_path, rows)
    report = inspect_dataset("megc2019", root, listed)
    messages = {(p["row"], p["message"].split(",")[0]) for p in report["problems"]}
    assert (7, "listed clip smic s03/s03_sur_01 is not among the usable clips of the smic folder; skipped") in messages
    assert any(row == 1 and message.startswith("listed as surprise") for row, message in messages)
    assert report["clips_total"] == 6
    assert report["clips_per_part"]["casme2"]["surprise"] == 1    # the list's label is used


@pytest.mark.parametrize("line, message", [
    ("casme2,sub01,EP02_01f\n", "row 1: expected 4 fields"),
    ("casme3,sub01,EP02_01f,1\n", "row 1: unknown db 'casme3'"),
    ("casme2,sub01,EP02_01f,3\n", "row 1: label must be 0"),
    ("casme2,sub01,EP02_01f,1\ncasme2,sub1,ep02_01f,1\n", "row 2: clip casme2/ep02_01f is listed again"),
    ("", "has no rows"),
])
def test_a_malformed_clip_list_is_a_one_line_error(tmp_path, line, message):
    path = tmp_path / "list.csv"
    path.write_text(line)
    with pytest.raises(UserError, match=message) as error:
        read_clip_list(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_header_row_is_allowed(tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("db,subject,clip,label\nsmic,s01,s01_ne_01,0\n")
    assert [(c.part, c.label, c.row) for c in read_clip_list(path)] == [("smic", "negative", 2)]


def test_classes_other_than_the_three_are_refused(tmp_path):
    root = write_megc2019(tmp_path / "c", SMALL)
    with pytest.raises(UserError, match="leave dataset.classes null"):
        load_dataset("megc2019", root, small_list(tmp_path, SMALL), classes=["negative", "positive"])


def test_a_root_with_its_own_list_uses_it_else_the_official_one(tmp_path):
    root = write_megc2019(tmp_path / "c", SMALL)
    assert inspect_dataset("megc2019", root)["annotations"][0] == str(official_list())
    small_list(root, SMALL).rename(root / "megc2019_demo_3class.csv")
    report = inspect_dataset("megc2019", root)
    assert report["annotations"][0] == str(root / "megc2019_demo_3class.csv")
    assert report["clips_total"] == 6 and report["problems"] == []


def test_cli_inspect_megc2019_json_has_the_casme2_keys_and_clips_per_part(tmp_path, capsys):
    import json

    from mer3d.cli import main
    root = write_megc2019(tmp_path / "c", SMALL)
    shutil.move(root / "smic", tmp_path / "SMIC")
    listed = small_list(tmp_path, SMALL)
    assert main(["datasets", "inspect", "--dataset", "megc2019", "--root", str(root), "--annotations", str(listed),
                 "--roots", f"smic={tmp_path / 'SMIC'}", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"clips_total", "clips_per_class", "clips_per_subject", "excluded", "problems"} <= set(report)
    assert report["clips_per_part"]["smic"] == {"negative": 1, "positive": 1, "surprise": 0}
    assert main(["datasets", "inspect", "--dataset", "megc2019", "--root", str(root), "--annotations", str(listed),
                 "--parts", "casme2,samm"]) == 0
    text = capsys.readouterr().out
    assert "clips per part (negative / positive / surprise):" in text and "smic" not in text.split("clips per part")[1].split("\n\n")[0]
    assert main(["datasets", "inspect", "--dataset", "megc2019", "--root", str(root), "--annotations", str(listed)]) == 2
    assert "part smic not found" in capsys.readouterr().err


def test_a_part_sheets_problem_reaches_the_composite_report(tmp_path):
    from fixtures import casme2_row, write_casme2
    root = write_megc2019(tmp_path / "c", SMALL)
    # the CASME II sheet gives EP02_01f an apex outside its onset..offset: its own loader says so
    rows = [casme2_row("01", "EP02_01f", 10, 30, 12), casme2_row("02", "EP01_11f", 10, 11, 12, emotion="disgust")]
    write_casme2(root / "casme2", rows)
    report = inspect_dataset("megc2019", root, small_list(tmp_path, SMALL))
    problem = next(p for p in report["problems"] if "outside onset..offset" in p["message"])
    assert problem["path"].endswith("CASME2-coding-20140508.xlsx") and problem["row"] == 2
    assert report["clips_total"] == 6     # the apex is ignored (estimated), the clip kept
