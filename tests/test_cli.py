"""The command line as a user runs it: exit codes, one-line errors, and the files a run leaves."""
import csv
import json

import pytest

from mer3d.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_model_prints_the_paper_layer_table(capsys):
    code, out, _ = run_cli(capsys, "model", "--preset", "paper-casme2")
    assert code == 0
    assert "(128, 1, 4, 4)" in out and "(2048)" in out and "(1024)" in out
    assert "trainable parameters: 3,847,461" in out
    code, out, _ = run_cli(capsys, "model", "--preset", "paper-casme")
    assert "features.block5" in out and "(4)" in out


def test_train_evaluate_end_to_end(capsys, tmp_path, demo_root, tiny_overrides):
    run = tmp_path / "run"
    sets = [a for o in tiny_overrides + ["train.epochs=2", "protocol.name=kfold", "protocol.k=2",
                                         "train.val_fraction=0.34"] for a in ("--set", o)]
    code, out, err = run_cli(capsys, "train", "--preset", "paper-casme2", "--root", str(demo_root),
                             "--out", str(run), *sets)
    assert code == 0, err
    assert "UF1" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["classes"] == ["surprise", "repression", "happiness", "disgust", "others"]
    assert metrics["protocol"] == "kfold" and metrics["folds"] == 2
    for key in ("accuracy", "uf1", "uar", "per_class_accuracy", "confusion_matrix"):
        assert key in metrics
    with open(run / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == sum(map(sum, metrics["confusion_matrix"])) == 24   # every clip tested once
    history = list(csv.DictReader(open(run / "history.csv")))
    assert len(history) == 2 * 2 and history[0]["val_loss"] != ""
    for name in ("config.yaml", "environment.json", "report.md", "confusion_matrix.png",
                 "per_class_accuracy.png", "training_curves.png", "folds/fold1/model.safetensors",
                 "folds/fold1/model.json", "model.safetensors", "model.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "environment.json").read_text())["seed"] == 0
    assert not list(run.glob("folds/*/checkpoint.pt"))
    final = json.loads((run / "model.json").read_text())
    assert len(final["train_subjects"]) == 4 and final["classes"] == metrics["classes"]

    (run / "metrics.json").unlink()
    code, out, _ = run_cli(capsys, "evaluate", str(run))
    assert code == 0 and json.loads((run / "metrics.json").read_text()) == metrics

    code, _, err = run_cli(capsys, "train", "--preset", "paper-casme2", "--root", str(demo_root), "--out", str(run))
    assert code == 2 and "already holds a run" in err


@pytest.mark.parametrize("argv, message", [
    (["train", "--preset", "paper-casme2", "--root", "/nonexistent", "--out", "{tmp}/r"], "/nonexistent"),
    (["train", "--preset", "paper-casme2", "--out", "{tmp}/r"], "--root"),
    (["train", "--preset", "paper-casme2", "--root", "{tmp}", "--out", "{tmp}/r", "--set", "train.lr=-1"], "train.lr"),
    (["evaluate", "{tmp}/nothing"], "not a mer3d run folder"),
    (["model", "--preset", "nope"], "unknown preset"),
])
def test_user_errors_are_one_line_without_traceback(capsys, tmp_path, argv, message):
    code, _, err = run_cli(capsys, *[a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_inspect_json(capsys, demo_root):
    code, out, _ = run_cli(capsys, "datasets", "inspect", "--dataset", "casme2", "--root", str(demo_root), "--json")
    report = json.loads(out)
    assert code == 0 and report["clips_total"] == 24
    assert set(report) >= {"clips_total", "clips_per_class", "clips_per_subject", "excluded", "problems"}
    assert len(report["clips_per_subject"]) == 4


def test_lbptop_svm_baseline_through_the_cli(capsys, tmp_path, demo_root, tiny_overrides):
    run = tmp_path / "svm"
    sets = [a for o in tiny_overrides + ["model.name=lbptop-svm", "protocol.name=kfold", "protocol.k=2"]
            for a in ("--set", o)]
    code, out, err = run_cli(capsys, "train", "--preset", "paper-casme2", "--root", str(demo_root),
                             "--out", str(run), *sets)
    assert code == 0, err
    metrics = json.loads((run / "metrics.json").read_text())
    assert sum(map(sum, metrics["confusion_matrix"])) == 24 and metrics["folds"] == 2
    assert not (run / "model.safetensors").exists()          # no deployable weights for an SVM


def test_demo_of_the_composite_end_to_end(capsys, tmp_path, monkeypatch):
    """`mer3d demo --dataset megc2019` at a small size: the three layouts, LOSO, metrics per part."""
    import functools

    from mer3d.data import demo
    small = functools.partial(demo.generate_composite_demo, subjects_per_part=2, clips_per_subject=4,
                              frame_size=(68, 56), progress=False)
    monkeypatch.setattr(demo, "generate_composite_demo", small)
    out = tmp_path / "demo"
    assert main(["demo", "--dataset", "megc2019", "--out", str(out)]) == 0
    assert {p.name for p in (out / "data").iterdir()} >= {"casme2", "samm", "smic", "megc2019_demo_3class.csv"}
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    assert metrics["folds"] == 6 and set(metrics["parts"]) == {"casme2", "samm", "smic"}
    assert all(set(p) >= {"accuracy", "uf1", "uar", "confusion_matrix"} for p in metrics["parts"].values())
    assert (out / "run" / "model.safetensors").is_file()
    assert "part (pooled)" in capsys.readouterr().out
