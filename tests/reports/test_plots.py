"""Plots write real, non-blank PNG files atomically."""
import math

import numpy as np
import pytest
from matplotlib.image import imread

from mer3d.errors import UserError
from mer3d.reports.plots import (
    DPI, _epochs_by_fold, _history_frame, plot_confusion, plot_history, plot_per_class,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png_drawn(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and float(np.var(image[..., :3])) > 1e-4, "image is blank"
    # only the final file: the temporary one was renamed, not left beside it
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    return image


def history_rows(n_folds, epochs=6, with_val=True):
    rows = []
    for fold in range(n_folds):
        for epoch in range(1, epochs + 1):
            row = {"fold": f"sub{fold:02d}", "epoch": epoch, "loss": 1.5 / epoch + 0.05 * fold,
                   "accuracy": 1 - 0.8 / epoch}
            if with_val:
                # validation is missing in some rows, as when it was not measured every epoch
                row["val_loss"] = None if epoch % 3 == 0 else 1.7 / epoch
                row["val_accuracy"] = math.nan if epoch % 3 == 0 else 0.9 - 0.7 / epoch
            rows.append(row)
    return rows


@pytest.mark.parametrize("n_folds, with_val", [(1, False), (3, True), (12, True)])
def test_history_plot(tmp_path, n_folds, with_val):
    path = tmp_path / "history.png"
    plot_history(history_rows(n_folds, with_val=with_val), path, "CASME II training")
    image = assert_png_drawn(path)
    assert image.shape[:2] == (round(4.2 * DPI), 11 * DPI)


def test_history_single_epoch(tmp_path):
    path = tmp_path / "history.png"
    plot_history(history_rows(2, epochs=1), path, "one epoch")
    assert_png_drawn(path)


def test_history_errors(tmp_path):
    with pytest.raises(UserError):
        plot_history([], tmp_path / "h.png", "empty")
    with pytest.raises(UserError, match="'accuracy'"):
        plot_history([{"fold": 0, "epoch": 1, "loss": 1.0}], tmp_path / "h.png", "no accuracy")
    assert list(tmp_path.iterdir()) == []


def test_confusion_plot(tmp_path):
    path = tmp_path / "sub" / "confusion.png"
    matrix = [[20, 3, 2], [4, 15, 0], [0, 0, 0]]     # last class has no clips
    plot_confusion(matrix, ["surprise", "happiness", "others"], path, "CASME II confusion")
    assert_png_drawn(path)


def test_confusion_shape_must_match_classes(tmp_path):
    with pytest.raises(UserError, match="shape"):
        plot_confusion([[1, 2], [3, 4]], ["a", "b", "c"], tmp_path / "c.png", "bad")


def test_per_class_plot(tmp_path):
    path = tmp_path / "per_class.png"
    accuracy = {"surprise": 0.84, "happiness": 0.7813, "fear": None, "overall": 0.5}
    plot_per_class(accuracy, 0.6911, path, "CASME II per-class accuracy")
    assert_png_drawn(path)


def test_rewriting_replaces_the_file(tmp_path):
    path = tmp_path / "per_class.png"
    plot_per_class({"a": 0.1}, 0.1, path, "first")
    first = path.read_bytes()
    plot_per_class({"a": 0.9}, 0.9, path, "second")
    assert path.read_bytes() != first
    assert_png_drawn(path)


def test_history_table_keeps_last_logged_row_and_drops_unmeasured_epochs():
    rows = [
        {"fold": "a", "epoch": 1, "loss": 2.0, "accuracy": 0.1, "val_loss": 1.0},
        {"fold": "a", "epoch": 1, "loss": 1.5, "accuracy": 0.2, "val_loss": 0.9},   # resumed rerun
        {"fold": "a", "epoch": 2, "loss": 1.0, "accuracy": 0.3, "val_loss": None},
        {"fold": "b", "epoch": 2, "loss": 1.2, "accuracy": 0.4, "val_loss": None},
    ]
    frame = _history_frame(rows)
    loss = _epochs_by_fold(frame, "loss")
    assert loss.loc[1, "a"] == 1.5 and loss.loc[2, "b"] == 1.2
    assert list(_epochs_by_fold(frame, "val_loss").index) == [1]
    assert _epochs_by_fold(frame, "val_accuracy") is None
