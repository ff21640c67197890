"""A run trained in shards (``--folds``, then ``mer3d report``) gives exactly the report of the run
trained in one go with the same seed; unknown fold names and early reports are one-line errors."""
import logging

from conftest import TINY

from mer3d.cli import main

REPORT_FILES = ("predictions.csv", "metrics.json", "report.md", "confusion_matrix.png", "per_class_accuracy.png")


def train_args(root, cache, *extra_sets, final_model=False):
    sets = TINY + [f"data.cache_dir={cache}", "train.epochs=1", "protocol.name=kfold", "protocol.k=2",
                   f"train.final_model={str(final_model).lower()}", *extra_sets]
    return ["train", "--preset", "paper-casme2", "--root", str(root), *[a for s in sets for a in ("--set", s)]]


def test_sharded_run_and_report_match_the_unsharded_run(tmp_path, demo_root, capsys, caplog):
    caplog.set_level(logging.INFO, logger="mer3d")
    cache, whole, shards = tmp_path / "cache", tmp_path / "whole", tmp_path / "shards"
    assert main(train_args(demo_root, cache) + ["--out", str(whole)]) == 0
    capsys.readouterr()

    # the first shard creates the run with the second fold; no report while fold1 is missing
    assert main(train_args(demo_root, cache) + ["--out", str(shards), "--folds", "fold2"]) == 0
    assert "no report yet" in capsys.readouterr().out
    assert "1 of 2 folds done; remaining: fold1" in caplog.text
    assert (shards / "folds" / "fold2" / "result.json").is_file()
    assert not (shards / "folds" / "fold1").exists() and not (shards / "metrics.json").exists()

    assert main(["report", str(shards)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("mer3d: error:")]
    assert len(errors) == 1 and "1 of 2 folds have no result yet: fold1;" in errors[0] and "Traceback" not in err
    assert not (shards / "metrics.json").exists()

    # the last shard completes the run: its report is the unsharded run's, byte for byte
    fold2 = (shards / "folds" / "fold2" / "result.json").read_bytes()
    assert main(["train", "--resume", str(shards), "--folds", "fold1"]) == 0
    assert (shards / "folds" / "fold2" / "result.json").read_bytes() == fold2     # left alone
    for name in REPORT_FILES:
        assert (shards / name).read_bytes() == (whole / name).read_bytes(), name

    # `mer3d report` writes the same report again from the fold results alone
    for name in REPORT_FILES:
        (shards / name).unlink()
    assert main(["report", str(shards)]) == 0
    for name in REPORT_FILES:
        assert (shards / name).read_bytes() == (whole / name).read_bytes(), name
    assert not (shards / "model.safetensors").exists()


def test_an_unknown_fold_name_is_refused_before_the_run_folder_exists(tmp_path, demo_root, capsys):
    cache, run = tmp_path / "cache", tmp_path / "run"
    assert main(train_args(demo_root, cache) + ["--out", str(run), "--folds", "fold1,fold9"]) == 2
    err = capsys.readouterr().err
    assert "no fold 'fold9'" in err and "valid: fold1, fold2" in err and len(err.strip().splitlines()) == 1
    assert not run.exists() and not cache.exists()     # nothing prepared, nothing created

    # 'final' is a fold only where the run trains a final model
    assert main(train_args(demo_root, cache) + ["--out", str(run), "--folds", "final"]) == 2
    assert "train.final_model=true" in capsys.readouterr().err and not run.exists()
    assert main(train_args(demo_root, cache) + ["--out", str(run), "--folds", " , "]) == 2
    assert "name at least one fold" in capsys.readouterr().err and not run.exists()


def test_folds_final_trains_only_the_final_model(tmp_path, demo_root, capsys):
    cache, run = tmp_path / "cache", tmp_path / "run"
    assert main(train_args(demo_root, cache, final_model=True) + ["--out", str(run), "--folds", "final"]) == 0
    assert (run / "model.safetensors").is_file()
    assert not (run / "folds").exists() or not list((run / "folds").glob("*/result.json"))
    assert not (run / "metrics.json").exists()
    capsys.readouterr()

    assert main(["train", "--resume", str(run), "--folds", "sub01"]) == 2     # kfold names its folds fold1..
    assert "valid: fold1, fold2, final" in capsys.readouterr().err
    assert main(["report", str(run)]) == 2
    assert "2 of 2 folds have no result yet: fold1, fold2" in capsys.readouterr().err
    assert not (run / "metrics.json").exists()
