"""Training on the MEGC 2019 composite: LOSO over namespaced subjects, per-part metrics, lodo and cross."""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from conftest import TINY
from mer3d.cli import main

sys.path.insert(0, str(Path(__file__).parent.parent / "data"))
from fixtures import write_megc2019  # noqa: E402

LISTED = [("casme2", "sub01", "EP02_01f", 1), ("casme2", "sub02", "EP01_11f", 0), ("casme2", "sub02", "EP03_02", 2),
          ("samm", "6", "006_1_2", 0), ("samm", "7", "007_3_1", 2), ("samm", "7", "007_5_1", 1),
          ("smic", "s01", "s01_ne_01", 0), ("smic", "s02", "s02_po_03", 1), ("smic", "s02", "s02_sur_01", 2)]


@pytest.fixture(scope="module")
def composite(tmp_path_factory):
    root = write_megc2019(tmp_path_factory.mktemp("megc"), LISTED)
    listed = root / "list.csv"
    listed.write_text("".join(f"{db},{subject},{clip},{label}\n" for db, subject, clip, label in LISTED))
    return root, listed


def train(root, listed, out, cache, *extra):
    sets = [*TINY, f"data.cache_dir={cache}", "train.epochs=1", "train.final_model=false", "dataset.name=megc2019",
            "data.fps=100", *extra]
    return main(["train", "--root", str(root), "--annotations", str(listed), "--out", str(out),
                 *[a for s in sets for a in ("--set", s)]])


def test_loso_over_the_composite_reports_each_part(composite, tmp_path):
    root, listed = composite
    assert train(root, listed, tmp_path / "run", tmp_path / "cache") == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["folds"] == 6 and metrics["n"] == 9 and metrics["fps"] == 100
    assert list(metrics["parts"]) == ["casme2", "samm", "smic"]
    for part in metrics["parts"].values():
        assert set(part) == {"n", "accuracy", "uf1", "uar", "confusion_matrix"} and part["n"] == 3
        assert sum(map(sum, part["confusion_matrix"])) == 3
    with open(tmp_path / "run" / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["part"], r["subject"]) for r in rows} >= {("samm", "samm/007"), ("smic", "smic/s2")}
    assert {r["fold"] for r in rows} == {"casme2_sub01", "casme2_sub02", "samm_006", "samm_007", "smic_s1", "smic_s2"}
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| part (pooled) | clips |" in report and "STSTNet" in report


def test_leave_one_dataset_out_and_cross_dataset(composite, tmp_path):
    root, listed = composite
    assert train(root, listed, tmp_path / "lodo", tmp_path / "cache", "protocol.name=lodo") == 0
    lodo = json.loads((tmp_path / "lodo" / "metrics.json").read_text())
    assert (lodo["protocol"], lodo["folds"], lodo["n"]) == ("lodo", 3, 9)
    assert train(root, listed, tmp_path / "cross", tmp_path / "cache", "protocol.name=cross",
                 "protocol.train_parts=[casme2, smic]", "protocol.test_parts=[samm]") == 0
    cross = json.loads((tmp_path / "cross" / "metrics.json").read_text())
    assert (cross["folds"], cross["n"], list(cross["parts"])) == (1, 3, ["samm"])
