"""Malformed annotation sheets, in the real formats of each dataset: a bad cell is a problem named
by its sheet row (inspect exits 0 and lists it; train would skip the row), a damaged file is one
line naming it (exit 2). Never a traceback, never a bad row used silently."""
from __future__ import annotations

import random

import pytest
import xlwt
from harness import assert_no_traceback, assert_problem_at, assert_user_error, run, tree
from fixtures import casme2_row, write_casme2, write_frames, write_manifest, write_samm  # noqa: I001 (after harness)

from mer3d.data.casme2 import write_casme2_sheet
from mer3d.data.casme3 import write_casme3_sheet

# CASME II: each column of the first data row (sheet row 2) given values no clip can have.
# Frames on disk are 10..14 (onset 10, apex 12, offset 14).
BAD_CELLS = {
    "subject": ["", "   ", "abc", "-3", "1.5", "=1+1"],
    "filename": ["", "EP99_99f", "../../..", "EP01_01f/../../x", "=A2"],
    "onset": ["", "abc", "3.7", "-5", "1e9", "20", "=D3+1", "10-12", "inf", "nan"],
    "apex": ["abc", "3.7", "99", "-1", "9", "=E3", "inf"],
    "offset": ["", "abc", "5", "1e9", "3.7", "=F3", "-1", "nan"],
    "emotion": ["", "joy", "123", "=I3", "happiness happiness"],
}
CELL_CASES = [(column, value) for column, values in BAD_CELLS.items() for value in values]


def casme2_copy(root, first: dict):
    """Frames of three good rows, and a sheet whose first row is changed by ``first``."""
    rows = [casme2_row("01", "EP01_01f"), casme2_row("01", "EP02_01f"), casme2_row("02", "EP03_01f")]
    sheet = write_casme2(root, rows)
    write_casme2_sheet(sheet, [{**rows[0], **first}, *rows[1:]])
    return sheet


@pytest.mark.parametrize("column, value", CELL_CASES, ids=[f"{c}={v}" for c, v in CELL_CASES])
def test_a_bad_cell_is_a_problem_of_its_row(tmp_path, capsys, column, value):
    root = tmp_path / "root"
    assert_problem_at("casme2", root, casme2_copy(root, {column: value}), 2, capsys)


def xlsx_bytes(tmp_path) -> bytes:
    sheet = write_casme2(tmp_path / "donor", [casme2_row()])
    return sheet.read_bytes()


def xls_bytes(tmp_path) -> bytes:
    book = xlwt.Workbook()
    book.add_sheet("Sheet1").write(0, 0, "Subject")
    book.save(str(tmp_path / "donor.xls"))
    return (tmp_path / "donor.xls").read_bytes()


def damaged(kind: str, tmp_path) -> bytes:
    good = xlsx_bytes(tmp_path)
    rng = random.Random(kind)
    return {
        "zero-bytes": b"",
        "random-bytes": bytes(rng.randrange(256) for _ in range(4096)),
        "truncated-half": good[: len(good) // 2],
        "truncated-end": good[:-40],
        "text": b"Subject,Filename,OnsetFrame\n01,EP01,10\n",
        "html": b"<html><body>login required</body></html>",
        "xls-bytes": xls_bytes(tmp_path),
        "bit-flips": bytes(b ^ 0xFF if i % 97 == 0 else b for i, b in enumerate(good)),
    }[kind]


DAMAGE = ["zero-bytes", "random-bytes", "truncated-half", "truncated-end", "text", "html", "xls-bytes", "bit-flips"]
SHEETS = {"casme2": "CASME2-coding-20140508.xlsx", "samm": "SAMM_Micro_FACS_Codes_v2.xlsx",
          "casme3": "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx"}


@pytest.mark.parametrize("dataset", sorted(SHEETS))
@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_sheet_is_one_line_naming_it(tmp_path, capsys, dataset, kind):
    root = tmp_path / "root"
    write_frames(root / "Cropped" / "sub01" / "EP01_01f", range(10, 15))
    write_frames(root / "SAMM" / "006" / "006_1_2", range(10, 15), "006_{:05d}.jpg")
    write_frames(root / "spNO.1" / "a" / "color", range(10, 15), "{}.jpg")
    sheet = root / SHEETS[dataset]
    sheet.write_bytes(damaged(kind, tmp_path))
    before = tree(root)
    assert_user_error(run(["datasets", "inspect", "--dataset", dataset, "--root", root], capsys), sheet.name)
    assert tree(root) == before


@pytest.mark.parametrize("dataset", sorted(SHEETS))
def test_a_header_only_sheet_has_no_usable_clip_and_says_so(tmp_path, capsys, dataset):
    if dataset == "casme2":
        write_casme2(tmp_path, [])
        write_frames(tmp_path / "Cropped" / "sub01" / "EP01_01f", range(1, 3))
    elif dataset == "samm":
        write_samm(tmp_path, [])
        write_frames(tmp_path / "SAMM" / "006" / "006_1_2", range(1, 3), "006_{:05d}.jpg")
    else:
        write_casme3_sheet(tmp_path / SHEETS["casme3"], [])
        write_frames(tmp_path / "spNO.1" / "a" / "color", range(1, 3), "{}.jpg")
    outcome = run(["datasets", "inspect", "--dataset", dataset, "--root", tmp_path], capsys)
    assert_no_traceback(outcome)
    assert outcome.code == 0 and "0 usable clip(s): training needs at least 2" in outcome.out


@pytest.mark.parametrize("dataset", sorted(SHEETS))
def test_a_sheet_without_its_columns_is_one_line_naming_it(tmp_path, capsys, dataset):
    path = tmp_path / SHEETS[dataset]
    write_casme3_sheet(path, [{"Subject": "x"}], header=("Name", "Clip", "Start", "End"))
    write_frames(tmp_path / "Cropped" / "sub01" / "EP01", range(1, 3))
    write_frames(tmp_path / "SAMM" / "006" / "006_1_2", range(1, 3), "006_{:05d}.jpg")
    write_frames(tmp_path / "spNO.1" / "a" / "color", range(1, 3), "{}.jpg")
    assert_user_error(run(["datasets", "inspect", "--dataset", dataset, "--root", tmp_path], capsys), path.name)


# The manifest: each damage of the CSV itself, then each bad cell of its first row (row 2).
MANIFEST_FILES = {
    "zero-bytes": b"",
    "header-only": b"subject,path,label\n",
    "no-label-column": b"subject,path\n01,frames/a\n",
    "semicolons": b"subject;path;label\n01;frames/a;happy\n",
    "random-bytes": bytes(random.Random(1).randrange(256) for _ in range(2048)),
    "latin-1": "subject,path,label\n01,frames/a,fröhlich\n".encode("latin-1"),
    "unbalanced-quote": b'subject,path,label\n"01,frames/a,happy\n',
    "ragged": b"subject,path,label\n01,frames/a,happy,extra,more\n02\n",
}


@pytest.mark.parametrize("kind", sorted(MANIFEST_FILES))
def test_a_damaged_manifest_is_one_line_or_its_rows_are_problems(tmp_path, capsys, kind):
    write_frames(tmp_path / "frames" / "a", range(1, 4))
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(MANIFEST_FILES[kind])
    outcome = run(["datasets", "inspect", "--dataset", "csv", "--root", tmp_path], capsys)
    assert_no_traceback(outcome)
    if outcome.code == 2:
        assert_user_error(outcome, manifest.name)
    else:   # read, but nothing usable: the report says so
        assert "usable clip(s): training needs at least 2" in outcome.out or "row 2" in outcome.out


BAD_MANIFEST_CELLS = {
    "subject": [""],
    "path": ["", "frames/missing", "../outside", "/etc", "frames/a/img1.jpg", "notes.txt", "fake.mp4",
             "empty.mp4", "frames/one", "frames/tiny", "frames/broken"],
    "label": ["", "   "],
    "onset": ["abc", "-3", "2.5", "99", "inf"],
    "apex": ["abc", "99", "2.5"],
    "offset": ["abc", "0", "1e9", "2.5"],
    "fps": ["0", "-30", "abc", "inf", "nan", "1e400"],
    "gender": ["robot", "3"],
}
MANIFEST_CELLS = [(column, value) for column, values in BAD_MANIFEST_CELLS.items() for value in values]


@pytest.mark.parametrize("column, value", MANIFEST_CELLS, ids=[f"{c}={v}" for c, v in MANIFEST_CELLS])
def test_a_bad_manifest_cell_is_a_problem_of_its_row(tmp_path, capsys, column, value):
    tmp_path = tmp_path / "root"
    for name in ("a", "b", "c"):
        write_frames(tmp_path / "frames" / name, range(1, 4))
    write_frames(tmp_path / "frames" / "one", [1])
    (tmp_path / "frames" / "tiny").mkdir()
    for number in (1, 2):
        (tmp_path / "frames" / "tiny" / f"img{number}.png").write_bytes((tmp_path / "frames" / "a" / "img1.jpg").read_bytes()[:0] or b"")
    write_frames(tmp_path / "frames" / "broken", range(1, 3))
    (tmp_path / "frames" / "broken" / "img2.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (tmp_path / "notes.txt").write_text("not a clip")
    (tmp_path / "fake.mp4").write_text("this is text, not a video")
    (tmp_path / "empty.mp4").write_bytes(b"")
    rows = [{"subject": "01", "path": "frames/a", "label": "happy", "onset": "1", "apex": "2", "offset": "3",
             "fps": "30", "gender": "f"},
            {"subject": "02", "path": "frames/b", "label": "sad", "gender": "m"},
            {"subject": "03", "path": "frames/c", "label": "happy", "gender": "f"}]
    rows[0][column] = value
    assert_problem_at("csv", tmp_path, write_manifest(tmp_path / "manifest.csv", rows), 2, capsys)
