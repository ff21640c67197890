"""Metrics against hand-computed examples."""
import math

import pytest

from mer3d.errors import UserError
from mer3d.training.metrics import classification_report, per_fold_mean

THREE = ["a", "b", "c"]


def test_three_class_example_by_hand():
    y_true = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    y_pred = [0, 0, 1, 2, 1, 1, 0, 2, 2, 1]
    # Confusion (rows true): a -> [2, 1, 1], b -> [1, 2, 0], c -> [0, 1, 2]
    # support [4, 3, 3], predicted (column sums) [3, 4, 3], correct [2, 2, 2]
    # accuracy 6/10; recall 2/4, 2/3, 2/3 -> UAR = (1/2 + 4/3) / 3 = 11/18
    # F1 = 2TP / (support + predicted): 4/7, 4/7, 4/6 -> UF1 = (8/7 + 2/3) / 3 = 38/63
    report = classification_report(y_true, y_pred, THREE)
    assert report["confusion_matrix"] == [[2, 1, 1], [1, 2, 0], [0, 1, 2]]
    assert report["n"] == 10
    assert report["classes"] == THREE
    assert report["support"] == {"a": 4, "b": 3, "c": 3}
    assert report["accuracy"] == pytest.approx(0.6)
    assert report["uar"] == pytest.approx(11 / 18)
    assert report["uf1"] == pytest.approx(38 / 63)
    assert report["per_class_accuracy"] == pytest.approx({"a": 0.5, "b": 2 / 3, "c": 2 / 3})
    assert report["per_class_f1"] == pytest.approx({"a": 4 / 7, "b": 4 / 7, "c": 2 / 3})


def test_class_without_true_clips_is_left_out_of_the_means():
    classes = ["a", "b", "c", "d"]
    y_true = [0, 0, 1, 1, 2]
    y_pred = [0, 3, 1, 1, 2]       # "d" is predicted once but never true
    # support [2, 2, 1, 0], predicted [1, 2, 1, 1], correct [1, 2, 1, 0]
    # recall 1/2, 1, 1, None -> UAR = 2.5 / 3 = 5/6
    # F1 2/3, 4/4, 2/2, None -> UF1 = (2/3 + 2) / 3 = 8/9 (the wrong "d" prediction costs "a")
    report = classification_report(y_true, y_pred, classes)
    assert report["per_class_accuracy"]["d"] is None
    assert report["per_class_f1"]["d"] is None
    assert report["support"]["d"] == 0
    assert report["accuracy"] == pytest.approx(4 / 5)
    assert report["uar"] == pytest.approx(5 / 6)
    assert report["uf1"] == pytest.approx(8 / 9)
    assert report["confusion_matrix"][0] == [1, 0, 0, 1]
    assert report["confusion_matrix"][3] == [0, 0, 0, 0]


def test_class_with_clips_never_predicted_right_has_f1_zero():
    # "b" has 2 clips, both called "a": recall 0, F1 0, and it still counts in the means.
    # a: support 2, predicted 4, correct 2 -> recall 1, F1 4/6; UAR = 1/2, UF1 = 1/3
    report = classification_report([0, 0, 1, 1], [0, 0, 0, 0], ["a", "b"])
    assert report["per_class_accuracy"] == {"a": 1.0, "b": 0.0}
    assert report["per_class_f1"] == pytest.approx({"a": 2 / 3, "b": 0.0})
    assert report["uar"] == pytest.approx(0.5)
    assert report["uf1"] == pytest.approx(1 / 3)


def test_perfect_predictions():
    labels = [2, 0, 1, 1, 2, 0, 2]
    report = classification_report(labels, labels, THREE)
    assert report["accuracy"] == report["uf1"] == report["uar"] == 1.0
    assert report["confusion_matrix"] == [[2, 0, 0], [0, 2, 0], [0, 0, 3]]


def test_all_wrong_predictions():
    report = classification_report([0, 1, 2, 0], [1, 2, 0, 2], THREE)
    assert report["accuracy"] == report["uf1"] == report["uar"] == 0.0
    assert set(report["per_class_f1"].values()) == {0.0}
    assert sum(map(sum, report["confusion_matrix"])) == 4


@pytest.mark.parametrize("y_true, y_pred", [
    ([0, 1], [0]),                # lengths differ
    ([0, 3], [0, 1]),             # index beyond the classes
    ([0, -1], [0, 1]),            # negative index
    ([0.0, 1.0], [0, 1]),         # not integers
    ([], []),                     # nothing to score
])
def test_bad_inputs_are_user_errors(y_true, y_pred):
    with pytest.raises(UserError):
        classification_report(y_true, y_pred, THREE)


def test_per_fold_mean_skips_undefined_values():
    reports = [
        {"accuracy": 0.5, "uf1": 0.4, "uar": None},
        {"accuracy": 1.0, "uf1": float("nan"), "uar": 0.8},
    ]
    summary = per_fold_mean(reports)
    assert summary["fold_mean_accuracy"] == pytest.approx(0.75)
    assert summary["fold_std_accuracy"] == pytest.approx(0.25)   # population std of 0.5, 1.0
    assert summary["fold_mean_uf1"] == pytest.approx(0.4)
    assert summary["fold_std_uf1"] == 0.0
    assert summary["fold_mean_uar"] == pytest.approx(0.8)


def test_per_fold_mean_of_nothing_is_none():
    assert all(value is None for value in per_fold_mean([]).values())


def test_pooled_and_per_fold_scores_differ_on_single_class_folds():
    # Fold 1 holds only "a" (all right), fold 2 only "b" (3 of 4 right, one called "a").
    fold1 = classification_report([0, 0], [0, 0], ["a", "b"])
    fold2 = classification_report([1, 1, 1, 1], [0, 1, 1, 1], ["a", "b"])
    # fold2: only "b" has clips, F1 = 6/(4+3) = 6/7 -> per-fold UF1 mean = (1 + 6/7) / 2 = 13/14
    assert fold2["uf1"] == pytest.approx(6 / 7)
    assert per_fold_mean([fold1, fold2])["fold_mean_uf1"] == pytest.approx(13 / 14)
    # pooled: a support 2 predicted 3 -> F1 4/5; b support 4 predicted 3 -> F1 6/7
    pooled = classification_report([0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1], ["a", "b"])
    assert pooled["uf1"] == pytest.approx((4 / 5 + 6 / 7) / 2)
    assert not math.isclose(pooled["uf1"], 13 / 14)
