"""Classification metrics as the micro-expression field reports them.

The headline numbers are computed once, on the predictions of ALL folds pooled (a LOSO fold often
holds a single class, so per-fold UF1 is unstable). The mean and spread of per-fold scores are
reported beside them, under names that say so.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import UserError

FOLD_METRICS = ("accuracy", "uf1", "uar")


def _class_indices(values: Sequence[int], name: str, n_classes: int) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise UserError(f"{name}: expected a flat list of integer class indices")
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise UserError(f"{name}: class index out of range 0..{n_classes - 1}")
    return array.astype(np.int64)


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Counts with rows = true class and columns = predicted class."""
    truth = _class_indices(y_true, "y_true", n_classes)
    predicted = _class_indices(y_pred, "y_pred", n_classes)
    if truth.shape != predicted.shape:
        raise UserError(f"y_true has {truth.size} labels but y_pred has {predicted.size}")
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def _mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def classification_report(y_true: Sequence[int], y_pred: Sequence[int], classes: list[str]) -> dict:
    """Accuracy, UF1, UAR, per-class accuracy (recall), per-class F1, support and confusion matrix.

    Inputs are integer indices into ``classes``. Conventions:

    * ``per_class_accuracy`` is per-class recall (true positives / clips of that class), which is
      what the paper's Fig 17 calls per-class accuracy.
    * ``uf1`` and ``uar`` are unweighted means over the classes that have at least one clip in
      ``y_true``. A class without such a clip is left out of both means and its per-class accuracy
      and F1 are ``None`` (even if it was predicted: those wrong predictions still lower the
      precision, so the F1, of the classes whose clips they were).
    * A class with clips that is never predicted correctly has recall 0 and F1 0.
    """
    matrix = confusion_matrix(y_true, y_pred, len(classes))
    n = int(matrix.sum())
    if n == 0:
        raise UserError("no predictions to score")
    correct = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    has_clips = support > 0
    # 2TP / (2TP + FP + FN) == 2TP / (support + predicted), defined whenever the class has clips.
    recall = [float(correct[c] / support[c]) if has_clips[c] else None for c in range(len(classes))]
    f1 = [float(2 * correct[c] / (support[c] + predicted[c])) if has_clips[c] else None
          for c in range(len(classes))]
    return {
        "classes": list(classes),
        "n": n,
        "accuracy": float(correct.sum() / n),
        "uf1": _mean_or_none([value for value in f1 if value is not None]),
        "uar": _mean_or_none([value for value in recall if value is not None]),
        "per_class_accuracy": dict(zip(classes, recall)),
        "per_class_f1": dict(zip(classes, f1)),
        "support": {name: int(count) for name, count in zip(classes, support)},
        "confusion_matrix": matrix.tolist(),
    }


def _is_defined(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def per_fold_mean(reports: list[dict]) -> dict:
    """Mean and population std (ddof=0) over folds of accuracy, UF1 and UAR, each fold scored on
    its own test clips. Undefined values (None/NaN) are skipped; a metric with no defined value
    gives None. Keys: ``fold_mean_<metric>`` and ``fold_std_<metric>``."""
    summary: dict[str, float | None] = {}
    for metric in FOLD_METRICS:
        values = [report[metric] for report in reports if _is_defined(report.get(metric))]
        summary[f"fold_mean_{metric}"] = _mean_or_none(values)
        summary[f"fold_std_{metric}"] = float(np.std(values)) if values else None
    return summary
