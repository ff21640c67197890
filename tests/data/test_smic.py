import json
import re

import pytest

from conftest import TINY
from mer3d.cli import main
from mer3d.config import load_config
from mer3d.data import inspect_dataset, load_dataset
from mer3d.data.smic import CLASSES
from mer3d.errors import UserError
from fixtures import casme2_row, write_casme2, write_frames, write_smic

CLIPS = [("s1", "negative", 1), ("s1", "positive", 2), ("s2", "surprise", 1), ("s10", "negative", 3)]


def load(root, **options):
    return load_dataset("smic", root, **options)


# ---------------------------------------------------------------- the releases and roots

def test_raw_hs_release(tmp_path):
    hs = write_smic(tmp_path, CLIPS)
    dataset = load(tmp_path)
    assert dataset.classes == list(CLASSES) and dataset.fps == 100.0 and dataset.problems == []
    assert [(c.subject, c.name, c.emotion) for c in dataset.clips] == [
        ("s1", "s1_ne_01", "negative"), ("s1", "s1_po_02", "positive"), ("s2", "s2_sur_01", "surprise"),
        ("s10", "s10_ne_03", "negative")]
    clip = dataset.clips[0]
    folder = hs / "s1" / "micro" / "negative" / "s1_ne_01"
    assert (clip.onset, clip.apex, clip.offset, clip.fps) == (1, None, 5, 100.0)
    assert (clip.source, clip.row, clip.frame_numbers) == (str(folder), None, (1, 2, 3, 4, 5))
    assert clip.frames[0] == folder / "image1.bmp"


def test_cropped_release_and_frame_numbers_in_numeric_order(tmp_path):
    write_smic(tmp_path / "SMIC_all_cropped", CLIPS[:2], pattern="reg_image{}.bmp", frames=[8, 9, 10, 11])
    dataset = load(tmp_path)
    clip = dataset.clips[0]
    assert clip.frame_numbers == (8, 9, 10, 11) and clip.frames[0].name == "reg_image8.bmp"
    assert (clip.onset, clip.offset) == (8, 11) and len(dataset.clips) == 2
    assert len(load(tmp_path / "SMIC_all_cropped").clips) == 2


def test_jpeg_frames_are_read_too(tmp_path):
    write_smic(tmp_path, CLIPS[:1], pattern="image{}.jpg")
    assert load(tmp_path).clips[0].frames[0].name == "image1.jpg"


def test_root_may_be_the_hs_folder_itself(tmp_path):
    hs = write_smic(tmp_path, CLIPS)
    dataset = load(hs)
    assert len(dataset.clips) == 4 and dataset.problems == []


@pytest.mark.parametrize("modality", ["vis", "nir"])
def test_vis_and_nir_are_25_fps_and_chosen_by_modality(tmp_path, modality):
    write_smic(tmp_path, CLIPS)
    write_smic(tmp_path, CLIPS[:2], modality=modality.upper())
    dataset = load(tmp_path, modality=modality)
    assert dataset.fps == 25.0 and [c.fps for c in dataset.clips] == [25.0, 25.0]
    assert all(f"/{modality.upper()}/" in str(c.frames[0]) for c in dataset.clips)
    assert len(load(tmp_path).clips) == 4 and load(tmp_path).fps == 100.0


def test_an_hs_only_copy_has_no_vis(tmp_path):
    write_smic(tmp_path, CLIPS)
    with pytest.raises(UserError, match=re.escape(f"{tmp_path}: no SMIC VIS folder")) as error:
        load(tmp_path, modality="vis")
    assert "dataset.modality=vis" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(UserError, match="no SMIC VIS folder"):
        load(tmp_path / "HS", modality="vis")


def test_root_without_smic_folders_is_a_user_error(tmp_path):
    (tmp_path / "HS" / "sub01").mkdir(parents=True)
    with pytest.raises(UserError, match=re.escape(f"{tmp_path}: no SMIC HS folder")):
        load(tmp_path)


def test_unknown_modality_and_other_datasets_refuse_a_modality(tmp_path):
    write_smic(tmp_path / "smic", CLIPS)
    with pytest.raises(UserError, match="dataset.modality must be one of hs, vis, nir"):
        load(tmp_path / "smic", modality="ir")
    write_casme2(tmp_path / "casme2", [casme2_row()])
    with pytest.raises(UserError, match="dataset.modality=vis: casme2 has one modality"):
        load_dataset("casme2", tmp_path / "casme2", modality="vis")
    assert len(load_dataset("casme2", tmp_path / "casme2").clips) == 1


def test_an_annotation_file_is_refused(tmp_path):
    write_smic(tmp_path, CLIPS)
    with pytest.raises(UserError, match="smic has no annotation sheet"):
        load(tmp_path, annotations=tmp_path / "x.xlsx")


# ---------------------------------------------------------------- problems name the folder

def test_class_tag_disagreement_is_a_problem(tmp_path):
    hs = write_smic(tmp_path, CLIPS)
    wrong = hs / "s1" / "micro" / "negative" / "s1_po_05"
    write_frames(wrong, range(1, 4), "image{}.bmp")
    dataset = load(tmp_path)
    assert [(p.path, p.row) for p in dataset.problems] == [(str(wrong), None)]
    assert "tagged 'po'" in dataset.problems[0].message and str(dataset.problems[0]).startswith(f"{wrong}: ")
    assert len(dataset.clips) == 4


def test_unknown_class_folder_is_a_problem(tmp_path):
    hs = write_smic(tmp_path, CLIPS)
    write_frames(hs / "s2" / "micro" / "happy" / "s2_ha_01", range(1, 4), "image{}.bmp")
    (problem,) = load(tmp_path).problems
    assert problem.path == str(hs / "s2" / "micro" / "happy") and "unknown class folder 'happy'" in problem.message


def test_empty_and_one_frame_folders_are_problems(tmp_path):
    hs = write_smic(tmp_path, CLIPS)
    empty = hs / "s2" / "micro" / "positive" / "s2_po_07"
    empty.mkdir(parents=True)
    single = write_frames(hs / "s2" / "micro" / "surprise" / "s2_sur_09", [4], "image{}.bmp")[0].parent
    dataset = load(tmp_path)
    assert [str(p) for p in dataset.problems] == [
        f"{empty}: no frames in {empty}",
        f"{single}: only one frame of {single} inside onset..offset 4..4: a clip needs at least 2 frames to show any motion"]
    assert len(dataset.clips) == 4


def test_subjects_and_classes_are_counted(tmp_path):
    write_smic(tmp_path, CLIPS + [("s2", "negative", 4), ("s3", "positive", 1)])
    dataset = load(tmp_path)
    assert sorted({c.subject for c in dataset.clips}) == ["s1", "s10", "s2", "s3"]
    assert [sum(c.emotion == e for c in dataset.clips) for e in CLASSES] == [3, 2, 1]
    assert load(tmp_path, classes=["Negative", "surprise"]).classes == ["negative", "surprise"]


# ---------------------------------------------------------------- the report, the CLI, config, training

def test_inspect_report_has_the_casme2_keys(tmp_path):
    write_smic(tmp_path / "smic", CLIPS)
    write_casme2(tmp_path / "casme2", [casme2_row()])
    report = inspect_dataset("smic", tmp_path / "smic")
    assert set(report) == set(inspect_dataset("casme2", tmp_path / "casme2"))
    assert report["clips_per_subject"] == {"s1": 2, "s10": 1, "s2": 1}
    assert report["clips_per_class"] == {"negative": 2, "positive": 1, "surprise": 1}
    assert report["estimated_vs_annotated_apex"] is None and report["problems"] == []


def test_cli_inspect_json(capsys, tmp_path):
    write_smic(tmp_path, CLIPS)
    write_smic(tmp_path, CLIPS[:1], modality="NIR")
    code = main(["datasets", "inspect", "--dataset", "smic", "--root", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["dataset"] == "smic" and report["clips_total"] == 4
    code = main(["datasets", "inspect", "--dataset", "smic", "--root", str(tmp_path), "--modality", "nir", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out)["clips_total"] == 1


def test_modality_setting_is_validated():
    assert load_config()["dataset"]["modality"] == "hs"
    assert load_config(overrides=["dataset.modality=nir"])["dataset"]["modality"] == "nir"
    with pytest.raises(UserError, match="dataset.modality must be one of hs, vis, nir"):
        load_config(overrides=["dataset.modality=HS"])


def test_tiny_training_run_on_smic(tmp_path):
    from mer3d.training.trainer import train

    clips = [(f"s{subject}", emotion, 1) for subject in (1, 2, 3) for emotion in CLASSES]
    write_smic(tmp_path / "data", clips, frames=range(1, 11))
    config = load_config("paper-casme2", overrides=[
        *TINY, "dataset.name=smic", f"dataset.root={tmp_path / 'data'}", f"data.cache_dir={tmp_path / 'cache'}",
        "protocol.name=kfold", "protocol.k=2", "train.epochs=1", "train.final_model=false", "data.face_crop=off",
        "data.apex=middle"])
    train(config, tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["apex_source"] == "middle" and metrics["classes"] == list(CLASSES)
    assert metrics["folds"] == 2 and sum(map(sum, metrics["confusion_matrix"])) == 9
