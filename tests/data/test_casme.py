import pytest

from mer3d.data import load_dataset
from mer3d.data.casme import CLASSES
from mer3d.errors import UserError
from fixtures import write_casme_sheet, write_frames

SECTION_A = [
    (1, "EP01_5", 10, 12, None, 14, "4+9", "tense"),
    (1, "EP02_1", 10, "/", "/", 13, "12", "happiness"),
]
SECTION_B = [
    (8, "EP03_2", 20, 21, 22, 23, "1+2", "Surprise"),
    (8, "EP04_1", 20, 21, None, 23, "14", "comtempt"),
]


def write_casme(root, sheet_a="Sheet1"):
    """Both sections: A with img<N>.jpg frames and its sheet at the root, B with <Filename>-<N>.jpg
    frames and its sheet in a subfolder. Returns the two sheets."""
    for subject, name, onset, *_, offset, _, _ in SECTION_A:
        write_frames(root / "CASME_A" / "Section A" / f"sub{subject:02d}" / name, range(onset, offset + 1))
    for subject, name, onset, *_, offset, _, _ in SECTION_B:
        write_frames(root / "CASME_B" / "Section B" / f"sub{subject:02d}" / name, range(onset, offset + 1),
                     f"{name}-{{}}.jpg")
    return (write_casme_sheet(root / "Section A.xls", SECTION_A, sheet_a),
            write_casme_sheet(root / "sheets" / "Section B.xls", SECTION_B))


def test_both_sections_and_both_frame_names_load(tmp_path):
    sheet_a, sheet_b = write_casme(tmp_path)
    dataset = load_dataset("casme", tmp_path)
    tense, surprise = dataset.clips
    assert (tense.subject, tense.name, tense.emotion, tense.apex, tense.source) == ("01", "EP01_5", "tense", 12, str(sheet_a))
    assert tense.frames[0] == tmp_path / "CASME_A" / "Section A" / "sub01" / "EP01_5" / "img10.jpg"
    assert (surprise.subject, surprise.emotion, surprise.apex, surprise.row) == ("08", "surprise", 21, 2)
    assert [p.name for p in surprise.frames] == [f"EP03_2-{n}.jpg" for n in range(20, 24)]
    assert dataset.classes == list(CLASSES) and dataset.fps == 60.0 and tense.fps == 60.0


def test_other_emotions_are_excluded_and_misspelt_ones_reported(tmp_path):
    _, sheet_b = write_casme(tmp_path)
    dataset = load_dataset("casme", tmp_path)
    assert dict(dataset.excluded) == {"happiness": 1, "comtempt": 1}
    assert [str(p) for p in dataset.problems] == [f"{sheet_b} row 3: unknown emotion 'comtempt'"]


def test_slash_in_apex_f1_means_no_apex(tmp_path):
    write_casme(tmp_path)
    dataset = load_dataset("casme", tmp_path, classes=["happiness", "tense"])
    assert [(c.name, c.apex) for c in dataset.clips] == [("EP01_5", 12), ("EP02_1", None)]


def test_annotations_name_one_sheet_or_a_comma_separated_pair(tmp_path):
    sheet_a, sheet_b = write_casme(tmp_path)
    assert [c.name for c in load_dataset("casme", tmp_path, annotations=str(sheet_a)).clips] == ["EP01_5"]
    pair = f"{sheet_b}, {sheet_a}"
    assert [c.name for c in load_dataset("casme", tmp_path, annotations=pair).clips] == ["EP03_2", "EP01_5"]


def test_a_sheet_not_called_sheet1_is_read_from_the_first_sheet(tmp_path):
    write_casme(tmp_path, sheet_a="Coding")
    assert len(load_dataset("casme", tmp_path).clips) == 2


def test_missing_column_names_the_file_and_column(tmp_path):
    write_casme(tmp_path)
    header = ("Subject", "Filename", "OnsetF", "Apex", "ApexF2", "OffsetF", "AU", "Emotion")
    write_casme_sheet(tmp_path / "Section A.xls", SECTION_A, header=header)
    with pytest.raises(UserError, match=r"Section A\.xls: no column 'ApexF1'"):
        load_dataset("casme", tmp_path)


def test_no_section_sheets_is_a_user_error(tmp_path):
    write_frames(tmp_path / "CASME_A" / "Section A" / "sub01" / "EP01_5", [1])
    with pytest.raises(UserError, match="Section A.xls"):
        load_dataset("casme", tmp_path)


def test_bad_frame_number_is_reported_by_row_and_column(tmp_path):
    write_casme(tmp_path)
    write_casme_sheet(tmp_path / "Section A.xls", [SECTION_A[0], (1, "EP09_9", "x", 3, None, 5, "", "tense")])
    dataset = load_dataset("casme", tmp_path)
    assert [(p.row, p.message) for p in dataset.problems if p.path.endswith("Section A.xls")] == [
        (3, "column OnsetF: 'x' is not a frame number")]
