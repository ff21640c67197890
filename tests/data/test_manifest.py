import re

import pytest

from mer3d.data import load_dataset
from mer3d.errors import UserError
from fixtures import write_frames, write_manifest


def write_example(root, elsewhere):
    """A manifest at root with a relative frames folder, a video, an absolute folder and a missing video."""
    write_frames(root / "frames" / "clipA", range(1, 6))
    (root / "videos").mkdir()
    (root / "videos" / "b.mp4").write_bytes(b"not decoded by the loader")
    write_frames(elsewhere / "clipC", [7, 8])
    return write_manifest(root / "manifest.csv", [
        {"subject": "006", "path": "frames/clipA", "label": "Positive", "onset": 2, "apex": 3, "offset": 4},
        {"subject": "007", "path": "videos/b.mp4", "label": "negative", "fps": 100},
        {"subject": "008", "path": str(elsewhere / "clipC"), "label": "surprise", "name": "custom"},
        {"subject": "009", "path": "videos/missing.avi", "label": "negative"},
    ])


def test_folders_and_videos_load_from_the_manifest(tmp_path):
    manifest = write_example(tmp_path / "data", tmp_path / "elsewhere")
    dataset = load_dataset("csv", tmp_path / "data", allow_outside_root=True)
    folder, video, absolute = dataset.clips
    assert dataset.classes == ["negative", "positive", "surprise"]
    assert (folder.subject, folder.name, folder.emotion, folder.frame_numbers, folder.apex, folder.fps) == (
        "006", "clipA", "positive", (2, 3, 4), 3, 30.0)
    assert folder.frames[0] == tmp_path / "data" / "frames" / "clipA" / "img2.jpg"
    assert (video.video, video.frames, video.name, video.fps) == (tmp_path / "data" / "videos" / "b.mp4", (), "b", 100.0)
    assert (absolute.name, absolute.frame_numbers) == ("custom", (7, 8))
    assert [str(p) for p in dataset.problems] == [
        f"{manifest} row 2: 2 frames outside onset..offset 2..4 ignored",
        f"{manifest} row 5: missing video file {tmp_path / 'data' / 'videos' / 'missing.avi'}",
    ]
    assert dataset.fps == 0.0    # clips differ in frame rate


@pytest.mark.parametrize("path", ["../elsewhere/clipC", "frames/../../elsewhere/clipC", "ELSEWHERE"])
def test_paths_outside_the_root_are_refused_unless_allowed(tmp_path, path):
    manifest = write_example(tmp_path / "data", tmp_path / "elsewhere")
    rows = manifest.read_text().replace(str(tmp_path / "elsewhere" / "clipC"),
                                        path.replace("ELSEWHERE", str(tmp_path / "elsewhere" / "clipC")))
    manifest.write_text(rows)
    dataset = load_dataset("csv", tmp_path / "data")
    assert [c.name for c in dataset.clips] == ["clipA", "b"]
    assert any(p.row == 4 and "lies outside the dataset root" in p.message and "dataset.allow_outside_root" in p.message
               for p in dataset.problems)
    assert [c.name for c in load_dataset("csv", tmp_path / "data", allow_outside_root=True).clips] == ["clipA", "b", "custom"]


def test_chosen_classes_exclude_the_other_labels(tmp_path):
    write_example(tmp_path / "data", tmp_path / "elsewhere")
    dataset = load_dataset("csv", tmp_path / "data", classes=["positive", "surprise"], allow_outside_root=True)
    assert [c.name for c in dataset.clips] == ["clipA", "custom"]
    assert dict(dataset.excluded) == {"negative": 2}
    with pytest.raises(UserError, match="unknown class 'happy'"):
        load_dataset("csv", tmp_path / "data", classes=["happy", "positive"])


def test_annotations_name_a_manifest_elsewhere(tmp_path):
    write_frames(tmp_path / "lists" / "clips" / "c1", [1, 2])
    manifest = write_manifest(tmp_path / "lists" / "mine.csv", [{"subject": "1", "path": "clips/c1", "label": "a"},
                                                                {"subject": "2", "path": "clips/c1", "label": "b"}])
    dataset = load_dataset("csv", tmp_path, annotations=manifest)
    assert [c.frames[0].parent for c in dataset.clips] == [tmp_path / "lists" / "clips" / "c1"] * 2


def test_bad_cells_are_reported_by_row_and_column(tmp_path):
    write_frames(tmp_path / "c1", [1, 2])
    write_manifest(tmp_path / "manifest.csv", [
        {"subject": "1", "path": "c1", "label": "a", "fps": "fast", "onset": ""},
        {"subject": "", "path": "c1", "label": "b", "fps": "", "onset": ""},
        {"subject": "3", "path": "c1", "label": "b", "fps": "", "onset": "x"},
    ])
    dataset = load_dataset("csv", tmp_path)
    assert [(p.row, p.message) for p in dataset.problems] == [
        (2, "column fps: 'fast' is not a positive number"), (3, "column subject is blank"),
        (4, "column onset: 'x' is not a frame number")]
    assert dataset.clips == []


def test_missing_manifest_or_column_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=re.escape(str(tmp_path / "manifest.csv"))):
        load_dataset("csv", tmp_path)
    write_manifest(tmp_path / "manifest.csv", [{"subject": "1", "path": "c1"}])
    with pytest.raises(UserError, match=r"manifest\.csv: no column 'label'"):
        load_dataset("csv", tmp_path)
