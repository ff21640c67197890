"""The paper's figures as PNG files: training curves (Figs 11-14), confusion matrix (Figs 15-16)
and per-class accuracy summary (Fig 17).

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot: no GUI backend is ever
selected (so this runs headless, like the Agg backend, without changing the process-wide backend)
and no figure lingers in pyplot's global registry after it is saved.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..atomic import atomic_path
from ..errors import UserError

DPI = 120
HISTORY_KEYS = ("fold", "epoch", "loss", "accuracy")
MAX_FOLD_LINES = 5      # beyond this many folds, thin per-fold lines become clutter


def _save(fig: Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")


def _history_frame(history: list[dict]) -> pd.DataFrame:
    if not history:
        raise UserError("no training history to plot")
    frame = pd.DataFrame(history)
    missing = [key for key in HISTORY_KEYS if key not in frame]
    if missing:
        raise UserError(f"training history rows lack the key '{missing[0]}'")
    return frame


def _epochs_by_fold(frame: pd.DataFrame, column: str) -> pd.DataFrame | None:
    """Table of ``column`` with one row per epoch and one column per fold; None if never logged."""
    if column not in frame:
        return None
    values = pd.to_numeric(frame[column], errors="coerce")     # None -> NaN
    if values.isna().all():
        return None
    # last(): a resumed run may log an epoch twice; the later row is the one that counts.
    # Epochs no fold measured (validation every few epochs) are dropped so the points connect.
    return values.groupby([frame["epoch"], frame["fold"]]).last().unstack("fold").dropna(how="all")


def _draw_curve(ax: Axes, table: pd.DataFrame, label: str, colour: str, style: str) -> None:
    """One fold: a plain line. Several: mean line, min-max band, thin per-fold lines if few."""
    epochs = table.index.to_numpy()
    marker = "o" if len(epochs) == 1 else None      # a single epoch draws no line segment
    n_folds = table.shape[1]
    if n_folds == 1:
        ax.plot(epochs, table.iloc[:, 0], style, color=colour, marker=marker, label=label)
        return
    if n_folds <= MAX_FOLD_LINES:
        for fold in table:
            measured = table[fold].dropna()
            ax.plot(measured.index, measured, style, color=colour, linewidth=0.6, alpha=0.4)
    ax.fill_between(epochs, table.min(axis=1), table.max(axis=1), color=colour, alpha=0.15,
                    label=f"{label}, min-max over folds")
    ax.plot(epochs, table.mean(axis=1), style, color=colour, linewidth=2, marker=marker,
            label=f"{label}, mean of {n_folds} folds")


def plot_history(history: list[dict], path: str | Path, title: str) -> None:
    """Accuracy and loss against epoch, side by side; validation curves dashed when logged.

    ``history`` rows need ``fold``, ``epoch``, ``loss``, ``accuracy`` and may have ``val_loss``,
    ``val_accuracy`` (missing, None or NaN where not measured).
    """
    frame = _history_frame(history)
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    for ax, metric in zip(fig.subplots(1, 2), ("accuracy", "loss")):
        for prefix, label, colour, style in (("", "training", "C0", "-"), ("val_", "validation", "C1", "--")):
            table = _epochs_by_fold(frame, prefix + metric)
            if table is not None:
                _draw_curve(ax, table, label, colour, style)
        ax.set(title=f"{metric} per epoch", xlabel="epoch", ylabel=metric)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:   # a classical model has no loss curve
            ax.legend(fontsize=8)
    fig.suptitle(title)
    _save(fig, path)


def plot_confusion(matrix, classes: list[str], path: str | Path, title: str) -> None:
    """Confusion matrix, rows = true class: colour is the row percentage, each cell reads
    ``pct%`` over ``(count)`` (``n/a`` for the percentage in a row with no clips)."""
    counts = np.asarray(matrix)
    n = len(classes)
    if counts.shape != (n, n):
        raise UserError(f"confusion matrix has shape {counts.shape}, expected {n}x{n} for {n} classes")
    row_totals = counts.sum(axis=1, keepdims=True)
    percent = np.divide(100.0 * counts, row_totals, out=np.zeros(counts.shape), where=row_totals > 0)
    fig = Figure(figsize=(2.5 + 1.1 * n, 1.8 + 1.0 * n), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(percent, cmap="Blues", vmin=0, vmax=100)
    for (row, col), count in np.ndenumerate(counts):
        share = f"{percent[row, col]:.1f}%" if row_totals[row, 0] else "n/a"
        ax.text(col, row, f"{share}\n({count})", ha="center", va="center",
                color="white" if percent[row, col] > 50 else "black", fontsize=9)
    ax.set_xticks(range(n), classes, rotation=30, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    fig.colorbar(image, ax=ax, label="% of the true class's clips")
    _save(fig, path)


def plot_per_class(per_class_accuracy: dict, overall_accuracy: float | None, path: str | Path,
                   title: str) -> None:
    """One bar per class (accuracy = recall) and an ``overall`` bar, values printed on the bars;
    a None value (class with no test clip) is drawn as an empty bar labelled ``n/a``."""
    names = [*per_class_accuracy, "overall"]
    values = [*per_class_accuracy.values(), overall_accuracy]
    heights = [0.0 if value is None else 100.0 * value for value in values]
    colours = ["C0"] * len(per_class_accuracy) + ["C3"]
    fig = Figure(figsize=(2.5 + 0.9 * len(names), 4.2), layout="constrained")
    ax = fig.subplots()
    # Numeric positions, not category names, so a class that happens to be called "overall"
    # still gets its own bar.
    bars = ax.bar(range(len(names)), heights, color=colours)
    ax.bar_label(bars, labels=["n/a" if value is None else f"{100.0 * value:.2f}%" for value in values],
                 padding=2)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax.set(ylim=(0, 110), xlabel="class", ylabel="accuracy (%)", title=title)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
