import json
import re

import openpyxl
import pytest

from conftest import TINY
from mer3d.cli import main
from mer3d.config import load_config
from mer3d.data import inspect_dataset, load_dataset
from mer3d.data import samm
from mer3d.data.samm import CLASSES, OBJECTIVE_CLASSES, write_samm_sheet
from mer3d.errors import UserError
from fixtures import casme2_row, samm_row, write_casme2, write_frames, write_samm

SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
TITLE_ROWS = 13
HEADER_ROW = TITLE_ROWS + 1          # the header's sheet row
FIRST = HEADER_ROW + 1               # the first clip's sheet row
CLEAN = samm_row("006", "006_1_2", 5562, 5565, 5568, "Happiness", "I")


def load(root, **options):
    return load_dataset("samm", root, **options)


def messages_at(dataset, row):
    return [p.message for p in dataset.problems if p.row == row]


def read_objective(root, sheet):
    """The rows as ``dataset.labels: objective`` reads them."""
    return samm.read_annotations(root, [sheet], labels="objective")


# ---------------------------------------------------------------- the sheet

def test_header_is_found_below_the_title_rows(tmp_path):
    sheet = write_samm(tmp_path, [CLEAN])
    grid = list(openpyxl.load_workbook(sheet)["MICRO_ONLY"].iter_rows(values_only=True))
    assert grid[HEADER_ROW - 1][:2] == ("Subject", "Filename") and grid[0][0] is not None
    dataset = load(tmp_path)
    (clip,) = dataset.clips
    assert (clip.source, clip.row) == (str(sheet), FIRST)
    assert (clip.dataset, clip.name, clip.emotion, clip.action_units) == ("samm", "006_1_2", "happiness", "R12")
    assert (clip.onset, clip.apex, clip.offset, clip.fps) == (5562, 5565, 5568, 200.0)
    assert dataset.classes == list(CLASSES) and dataset.fps == 200.0 and dataset.problems == []


def test_a_notes_row_naming_only_the_frame_columns_is_not_the_header(tmp_path):
    sheet = write_samm(tmp_path, [CLEAN])
    book = openpyxl.load_workbook(sheet)
    for column, name in enumerate(("Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame"), start=1):
        book["MICRO_ONLY"].cell(row=3, column=column, value=name)    # a legend, without an emotion column
    book.save(sheet)
    (clip,) = load(tmp_path).clips
    assert (clip.row, clip.emotion) == (FIRST, "happiness")


def test_header_row_position_does_not_matter(tmp_path):
    sheet = write_samm(tmp_path, [CLEAN], title_rows=0)
    (clip,) = load(tmp_path).clips
    assert (clip.source, clip.row) == (str(sheet), 2)


def test_columns_in_another_order_and_spelling_are_found_on_a_first_sheet_of_any_name(tmp_path):
    write_frames(tmp_path / "SAMM" / "007" / "007_3_1", range(100, 104), "007_{:05d}.jpg")
    header = ("estimated emotion", "Filename", "SUBJECT", "OnsetFrame", "Offset Frame ", "Apex  Frame")
    write_samm_sheet(tmp_path / "SAMM_Micro_FACS_Codes.xlsx", [
        {"estimated emotion": "Surprise ", "Filename": "007_3_1", "SUBJECT": 7, "OnsetFrame": 100,
         "Offset Frame ": 103, "Apex  Frame": 101}], title_rows=5, table_name="Sheet1", header=header)
    (clip,) = load(tmp_path).clips
    assert (clip.subject, clip.emotion, clip.apex, clip.frame_numbers, clip.row) == (
        "007", "surprise", 101, (100, 101, 102, 103), 7)


def test_no_header_row_is_a_user_error_naming_the_file(tmp_path):
    write_samm(tmp_path, [CLEAN])
    header = tuple(name if name != "Onset Frame" else "Start" for name in samm.HEADER)
    write_samm_sheet(tmp_path / SHEET, [CLEAN], header=header)
    with pytest.raises(UserError, match=rf"^{re.escape(str(tmp_path / SHEET))}: no header row") as error:
        load(tmp_path)
    assert "\n" not in str(error.value)


def test_missing_sheet_is_a_user_error_naming_the_root(tmp_path):
    write_frames(tmp_path / "SAMM" / "006" / "006_1_2", [1, 2])
    with pytest.raises(UserError, match=re.escape(f"{tmp_path}: no SAMM_Micro_FACS_Codes")):
        load(tmp_path)


def test_the_v2_sheet_is_preferred_over_an_older_one(tmp_path):
    sheet = write_samm(tmp_path, [CLEAN])
    write_samm_sheet(tmp_path / "SAMM_Micro_FACS_Codes.xlsx", [samm_row(filename="old")])
    assert [c.source for c in load(tmp_path).clips] == [str(sheet)]


@pytest.mark.parametrize("subject", ["006", 6, "6"])
def test_subject_is_three_digits_naming_its_folder(tmp_path, subject):
    write_samm(tmp_path, [samm_row(subject=subject)])
    dataset = load(tmp_path)
    (clip,) = dataset.clips
    assert clip.subject == "006"
    assert clip.frames[0] == tmp_path / "SAMM" / "006" / "006_1_2" / "006_05562.jpg"
    assert dataset.problems == []


@pytest.mark.parametrize("apex", [-1, "-1", None, "/"])
def test_unannotated_apex_is_none_and_no_problem(tmp_path, apex):
    write_samm(tmp_path, [samm_row(apex=apex)])
    dataset = load(tmp_path)
    assert [c.apex for c in dataset.clips] == [None] and dataset.problems == []


def test_a_negative_onset_is_still_a_problem(tmp_path):
    write_samm(tmp_path, [CLEAN])
    write_samm_sheet(tmp_path / SHEET, [CLEAN, samm_row(filename="006_1_3", onset=-1)])
    assert messages_at(load(tmp_path), FIRST + 1) == ["column Onset Frame: '-1' is not a frame number"]


# ---------------------------------------------------------------- frames

@pytest.mark.parametrize("digits, onset, offset", [(4, 998, 1003), (5, 9998, 10003)])
def test_frames_are_in_numeric_order_with_4_or_5_digits(tmp_path, digits, onset, offset):
    write_samm(tmp_path, [samm_row(onset=onset, apex=onset + 1, offset=offset)], digits=digits)
    clip = load(tmp_path).clips[0]
    assert clip.frame_numbers == tuple(range(onset, offset + 1))
    assert clip.frames[0].name == f"006_{onset:0{digits}d}.jpg"


def test_root_may_be_the_samm_folder_itself(tmp_path):
    sheet = write_samm(tmp_path, [CLEAN])
    dataset = load(tmp_path / "SAMM")      # the sheet beside it is found
    assert dataset.clips[0].frames[0] == tmp_path / "SAMM" / "006" / "006_1_2" / "006_05562.jpg"
    assert [c.source for c in dataset.clips] == [str(sheet)]
    assert len(load(tmp_path / "SAMM", annotations=sheet).clips) == 1


def test_root_without_subject_folders_is_a_user_error(tmp_path):
    write_samm_sheet(tmp_path / SHEET, [CLEAN])
    (tmp_path / "SAMM" / "sub01").mkdir(parents=True)
    with pytest.raises(UserError, match="no SAMM subject folders"):
        load(tmp_path)


# ---------------------------------------------------------------- labels and classes

EMOTIONS = ("Anger", "Contempt", "Happiness", "Surprise", "Other", "Disgust", "Fear", "Sadness", "Sadness", "joy")


def emotion_copy(tmp_path):
    rows = [samm_row(filename=f"006_{i}_1", emotion=emotion, objective=objective)
            for i, (emotion, objective) in enumerate(zip(EMOTIONS, ("I", "ii", 3, "4", "V", "VI", 7.0, "VII", "I", "I")))]
    return write_samm(tmp_path, rows)


def test_emotion_labels_standard_classes_and_excluded_counts(tmp_path):
    emotion_copy(tmp_path)
    dataset = load(tmp_path)
    assert dataset.classes == ["anger", "contempt", "happiness", "surprise", "other"]
    assert [c.emotion for c in dataset.clips] == ["anger", "contempt", "happiness", "surprise", "other"]
    assert dict(dataset.excluded) == {"disgust": 1, "fear": 1, "sadness": 2, "joy": 1}
    assert [(p.row, p.message) for p in dataset.problems] == [(FIRST + 9, "unknown emotion 'joy'")]


def test_objective_labels_are_roman_numerals(tmp_path):
    sheet = emotion_copy(tmp_path)
    rows, problems = read_objective(tmp_path, sheet)
    assert [r.emotion for r in rows] == ["I", "II", "III", "IV", "V", "VI", "VII", "VII", "I", "I"]
    assert [r.row for r in rows] == list(range(FIRST, FIRST + 10)) and problems == []
    assert samm.label_set("objective") == (OBJECTIVE_CLASSES, frozenset(OBJECTIVE_CLASSES))
    assert samm.label_set("emotion")[0] == CLASSES
    with pytest.raises(UserError, match="dataset.labels"):
        samm.label_set("au")


def test_objective_labels_need_their_column(tmp_path):
    write_samm(tmp_path, [CLEAN])
    header = tuple(name for name in samm.HEADER if name != "Objective Classes")
    write_samm_sheet(tmp_path / SHEET, [CLEAN], header=header)
    assert len(load(tmp_path).clips) == 1
    with pytest.raises(UserError, match="no column 'Objective Classes'"):
        read_objective(tmp_path, tmp_path / SHEET)


def test_labels_setting_is_validated():
    assert load_config()["dataset"]["labels"] == "emotion"
    assert load_config(overrides=["dataset.labels=objective"])["dataset"]["labels"] == "objective"
    with pytest.raises(UserError, match="dataset.labels must be one of emotion, objective"):
        load_config(overrides=["dataset.labels=Emotion"])


# ---------------------------------------------------------------- problems name the sheet and row

def load_with(tmp_path, row, frames=range(10, 15)):
    """The first clip row is clean; the second is ``row`` (subject 007, clip 007_2_1), whose folder
    holds ``frames`` (None: no folder). Returns the dataset and the row's folder."""
    write_samm(tmp_path, [CLEAN])
    folder = tmp_path / "SAMM" / "007" / "007_2_1"
    if frames is not None:
        write_frames(folder, frames, "007_{:05d}.jpg")
    write_samm_sheet(tmp_path / SHEET, [CLEAN, row])
    return load(tmp_path), folder


def second(**fields):
    return samm_row(**{"subject": 7, "filename": "007_2_1", "onset": 10, "apex": 12, "offset": 14, **fields})


def test_missing_folder_names_the_sheet_and_row(tmp_path):
    dataset, folder = load_with(tmp_path, second(), frames=None)
    (problem,) = dataset.problems
    assert str(problem) == f"{tmp_path / SHEET} row {FIRST + 1}: missing frame folder {folder}"
    assert [c.row for c in dataset.clips] == [FIRST]


def test_empty_folder_is_a_problem(tmp_path):
    dataset, folder = load_with(tmp_path, second(), frames=[])
    assert messages_at(dataset, FIRST + 1) == [f"no frames in {folder}"] and len(dataset.clips) == 1


def test_onset_and_offset_outside_the_folder(tmp_path):
    dataset, folder = load_with(tmp_path, second(onset=8, offset=16))
    assert messages_at(dataset, FIRST + 1) == [f"onset 8 is before the first frame 10 in {folder}",
                                               f"offset 16 is after the last frame 14 in {folder}"]
    assert dataset.clips[1].frame_numbers == (10, 11, 12, 13, 14)


@pytest.mark.parametrize("fields, message", [
    ({"onset": 14, "offset": 10}, "column Onset Frame: onset 14 is after Offset Frame 10"),
    ({"subject": "S7"}, "column Subject: 'S7' is not a subject number"),
    ({"emotion": None}, "column Estimated Emotion is blank"),
])
def test_unusable_rows_are_reported_by_sheet_row_and_column(tmp_path, fields, message):
    dataset, _ = load_with(tmp_path, second(**fields))
    assert messages_at(dataset, FIRST + 1) == [message] and [c.row for c in dataset.clips] == [FIRST]


# ---------------------------------------------------------------- the report, the CLI, training

def test_inspect_report_has_the_casme2_keys(tmp_path):
    write_samm(tmp_path / "samm", [CLEAN, samm_row(7, "007_1_1", 20, 22, 25, "Fear")])
    write_casme2(tmp_path / "casme2", [casme2_row()])
    report = inspect_dataset("samm", tmp_path / "samm")
    assert set(report) == set(inspect_dataset("casme2", tmp_path / "casme2"))
    assert report["clips_per_subject"] == {"006": 1} and report["excluded"] == {"fear": 1}
    assert report["classes"] == list(CLASSES)
    assert [p["message"] for p in report["problems"]] == ["1 usable clip(s): training needs at least 2"]


def test_cli_inspect_json(capsys, tmp_path):
    write_samm(tmp_path, [CLEAN, samm_row(7, "007_1_1", 20, 22, 25, "Anger")])
    code = main(["datasets", "inspect", "--dataset", "samm", "--root", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["dataset"] == "samm" and report["clips_total"] == 2


def test_tiny_training_run_on_samm(tmp_path):
    from mer3d.training.trainer import train

    rows = [samm_row(subject, f"{subject:03d}_{i}_1", 100, 104, 109, emotion)
            for subject in (6, 7, 9) for i, emotion in enumerate(("Happiness", "Surprise", "Anger"))]
    write_samm(tmp_path / "data", rows, digits=4)
    config = load_config("paper-casme2", overrides=[
        *TINY, "dataset.name=samm", f"dataset.root={tmp_path / 'data'}", f"data.cache_dir={tmp_path / 'cache'}",
        "protocol.name=kfold", "protocol.k=2", "train.epochs=1", "train.final_model=false", "data.face_crop=off"])
    train(config, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["folds"] == 2 and sum(map(sum, metrics["confusion_matrix"])) == 9


# ---------------------------------------------------------------- dataset.labels through loading, training, CLI

def test_objective_labels_through_load_dataset_with_chosen_classes(tmp_path):
    emotion_copy(tmp_path)
    dataset = load(tmp_path, labels="objective")
    assert dataset.classes == list(OBJECTIVE_CLASSES)
    assert [c.emotion for c in dataset.clips] == ["I", "II", "III", "IV", "V", "VI", "VII", "VII", "I", "I"]
    chosen = load(tmp_path, labels="objective", classes=["i", "VII"])    # any case, as for emotions
    assert chosen.classes == ["I", "VII"] and len(chosen.clips) == 5 and dict(chosen.excluded) == {
        "II": 1, "III": 1, "IV": 1, "V": 1, "VI": 1}


def test_other_datasets_have_emotion_labels_only(tmp_path):
    write_casme2(tmp_path, [casme2_row()])
    with pytest.raises(UserError, match="dataset.labels=objective: casme2 has emotion labels only"):
        load_dataset("casme2", tmp_path, labels="objective")


def test_cli_inspect_with_objective_labels(capsys, tmp_path):
    emotion_copy(tmp_path)
    code = main(["datasets", "inspect", "--dataset", "samm", "--root", str(tmp_path), "--labels", "objective",
                 "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["classes"] == list(OBJECTIVE_CLASSES)
    assert report["clips_per_class"] == {"I": 3, "II": 1, "III": 1, "IV": 1, "V": 1, "VI": 1, "VII": 2}


def test_training_uses_the_chosen_labels(tmp_path):
    from mer3d.training.trainer import train

    rows = [samm_row(subject, f"{subject:03d}_{i}_1", 100, 104, 109, "Happiness", objective)
            for subject in (6, 7, 9) for i, objective in enumerate(("I", "II", "III"))]
    write_samm(tmp_path / "data", rows, digits=4)
    config = load_config("paper-casme2", overrides=[
        *TINY, "dataset.name=samm", "dataset.labels=objective", f"dataset.root={tmp_path / 'data'}",
        f"data.cache_dir={tmp_path / 'cache'}", "protocol.name=kfold", "protocol.k=2", "train.epochs=1",
        "train.final_model=false", "data.face_crop=off"])
    train(config, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["classes"] == list(OBJECTIVE_CLASSES)
    assert [metrics["support"][c] for c in OBJECTIVE_CLASSES] == [3, 3, 3, 0, 0, 0, 0]
