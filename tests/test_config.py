import pytest

from mer3d.config import load_config, preset_names
from mer3d.errors import UserError


def test_paper_preset_holds_the_papers_numbers():
    config = load_config("paper-casme2")
    assert config["preset"] == "paper-casme2"
    assert (config["data"]["frames"], config["data"]["size"], config["data"]["channels"]) == (16, 128, 1)
    assert config["data"]["representation"] == "gray"
    train = config["train"]
    assert (train["optimizer"], train["lr"], train["momentum"], train["batch_size"]) == ("sgd", 1e-4, 0.9, 16)
    assert (train["lr_halve_every"], train["epochs"]) == (20000, 400)
    assert config["augment"]["enabled"] and config["augment"]["angles"] == [5, -5, 10, -10]
    assert config["model"]["width"] == 1.0 and config["model"]["hidden"] == 1024
    assert config["protocol"]["name"] == "loso"
    assert load_config("paper-casme")["dataset"]["name"] == "casme"
    assert {"paper-casme2", "paper-casme", "demo"} <= set(preset_names())


def test_overrides_are_typed_and_nested(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("train:\n  epochs: 7\n")
    config = load_config("paper-casme2", file, ["data.size=64", "augment.enabled=false", "protocol.name=kfold",
                                                "protocol.k=3", "model.width=0.5", "seed=3",
                                                "train.lr=1e-3"])
    assert config["train"]["lr"] == 1e-3
    assert config["train"]["epochs"] == 7
    assert config["data"]["size"] == 64 and config["augment"]["enabled"] is False
    assert config["protocol"] == {"name": "kfold", "k": 3, "test_subjects": [], "train_parts": [], "test_parts": []}
    assert config["model"]["width"] == 0.5 and config["seed"] == 3


@pytest.mark.parametrize("override, message", [
    ("train.epoch=3", "unknown setting 'train.epoch'"),
    ("data.channels=2", "data.channels must be 1 or 3"),
    ("protocol.name=random", "protocol.name must be"),
    ("train.batch_size=1", "train.batch_size"),
    ("nonsense", "expected key=value"),
])
def test_bad_settings_are_named(override, message):
    with pytest.raises(UserError, match=message):
        load_config("paper-casme2", overrides=[override])


def test_unknown_preset_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="unknown preset 'paper-x'"):
        load_config("paper-x")
    with pytest.raises(UserError, match="config file not found"):
        load_config("paper-casme2", tmp_path / "none.yaml")


@pytest.mark.parametrize("ablation, key, value", [
    ("no-augment", ("augment", "enabled"), False), ("flip-only", ("augment", "angles"), []),
    ("no-bn", ("model", "batchnorm"), False), ("no-dropout", ("model", "fc_dropout"), 0.0),
    ("color", ("data", "channels"), 3), ("frames-8", ("data", "frames"), 8), ("frames-32", ("data", "frames"), 32),
])
def test_ablation_presets_combine_with_the_paper_setting(ablation, key, value):
    config = load_config(f"paper-casme2+{ablation}")
    assert config[key[0]][key[1]] == value
    assert config["preset"] == f"paper-casme2+{ablation}"
    assert config["dataset"]["name"] == "casme2" and config["train"]["lr"] == 1e-4   # the rest stays the paper's


@pytest.mark.parametrize("overrides, message", [
    (["dataset.parts=[casme2]"], "dataset.parts is for dataset.name=megc2019"),
    (["dataset.name=megc2019", "dataset.parts=[casme3]"], "dataset.parts must name some of casme2, samm, smic"),
    (["protocol.name=lodo"], "protocol.name=lodo tests on whole datasets: it needs dataset.name=megc2019"),
    (["dataset.name=megc2019", "dataset.parts=[smic]", "protocol.name=lodo"], "lodo needs at least two parts"),
    (["dataset.name=megc2019", "protocol.name=cross", "protocol.train_parts=[samm]"], "needs protocol.train_parts and"),
    (["dataset.name=megc2019", "protocol.name=cross", "protocol.train_parts=[samm]", "protocol.test_parts=[samm]"],
     "must not share a part"),
    (["dataset.name=megc2019", "dataset.parts=[samm, smic]", "protocol.name=cross", "protocol.train_parts=[casme2]",
      "protocol.test_parts=[samm]"], "must be among dataset.parts"),
    (["data.fps=0"], "data.fps must be null"),
    (["dataset.name=megc2019", "dataset.roots=[a]"], "dataset.roots must be a mapping"),
])
def test_composite_settings_are_checked(overrides, message):
    with pytest.raises(UserError, match=message):
        load_config(overrides=overrides)


def test_roots_of_parts_given_one_by_one_add_up():
    config = load_config(overrides=["dataset.name=megc2019", "dataset.roots.samm=/a", "dataset.roots.smic=/b",
                                    "protocol.name=cross", "protocol.train_parts=[casme2, smic]",
                                    "protocol.test_parts=samm", "data.fps=100"])
    assert config["dataset"]["roots"] == {"samm": "/a", "smic": "/b"}
    assert config["data"]["fps"] == 100
