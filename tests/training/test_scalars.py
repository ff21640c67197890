"""train.tensorboard: per fold, TensorBoard event files whose scalars are history.csv's numbers;
a resumed fold shows each epoch once; off by default, with no folder; a wrong value is a one-line error."""
import pytest
from conftest import TINY
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mer3d import api
from mer3d.cli import main
from mer3d.training import trainer
from mer3d.training.run_dir import RunDir, read_csv
from mer3d.training.scalars import EpochScalars

TRAIN_TAGS = {"train/loss": "loss", "train/accuracy": "accuracy", "train/lr": "lr"}
VAL_TAGS = {"val/loss": "val_loss", "val/accuracy": "val_accuracy"}


def sets(cache, *extra):
    return TINY + [f"data.cache_dir={cache}", "train.epochs=2", "protocol.name=kfold", "protocol.k=2",
                   "train.final_model=false", *extra]


def train_args(root, out, cache, *extra):
    return ["train", "--preset", "paper-casme2", "--root", str(root), "--out", str(out),
            *[a for s in sets(cache, *extra) for a in ("--set", s)]]


def scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] as TensorBoard reads the folder (purged events left out)."""
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_scalars_of_each_fold_equal_history_csv(tmp_path, demo_root):
    run = tmp_path / "run"
    assert main(train_args(demo_root, run, tmp_path / "cache", "train.tensorboard=true",
                           "train.val_fraction=0.5")) == 0
    history = read_csv(RunDir(run).history)
    assert sorted(p.name for p in (run / "tensorboard").iterdir()) == ["fold1", "fold2"]
    for fold in ("fold1", "fold2"):
        logged = scalars(run / "tensorboard" / fold)
        assert set(logged) == set(TRAIN_TAGS) | set(VAL_TAGS)
        rows = [r for r in history if r["fold"] == fold]
        for tag, key in {**TRAIN_TAGS, **VAL_TAGS}.items():
            assert [step for step, _ in logged[tag]] == [1, 2]
            # event files hold float32
            assert [value for _, value in logged[tag]] == pytest.approx([float(r[key]) for r in rows], rel=1e-6)


class Killed(Exception):
    """Stands for the process dying between logging an epoch and saving its checkpoint."""


def test_a_resumed_fold_shows_each_epoch_once(tmp_path, demo_root, monkeypatch):
    config = api.load_config("paper-casme2", overrides=sets(tmp_path / "cache", f"dataset.root={demo_root}",
                                                            "train.tensorboard=true"))
    run, save = RunDir(tmp_path / "run"), trainer.save_checkpoint

    def save_until_epoch_2(path, *, epoch, **state):
        if epoch == 2:
            raise Killed
        save(path, epoch=epoch, **state)

    monkeypatch.setattr(trainer, "save_checkpoint", save_until_epoch_2)
    with pytest.raises(Killed):
        api.train(config, run.path, folds=["fold1"])
    log_dir = run.path / "tensorboard" / "fold1"
    assert [step for step, _ in scalars(log_dir)["train/loss"]] == [1, 2]   # closed and readable after the crash

    monkeypatch.setattr(trainer, "save_checkpoint", save)
    api.resume(run.path, folds=["fold1"])      # from epoch 1's checkpoint: epoch 2 is logged again
    logged = scalars(log_dir)
    assert set(logged) == set(TRAIN_TAGS)     # no validation configured, no val/ scalars
    history = run.read_json(run.fold_result("fold1"))["history"]
    for tag, key in TRAIN_TAGS.items():
        assert [step for step, _ in logged[tag]] == [1, 2]
        assert [value for _, value in logged[tag]] == pytest.approx([row[key] for row in history], rel=1e-6)


def test_off_by_default_without_a_folder(tmp_path, demo_root):
    assert api.load_config("paper-casme2")["train"]["tensorboard"] is False
    run = tmp_path / "run"
    assert main(train_args(demo_root, run, tmp_path / "cache", "train.epochs=1") + ["--folds", "fold1"]) == 0
    assert (run / "folds" / "fold1" / "result.json").is_file() and not (run / "tensorboard").exists()


def test_disabled_scalars_write_nothing(tmp_path):
    with EpochScalars(tmp_path, "fold1", enabled=False) as epoch_scalars:
        epoch_scalars.add({"epoch": 1, "loss": 1.0, "accuracy": 0.5, "lr": 0.1, "val_loss": None, "val_accuracy": None})
    assert list(tmp_path.iterdir()) == []


def test_a_value_that_is_not_a_boolean_is_a_one_line_error(tmp_path, demo_root, capsys):
    assert main(train_args(demo_root, tmp_path / "run", tmp_path / "cache", "train.tensorboard=maybe")) == 2
    err = capsys.readouterr().err
    assert err.strip() == "mer3d: error: train.tensorboard must be true or false"
    assert not (tmp_path / "run").exists()
