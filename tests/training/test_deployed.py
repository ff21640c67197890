"""`mer3d evaluate RUN --deployed`: a run's test clips scored through predict's path."""
import json

import pytest

from conftest import TINY
from mer3d.cli import main
from mer3d.config import load_config
from mer3d.errors import UserError
from mer3d.training.deployed import deployed_evaluation
from mer3d.training.trainer import train

FAST = ["train.epochs=1", "protocol.name=kfold", "protocol.k=2", "train.final_model=false", "data.flow=dis",
        "data.workers=1"]


def tiny_run(tmp_path, demo_root, *overrides):
    config = load_config("paper-casme2", overrides=[*TINY, *FAST, f"dataset.root={demo_root}",
                                                    f"data.cache_dir={tmp_path / 'cache'}", *overrides])
    train(config, tmp_path / "run")
    return tmp_path / "run"


def test_gray_needs_no_reference_so_predicts_path_gives_the_runs_predictions(tmp_path, demo_root):
    run = tiny_run(tmp_path, demo_root)
    report = deployed_evaluation(run)
    assert report["same_prediction"] == 1.0
    assert report["deployed"] == pytest.approx(report["run"])
    assert json.loads((run / "deployed.json").read_text()) == report


@pytest.mark.parametrize("representation", ["diff", "flow"])
def test_onset_referenced_inputs_are_scored_from_the_windows_first_frame(tmp_path, demo_root, representation):
    run = tiny_run(tmp_path, demo_root, f"data.representation={representation}")
    report = deployed_evaluation(run)
    metrics = json.loads((run / "metrics.json").read_text())
    assert report["clips"] == sum(map(sum, metrics["confusion_matrix"]))
    assert report["run"]["uf1"] == pytest.approx(metrics["uf1"])
    assert 0 <= report["same_prediction"] <= 1 and 0 <= report["deployed"]["uf1"] <= 1
    assert "first frame" in report["reference"]


def test_the_cli_prints_both_rows(tmp_path, demo_root, capsys):
    run = tiny_run(tmp_path, demo_root, "data.representation=diff")
    assert main(["evaluate", str(run), "--deployed"]) == 0
    out = capsys.readouterr().out
    assert "the run (onset reference)" in out and "deployed (window reference)" in out and "same predicted class" in out


def test_an_svm_run_has_no_weights_for_predict(tmp_path, demo_root):
    run = tiny_run(tmp_path, demo_root, "model.name=lbptop-svm")
    with pytest.raises(UserError, match="no network weights"):
        deployed_evaluation(run)
