import json
import re
from pathlib import Path

import pytest

from mer3d.cli import build_parser, main
from mer3d.config import load_config
from mer3d.data import inspect_dataset, load_dataset
from mer3d.data import casme3
from mer3d.data.casme3 import CLASSES, HEADER, write_casme3_sheet
from mer3d.errors import UserError
from fixtures import casme2_row, write_casme2, write_frames

SHEET = "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"
FRAMES = "part_A"     # the folder holding the spNO.* folders in these copies
EMOTIONS = ("anger", "disgust", "fear", "happy", "sad", "surprise", "others")


def casme3_row(subject="spNO.1", filename="a", onset=10, apex=12, offset=14, emotion="happy",
               au="R12", objective="positive") -> dict:
    """One row for ``write_casme3_sheet``, under the real sheet's column names."""
    return {"Subject": subject, "Filename": filename, "Onset": onset, "Apex": apex, "Offset": offset,
            "AU": au, "Objective class": objective, "emotion": emotion}


def subject_folder(subject) -> str:
    return subject if str(subject).startswith("spNO.") else f"spNO.{int(subject)}"


def write_casme3(root, rows, title_rows=0, header=HEADER, frames=FRAMES, sheet_at=None, skip=()):
    """A CAS(ME)^3 part A copy: the sheet at ``sheet_at`` (default ``root``) and frames onset..offset
    of every row (but those whose Filename is in ``skip``) in
    ``root/<frames>/<subject>/<Filename>/color/<frame>.jpg``, with a ``depth`` folder beside ``color``.
    Rows use the real header names; with another ``header`` they are renamed in order. Returns the sheet."""
    for row in rows:
        if row["Filename"] in skip:
            continue
        clip = root / frames / subject_folder(row["Subject"]) / row["Filename"]
        write_frames(clip / "color", range(int(row["Onset"]), int(row["Offset"]) + 1), "{}.jpg")
        write_frames(clip / "depth", range(1, 4), "{}.png")
    sheet = (sheet_at or root) / SHEET
    renamed = [{new: row.get(old) for old, new in zip(HEADER, header)} for row in rows]
    write_casme3_sheet(sheet, renamed, title_rows=title_rows, header=header)
    return sheet


def seven_emotions(root, **options):
    """Clips a..g of spNO.1 (one per emotion), plus two more of spNO.2."""
    rows = [casme3_row(filename=chr(ord("a") + i), emotion=emotion) for i, emotion in enumerate(EMOTIONS)]
    rows += [casme3_row("spNO.2", "a", 30, 33, 36, "disgust"), casme3_row("spNO.2", "b", 5, 6, 9, "others")]
    return write_casme3(root, rows, **options)


def load(root, **options):
    return load_dataset("casme3", root, **options)


def messages_at(dataset, row):
    return [p.message for p in dataset.problems if p.row == row]


# ---------------------------------------------------------------- a clean copy

def test_clean_load(tmp_path):
    sheet = seven_emotions(tmp_path)
    dataset = load(tmp_path)
    assert dataset.classes == list(EMOTIONS) == list(CLASSES) and dataset.fps == 30.0
    assert dataset.problems == [] and not dataset.excluded
    per_class = {c: sum(clip.emotion == c for clip in dataset.clips) for c in EMOTIONS}
    assert per_class == {"anger": 1, "disgust": 2, "fear": 1, "happy": 1, "sad": 1, "surprise": 1, "others": 2}
    assert [c.subject for c in dataset.clips] == ["spNO.1"] * 7 + ["spNO.2"] * 2
    clip = dataset.clips[7]
    assert (clip.dataset, clip.name, clip.emotion, clip.action_units) == ("casme3", "a", "disgust", "R12")
    assert (clip.onset, clip.apex, clip.offset, clip.fps) == (30, 33, 36, 30.0)
    assert (clip.source, clip.row) == (str(sheet), 9)
    assert clip.frame_numbers == tuple(range(30, 37))      # colour frames only, never depth
    assert clip.frames[0] == tmp_path / FRAMES / "spNO.2" / "a" / "color" / "30.jpg"


def test_frames_are_in_numeric_order_without_padding(tmp_path):
    write_casme3(tmp_path, [casme3_row(onset=8, apex=9, offset=11)])
    (clip,) = load(tmp_path).clips
    assert clip.frame_numbers == (8, 9, 10, 11)
    assert [p.name for p in clip.frames] == ["8.jpg", "9.jpg", "10.jpg", "11.jpg"]


# ---------------------------------------------------------------- label sets

def test_three_classes_exclude_others(tmp_path):
    seven_emotions(tmp_path)
    dataset = load(tmp_path, labels="3class")
    assert dataset.classes == ["negative", "positive", "surprise"]
    counts = {c: sum(clip.emotion == c for clip in dataset.clips) for c in dataset.classes}
    assert counts == {"negative": 5, "positive": 1, "surprise": 1}
    assert dict(dataset.excluded) == {"others": 2} and dataset.problems == []


def test_four_classes_keep_others(tmp_path):
    seven_emotions(tmp_path)
    dataset = load(tmp_path, labels="4class")
    assert dataset.classes == ["negative", "positive", "surprise", "others"]
    counts = {c: sum(clip.emotion == c for clip in dataset.clips) for c in dataset.classes}
    assert counts == {"negative": 5, "positive": 1, "surprise": 1, "others": 2}
    assert not dataset.excluded and dataset.problems == []


def test_label_sets_and_an_unknown_choice():
    assert casme3.label_set("emotion") == (CLASSES, frozenset(CLASSES))
    assert casme3.label_set("3class")[0] == ("negative", "positive", "surprise")
    assert "others" in casme3.label_set("3class")[1]        # known, so excluded rather than reported
    assert casme3.label_set("4class")[0] == ("negative", "positive", "surprise", "others")
    with pytest.raises(UserError, match="dataset.labels must be one of emotion, 3class, 4class, got 'objective'"):
        casme3.label_set("objective")
    assert [casme3.label(w, "3class") for w in ("Sad", " Happy ", "surprise", "others")] == [
        "negative", "positive", "surprise", "others"]


def test_unknown_emotion_is_reported_as_a_problem(tmp_path):
    sheet = write_casme3(tmp_path, [casme3_row(), casme3_row(filename="b", emotion="Joy")])
    for labels in ("emotion", "3class"):
        dataset = load(tmp_path, labels=labels)
        assert [(p.path, p.row, p.message) for p in dataset.problems] == [(str(sheet), 3, "unknown emotion 'joy'")]
        assert dict(dataset.excluded) == {"joy": 1} and len(dataset.clips) == 1


# ---------------------------------------------------------------- the sheet

def test_header_row_below_title_rows_with_other_spellings(tmp_path):
    header = ("subject", "FileName", " Onset", "Apex ", "OFFSET", "AU", "Objective Class", "Emotion")
    sheet = write_casme3(tmp_path, [casme3_row(emotion="Surprise")], title_rows=3, header=header)
    dataset = load(tmp_path)
    (clip,) = dataset.clips
    assert (clip.source, clip.row) == (str(sheet), 5)     # 3 title rows, the header, then the clip
    assert (clip.subject, clip.emotion, clip.apex) == ("spNO.1", "surprise", 12) and dataset.problems == []


def test_problem_rows_count_the_title_rows(tmp_path):
    write_casme3(tmp_path, [casme3_row(), casme3_row(filename="b", onset=14, offset=10)], title_rows=2)
    assert messages_at(load(tmp_path), 5) == ["column Onset: onset 14 is after Offset 10"]


@pytest.mark.parametrize("subject", [1, "1"])
def test_subject_written_as_a_number_is_its_spno_folder(tmp_path, subject):
    write_casme3(tmp_path, [casme3_row(subject=subject)])
    dataset = load(tmp_path)
    (clip,) = dataset.clips
    assert clip.subject == "spNO.1" and dataset.problems == []
    assert clip.frames[0] == tmp_path / FRAMES / "spNO.1" / "a" / "color" / "10.jpg"


def test_a_subject_that_is_not_one_is_a_problem(tmp_path):
    write_casme3(tmp_path, [casme3_row(), casme3_row(subject="S2", filename="b")], skip=("b",))
    assert messages_at(load(tmp_path), 3) == ["column Subject: 'S2' is not a subject (spNO.1 or 1)"]


@pytest.mark.parametrize("apex", ["/", None, -1, "-1"])
def test_missing_apex_is_not_annotated(tmp_path, apex):
    write_casme3(tmp_path, [casme3_row(apex=apex)])
    dataset = load(tmp_path)
    assert [c.apex for c in dataset.clips] == [None] and dataset.problems == []


def test_apex_outside_onset_offset_is_reported(tmp_path):
    write_casme3(tmp_path, [casme3_row(apex=20)])
    dataset = load(tmp_path)
    assert messages_at(dataset, 2) == ["apex 20 is outside onset..offset 10..14; apex ignored"]
    assert [c.apex for c in dataset.clips] == [None]


def test_a_sheet_without_a_needed_column_is_a_one_line_user_error(tmp_path):
    header = tuple(name for name in HEADER if name != "Onset")
    rows = [{name: value for name, value in casme3_row().items() if name != "Onset"}]
    write_frames(tmp_path / FRAMES / "spNO.1" / "a" / "color", range(10, 15), "{}.jpg")
    write_casme3_sheet(tmp_path / SHEET, rows, header=header)
    with pytest.raises(UserError, match=rf"^{re.escape(str(tmp_path / SHEET))}: no header row naming") as error:
        load(tmp_path)
    assert "Onset" in str(error.value) and "\n" not in str(error.value)


def test_a_v1_sheet_is_found_and_v2_is_preferred(tmp_path):
    write_casme3(tmp_path, [casme3_row()])
    v2 = tmp_path / SHEET
    v1 = tmp_path / "cas(me)3_part_A_ME_label.xlsx"
    v2.rename(v1)
    assert [c.source for c in load(tmp_path).clips] == [str(v1)]
    write_casme3_sheet(v2, [casme3_row(filename="b")])        # no frames: a problem if v2 is read
    dataset = load(tmp_path)
    assert [c.source for c in dataset.clips] == [] and messages_at(dataset, 2)[0].startswith("missing frame folder")


def test_missing_sheet_is_a_user_error_naming_the_root(tmp_path):
    write_frames(tmp_path / FRAMES / "spNO.1" / "a" / "color", [1, 2], "{}.jpg")
    with pytest.raises(UserError, match=re.escape(f"{tmp_path}: no cas(me)3_part_A_ME_label*.xlsx sheet found")):
        load(tmp_path)


# ---------------------------------------------------------------- folders

def test_listed_clip_folder_missing_names_the_sheet_row(tmp_path):
    sheet = write_casme3(tmp_path, [casme3_row(), casme3_row("spNO.2", "b", 20, 22, 24, "fear")], skip=("b",))
    dataset = load(tmp_path)
    (problem,) = dataset.problems
    assert str(problem) == f"{sheet} row 3: missing frame folder {tmp_path / FRAMES / 'spNO.2' / 'b' / 'color'}"
    assert [c.row for c in dataset.clips] == [2]


def test_root_may_be_a_folder_above_the_frames_folder(tmp_path):
    copy = tmp_path / "CAS(ME)3" / "part_A"
    sheet = write_casme3(copy / "data", [casme3_row()], sheet_at=copy / "annotation")
    (clip,) = load(tmp_path / "CAS(ME)3").clips
    assert clip.source == str(sheet)
    assert clip.frames[0] == copy / "data" / FRAMES / "spNO.1" / "a" / "color" / "10.jpg"


def test_root_may_be_the_frames_folder_with_the_sheet_beside_it(tmp_path):
    sheet = write_casme3(tmp_path, [casme3_row()])
    (clip,) = load(tmp_path / FRAMES).clips
    assert clip.source == str(sheet) and clip.frames[0].parent == tmp_path / FRAMES / "spNO.1" / "a" / "color"


def test_a_flattened_copy_without_color_folders_and_another_subject_spelling(tmp_path):
    write_frames(tmp_path / FRAMES / "spno.01" / "a", range(10, 15), "{}.jpg")
    write_casme3_sheet(tmp_path / SHEET, [casme3_row()])
    dataset = load(tmp_path)
    (clip,) = dataset.clips
    assert clip.subject == "spNO.1" and dataset.problems == []
    assert clip.frames[0] == tmp_path / FRAMES / "spno.01" / "a" / "10.jpg"


def test_root_without_subject_folders_is_a_user_error(tmp_path):
    write_casme3_sheet(tmp_path / SHEET, [casme3_row()])
    (tmp_path / FRAMES / "sub01").mkdir(parents=True)
    with pytest.raises(UserError, match=r"no CAS\(ME\)\^3 subject folders \(spNO.1, spNO.2, ...\) found"):
        load(tmp_path)


# ---------------------------------------------------------------- the report, config and CLI

def test_inspect_report_has_the_casme2_keys(tmp_path):
    write_casme3(tmp_path / "casme3", [casme3_row(), casme3_row("spNO.2", "a", 20, 22, 25, "joy")])
    write_casme2(tmp_path / "casme2", [casme2_row()])
    report = inspect_dataset("casme3", tmp_path / "casme3")
    assert set(report) == set(inspect_dataset("casme2", tmp_path / "casme2"))
    assert report["dataset"] == "casme3" and report["classes"] == list(CLASSES)
    assert report["clips_total"] == 1 and report["clips_per_subject"] == {"spNO.1": 1}
    assert report["excluded"] == {"joy": 1}
    # the tiny frames hold no face, and colour frames are cropped (whole-scene recordings)
    messages = [p["message"] for p in report["problems"]]
    assert messages[0] == "unknown emotion 'joy'" and "no face found" in messages[1]
    assert messages[2] == "1 usable clip(s): training needs at least 2" and len(messages) == 3
    three = inspect_dataset("casme3", tmp_path / "casme3", labels="3class")
    assert three["clips_per_class"] == {"negative": 0, "positive": 1, "surprise": 0}


def test_labels_setting_accepts_the_casme3_choices():
    for labels in ("3class", "4class", "objective", "emotion"):
        assert load_config(overrides=[f"dataset.labels={labels}"])["dataset"]["labels"] == labels
    with pytest.raises(UserError, match="dataset.labels must be one of emotion, objective, 3class, 4class"):
        load_config(overrides=["dataset.labels=bogus"])


def test_cli_inspect_json_with_casme3_labels(capsys, tmp_path):
    seven_emotions(tmp_path)
    code = main(["datasets", "inspect", "--dataset", "casme3", "--root", str(tmp_path), "--labels", "4class",
                 "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["dataset"] == "casme3" and report["clips_total"] == 9
    assert report["clips_per_class"] == {"negative": 5, "positive": 1, "surprise": 1, "others": 2}
    args = build_parser().parse_args(["datasets", "inspect", "--dataset", "casme3", "--root", ".",
                                      "--labels", "3class"])
    assert args.labels == "3class"


def test_colour_frames_are_whole_scene_recordings_and_get_cropped():
    from mer3d.data.cache import is_raw
    from mer3d.data.records import ClipRecord
    frames = (Path("CASME3/spNO.1/a/color/1.jpg"),)
    assert is_raw(ClipRecord("casme3", "spNO.1", "a", "happy", frames=frames, frame_numbers=(1,)))
    assert not is_raw(ClipRecord("casme2", "01", "EP01", "happiness", frames=(Path("Cropped/sub01/EP01/1.jpg"),),
                                 frame_numbers=(1,)))
