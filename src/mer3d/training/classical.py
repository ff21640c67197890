"""The classical baseline ``lbptop-svm``: LBP-TOP histograms of the whole clip and a linear SVM, the
CASME II authors' own baseline (Yan et al., PLoS ONE 2014: 63.41 % LOSO, 5 classes).

A fold is fitted and tested like the networks' folds (same result schema, same run folder), so the
report, metrics and ``mer3d evaluate`` treat both alike. Honesty: a clip's LBP-TOP depends on that
clip alone, so all features are computed once per run; everything fitted to data (the
standardisation and the SVM) sees the fold's training clips only.
"""
from __future__ import annotations

import time
import cv2
import numpy as np
from scipy.special import softmax
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from ..data.lbptop import GRID, POINTS, RADIUS, lbp_top
from ..errors import UserError
from ..models.registry import CLASSICAL_MODELS
from .prepared import PreparedData
from .protocols import Fold
from .run_dir import RunDir


MODEL_NAME = CLASSICAL_MODELS[0]


def gray_frames(clip: np.ndarray) -> np.ndarray:
    """(T, H, W, C) uint8 -> gray (T, H, W); colour clips are RGB, as the preprocessing cache stores them."""
    if clip.shape[-1] == 1:
        return clip[..., 0]
    frames, height, width, _ = clip.shape
    # cvtColor takes one image: stack the frames vertically, convert once, unstack.
    gray = cv2.cvtColor(np.ascontiguousarray(clip).reshape(frames * height, width, 3), cv2.COLOR_RGB2GRAY)
    return gray.reshape(frames, height, width)


def lbptop_features(data: PreparedData, grid: tuple[int, int] = GRID, radius: tuple[int, int, int] = RADIUS,
                    points: int = POINTS) -> np.ndarray:
    """LBP-TOP of every clip, all frames (N, D) float64, clips as prepared (already data.size square).

    Fold-independent, so a run computes them once and passes them to every fold.
    """
    return np.stack([lbp_top(gray_frames(clip), grid, radius, points) for clip in data.arrays])


def fit_svm(features: np.ndarray, labels: np.ndarray, seed: int) -> Pipeline:
    """Standardise each feature with the given (training) clips' mean and deviation, then fit a
    one-vs-rest linear SVM with the default C = 1.0 (no per-fold tuning, so no test clip can steer it)."""
    svm = LinearSVC(C=1.0, class_weight=None, max_iter=10000, random_state=seed)
    return make_pipeline(StandardScaler(), svm).fit(features, labels)


def class_probabilities(model: Pipeline, features: np.ndarray, num_classes: int) -> np.ndarray:
    """(N, num_classes) softmax of the SVM's decision scores; a class absent from training gets 0.

    These are scores squashed to sum 1, not calibrated probabilities (calibrating would need
    held-out training subjects); their argmax is the SVM's own prediction.
    """
    scores = model.decision_function(features)
    if scores.ndim == 1:   # two classes: one score, positive for classes_[1]
        scores = np.stack([-scores, scores], axis=1)
    probabilities = np.zeros((len(features), num_classes))
    probabilities[:, model.classes_] = softmax(scores, axis=1)
    return probabilities


def train_classical_fold(config: dict, data: PreparedData, fold: Fold, fold_index: int, run: RunDir,
                         features: np.ndarray | None = None) -> dict:
    """Fit the fold's SVM on its training clips and test it once; returns (and, for a fold with a
    test set, saves) the same result as the trainer's ``train_fold``.

    ``features``: :func:`lbptop_features` of ``data``, computed once per run by the caller; when
    None they are computed here. ``fold_index`` is unused and kept so both fold functions share
    one signature. Validation clips are not used: the SVM has no epochs for them to monitor.
    """
    began = time.perf_counter()
    features = lbptop_features(data) if features is None else features
    train, test = list(fold.train), list(fold.test)
    labels = np.array(data.labels)
    if len(set(labels[train])) < 2:
        raise UserError(f"fold {fold.name}: the training clips hold fewer than two classes; an SVM needs two")
    model = fit_svm(features[train], labels[train], config["seed"])
    num_classes = len(data.dataset.classes)
    probabilities = class_probabilities(model, features[test], num_classes) if test else np.zeros((0, 0))
    train_accuracy = float(model.score(features[train], labels[train]))
    history = [{"fold": fold.name, "epoch": 1, "loss": None, "accuracy": train_accuracy,
                "val_loss": None, "val_accuracy": None, "lr": None, "seconds": time.perf_counter() - began}]
    result = {"fold": fold.name, "test_subjects": list(fold.test_subjects), "test": test,
              "probabilities": probabilities.tolist(), "history": history}
    if test:
        run.write_json(run.fold_result(fold.name), result)
    return result
