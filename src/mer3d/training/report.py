"""From fold results to the run's report: pooled predictions, metrics, curves and plots.
``evaluate`` recomputes everything from the saved predictions alone."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_text
from ..data.inputs import overall_apex_source
from ..data.megc2019 import NAME as COMPOSITE
from ..data.megc2019 import PUBLISHED
from ..data.records import Dataset
from ..data.representation import flow_resolution
from ..data.representation import representation as registered_representation
from ..errors import UserError
from ..reports.plots import plot_confusion, plot_history, plot_per_class
from ..reports.tables import metrics_markdown, published_markdown, run_scores
from .classical import MODEL_NAME as CLASSICAL
from .metrics import classification_report, per_fold_mean
from .run_dir import RunDir, read_csv, write_csv

HISTORY_COLUMNS = ["fold", "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]


def prediction_rows(dataset: Dataset, results: list[dict], window_sources: list[str]) -> list[dict]:
    """One row per test clip; ``window_sources[i]`` says which apex clip i's test window used."""
    rows = []
    for result in results:
        for index, probs in zip(result["test"], result["probabilities"]):
            clip = dataset.clips[index]
            row = {"fold": result["fold"], "part": clip.dataset, "subject": clip.subject, "clip": clip.name,
                   "true": clip.emotion, "predicted": dataset.classes[int(np.argmax(probs))],
                   "apex_source": window_sources[index]}
            row.update({f"p_{c}": f"{p:.6f}" for c, p in zip(dataset.classes, probs)})
            rows.append(row)
    return rows


def write_report(run: RunDir, dataset: Dataset, results: list[dict], window_sources: list[str]) -> dict:
    classes = dataset.classes
    parts = ["part"] if dataset.parts() is not None else []    # the column only where clips' datasets differ
    columns = ["fold", *parts, "subject", "clip", "true", "predicted", "apex_source"] + [f"p_{c}" for c in classes]
    rows = [{key: row[key] for key in columns} for row in prediction_rows(dataset, results, window_sources)]
    write_csv(run.predictions, rows, columns)
    write_csv(run.history, [row for r in results for row in r["history"]], HISTORY_COLUMNS)
    return evaluate(run.path, classes=classes)


def evaluation_inputs(config: dict, rows: list[dict], environment: dict) -> dict:
    """What the test predictions were made from: the representation, where the apexes of the test
    windows came from (``overall_apex_source`` of predictions.csv's apex_source column; unknown
    for runs from before it existed), the precision the folds trained in (``train.precision``
    as the training process resolved it, environment.json; unknown for older runs) and the
    precision they were scored in."""
    data, classical = config["data"], config["model"]["name"] == CLASSICAL
    recorded_precision = environment.get("training_precision", "unknown")
    motion = registered_representation(data["representation"]).motion
    inputs = {"representation": data["representation"], "eval_windows": data["eval_windows"],
              "apex_source": overall_apex_source([r["apex_source"] for r in rows]) if "apex_source" in rows[0]
              else "unknown",
              "scoring_precision": "fp64" if classical else config["inference"]["precision"],
              "training_precision": "fp64" if classical else recorded_precision}
    if motion:
        inputs["flow"] = {"method": data["flow"], "reference": data["flow_reference"],
                          "computed_at": flow_resolution(data)}
    if data.get("fps"):
        inputs["fps"] = data["fps"]      # every clip resampled in time to this rate
    if data.get("magnify"):
        inputs["magnify"] = data["magnify"]
    return inputs


def read_history(run: RunDir) -> list[dict] | None:
    """history.csv as numbers (None where not measured), None without the file; a damaged file is a
    one-line error naming it and its row."""
    if not run.history.is_file():
        return None
    remedy = "remove it to evaluate without training curves"
    rows = read_csv(run.history)
    missing = [c for c in HISTORY_COLUMNS[:4] if not rows or c not in rows[0]]
    if missing:
        raise UserError(f"{run.history}: {'no rows' if not rows else f'no column {missing[0]}'}; {remedy}")
    history = []
    for number, row in enumerate(rows, start=2):
        try:
            history.append({k: (v if k == "fold" else float(v) if v not in ("", None) else None)
                            for k, v in row.items() if k is not None})
        except (TypeError, ValueError):
            raise UserError(f"{run.history} row {number}: a value is not a number; {remedy}") from None
    return history


def evaluate(run_path: str | Path, classes: list[str] | None = None) -> dict:
    """Metrics from ``predictions.csv``: pooled over all folds (the field's convention) plus the
    per-fold mean, then metrics.json, plots and report.md."""
    run = RunDir(Path(run_path))
    config = run.read_config()
    rows = read_predictions(run.predictions)
    history = read_history(run)
    classes = classes or [c[2:] for c in rows[0] if c.startswith("p_")]
    index = {c: k for k, c in enumerate(classes)}
    y_true = [index[r["true"]] for r in rows]
    y_pred = [index[r["predicted"]] for r in rows]
    folds = list(dict.fromkeys(r["fold"] for r in rows))
    per_fold = [classification_report([t for t, r in zip(y_true, rows) if r["fold"] == f],
                                      [p for p, r in zip(y_pred, rows) if r["fold"] == f], classes)
                for f in folds]
    metrics = {**classification_report(y_true, y_pred, classes), **per_fold_mean(per_fold),
               "protocol": config["protocol"]["name"], "folds": len(folds), "seed": config["seed"],
               "preset": config.get("preset"),
               **evaluation_inputs(config, rows, run.read_json(run.env) if run.env.is_file() else {})}
    if "part" in rows[0]:
        metrics["parts"] = part_metrics(rows, y_true, y_pred, classes)
    run.write_json(run.metrics, metrics)
    title = f"{config['dataset']['name']} ({config['protocol']['name']}, {len(folds)} folds)"
    plot_confusion(metrics["confusion_matrix"], classes, run.path / "confusion_matrix.png", f"Confusion matrix: {title}")
    plot_per_class(metrics["per_class_accuracy"], metrics["accuracy"], run.path / "per_class_accuracy.png",
                   f"Per-class accuracy: {title}")
    if history:
        plot_history(history, run.path / "training_curves.png", f"Training: {title}")
    published = (published_markdown({"mer3d (this run)": run_scores(metrics)}, PUBLISHED)
                 if (config["dataset"]["name"], config["protocol"]["name"]) == (COMPOSITE, "loso") else "")
    atomic_write_text(run.report, f"# mer3d run report\n\n{title}\n\n{metrics_markdown(metrics)}\n{published}")
    return metrics


PREDICTION_COLUMNS = ("fold", "subject", "clip", "true", "predicted")


def read_predictions(path: Path) -> list[dict]:
    """The rows of a run's predictions.csv, checked: the columns a report needs, at least two
    ``p_<class>`` columns, every true and predicted class among them, probabilities finite numbers.
    Anything else is a one-line error naming the file and row (a damaged or hand-edited file)."""
    rows = read_csv(path)
    if not rows:
        raise UserError(f"{path}: no predictions")
    header = list(rows[0])
    missing = [c for c in PREDICTION_COLUMNS if c not in header]
    classes = [c[2:] for c in header if c and c.startswith("p_")]
    if missing or len(classes) < 2:
        raise UserError(f"{path}: not a predictions file of mer3d (missing column "
                        f"{missing[0] if missing else 'p_<class> for two classes or more'})")
    for number, row in enumerate(rows, start=2):
        if None in row or any(row[c] is None for c in header):
            raise UserError(f"{path} row {number}: {'too many' if None in row else 'too few'} fields")
        for column in ("true", "predicted"):
            if row[column] not in classes:
                raise UserError(f"{path} row {number}: {column} class '{row[column]}' is not one of {', '.join(classes)}")
        try:
            finite = all(math.isfinite(float(row[f"p_{c}"])) for c in classes)
        except ValueError:
            finite = False
        if not finite:
            raise UserError(f"{path} row {number}: a probability is not a finite number")
    return rows


def part_metrics(rows: list[dict], y_true: list[int], y_pred: list[int], classes: list[str]) -> dict:
    """Accuracy, UF1, UAR and confusion matrix of each part's pooled predictions (the table
    composite benchmarks publish); UF1 and UAR over the classes the part has clips of."""
    parts = {}
    for part in dict.fromkeys(r["part"] for r in rows):
        chosen = [i for i, r in enumerate(rows) if r["part"] == part]
        report = classification_report([y_true[i] for i in chosen], [y_pred[i] for i in chosen], classes)
        parts[part] = {key: report[key] for key in ("n", "accuracy", "uf1", "uar", "confusion_matrix")}
    return parts
