"""Damaged frames and videos in every dataset layout: inspect reports what training would refuse
(the clip's sheet row or folder named), and the two agree; a damaged video given to predict is one
line naming it."""
from __future__ import annotations

import json
import random

import cv2
import numpy as np
import pytest
from harness import assert_no_traceback, assert_user_error, run
from fixtures import (casme2_row, samm_row, write_casme2, write_frames, write_manifest, write_samm,  # noqa: I001
                      write_smic)


def frame_damage(kind: str, path):
    good = path.read_bytes()
    rng = random.Random(kind)
    if kind == "tiny":
        assert cv2.imwrite(str(path.with_suffix(".png")), np.zeros((4, 4, 3), np.uint8))
        path.write_bytes(path.with_suffix(".png").read_bytes())
        path.with_suffix(".png").unlink()
        return
    path.write_bytes({
        "zero-bytes": b"",
        "truncated": good[: len(good) // 3],
        "random-bytes": bytes(rng.randrange(256) for _ in range(2000)),
        "text": b"this is not an image",
        "header-only": good[:20],
        "html": b"<html>404</html>",
    }[kind])


KINDS = ["zero-bytes", "truncated", "random-bytes", "text", "header-only", "html", "tiny"]


def textured(folder, numbers, pattern):
    """Frames with detail (a truncated JPEG of a flat image can still decode whole)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for number in numbers:
        assert cv2.imwrite(str(folder / pattern.format(number)), rng.integers(0, 255, (48, 48, 3), dtype=np.uint8))


def layout(dataset: str, root):
    """A two-clip copy in the dataset's layout; returns the frame of the first clip to damage and
    how inspect names that clip (sheet row 2, or its folder for SMIC)."""
    if dataset == "casme2":
        sheet = write_casme2(root, [casme2_row("01", "EP01_01f"), casme2_row("02", "EP02_01f")])
        textured(root / "Cropped" / "sub01" / "EP01_01f", range(10, 15), "reg_img{}.jpg")
        return root / "Cropped" / "sub01" / "EP01_01f" / "reg_img12.jpg", (str(sheet), 2)
    if dataset == "samm":
        sheet = write_samm(root, [samm_row(6, "006_1_2", 100, 102, 104), samm_row(7, "007_1_1", 100, 102, 104)])
        textured(root / "SAMM" / "006" / "006_1_2", range(100, 105), "006_{:05d}.jpg")
        return root / "SAMM" / "006" / "006_1_2" / "006_00102.jpg", (str(sheet), 15)
    if dataset == "smic":
        folder = write_smic(root / "SMIC_all_cropped", [("s1", "negative", 1), ("s2", "positive", 1)],
                            pattern="reg_image{}.bmp")
        clip = folder / "s1" / "micro" / "negative" / "s1_ne_01"
        textured(clip, range(1, 6), "reg_image{}.bmp")
        return clip / "reg_image3.bmp", (str(clip), None)
    write_frames(root / "frames" / "b", range(1, 6))
    textured(root / "frames" / "a", range(1, 6), "img{}.jpg")
    manifest = write_manifest(root / "manifest.csv", [{"subject": "1", "path": "frames/a", "label": "happy"},
                                                      {"subject": "2", "path": "frames/b", "label": "sad"}])
    return root / "frames" / "a" / "img3.jpg", (str(manifest), 2)


@pytest.mark.parametrize("dataset", ["casme2", "samm", "smic", "csv"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_frame_is_a_problem_of_its_clip(tmp_path, capsys, dataset, kind):
    root = tmp_path / "root"
    frame, (where, row) = layout(dataset, root)
    frame_damage(kind, frame)
    outcome = run(["datasets", "inspect", "--dataset", dataset, "--root", root, "--json"], capsys)
    assert_no_traceback(outcome)
    report = json.loads(outcome.out)
    named = [p for p in report["problems"] if p["path"] == where and p["row"] == row]
    assert named and str(frame) in named[0]["message"], report["problems"]
    assert report["clips_total"] == 1


VIDEOS = {
    "text": b"this is a text file named like a video",
    "zero-bytes": b"",
    "random-bytes": bytes(random.Random(7).randrange(256) for _ in range(5000)),
    "jpeg-bytes": cv2.imencode(".jpg", np.zeros((32, 32, 3), np.uint8))[1].tobytes(),
    "html": b"<html><body>expired link</body></html>",
}


@pytest.mark.parametrize("kind", sorted(VIDEOS))
def test_a_damaged_video_in_a_manifest_is_a_problem_of_its_row(tmp_path, capsys, kind):
    root = tmp_path / "root"
    write_frames(root / "frames" / "b", range(1, 6))
    write_frames(root / "frames" / "c", range(1, 6))
    (root / "clip.mp4").write_bytes(VIDEOS[kind])
    manifest = write_manifest(root / "manifest.csv", [{"subject": "1", "path": "clip.mp4", "label": "happy"},
                                                      {"subject": "2", "path": "frames/b", "label": "sad"},
                                                      {"subject": "3", "path": "frames/c", "label": "happy"}])
    outcome = run(["datasets", "inspect", "--dataset", "csv", "--root", root, "--json"], capsys)
    assert_no_traceback(outcome)
    problems = json.loads(outcome.out)["problems"]
    assert any(p["path"] == str(manifest) and p["row"] == 2 and "clip.mp4" in p["message"] for p in problems)


@pytest.mark.parametrize("kind", sorted(VIDEOS))
def test_a_damaged_video_given_to_predict_is_one_line(tmp_path, capsys, kind):
    from mer3d.config import load_config
    from mer3d.data.representation import input_shape
    from mer3d.models import architecture, create_model
    from mer3d.models.weights import save_weights
    config = load_config("ststnet-casme2")
    arch = architecture(config, 3, input_shape(config["data"]))
    weights = save_weights(create_model(**arch), tmp_path / "w.safetensors", arch, ["a", "b", "c"],
                           extra={"data": config["data"]})
    video = tmp_path / "clip.mp4"
    video.write_bytes(VIDEOS[kind])
    assert_user_error(run(["predict", video, "--weights", weights], capsys), "clip.mp4")


@pytest.mark.parametrize("frames, message", [(1, "a clip needs at least 2 frames"), (20, "smaller than the 16x16 px")])
def test_input_that_cannot_carry_a_micro_expression_is_refused_by_predict(tmp_path, capsys, frames, message):
    from mer3d.config import load_config
    from mer3d.data.representation import input_shape
    from mer3d.models import architecture, create_model
    from mer3d.models.weights import save_weights
    config = load_config("demo")
    arch = architecture(config, 5, input_shape(config["data"]))
    weights = save_weights(create_model(**arch), tmp_path / "w.safetensors", arch, list("abcde"),
                           extra={"data": config["data"]})
    folder = tmp_path / "clip"
    textured(folder, range(frames), "img{}.jpg")
    if frames > 1:     # many frames, each too small
        for path in folder.iterdir():
            cv2.imwrite(str(path), np.zeros((6, 6, 3), np.uint8))
    assert_user_error(run(["predict", folder, "--weights", weights, "--face-crop", "off"], capsys), message)
