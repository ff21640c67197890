"""Tiny end-to-end training runs on motion inputs (flow, flow + strain, the onset-to-apex flow of the
2D flow models) on the demo dataset, what their reports say about the inputs, what is refused before
a run starts, the matched-iterations epoch count and the reuse of cached flows."""
import csv
import json

import pytest

from conftest import TINY
from mer3d.config import load_config
from mer3d.errors import UserError
from mer3d.training.trainer import train, training_epochs

# DIS (fast) instead of TV-L1, flows in this process, two folds, one epoch, no final model.
FAST = ["data.flow=dis", "data.workers=1", "train.epochs=1", "protocol.name=kfold", "protocol.k=2",
        "train.final_model=false"]
MOTION_REPRESENTATIONS = ("flow", "flow+strain", "apex-flow")


def config_for(demo_root, cache, *overrides, preset="paper-casme2", tiny=True):
    return load_config(preset, overrides=[*(TINY if tiny else ["train.threads=1", "model.width=0.25"]), *FAST,
                                          f"dataset.root={demo_root}", f"data.cache_dir={cache}", *overrides])


def predictions(run):
    with open(run / "predictions.csv", newline="") as f:
        return list(csv.DictReader(f))


def check_run(run, representation, apex_source, clips):
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["representation"] == representation
    assert metrics["apex_source"] == apex_source
    assert metrics["scoring_precision"] == "fp32"
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["folds"] == 2
    rows = predictions(run)
    assert len(rows) == clips
    assert "apex_source" in rows[0] and {r["apex_source"] for r in rows} == {apex_source}
    for row in rows:
        probs = [float(v) for k, v in row.items() if k.startswith("p_")]
        assert sum(probs) == pytest.approx(1, abs=1e-4)
    return metrics


@pytest.fixture(scope="module")
def clip_count(demo_root):
    from mer3d.data import load_dataset

    return len(load_dataset("casme2", demo_root, None, None).clips)


@pytest.mark.parametrize("representation, channels", [("flow", 2), ("flow+strain", 3)])
def test_flow_runs_end_to_end(tmp_path, demo_root, clip_count, representation, channels):
    run = tmp_path / "run"
    config = config_for(demo_root, tmp_path / "cache", f"data.representation={representation}")
    train(config, run)
    metrics = check_run(run, representation, "annotated", clip_count)
    assert metrics["flow"] == {"method": "dis", "reference": "onset", "computed_at": 128}   # 32 px input, flow at 128
    assert metrics["eval_windows"] == 1
    # The fold models were built for the flow channels and the window length.
    sidecar = json.loads(next((run / "folds").glob("*/model.json")).read_text())
    assert sidecar["architecture"]["in_channels"] == channels and sidecar["architecture"]["frames"] == 8
    assert sidecar["data"]["representation"] == representation
    assert any((tmp_path / "cache").rglob("motion/*.npy"))


def test_ststnet_on_the_apex_flow_end_to_end(tmp_path, demo_root, clip_count):
    run = tmp_path / "run"
    config = config_for(demo_root, tmp_path / "cache", "data.size=28", "data.flow_size=32",
                        preset="ststnet-casme2", tiny=False)
    assert (config["train"]["batch_size"], config["model"]["name"]) == (256, "ststnet")
    train(config, run)
    metrics = check_run(run, "apex-flow", "annotated", clip_count)
    assert metrics["flow"] == {"method": "dis", "reference": "onset", "computed_at": 32}
    sidecar = json.loads(next((run / "folds").glob("*/model.json")).read_text())
    assert sidecar["architecture"]["name"] == "ststnet"
    assert (sidecar["architecture"]["in_channels"], sidecar["architecture"]["frames"],
            sidecar["architecture"]["size"]) == (3, 1, 28)


def test_estimated_apexes_are_reported(tmp_path, demo_root, clip_count):
    run = tmp_path / "run"
    train(config_for(demo_root, tmp_path / "cache", "data.representation=flow", "data.apex=estimated"), run)
    check_run(run, "flow", "estimated", clip_count)


def test_estimated_apex_preset_on_the_apex_flow(tmp_path, demo_root, clip_count):
    run = tmp_path / "run"
    config = config_for(demo_root, tmp_path / "cache", "data.size=28", "data.flow_size=32",
                        preset="ststnet-casme2+estimated-apex", tiny=False)
    train(config, run)
    check_run(run, "apex-flow", "estimated", clip_count)


def test_spread_windows_use_no_apex(tmp_path, demo_root, clip_count):
    run = tmp_path / "run"
    train(config_for(demo_root, tmp_path / "cache", "data.representation=flow", "data.eval_windows=2"), run)
    metrics = check_run(run, "flow", "none", clip_count)
    assert metrics["eval_windows"] == 2


def test_lbptop_on_flow_is_refused_before_a_run_folder_exists(tmp_path, demo_root):
    config = config_for(demo_root, tmp_path / "cache", "model.name=lbptop-svm", "data.representation=flow")
    with pytest.raises(UserError, match="lbptop-svm") as error:
        train(config, tmp_path / "run")
    assert "data.representation" in str(error.value) and "flow" in str(error.value)
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("model, representation", [("ststnet", "flow"), ("off-apexnet", "flow+strain"),
                                                   ("ststnet", "gray")])
def test_flow_image_models_refuse_clip_inputs_before_anything_is_written(tmp_path, demo_root, model, representation):
    config = config_for(demo_root, tmp_path / "cache", f"model.name={model}", f"data.representation={representation}",
                        "data.frames=16")
    with pytest.raises(UserError, match=model):
        train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("model, representation", [("ststnet", "flow"), ("off-apexnet", "flow+strain")])
def test_flow_image_models_name_the_representation_they_cannot_take(tmp_path, demo_root, model, representation):
    config = config_for(demo_root, tmp_path / "cache", f"model.name={model}", f"data.representation={representation}",
                        "data.frames=16")
    with pytest.raises(UserError) as error:
        train(config, tmp_path / "run")
    assert f"data.representation={representation}" in str(error.value)


def epochs_of(preset, *overrides):
    return training_epochs(load_config(preset, overrides=["train.epochs=7", *overrides]))


def test_matched_iterations_scale_the_epochs():
    # The paper's plan has 10 versions of a clip (flip x (original + 4 rotations)).
    assert epochs_of("paper-casme2+no-augment", "train.match_iterations=true") == 70
    assert epochs_of("paper-casme2+no-augment-matched") == 70
    assert epochs_of("paper-casme2", "train.match_iterations=true") == 7          # full augmentation
    assert epochs_of("paper-casme2") == 7
    assert epochs_of("paper-casme2+no-augment") == 7                             # match_iterations false
    assert epochs_of("paper-casme2+flip-only") == 7
    assert epochs_of("paper-casme2", "train.match_iterations=true", "augment.flip=false") == 14   # 5 versions


def test_matched_iterations_with_flip_only_take_five_times_the_epochs():
    assert epochs_of("paper-casme2+flip-only", "train.match_iterations=true") == 35


def test_matched_iterations_in_a_run(tmp_path, demo_root):
    """The trainer trains for training_epochs, more than train.epochs without augmentation."""
    config = config_for(demo_root, tmp_path / "cache", "augment.enabled=false", "train.match_iterations=true")
    expected = training_epochs(config)
    assert expected > config["train"]["epochs"] == 1
    train(config, tmp_path / "run")
    with open(tmp_path / "run" / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    for fold in ("fold1", "fold2"):
        assert [int(float(r["epoch"])) for r in history if r["fold"] == fold] == list(range(1, expected + 1))


def test_a_second_run_reuses_the_cached_flows(tmp_path, demo_root, monkeypatch):
    import mer3d.data.motion_cache as motion_cache

    calls = []
    original = motion_cache.motion_entry

    def counting(kind, *args, **kwargs):
        calls.append(kind)
        return original(kind, *args, **kwargs)

    monkeypatch.setattr(motion_cache, "motion_entry", counting)
    cache = tmp_path / "cache"
    config = config_for(demo_root, cache, "data.representation=flow")
    train(config, tmp_path / "first")
    assert calls and set(calls) == {"flow"}
    entries = {p: p.stat().st_mtime_ns for p in cache.rglob("motion/*.npy")}
    assert len(entries) == len(calls)
    calls.clear()
    train(config, tmp_path / "second")
    assert calls == []
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("motion/*.npy")} == entries
    assert predictions(tmp_path / "first") == predictions(tmp_path / "second")   # same seed, same flows
    # flow+strain is computed from the same stored flows; another flow method is not.
    train(config_for(demo_root, cache, "data.representation=flow+strain"), tmp_path / "third")
    assert calls == []
    train(config_for(demo_root, cache, "data.representation=flow", "data.flow=farneback"), tmp_path / "fourth")
    assert calls and set(calls) == {"flow"}
