"""Gender labels (for multitask models such as GEME): a manifest column, or a subject-gender table."""
import pytest

from mer3d.data import inspect_dataset, load_dataset
from mer3d.errors import UserError
from fixtures import casme2_row, write_casme2, write_frames, write_manifest


def gender_manifest(root, genders):
    """One clip per (subject, gender cell) pair, in order."""
    write_frames(root / "c1", [1, 2])
    return write_manifest(root / "manifest.csv", [
        {"subject": subject, "path": "c1", "label": "a", "name": f"clip{k}", "gender": gender}
        for k, (subject, gender) in enumerate(genders)])


def test_manifest_gender_column_accepts_words_and_letters_and_fills_a_subjects_blank_rows(tmp_path):
    gender_manifest(tmp_path, [("1", "F"), ("1", ""), ("2", "male"), ("3", "")])
    dataset = load_dataset("csv", tmp_path)
    assert [c.gender for c in dataset.clips] == ["female", "female", "male", None]
    assert dataset.genders() == [0, 0, 1, None]


def test_bad_gender_cell_is_a_row_problem(tmp_path):
    gender_manifest(tmp_path, [("1", "x"), ("2", "m")])
    dataset = load_dataset("csv", tmp_path)
    assert [(p.row, p.message) for p in dataset.problems] == [
        (2, "column gender: 'x' is not a gender (female/male or f/m)")]
    assert [c.subject for c in dataset.clips] == ["2"]


def test_a_subject_with_two_genders_is_an_error_naming_both_rows(tmp_path):
    manifest = gender_manifest(tmp_path, [("1", "f"), ("2", "m"), ("1", "m")])
    with pytest.raises(UserError, match=f"{manifest} row 4: subject 1 is male here but female in {manifest} row 2"):
        load_dataset("csv", tmp_path)


def write_gender_table(path, rows):
    return write_manifest(path, [{"subject": s, "gender": g} for s, g in rows])


def test_subject_gender_table_gives_casme2_subjects_their_gender(tmp_path):
    write_casme2(tmp_path / "casme2", [casme2_row("01", "EP1", emotion="happiness"),
                                       casme2_row("02", "EP2", emotion="disgust"),
                                       casme2_row("03", "EP3", emotion="others")])
    # 'sub01', '2' and '01' style subjects all name the sheet's subjects; 'sub09' is not in the data.
    table = write_gender_table(tmp_path / "genders.csv", [("sub01", "female"), ("2", "M"), ("sub09", "f")])
    dataset = load_dataset("casme2", tmp_path / "casme2", genders=table)
    assert [(c.subject, c.gender) for c in dataset.clips] == [("01", "female"), ("02", "male"), ("03", None)]
    report = inspect_dataset("casme2", tmp_path / "casme2", genders=table)
    assert report["subjects_per_gender"] == {"female": 1, "male": 1, "unknown": 1}


@pytest.mark.parametrize("rows, message", [
    ([("1", "f"), ("01", "m")], r"genders\.csv row 3: subject 01 is listed twice \(see .*genders\.csv row 2\)"),
    ([("1", "")], r"genders\.csv row 2: column gender is blank"),
    ([("1", "woman?")], r"genders\.csv row 2: column gender: 'woman\?' is not a gender"),
])
def test_bad_gender_table_is_an_error_naming_file_and_row(tmp_path, rows, message):
    gender_manifest(tmp_path / "data", [("1", "")])
    table = write_gender_table(tmp_path / "genders.csv", rows)
    with pytest.raises(UserError, match=message):
        load_dataset("csv", tmp_path / "data", genders=table)


def test_table_disagreeing_with_the_manifest_is_an_error(tmp_path):
    manifest = gender_manifest(tmp_path / "data", [("1", "f")])
    table = write_gender_table(tmp_path / "genders.csv", [("1", "m")])
    with pytest.raises(UserError, match=f"{manifest} row 2: subject 1 is female here but male in {table} row 2"):
        load_dataset("csv", tmp_path / "data", genders=table)


def test_missing_gender_table_is_an_error_naming_it(tmp_path):
    gender_manifest(tmp_path, [("1", "")])
    with pytest.raises(UserError, match="annotation file not found: .*nope.csv"):
        load_dataset("csv", tmp_path, genders=tmp_path / "nope.csv")
