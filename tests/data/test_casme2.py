import re

import openpyxl
import pandas as pd
import pytest

from mer3d.data import load_dataset
from mer3d.data.casme2 import CLASSES, write_casme2_sheet
from mer3d.errors import UserError
from fixtures import casme2_row, corrupt_image, write_casme2, write_frames

SHEET = "CASME2-coding-20140508.xlsx"
CLEAN = casme2_row("01", "EP01_01f", 10, 12, 14, "12", "happiness")


def load(root, **options):
    return load_dataset("casme2", root, **options)


def messages_at(dataset, row):
    return [p.message for p in dataset.problems if p.row == row]


# ---------------------------------------------------------------- the sheet

def test_written_sheet_reads_back_with_the_real_header(tmp_path):
    sheet = tmp_path / SHEET
    write_casme2_sheet(sheet, [casme2_row(apex="/")])
    table = pd.read_excel(sheet, dtype=object)
    assert list(table.columns) == ["Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame",
                                   "OffsetFrame", "Unnamed: 6", "Action Units", "Estimated Emotion"]
    assert table.loc[0, "Subject"] == "01" and table.loc[0, "ApexFrame"] == "/"
    assert not list(tmp_path.glob(".*"))     # no temporary file left beside it


@pytest.mark.parametrize("subject", ["01", 1])
def test_subject_as_text_or_number_names_the_sub01_folder(tmp_path, subject):
    write_casme2(tmp_path, [casme2_row(subject=subject)])
    dataset = load(tmp_path)
    (clip,) = dataset.clips
    assert clip.subject == "01"
    assert clip.frames[0].parent == tmp_path / "Cropped" / "sub01" / "EP01_01f"
    assert dataset.problems == []


def test_record_fields_come_from_the_sheet(tmp_path):
    sheet = write_casme2(tmp_path, [CLEAN])
    dataset = load(tmp_path)
    (clip,) = dataset.clips
    assert (clip.dataset, clip.name, clip.emotion, clip.action_units) == ("casme2", "EP01_01f", "happiness", "12")
    assert (clip.onset, clip.apex, clip.offset, clip.fps) == (10, 12, 14, 200.0)
    assert (clip.source, clip.row) == (str(sheet), 2)
    assert dataset.classes == list(CLASSES) and dataset.fps == 200.0


def test_slash_apex_is_unknown_and_apex_at_onset_is_legal(tmp_path):
    write_casme2(tmp_path, [casme2_row(filename="EP12_01f", apex="/"),
                            casme2_row(filename="EP09_05f", onset=10, apex=10)])
    dataset = load(tmp_path)
    assert [c.apex for c in dataset.clips] == [None, 10]
    assert dataset.problems == []


def test_question_marks_in_action_units_are_kept(tmp_path):
    write_casme2(tmp_path, [casme2_row(action_units="4+?")])
    assert load(tmp_path).clips[0].action_units == "4+?"


def test_frame_numbers_written_as_floats_become_ints(tmp_path):
    write_casme2(tmp_path, [casme2_row(onset=10.0, apex=12.0, offset=14.0)])
    clip = load(tmp_path).clips[0]
    assert (clip.onset, clip.apex, clip.offset) == (10, 12, 14)
    assert all(type(n) is int for n in (clip.onset, clip.apex, clip.offset))


def test_headers_match_ignoring_case_and_spaces(tmp_path):
    write_frames(tmp_path / "Cropped" / "sub01" / "EP1", range(3, 6), "reg_img{}.jpg")
    columns = [" subject", "FILENAME", "Onset Frame ", "apexframe", "OffsetFrame", "action units", "Estimated  Emotion"]
    pd.DataFrame([[1, "EP1", 3, 4, 5, "1", "Surprise "]], columns=columns).to_excel(tmp_path / SHEET, index=False)
    (clip,) = load(tmp_path).clips
    assert (clip.subject, clip.emotion, clip.apex, clip.frame_numbers) == ("01", "surprise", 4, (3, 4, 5))


def test_missing_column_names_the_file_and_column(tmp_path):
    write_casme2(tmp_path, [CLEAN])
    book = openpyxl.load_workbook(tmp_path / SHEET)
    book.active["I1"] = "Emotion guess"
    book.save(tmp_path / SHEET)
    with pytest.raises(UserError, match=rf"{re.escape(str(tmp_path / SHEET))}: no column 'Estimated Emotion'"):
        load(tmp_path)


def test_missing_sheet_is_a_user_error_naming_the_path(tmp_path):
    write_frames(tmp_path / "Cropped" / "sub01" / "EP1", [1])
    with pytest.raises(UserError, match=re.escape(str(tmp_path))):
        load(tmp_path)
    with pytest.raises(UserError, match="nowhere.xlsx"):
        load(tmp_path, annotations=tmp_path / "nowhere.xlsx")


def test_unreadable_sheet_is_a_user_error_naming_the_path(tmp_path):
    write_frames(tmp_path / "Cropped" / "sub01" / "EP1", [1])
    (tmp_path / SHEET).write_bytes(b"this is not a workbook")
    with pytest.raises(UserError, match=re.escape(f"{tmp_path / SHEET}: cannot read")):
        load(tmp_path)


def test_two_sheets_under_root_must_be_chosen_between(tmp_path):
    write_casme2(tmp_path, [CLEAN])
    write_casme2_sheet(tmp_path / "old" / "CASME2-coding-20130101.xlsx", [CLEAN])
    with pytest.raises(UserError, match="several"):
        load(tmp_path)
    assert len(load(tmp_path, annotations=tmp_path / SHEET).clips) == 1


# ---------------------------------------------------------------- frame folders

def test_frames_are_in_numeric_order(tmp_path):
    write_casme2(tmp_path, [casme2_row(onset=8, apex=9, offset=12)])
    clip = load(tmp_path).clips[0]
    assert clip.frame_numbers == (8, 9, 10, 11, 12)
    assert [p.name for p in clip.frames] == [f"reg_img{n}.jpg" for n in range(8, 13)]


def test_nested_raw_copy_is_found(tmp_path):
    nested = "CASME2_RAW_selected/CASME2_RAW_selected"
    write_casme2(tmp_path, [CLEAN], frames_dir=nested, pattern="img{}.jpg")
    clip = load(tmp_path).clips[0]
    assert clip.frames[0] == tmp_path / nested / "sub01" / "EP01_01f" / "img10.jpg"


def test_cropped_frames_are_preferred_over_raw_and_never_mixed(tmp_path):
    only_raw = casme2_row(filename="EP02_02f")
    write_casme2(tmp_path, [CLEAN, only_raw], frames_dir="CASME2_RAW_selected", pattern="img{}.jpg")
    write_casme2(tmp_path, [CLEAN], frames_dir="Cropped", pattern="reg_img{}.jpg")
    write_casme2_sheet(tmp_path / SHEET, [CLEAN, only_raw])
    dataset = load(tmp_path)
    (clip,) = dataset.clips
    assert clip.frames[0] == tmp_path / "Cropped" / "sub01" / "EP01_01f" / "reg_img10.jpg"
    assert messages_at(dataset, 3) == [f"missing frame folder {tmp_path / 'Cropped' / 'sub01' / 'EP02_02f'}"]


@pytest.mark.parametrize("frames_dir, pattern", [("Cropped", "reg_img{}.jpg"), ("CASME2_RAW_selected", "img{}.jpg")])
def test_root_may_be_the_frames_folder_itself(tmp_path, frames_dir, pattern):
    sheet = write_casme2(tmp_path, [CLEAN], frames_dir=frames_dir, pattern=pattern)
    clip = load(tmp_path / frames_dir, annotations=sheet).clips[0]
    assert clip.frames[0] == tmp_path / frames_dir / "sub01" / "EP01_01f" / pattern.format(10)


# ---------------------------------------------------------------- classes

def test_fear_and_sadness_are_excluded_and_counted_unknown_emotions_reported(tmp_path):
    write_casme2(tmp_path, [CLEAN, casme2_row(filename="EP2", emotion="fear"),
                            casme2_row(filename="EP3", emotion="Sadness"), casme2_row(filename="EP4", emotion="sadness"),
                            casme2_row(filename="EP5", emotion="joy")])
    dataset = load(tmp_path)
    assert [c.name for c in dataset.clips] == ["EP01_01f"]
    assert dict(dataset.excluded) == {"fear": 1, "sadness": 2, "joy": 1}
    assert [(p.row, p.message) for p in dataset.problems] == [(6, "unknown emotion 'joy'")]


def test_chosen_classes_replace_the_standard_set(tmp_path):
    write_casme2(tmp_path, [CLEAN, casme2_row(filename="EP2", emotion="fear"), casme2_row(filename="EP3", emotion="others")])
    dataset = load(tmp_path, classes=["Fear", "happiness"])
    assert dataset.classes == ["fear", "happiness"]
    assert [c.emotion for c in dataset.clips] == ["happiness", "fear"] and dataset.labels() == [1, 0]
    assert dict(dataset.excluded) == {"others": 1}
    with pytest.raises(UserError, match="unknown class 'joy'"):
        load(tmp_path, classes=["joy", "fear"])


# ---------------------------------------------------------------- validation against the folders

def load_with(tmp_path, row, frames=range(10, 15), check_images=False):
    """Row 2 of the sheet is a clean clip, row 3 is ``row`` (subject 02), whose folder holds
    ``frames`` (None: no folder). Returns the dataset and the row's folder."""
    write_casme2(tmp_path, [CLEAN])
    folder = tmp_path / "Cropped" / "sub02" / "EP02_01f"
    if frames is not None:
        folder.mkdir(parents=True)
        write_frames(folder, frames, "reg_img{}.jpg")
    write_casme2_sheet(tmp_path / SHEET, [CLEAN, row])
    return load(tmp_path, check_images=check_images), folder


def row3(**fields):
    """Row 3's annotation: subject 02, clip EP02_01f, frames 10..14 unless ``fields`` say otherwise."""
    return casme2_row(**{"subject": "02", "filename": "EP02_01f", **fields})


def clip_of_row3(dataset):
    return next((c for c in dataset.clips if c.row == 3), None)


def test_problems_name_the_sheet_and_row(tmp_path):
    dataset, folder = load_with(tmp_path, row3(), frames=None)
    (problem,) = dataset.problems
    assert (problem.path, problem.row) == (str(tmp_path / SHEET), 3)
    assert str(problem) == f"{tmp_path / SHEET} row 3: missing frame folder {folder}"
    assert [c.row for c in dataset.clips] == [2]


def test_empty_folder_drops_the_clip(tmp_path):
    dataset, folder = load_with(tmp_path, row3(), frames=[])
    assert messages_at(dataset, 3) == [f"no frames in {folder}"] and clip_of_row3(dataset) is None


def test_onset_and_offset_outside_the_folder_keep_the_frames_inside(tmp_path):
    dataset, folder = load_with(tmp_path, row3(onset=8, apex=12, offset=16))
    assert messages_at(dataset, 3) == [f"onset 8 is before the first frame 10 in {folder}",
                                       f"offset 16 is after the last frame 14 in {folder}"]
    assert clip_of_row3(dataset).frame_numbers == (10, 11, 12, 13, 14)


def test_range_entirely_outside_the_folder_drops_the_clip(tmp_path):
    dataset, _ = load_with(tmp_path, row3(onset=30, apex=32, offset=40))
    assert any("no frames of" in m for m in messages_at(dataset, 3)) and clip_of_row3(dataset) is None


def test_gaps_are_reported_and_the_clip_kept(tmp_path):
    dataset, _ = load_with(tmp_path, row3(onset=10, apex=12, offset=14), frames=[10, 11, 14])
    assert messages_at(dataset, 3) == ["2 missing frames between 10 and 14: 12, 13"]
    assert clip_of_row3(dataset).frame_numbers == (10, 11, 14)


def test_frames_outside_onset_offset_are_noted_and_left_out(tmp_path):
    dataset, _ = load_with(tmp_path, row3(onset=10, apex=12, offset=14), frames=range(5, 21))
    assert messages_at(dataset, 3) == ["11 frames outside onset..offset 10..14 ignored"]
    assert clip_of_row3(dataset).frame_numbers == (10, 11, 12, 13, 14)


def test_apex_outside_onset_offset_is_dropped(tmp_path):
    dataset, _ = load_with(tmp_path, row3(apex=20))
    assert messages_at(dataset, 3) == ["apex 20 is outside onset..offset 10..14; apex ignored"]
    assert clip_of_row3(dataset).apex is None


@pytest.mark.parametrize("fields, message", [
    ({"onset": 14, "offset": 10}, "column OnsetFrame: onset 14 is after OffsetFrame 10"),
    ({"onset": "ten"}, "column OnsetFrame: 'ten' is not a frame number"),
    ({"offset": 14.5}, "column OffsetFrame: '14.5' is not a frame number"),
    ({"subject": None}, "column Subject is blank"),
    ({"subject": "S2"}, "column Subject: 'S2' is not a subject number"),
    ({"emotion": " "}, "column Estimated Emotion is blank"),
])
def test_unusable_rows_are_reported_by_row_and_column(tmp_path, fields, message):
    dataset, _ = load_with(tmp_path, row3(**fields))
    assert messages_at(dataset, 3) == [message] and clip_of_row3(dataset) is None


def test_blank_filename_is_reported(tmp_path):
    write_casme2(tmp_path, [CLEAN])
    write_casme2_sheet(tmp_path / SHEET, [CLEAN, casme2_row(filename=None)])
    assert messages_at(load(tmp_path), 3) == ["column Filename is blank"]


def test_blank_rows_are_skipped_without_shifting_row_numbers(tmp_path):
    write_casme2(tmp_path, [CLEAN])
    blank = dict.fromkeys(CLEAN)
    write_casme2_sheet(tmp_path / SHEET, [blank, CLEAN, blank, casme2_row(filename="EP9")])
    dataset = load(tmp_path)
    assert [c.row for c in dataset.clips] == [3]
    assert [p.row for p in dataset.problems] == [5]


def test_a_repeated_clip_is_reported_once_and_kept_once(tmp_path):
    write_casme2(tmp_path, [CLEAN, CLEAN])
    dataset = load(tmp_path)
    assert [c.row for c in dataset.clips] == [2]
    assert messages_at(dataset, 3) == [f"clip 01/EP01_01f repeats {tmp_path / SHEET} row 2; ignored"]


def test_corrupt_image_drops_the_clip_only_when_images_are_checked(tmp_path):
    dataset, folder = load_with(tmp_path, row3())
    assert clip_of_row3(dataset) is not None
    corrupt_image(folder / "reg_img12.jpg")
    dataset = load(tmp_path, check_images=True)
    assert messages_at(dataset, 3) == [f"unreadable image {folder / 'reg_img12.jpg'}: cannot decode image (corrupt, truncated or not an image)"]
    assert clip_of_row3(dataset) is None and len(dataset.clips) == 1


def test_problems_are_listed_in_row_order(tmp_path):
    write_casme2(tmp_path, [casme2_row(filename="EP1", apex=99)])
    write_casme2_sheet(tmp_path / SHEET, [casme2_row(filename="EP1", apex=99), casme2_row(filename="EP2", onset="x")])
    # Row 3 fails while the sheet is parsed, row 2 only when its folder is checked.
    assert [p.row for p in load(tmp_path).problems] == [2, 3]
