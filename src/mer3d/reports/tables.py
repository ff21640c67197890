"""Evaluation results as tables: fixed-width text for the terminal, Markdown for report files.

``metrics`` is a :func:`mer3d.training.metrics.classification_report` dict merged with the
:func:`mer3d.training.metrics.per_fold_mean` dict, plus ``protocol`` (str) and ``folds`` (int).
Accuracies are shown as percentages; UF1, UAR and F1 as scores in [0, 1], as the field writes them.
"""
from __future__ import annotations

from typing import Callable

Grid = Callable[[list[str], list[list[str]]], str]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100.0 * value:.2f}%"


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _mean_std(metrics: dict, metric: str, fmt: Callable[[float | None], str]) -> str:
    mean, std = metrics.get(f"fold_mean_{metric}"), metrics.get(f"fold_std_{metric}")
    return "n/a" if mean is None else f"{fmt(mean)} ± {fmt(std)}"


def _heading(metrics: dict) -> str:
    return (f"Protocol {metrics['protocol']}, {metrics['folds']} fold(s), {metrics['n']} clips; "
            "metrics on the pooled predictions of all folds")


def _inputs(metrics: dict) -> str:
    """What the test predictions were made from (runs from before these keys existed say nothing)."""
    if "representation" not in metrics:
        return ""
    flow = metrics.get("flow")
    source = (f"{flow['method']} flow against the {flow['reference']} frame, computed at {flow['computed_at']} px"
              if flow else "frames")
    where = "onset-to-apex flow of" if metrics["representation"] == "apex-flow" else "test windows on"
    apex = {"none": f"{metrics['eval_windows']} test windows spread over each clip (no apex used)",
            "mixed": f"{where} annotated apexes, estimated ones where the sheet has none"}.get(
        metrics["apex_source"], f"{where} {metrics['apex_source']} apexes")
    rate = f"; every clip resampled to {metrics['fps']:g} fps" if metrics.get("fps") else ""
    trained = f"trained in {metrics['training_precision']}, " if metrics.get("training_precision") else ""
    return (f"Input: {metrics['representation']} ({source}){rate}; {apex}; {trained}scored in "
            f"{metrics['scoring_precision']}")


def _overall_rows(metrics: dict) -> list[list[str]]:
    return [["accuracy", _pct(metrics["accuracy"])],
            ["UF1", _score(metrics["uf1"])],
            ["UAR", _score(metrics["uar"])]]


def _class_rows(metrics: dict) -> list[list[str]]:
    return [[name, _pct(metrics["per_class_accuracy"][name]), _score(metrics["per_class_f1"][name]),
             str(metrics["support"][name])] for name in metrics["classes"]]


def _fold_rows(metrics: dict) -> list[list[str]]:
    return [["accuracy", _mean_std(metrics, "accuracy", _pct)],
            ["UF1", _mean_std(metrics, "uf1", _score)],
            ["UAR", _mean_std(metrics, "uar", _score)]]


PART_NAMES = {"casme2": "CASME II", "samm": "SAMM", "smic": "SMIC", "composite": "composite"}


def _part_rows(metrics: dict) -> list[list[str]]:
    rows = [[PART_NAMES.get(part, part), str(m["n"]), _pct(m["accuracy"]), _score(m["uf1"]), _score(m["uar"])]
            for part, m in metrics["parts"].items()]
    return [*rows, ["all parts", str(metrics["n"]), _pct(metrics["accuracy"]), _score(metrics["uf1"]),
                    _score(metrics["uar"])]]


def _render(metrics: dict, grid: Grid) -> str:
    """The tables, in the order: pooled overall, per part (composite datasets), per class,
    per-fold mean ± std."""
    parts = [grid(["part (pooled)", "clips", "accuracy", "UF1", "UAR"], _part_rows(metrics))] if "parts" in metrics else []
    sections = [
        _heading(metrics),
        *([_inputs(metrics)] if _inputs(metrics) else []),
        grid(["metric (pooled)", "value"], _overall_rows(metrics)),
        *parts,
        grid(["class", "accuracy", "F1", "support"], _class_rows(metrics)),
        "Per-fold scores (each fold scored alone, then mean ± std over folds; not the pooled result)",
        grid(["metric (per-fold)", "mean ± std"], _fold_rows(metrics)),
    ]
    return "\n\n".join(sections) + "\n"


def _text_grid(header: list[str], rows: list[list[str]]) -> str:
    """Fixed-width columns: the first left-aligned (names), the others right-aligned (numbers)."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first, *rest = cells
        return "  ".join([first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:]))])

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _markdown_grid(header: list[str], rows: list[list[str]]) -> str:
    rule = ["---", *["---:"] * (len(header) - 1)]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, rule, *rows])


def metrics_table(metrics: dict) -> str:
    """Fixed-width text tables for the terminal."""
    return _render(metrics, _text_grid)


def metrics_markdown(metrics: dict) -> str:
    """The same tables in Markdown (for README or report.md)."""
    return _render(metrics, _markdown_grid)


def run_scores(metrics: dict) -> dict[str, tuple[float | None, float | None]]:
    """A run's (UF1, UAR) overall ('composite') and per part, as :func:`published_markdown` takes them."""
    return {"composite": (metrics["uf1"], metrics["uar"]),
            **{part: (m["uf1"], m["uar"]) for part, m in metrics.get("parts", {}).items()}}


def published_markdown(ours: dict[str, dict], published: dict[str, dict[str, tuple[float, float]]],
                       what: str = "this run") -> str:
    """mer3d's rows beside published results, UF1 / UAR overall ('composite') and per part; a dash
    where a paper gives no number. ``ours`` and ``published`` map a row's name to
    {'composite' or part: (UF1, UAR)}."""
    columns = list(dict.fromkeys(key for scores in ours.values() for key in scores))

    def cells(scores: dict) -> list[str]:
        return [f"{_score(scores[c][0])} / {_score(scores[c][1])}" if c in scores else "-" for c in columns]

    rows = [*([name, *cells(scores)] for name, scores in ours.items()),
            *([f"{method} (published)", *cells(scores)] for method, scores in published.items())]
    header = ["UF1 / UAR", *(PART_NAMES.get(c, c) for c in columns)]
    return ("\n## Published results (MEGC 2019 composite, LOSO over 68 subjects)\n\n"
            f"Published numbers as their papers report them, each with its own recipe and inputs; mer3d's rows are "
            f"{what}, with a fixed number of epochs and no choice made on test subjects. Comparable only with the "
            "full official list and all three parts.\n\n" + _markdown_grid(header, rows) + "\n")
