from pathlib import Path

import pytest

import cv2
import numpy as np

from mer3d.data.frames import (clip_folder, frame_number, image_problem, list_frames, select_frames,
                               subject_parents)
from mer3d.errors import UserError
from fixtures import corrupt_image, write_frames


@pytest.mark.parametrize("name, number", [
    ("reg_img46.jpg", 46), ("img46.jpg", 46), ("EP02_01f-46.jpg", 46), ("006_05562.jpg", 5562),
    ("img9.png", 9), ("face.jpg", None),
])
def test_frame_number_is_the_last_run_of_digits(name, number):
    assert frame_number(Path(name)) == number


def test_frames_are_ordered_numerically_not_by_name(tmp_path):
    write_frames(tmp_path, [10, 9, 100, 11])
    assert [(n, p.name) for n, p in list_frames(tmp_path)] == [
        (9, "img9.jpg"), (10, "img10.jpg"), (11, "img11.jpg"), (100, "img100.jpg")]


def test_only_numbered_images_are_frames(tmp_path):
    write_frames(tmp_path, [1], "img{}.JPG")
    write_frames(tmp_path, [2], "img{}.png")
    write_frames(tmp_path, [3], "img{}.bmp")
    write_frames(tmp_path, [4], "img{}.jpeg")
    (tmp_path / "notes5.txt").write_text("not a frame")
    (tmp_path / "._img6.jpg").write_bytes(b"macOS metadata")
    write_frames(tmp_path, [0], "face.jpg")
    (tmp_path / "img7.jpg").mkdir()
    assert [n for n, _ in list_frames(tmp_path)] == [1, 2, 3, 4]


def test_image_problem_is_what_training_would_refuse(tmp_path):
    good, bad = write_frames(tmp_path, [1, 2])
    corrupt_image(bad)
    truncated = tmp_path / "img3.jpg"
    cv2.imwrite(str(truncated), np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    truncated.write_bytes(truncated.read_bytes()[: len(truncated.read_bytes()) // 2])
    cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((1, 1, 3), np.uint8))
    assert image_problem(good) is None
    assert "cannot decode image" in image_problem(bad)
    # cv2.imread accepts a truncated JPEG (the lost rows gray); training's decoder refuses it, so must inspect
    assert cv2.imread(str(truncated)) is not None and "truncated" in image_problem(truncated)
    assert "1x1 px, smaller than the 16x16 px" in image_problem(tmp_path / "tiny.png")
    assert "cannot" in image_problem(tmp_path / "absent.jpg")


def test_subject_parents_finds_wrapped_and_nested_copies(tmp_path):
    (tmp_path / "Cropped" / "sub01").mkdir(parents=True)
    (tmp_path / "CASME2_RAW_selected" / "CASME2_RAW_selected" / "sub02").mkdir(parents=True)
    assert subject_parents(tmp_path) == [tmp_path / "Cropped",
                                         tmp_path / "CASME2_RAW_selected" / "CASME2_RAW_selected"]
    assert subject_parents(tmp_path / "Cropped") == [tmp_path / "Cropped"]


def test_subject_parents_without_subject_folders_is_a_user_error(tmp_path):
    (tmp_path / "photos").mkdir()
    with pytest.raises(UserError, match="no subject folders"):
        subject_parents(tmp_path)


def test_clip_folder_takes_the_first_parent_holding_the_clip(tmp_path):
    a, b = tmp_path / "A", tmp_path / "B"
    (b / "sub02" / "EP1").mkdir(parents=True)
    assert clip_folder([a, b], "02", "EP1") == b / "sub02" / "EP1"
    assert clip_folder([a, b], "03", "EP1") == a / "sub03" / "EP1"


def test_select_frames_keeps_onset_to_offset(tmp_path):
    write_frames(tmp_path, range(5, 16))
    frames, messages = select_frames(tmp_path, 7, 9)
    assert frames.numbers == (7, 8, 9)
    assert [p.name for p in frames.paths] == ["img7.jpg", "img8.jpg", "img9.jpg"]
    assert messages == ["8 frames outside onset..offset 7..9 ignored"]


def test_select_frames_without_onset_offset_keeps_everything(tmp_path):
    write_frames(tmp_path, [3, 4, 5])
    frames, messages = select_frames(tmp_path, None, None)
    assert frames.numbers == (3, 4, 5) and messages == []


def test_repeated_frame_numbers_keep_one_file(tmp_path):
    write_frames(tmp_path, [1, 2])
    write_frames(tmp_path, [2], "img{}.png")
    frames, messages = select_frames(tmp_path, 1, 2)
    assert [p.name for p in frames.paths] == ["img1.jpg", "img2.jpg"]
    assert "repeat a frame number" in messages[0]
