"""A run's saved config.yaml is checked as a fresh configuration is: whatever is wrong with it
(empty, damaged, not a mapping, an unknown key, a bad value) is a one-line error naming the file,
for `train --resume` and every other reader of a run's settings."""
import pytest
import yaml

from mer3d.cli import main
from mer3d.config import dump_config, load_config, load_saved_config
from mer3d.errors import UserError
from mer3d.training.run_dir import RunDir

from conftest import TINY


def saved_config(tmp_path) -> dict:
    return load_config("paper-casme2", overrides=TINY + [f"data.cache_dir={tmp_path / 'cache'}", "train.epochs=1",
                                                         "protocol.name=kfold", "protocol.k=2"])


def edited(change):
    def text(config: dict) -> str:
        change(config)
        return dump_config(config)
    return text


def nested(section, key, value):
    return edited(lambda config: config[section].update({key: value}))


DAMAGE = {
    # what the file holds -> words the error must contain
    "empty": (lambda config: "", "empty"),
    "only a comment": (lambda config: "# nothing here\n", "empty"),
    "cut in the middle of a line": (lambda config: dump_config(config)[:40] + "\n  - [unclosed", "not valid YAML"),
    "a tab-indented mess": (lambda config: "seed: 0\n\tdata: {size: 32\n", "not valid YAML"),
    "a list at the top": (lambda config: "- seed\n- data\n", "expected a mapping"),
    "a bare word": (lambda config: "hello\n", "expected a mapping"),
    "binary garbage": (lambda config: "\x00\x01\x02\x03 \udcff", "unreadable"),
    "unknown top-level key": (edited(lambda config: config.update(colour="blue")), "unknown setting 'colour'"),
    "unknown nested key": (nested("train", "epochz", 3), "unknown setting 'train.epochz'"),
    "a section that is not a mapping": (edited(lambda config: config.update(train=5)), "'train' must be a mapping"),
    "epochs not a number": (nested("train", "epochs", "x"), "train.epochs"),
    "epochs zero": (nested("train", "epochs", 0), "train.epochs"),
    "size not a number": (nested("data", "size", "big"), "data.size"),
    "width not a number": (nested("model", "width", "wide"), "model.width"),
    "val_fraction a list": (nested("train", "val_fraction", [0.1]), "train.val_fraction"),
    "checkpoint_every zero": (nested("train", "checkpoint_every", 0), "train.checkpoint_every"),
    "threads a word": (nested("train", "threads", "many"), "train.threads"),
    "momentum a word": (nested("train", "momentum", "high"), "train.momentum"),
    "unknown optimizer": (nested("train", "optimizer", "rmsprop"), "train.optimizer"),
    "unknown representation": (nested("data", "representation", "colourful"), "representation"),
    "angles not a list": (nested("augment", "angles", 5), "augment.angles"),
    "preset not a name": (edited(lambda config: config.update(preset=[1, 2])), "preset"),
}


def write_run(tmp_path, text: str):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(text, errors="surrogateescape")
    return run


@pytest.mark.parametrize("damage", DAMAGE)
def test_resume_of_a_damaged_or_wrong_config_is_a_one_line_error_naming_it(tmp_path, capsys, damage):
    make, words = DAMAGE[damage]
    run = write_run(tmp_path, make(saved_config(tmp_path)))
    code = main(["train", "--resume", str(run)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("mer3d: error: ") and str(run / "config.yaml") in err and words in err, err


@pytest.mark.parametrize("damage", ["empty", "a list at the top", "unknown nested key", "epochs not a number"])
def test_every_reader_of_a_run_config_checks_it(tmp_path, capsys, damage):
    make, words = DAMAGE[damage]
    run = write_run(tmp_path, make(saved_config(tmp_path)))
    (run / "predictions.csv").write_text("fold,subject,clip,true,predicted,p_a\n1,s,c,a,a,1.0\n")
    assert main(["evaluate", str(run)]) == 2          # evaluate reads the run's settings too
    err = capsys.readouterr().err
    assert str(run / "config.yaml") in err and words in err and "Traceback" not in err
    with pytest.raises(UserError, match=words):
        RunDir(run).read_config()


def test_a_valid_saved_config_reads_back_as_it_was_saved(tmp_path):
    config = saved_config(tmp_path)
    run = write_run(tmp_path, dump_config(config))
    assert load_saved_config(run / "config.yaml") == config == RunDir(run).read_config()
    assert config["preset"] == "paper-casme2"


def test_a_setting_added_since_the_run_was_saved_takes_its_default(tmp_path):
    config = saved_config(tmp_path)
    del config["train"]["match_iterations"]
    run = write_run(tmp_path, yaml.safe_dump(config, sort_keys=False))
    assert load_saved_config(run / "config.yaml")["train"]["match_iterations"] is False


def test_a_run_folder_without_config_is_named(tmp_path, capsys):
    (tmp_path / "run").mkdir()
    assert main(["train", "--resume", str(tmp_path / "run")]) == 2
    assert "not a mer3d run folder" in capsys.readouterr().err
