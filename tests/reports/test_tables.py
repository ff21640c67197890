"""Tables show the pooled numbers, the per-class rows and the labelled per-fold line."""
import pytest

from mer3d.reports.tables import metrics_markdown, metrics_table
from mer3d.training.metrics import classification_report, per_fold_mean

CLASSES = ["surprise", "happiness", "others", "fear"]


@pytest.fixture
def metrics():
    # Pooled: 7 clips, 5 right -> 71.43%. recall 1/2, 2/2, 2/3 -> UAR 13/18 = 0.7222
    # F1 = 2TP / (support + predicted): surprise 2/4 = 0.5000, happiness 4/5 = 0.8000,
    # others 4/5 = 0.8000
    # UF1 = (0.5 + 0.8 + 0.8) / 3 = 0.7000; "fear" has no clips -> n/a
    report = classification_report([0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 2, 0, 2], CLASSES)
    # Per-fold: accuracies 0.5 and 1.0 -> 75.00% ± 25.00%; UF1 0.6 and 0.8 -> 0.7000 ± 0.1000
    folds = per_fold_mean([{"accuracy": 0.5, "uf1": 0.6, "uar": 0.5},
                           {"accuracy": 1.0, "uf1": 0.8, "uar": None}])
    return {**report, **folds, "protocol": "loso", "folds": 2}


@pytest.mark.parametrize("render", [metrics_table, metrics_markdown])
def test_tables_show_the_numbers(metrics, render):
    text = render(metrics)
    for expected in ["loso", "71.43%", "0.7000", "0.7222", "50.00%", "100.00%", "66.67%",
                     "0.5000", "0.8000", "75.00% ± 25.00%", "0.7000 ± 0.1000", "0.5000 ± 0.0000"]:
        assert expected in text, expected
    for name in CLASSES:
        assert name in text
    assert "per-fold" in text.lower()


@pytest.mark.parametrize("render", [metrics_table, metrics_markdown])
def test_row_order_pooled_then_classes_then_per_fold(metrics, render):
    text = render(metrics)
    assert text.index("71.43%") < text.index("surprise") < text.index("fear") < text.index("±")


def test_text_table_rows(metrics):
    lines = metrics_table(metrics).splitlines()
    fear = next(line for line in lines if line.startswith("fear"))
    assert fear.split() == ["fear", "n/a", "n/a", "0"]
    others = next(line for line in lines if line.startswith("others"))
    assert others.split() == ["others", "66.67%", "0.8000", "3"]
    assert "|" not in "".join(lines)


def test_markdown_rows(metrics):
    lines = metrics_markdown(metrics).splitlines()
    assert "| happiness | 100.00% | 0.8000 | 2 |" in lines
    assert "| fear | n/a | n/a | 0 |" in lines
    assert "| --- | ---: | ---: | ---: |" in lines


def test_missing_per_fold_values_show_as_na(metrics):
    metrics["fold_mean_uar"] = metrics["fold_std_uar"] = None
    text = metrics_table(metrics)
    uar_rows = [line for line in text.splitlines() if line.startswith("UAR")]
    assert uar_rows[-1].split() == ["UAR", "n/a"]
