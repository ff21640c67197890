"""The motion-input settings (data.flow, flow_reference, flow_size, apex, magnify, workers,
train.match_iterations, inference.precision) and the presets that use them."""
import re

import pytest

from mer3d.cli import main
from mer3d.config import load_config, preset_names
from mer3d.errors import UserError

MOTION_PRESETS = ["ststnet-casme2", "offapex-casme2", "vgg3d-flow-casme2", "estimated-apex", "no-augment-matched"]


@pytest.mark.parametrize("override, setting", [
    ("data.flow=lucas-kanade", "data.flow"),
    ("data.flow=null", "data.flow"),
    ("data.flow_reference=apex", "data.flow_reference"),
    ("data.flow_reference=null", "data.flow_reference"),
    ("data.apex=peak", "data.apex"),
    ("data.apex=null", "data.apex"),
    ("data.apex=3", "data.apex"),
    ("data.flow_size=8", "data.flow_size"),
    ("data.flow_size=15", "data.flow_size"),
    ("data.flow_size=64.5", "data.flow_size"),
    ("data.flow_size=big", "data.flow_size"),
    ("data.workers=0", "data.workers"),
    ("data.workers=-2", "data.workers"),
    ("data.workers=1.5", "data.workers"),
    ("data.workers=all", "data.workers"),
    ("data.workers=true", "data.workers"),   # YAML true is an int to Python
    ("train.match_iterations=maybe", "train.match_iterations"),
    ("inference.precision=fp16", "inference.precision"),
    ("data.representation=optical", "data.representation"),
])
def test_bad_motion_settings_are_user_errors_naming_the_setting(override, setting):
    with pytest.raises(UserError, match=re.escape(setting)):
        load_config("paper-casme2", overrides=[override])


@pytest.mark.parametrize("override, value", [
    ("data.flow=dis", "dis"), ("data.flow=farneback", "farneback"), ("data.flow=tvl1", "tvl1"),
    ("data.flow_reference=previous", "previous"), ("data.apex=estimated", "estimated"), ("data.apex=middle", "middle"),
    ("data.flow_size=16", 16), ("data.flow_size=128", 128), ("data.flow_size=null", None),
    ("data.workers=1", 1), ("data.workers=null", None), ("train.match_iterations=true", True),
])
def test_good_motion_settings_are_kept(override, value):
    key, _ = override.split("=", 1)
    section, name = key.split(".")
    assert load_config("paper-casme2", overrides=[override])[section][name] == value


def test_motion_defaults():
    config = load_config("paper-casme2")
    data = config["data"]
    assert (data["flow"], data["flow_reference"], data["flow_size"], data["apex"]) == ("tvl1", "onset", None, "annotated")
    assert data["magnify"] is None and data["workers"] is None
    assert config["train"]["match_iterations"] is False
    assert config["inference"]["precision"] == "fp32"
    assert load_config()["inference"]["precision"] == "fp32"       # base alone, no preset
    assert load_config("demo")["inference"]["precision"] == "fp32"


def test_magnify_mapping_from_set():
    config = load_config("paper-casme2", overrides=["data.magnify={alpha: 10, low_hz: 2, high_hz: 8}"])
    assert config["data"]["magnify"] == {"alpha": 10, "low_hz": 2, "high_hz": 8}
    config = load_config("paper-casme2", overrides=["data.magnify={alpha: 5.5, low_hz: 0, high_hz: 20, levels: 3}"])
    assert config["data"]["magnify"] == {"alpha": 5.5, "low_hz": 0, "high_hz": 20, "levels": 3}
    # A later --set replaces the whole mapping (no left-over fields of the earlier one) or removes it.
    config = load_config("paper-casme2", overrides=["data.magnify={alpha: 10, low_hz: 2, high_hz: 8, levels: 2}",
                                                    "data.magnify={alpha: 20, low_hz: 1, high_hz: 4}"])
    assert config["data"]["magnify"] == {"alpha": 20, "low_hz": 1, "high_hz": 4}
    config = load_config("paper-casme2", overrides=["data.magnify={alpha: 10, low_hz: 2, high_hz: 8}",
                                                    "data.magnify=null"])
    assert config["data"]["magnify"] is None


def test_magnify_from_a_config_file(tmp_path):
    file = tmp_path / "m.yaml"
    file.write_text("data:\n  magnify:\n    alpha: 10\n    low_hz: 2\n    high_hz: 8\n")
    assert load_config("paper-casme2", file)["data"]["magnify"] == {"alpha": 10, "low_hz": 2, "high_hz": 8}
    file.write_text("data:\n  magnify:\n    alpha: 10\n    low_hz: 2\n")
    with pytest.raises(UserError, match="data.magnify"):
        load_config("paper-casme2", file)


@pytest.mark.parametrize("value", [
    "{alpha: 10, low_hz: 2, high_hz: 8, beta: 1}",       # unknown field
    "{alpha: 10, low_hz: 2}",                           # missing high_hz
    "{alpha: -1, low_hz: 2, high_hz: 8}",               # alpha <= 0
    "{alpha: 0, low_hz: 2, high_hz: 8}",
    "{alpha: 10, low_hz: 8, high_hz: 2}",               # empty band
    "{alpha: 10, low_hz: -1, high_hz: 2}",
    "{alpha: ten, low_hz: 2, high_hz: 8}",              # not a number
    "{alpha: .inf, low_hz: 2, high_hz: 8}",
    "{alpha: true, low_hz: 2, high_hz: 8}",
    "{alpha: 10, low_hz: 2, high_hz: 8, levels: 0}",
    "{alpha: 10, low_hz: 2, high_hz: 8, levels: 2.5}",
    "10",                                               # not a mapping
    "[10, 2, 8]",
])
def test_bad_magnify_is_a_user_error_naming_data_magnify(value):
    with pytest.raises(UserError, match=re.escape("data.magnify")):
        load_config("paper-casme2", overrides=[f"data.magnify={value}"])


def test_bad_magnify_on_the_command_line_is_a_one_line_error(capsys, tmp_path):
    code = main(["train", "--preset", "paper-casme2", "--root", str(tmp_path), "--out", str(tmp_path / "run"),
                 "--set", "data.magnify={alpha: 10, low_hz: 2, hi_hz: 8}"])
    err = capsys.readouterr().err
    assert code == 2 and "data.magnify" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("rep", ["flow", "flow+strain", "apex-flow"])
def test_colour_is_refused_for_motion_representations(rep):
    with pytest.raises(UserError, match=r"data\.channels"):
        load_config("paper-casme2", overrides=[f"data.representation={rep}", "data.channels=3"])
    with pytest.raises(UserError, match=r"data\.channels"):
        load_config("paper-casme2+color", overrides=[f"data.representation={rep}"])
    assert load_config("paper-casme2", overrides=[f"data.representation={rep}"])["data"]["channels"] == 1


@pytest.mark.parametrize("rep", ["gray", "diff"])
def test_colour_stays_allowed_for_frame_representations(rep):
    assert load_config("paper-casme2+color", overrides=[f"data.representation={rep}"])["data"]["channels"] == 3


def test_every_motion_preset_is_listed_and_loads():
    assert set(MOTION_PRESETS) <= set(preset_names())
    for name in MOTION_PRESETS:
        config = load_config(name)
        assert config["preset"] == name


def test_flow_model_presets():
    st = load_config("ststnet-casme2")
    assert st["model"]["name"] == "ststnet" and st["dataset"]["name"] == "casme2"
    assert (st["data"]["representation"], st["data"]["flow"], st["data"]["size"], st["data"]["flow_size"]) == \
        ("apex-flow", "tvl1", 28, 128)
    assert st["augment"]["enabled"] is False
    assert (st["train"]["optimizer"], st["train"]["lr"], st["train"]["batch_size"], st["train"]["epochs"]) == \
        ("adam", 5e-5, 256, 800)
    off = load_config("offapex-casme2")
    assert off["model"]["name"] == "off-apexnet"
    assert (off["data"]["representation"], off["data"]["size"], off["data"]["flow_size"]) == ("apex-flow", 28, 128)
    assert (off["train"]["optimizer"], off["train"]["batch_size"]) == ("adam", 64) and not off["augment"]["enabled"]
    flow = load_config("vgg3d-flow-casme2")
    paper = load_config("paper-casme2")
    assert (flow["data"]["representation"], flow["data"]["flow"], flow["data"]["flow_reference"]) == \
        ("flow", "tvl1", "onset")
    # Everything but the input is the paper's recipe.
    for section in ("model", "train", "augment", "protocol"):
        assert flow[section] == paper[section], section
    assert {k: v for k, v in flow["data"].items() if k != "representation"} == \
        {k: v for k, v in paper["data"].items() if k != "representation"}


def test_estimated_apex_combines_with_the_paper_setting():
    config, paper = load_config("paper-casme2+estimated-apex"), load_config("paper-casme2")
    assert config["preset"] == "paper-casme2+estimated-apex"
    assert config["data"]["apex"] == "estimated" and paper["data"]["apex"] == "annotated"
    config["data"]["apex"] = "annotated"
    config["preset"] = paper["preset"]
    assert config == paper                                      # nothing else changes


def test_no_augment_matched_combines_with_the_paper_setting():
    from mer3d.training.trainer import training_epochs

    config, paper = load_config("paper-casme2+no-augment-matched"), load_config("paper-casme2")
    assert config["preset"] == "paper-casme2+no-augment-matched"
    assert config["augment"]["enabled"] is False and config["train"]["match_iterations"] is True
    assert config["train"]["epochs"] == paper["train"]["epochs"] == 400
    assert training_epochs(config) == 4000                     # as many steps as the 10x amplified run
    assert training_epochs(paper) == 400
    assert training_epochs(load_config("paper-casme2+no-augment")) == 400
    config["augment"]["enabled"], config["train"]["match_iterations"] = True, False
    config["preset"] = paper["preset"]
    assert config == paper


def test_motion_overrides_apply_on_top_of_the_flow_presets():
    config = load_config("ststnet-casme2", overrides=["data.flow=dis", "data.flow_size=null", "data.size=16"])
    assert (config["data"]["flow"], config["data"]["flow_size"], config["data"]["size"]) == ("dis", None, 16)
    with pytest.raises(UserError, match=re.escape("data.flow_size")):
        load_config("ststnet-casme2", overrides=["data.flow_size=12"])
