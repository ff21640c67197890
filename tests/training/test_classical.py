"""The lbptop-svm baseline on synthetic clips whose classes differ only in the direction of motion."""
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mer3d.config import load_config
from mer3d.data.records import ClipRecord, Dataset
from mer3d.errors import UserError
from mer3d.training import classical
from mer3d.training.classical import class_probabilities, fit_svm, gray_frames, lbptop_features, train_classical_fold
from mer3d.training.protocols import Fold, make_folds
from mer3d.training.report import HISTORY_COLUMNS, write_report
from mer3d.training.run_dir import RunDir
from mer3d.training.prepared import PreparedData

CLASSES = ["up", "down", "still"]
STEP = {"up": -1, "down": 1, "still": 0}   # rows the bar moves per frame
SUBJECTS, CLIPS_PER_CLASS, FRAMES, SIZE = ("s1", "s2", "s3"), 2, 12, 40


def bar_clip(rng, emotion):
    """uint8 (T, H, W, 1): a noisy background of a random gray with a brighter horizontal bar of
    random thickness that moves up, down or not at all."""
    background, contrast = rng.integers(40, 120), rng.integers(40, 80)
    thickness, start = rng.integers(3, 7), rng.integers(12, 23)
    clip = np.full((FRAMES, SIZE, SIZE), background, np.float32)
    for t in range(FRAMES):
        top = start + STEP[emotion] * t
        clip[t, top:top + thickness] += contrast
    clip += rng.normal(0, 2, clip.shape)
    return np.clip(np.rint(clip), 0, 255).astype(np.uint8)[..., None]


def synthetic_data(seed=0):
    rng = np.random.default_rng(seed)
    clips, arrays = [], []
    for subject in SUBJECTS:
        for emotion in CLASSES:
            for k in range(CLIPS_PER_CLASS):
                clips.append(ClipRecord("synthetic", subject, f"{emotion}{k}", emotion))
                arrays.append(bar_clip(rng, emotion))
    dataset = Dataset("synthetic", Path("."), list(CLASSES), clips)
    return PreparedData(dataset, arrays, dataset.labels(), [None] * len(clips), dataset.genders(), ["none"] * len(clips))


@pytest.fixture(scope="module")
def data():
    return synthetic_data()


@pytest.fixture
def config():
    return load_config(overrides=["model.name=lbptop-svm", "protocol.name=loso"])


def loso_folds(data):
    return make_folds({"name": "loso"}, [c.subject for c in data.dataset.clips], seed=0)


def test_loso_tells_motion_directions_apart_and_reports_like_the_trainer(tmp_path, data, config):
    run = RunDir(tmp_path / "run")
    run.write_config(config)
    features = lbptop_features(data)
    assert features.shape == (len(data.arrays), 5 * 5 * 3 * 59)
    results = [train_classical_fold(config, data, fold, i, run, features) for i, fold in enumerate(loso_folds(data))]

    for result in results:
        assert set(result) == {"fold", "test_subjects", "test", "probabilities", "history"}
        assert json.loads(run.fold_result(result["fold"]).read_text()) == result
        assert np.allclose(np.sum(result["probabilities"], axis=1), 1)
        assert np.shape(result["probabilities"]) == (len(result["test"]), len(CLASSES))
        [row] = result["history"]
        assert set(row) == set(HISTORY_COLUMNS) and row["epoch"] == 1 and row["accuracy"] == 1.0
    metrics = write_report(run, data.dataset, results, data.window_sources)
    assert metrics["n"] == len(data.arrays) and metrics["folds"] == len(SUBJECTS)
    assert metrics["accuracy"] >= 0.8, metrics["confusion_matrix"]     # chance is 1/3


def test_features_are_computed_when_not_given(tmp_path, data, config):
    fold = loso_folds(data)[0]
    given = train_classical_fold(config, data, fold, 0, RunDir(tmp_path / "a"), lbptop_features(data))
    computed = train_classical_fold(config, data, fold, 0, RunDir(tmp_path / "b"))
    assert computed["probabilities"] == given["probabilities"]


def fitted_model(monkeypatch, config, data, fold, run):
    """The pipeline train_classical_fold fits, and the fold's result."""
    fitted = []

    def recording_fit_svm(*args):
        fitted.append(fit_svm(*args))
        return fitted[-1]

    monkeypatch.setattr(classical, "fit_svm", recording_fit_svm)
    result = train_classical_fold(config, data, fold, 0, run, lbptop_features(data))
    return fitted[0], result


def with_noise_clip(data, index, seed):
    arrays = list(data.arrays)
    arrays[index] = np.random.default_rng(seed).integers(0, 256, arrays[index].shape, dtype=np.uint8)
    return dataclasses.replace(data, arrays=arrays)


def test_only_training_clips_shape_the_standardisation_and_the_svm(tmp_path, monkeypatch, data, config):
    fold = loso_folds(data)[0]
    model, result = fitted_model(monkeypatch, config, data, fold, RunDir(tmp_path / "a"))
    altered_test, altered_result = fitted_model(monkeypatch, config, with_noise_clip(data, fold.test[0], 1), fold,
                                                RunDir(tmp_path / "b"))
    scaler = model.named_steps["standardscaler"]
    assert np.array_equal(altered_test.named_steps["standardscaler"].mean_, scaler.mean_)
    assert altered_result["probabilities"][1:] == result["probabilities"][1:]   # the other test clips
    assert altered_result["history"][0]["accuracy"] == result["history"][0]["accuracy"]
    # and the check can fail: a changed training clip does move the statistics
    altered_train, _ = fitted_model(monkeypatch, config, with_noise_clip(data, fold.train[0], 1), fold,
                                    RunDir(tmp_path / "c"))
    assert not np.array_equal(altered_train.named_steps["standardscaler"].mean_, scaler.mean_)


def test_a_class_missing_from_training_gets_zero_probability(data):
    features = lbptop_features(data)
    labels = np.array(data.labels)
    train = np.flatnonzero(labels != 1)                  # two classes: sklearn's one-score case
    probabilities = class_probabilities(fit_svm(features[train], labels[train], 0), features, len(CLASSES))
    assert probabilities.shape == (len(labels), 3)
    assert (probabilities[:, 1] == 0).all() and np.allclose(probabilities.sum(axis=1), 1)
    assert (probabilities[train].argmax(axis=1) == labels[train]).all()


def test_a_single_class_fold_is_refused(tmp_path, data, config):
    one_class = tuple(i for i, label in enumerate(data.labels) if label == 0)
    with pytest.raises(UserError, match="fewer than two classes"):
        train_classical_fold(config, data, Fold("f", one_class, (1,)), 0, RunDir(tmp_path))


def test_colour_clips_are_converted_to_gray(data):
    rgb = np.random.default_rng(4).integers(0, 256, (3, 8, 10, 3), dtype=np.uint8)
    expected = np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in rgb])
    assert np.array_equal(gray_frames(rgb), expected)
    assert np.array_equal(gray_frames(data.arrays[0]), data.arrays[0][..., 0])
