"""``mer3d compare``: every model x setting of a comparison file, on one dataset, with one
protocol and the same seeds (hence the same folds), summarised as mean +- std over seeds with a
two-level paired cluster bootstrap confidence interval (seeds, then test subjects) of each cell's UF1
difference to the reference cell. Subjects, not clips, are resampled because the clips of one subject
are scored by one fold model (LOSO / subject k-fold) and are not independent.

A comparison file (YAML)::

    preset: paper-casme2              # base preset of every cell (a cell may name its own)
    dataset: {root: /data/CASME2}     # dataset.* settings
    set: [train.epochs=50]            # --set overrides for every cell
    seeds: [0, 1, 2]
    reference: paper                  # the cell the others are compared with
    cells:
      - {name: paper, paper_accuracy: 69.11}
      - {name: no-augment, preset: paper-casme2+no-augment, paper_accuracy: 62.95}
      - {name: c3d-plain, set: [model.name=c3d-plain], paper_accuracy: 66.67}

Runs go to ``OUT/runs/<cell>/seed<k>``; finished runs are reused and interrupted ones resumed, so
an interrupted comparison continues where it stopped. A cell whose model needs labels the dataset
lacks (GEME without genders) is skipped, and the table says why.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import yaml

from ..atomic import atomic_path, atomic_write_text
from ..config import load_config
from ..data.megc2019 import NAME as COMPOSITE
from ..data.megc2019 import PUBLISHED
from ..reports.tables import published_markdown
from ..errors import UserError
from .distributed import Runs, executor_runs
from .run_dir import RunDir, read_csv, write_csv
from .trainer import MissingLabels

log = logging.getLogger("mer3d")

METRICS = ("accuracy", "uf1", "uar")
BOOTSTRAP_SAMPLES = 2000


@dataclass(frozen=True)
class Cell:
    name: str
    preset: str
    overrides: tuple[str, ...] = ()
    paper_accuracy: float | None = None


@dataclass
class Comparison:
    cells: list[Cell]
    seeds: list[int]
    reference: str
    common: list[str] = field(default_factory=list)
    published: bool = False     # the composite under LOSO: published results go beside the cells


def shipped_comparisons() -> list[str]:
    folder = resources.files("mer3d.configs").joinpath("compare")
    return sorted(f.name[:-5] for f in folder.iterdir() if f.name.endswith(".yaml"))


def read_comparison(spec: str | Path, overrides: list[str] = ()) -> Comparison:
    """Parse a comparison file (a path, or the name of one shipped in mer3d/configs/compare)."""
    path = Path(spec)
    if not path.is_file():
        if str(spec) not in shipped_comparisons():
            raise UserError(f"{spec}: no such comparison file (shipped: {', '.join(shipped_comparisons())})")
        path = Path(str(resources.files("mer3d.configs").joinpath("compare").joinpath(f"{spec}.yaml")))
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    common = [f"dataset.{k}={v}" for k, v in (raw.get("dataset") or {}).items()]
    common += list(raw.get("set") or []) + list(overrides)
    cells = [_cell(entry, raw.get("preset"), path) for entry in raw.get("cells") or []]
    if not cells:
        raise UserError(f"{path}: 'cells' lists no model or setting to compare")
    names = [c.name for c in cells]
    if len(set(names)) != len(names):
        raise UserError(f"{path}: cell names must be unique ({', '.join(names)})")
    reference = raw.get("reference", names[0])
    if reference not in names:
        raise UserError(f"{path}: reference '{reference}' is not one of the cells")
    seeds = raw.get("seeds", [0])
    if not seeds or not all(isinstance(s, int) for s in seeds):
        raise UserError(f"{path}: 'seeds' must be a list of integers")
    comparison = Comparison(cells, seeds, reference, common)
    first = cell_config(comparison, cells[0], seeds[0])
    comparison.published = first["dataset"]["name"] == COMPOSITE and first["protocol"]["name"] == "loso"
    return comparison


def _cell(entry, default_preset: str | None, path: Path) -> Cell:
    if not isinstance(entry, dict) or "name" not in entry:
        raise UserError(f"{path}: each cell needs a 'name'")
    preset = entry.get("preset", default_preset)
    if not preset:
        raise UserError(f"{path}: cell '{entry['name']}' has no preset (and the file sets none)")
    return Cell(str(entry["name"]), preset, tuple(entry.get("set") or ()), entry.get("paper_accuracy"))


def cell_config(comparison: Comparison, cell: Cell, seed: int) -> dict:
    return load_config(cell.preset, overrides=[*comparison.common, *cell.overrides, f"seed={seed}"])


def run_cell(config: dict, run_path: Path, runs: Runs) -> None:
    """Train, resume, or reuse the finished run at ``run_path``."""
    run = RunDir(run_path)
    if run.config.is_file():
        if run.read_config() != config:
            raise UserError(f"{run_path}: holds a run with other settings; remove it or use another --out")
        if not run.metrics.is_file():
            runs.resume(run_path)
        return
    runs.train(config, run_path)


def compare(spec: str | Path, out: str | Path, overrides: list[str] = (), executor: str = "local",
            ray_address: str | None = None) -> list[dict]:
    """Run every cell x seed (reusing finished runs) and write comparison.csv/.md/.png to ``out``;
    ``executor``: as for ``api.train`` (with Ray, every fold of every cell and seed is one task)."""
    comparison = read_comparison(spec, overrides)
    out = Path(out)
    configs = {(c.name, s): cell_config(comparison, c, s) for c in comparison.cells for s in comparison.seeds}
    skipped: dict[str, str] = {}
    with executor_runs(executor, ray_address) as runs:
        for (name, seed), config in configs.items():
            if name in skipped:
                continue
            log.info("compare: %s, seed %d", name, seed)
            try:
                run_cell(config, out / "runs" / name / f"seed{seed}", runs)
            except MissingLabels as exc:
                skipped[name] = str(exc)
                log.warning("compare: %s skipped: %s", name, exc)
        runs.finish()
    if comparison.reference in skipped:
        raise UserError(f"the reference cell '{comparison.reference}' cannot run: {skipped[comparison.reference]}")
    rows = summarise(comparison, out, skipped)
    write_comparison(rows, comparison, out)
    return rows


def _predictions(run_path: Path) -> dict[tuple[str, str], tuple[str, str]]:
    return {(r["subject"], r["clip"]): (r["true"], r["predicted"]) for r in read_csv(run_path / "predictions.csv")}


def _subject_counts(run: dict[tuple[str, str], tuple[str, str]], keys: list[tuple[str, str]],
                    subjects: list[str], classes: list[str]) -> np.ndarray:
    """Per-subject counts of one run, shape (subjects, 3, classes): true positives, clips of the class
    (support) and predictions of the class, over the clips ``keys``."""
    subject_index = {s: k for k, s in enumerate(subjects)}
    class_index = {c: k for k, c in enumerate(classes)}
    counts = np.zeros((len(subjects), 3, len(classes)), dtype=np.int64)
    for key in keys:
        try:
            true, predicted = run[key]
        except KeyError:
            raise UserError(f"bootstrap: subject {key[0]} clip {key[1]} has no prediction in every run") from None
        s, t, p = subject_index[key[0]], class_index[true], class_index[predicted]
        counts[s, 0, t] += t == p
        counts[s, 1, t] += 1
        counts[s, 2, p] += 1
    return counts


def uf1_from_counts(counts: np.ndarray) -> np.ndarray:
    """UF1 from pooled counts (..., 3, classes) as :func:`.metrics.classification_report` defines it: the mean,
    over the classes with at least one clip, of F1 = 2TP / (support + predicted); a class without clips
    (predicted or not) is left out."""
    tp, support, predicted = counts[..., 0, :], counts[..., 1, :], counts[..., 2, :]
    has_clips = support > 0
    f1 = np.where(has_clips, 2 * tp / np.where(has_clips, support + predicted, 1), 0.0)
    return f1.sum(axis=-1) / has_clips.sum(axis=-1)


def paired_cluster_bootstrap_uf1(reference: list[dict], other: list[dict], classes: list[str],
                                 samples: int = BOOTSTRAP_SAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """UF1(other) - UF1(reference), averaged over seeds, with a 95 % percentile interval from a
    two-level paired cluster bootstrap: each draw resamples the seeds (seed k of both cells together,
    as they share folds), then the test subjects with replacement (the same subjects for both cells,
    so shared difficulty cancels out; a subject drawn twice counts all its clips twice). Subjects, not
    clips, are the units because the clips of one subject are scored by one fold model (LOSO / subject
    k-fold) and are not independent: resampling clips would understate the interval. It thus covers
    training variance between seeds as well as test-subject sampling; with one seed it covers the
    subjects only. With fewer than 2 subjects there is nothing to resample: the interval is then the
    observed difference itself (low == high == difference), not a confidence interval.
    ``reference[k]``/``other[k]``: (subject, clip) -> (true, predicted), over the clips of
    ``reference[0]``."""
    keys = sorted(reference[0])
    subjects = sorted({subject for subject, _ in keys})
    # (runs, subjects, 3, classes): a draw's pooled counts are a weighted sum over subjects.
    ref = np.stack([_subject_counts(r, keys, subjects, classes) for r in reference]).astype(np.float64)
    oth = np.stack([_subject_counts(r, keys, subjects, classes) for r in other]).astype(np.float64)

    def differences(weights):
        """(draws, subjects) subject weights -> (draws, runs) UF1 differences of each seed."""
        return (uf1_from_counts(np.einsum("bs,ksfc->bkfc", weights, oth))
                - uf1_from_counts(np.einsum("bs,ksfc->bkfc", weights, ref)))

    runs, n_subjects = len(ref), len(subjects)
    observed = float(differences(np.ones((1, n_subjects)))[0].mean())
    if n_subjects < 2:
        log.warning("bootstrap: fewer than 2 test subjects, no interval (reported as the observed difference)")
        return observed, observed, observed
    rng = np.random.default_rng(seed)
    seed_draws = rng.integers(0, runs, (samples, runs))
    subject_draws = rng.integers(0, n_subjects, (samples, n_subjects))
    rows = np.repeat(np.arange(samples), n_subjects)
    weights = np.zeros((samples, n_subjects))
    np.add.at(weights, (rows, subject_draws.ravel()), 1)
    draws = np.take_along_axis(differences(weights), seed_draws, axis=1).mean(axis=1)
    return observed, float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def summarise(comparison: Comparison, out: Path, skipped: dict[str, str] | None = None) -> list[dict]:
    """One row per cell; a cell in ``skipped`` (name -> reason) has no runs and says why."""
    skipped = skipped or {}
    runs = {c.name: [out / "runs" / c.name / f"seed{s}" for s in comparison.seeds] for c in comparison.cells}
    run_metrics = {name: [RunDir(p).read_json(p / "metrics.json") for p in paths]
                   for name, paths in runs.items() if name not in skipped}
    reference = [_predictions(p) for p in runs[comparison.reference]]
    reference_metrics = run_metrics[comparison.reference]
    classes = reference_metrics[0]["classes"]
    subjects = len({subject for subject, _ in reference[0]})
    rows = []
    for cell in comparison.cells:
        row = {"cell": cell.name, "preset": cell.preset, "set": " ".join(cell.overrides), "runs": 0,
               "paper_accuracy": cell.paper_accuracy}
        if cell.name in skipped:
            rows.append({**row, "skipped": skipped[cell.name]})
            continue
        metrics = run_metrics[cell.name]
        row["runs"] = len(metrics)
        for m in METRICS:
            values = [x[m] for x in metrics]
            row[f"{m}_mean"], row[f"{m}_std"] = float(np.mean(values)), float(np.std(values))
        row.update(part_means(metrics))
        if cell.name != comparison.reference:
            diff, low, high = paired_cluster_bootstrap_uf1(reference, [_predictions(p) for p in runs[cell.name]],
                                                           classes)
            wins = sum(m["uf1"] > r["uf1"] for m, r in zip(metrics, reference_metrics))
            row.update(uf1_diff=diff, uf1_diff_low=low, uf1_diff_high=high, uf1_better_seeds=wins,
                       test_subjects=subjects)
        rows.append(row)
    return rows


def part_means(metrics: list[dict]) -> dict:
    """``<part>_uf1_mean`` and ``<part>_uar_mean`` over seeds, for runs on a composite of several datasets."""
    parts = metrics[0].get("parts", {})
    return {f"{part}_{m}_mean": float(np.mean([x["parts"][part][m] for x in metrics]))
            for part in parts for m in ("uf1", "uar")}


COLUMNS = ["cell", "preset", "set", "runs", "accuracy_mean", "accuracy_std", "uf1_mean", "uf1_std", "uar_mean",
           "uar_std", "uf1_diff", "uf1_diff_low", "uf1_diff_high", "uf1_better_seeds", "paper_accuracy", "skipped"]


def write_comparison(rows: list[dict], comparison: Comparison, out: Path) -> None:
    parts = [key for key in dict.fromkeys(k for r in rows for k in r) if key.endswith(("_uf1_mean", "_uar_mean"))
             and key not in COLUMNS]
    write_csv(out / "comparison.csv", rows, [*COLUMNS, *parts])
    atomic_write_text(out / "comparison.md", comparison_markdown(rows, comparison))
    plot_comparison(rows, out / "comparison.png")


def comparison_markdown(rows: list[dict], comparison: Comparison) -> str:
    lines = [f"# Comparison ({len(comparison.seeds)} seed(s): {', '.join(map(str, comparison.seeds))}; "
             f"reference: {comparison.reference})", "",
             "| cell | runs | accuracy % | UF1 | UAR | UF1 vs reference (95 % CI) | paper accuracy % |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        paper = f"{r['paper_accuracy']:.2f}" if r["paper_accuracy"] is not None else ""
        if "skipped" in r:
            lines.append(f"| {r['cell']} | 0 | skipped: {r['skipped']} | | | | {paper} |")
            continue
        diff = (f"{r['uf1_diff']:+.3f} [{r['uf1_diff_low']:+.3f}, {r['uf1_diff_high']:+.3f}]"
                + (" *" if (r["uf1_diff_low"] > 0 or r["uf1_diff_high"] < 0) and r.get("test_subjects", 2) >= 2
                   else "")
                + f", better in {r['uf1_better_seeds']}/{r['runs']} seeds") if "uf1_diff" in r else "reference"
        lines.append(f"| {r['cell']} | {r['runs']} | {100 * r['accuracy_mean']:.2f} +- {100 * r['accuracy_std']:.2f} "
                     f"| {r['uf1_mean']:.3f} +- {r['uf1_std']:.3f} | {r['uar_mean']:.3f} +- {r['uar_std']:.3f} "
                     f"| {diff} | {paper} |")
    lines += ["", "Mean +- std over seeds; metrics pooled over all folds of each run. The interval is a two-level "
              "paired cluster bootstrap (seeds, then the same test subjects for both cells, each with all its "
              "clips: the clips of one subject are scored by one fold model, so they are not independent and "
              "are not resampled one by one); * marks an interval that excludes 0."]
    if any(r.get("test_subjects", 2) < 2 for r in rows):
        lines.append("Fewer than 2 test subjects: no subjects to resample, so no interval; the brackets repeat the "
                     "observed difference.")
    if len(comparison.seeds) == 1:
        lines.append("With one seed the interval covers test-subject sampling only, not the training variance between "
                     "seeds (initialisation, shuffling, windows), which can be as large: run several seeds before "
                     "calling a difference real.")
    return "\n".join(lines) + "\n" + _published(rows, comparison)


def _published(rows: list[dict], comparison: Comparison) -> str:
    """Per part, each cell beside the published results, for a leave-one-subject-out run of the composite."""
    if not comparison.published:
        return ""
    ours = {r["cell"]: {"composite": (r["uf1_mean"], r["uar_mean"]),
                        **{key[:-len("_uf1_mean")]: (r[key], r[key.replace("_uf1_", "_uar_")])
                           for key in r if key.endswith("_uf1_mean") and key != "uf1_mean"}}
            for r in rows if "skipped" not in r}
    return published_markdown(ours, PUBLISHED, "each cell's mean over seeds")


def plot_comparison(rows: list[dict], path: Path) -> None:
    """Bars of every cell that ran (skipped cells are in the tables only)."""
    from matplotlib.figure import Figure

    rows = [r for r in rows if "skipped" not in r]
    fig = Figure(figsize=(max(6, 1.2 * len(rows) + 2), 4.5), dpi=120)
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    width = 0.27
    for k, metric in enumerate(METRICS):
        ax.bar(x + (k - 1) * width, [r[f"{metric}_mean"] for r in rows], width,
               yerr=[r[f"{metric}_std"] for r in rows], capsize=3, label=metric.upper() if metric != "accuracy" else "accuracy")
    papers = [(i, r["paper_accuracy"] / 100) for i, r in enumerate(rows) if r["paper_accuracy"] is not None]
    if papers:
        ax.scatter([i - width for i, _ in papers], [v for _, v in papers], marker="_", s=400, color="black",
                   zorder=3, label="paper's accuracy")
    ax.set_xticks(x, [r["cell"] for r in rows], rotation=20, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("score (mean +- std over seeds)")
    ax.set_title("Model and setting comparison")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp)
