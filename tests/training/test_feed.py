"""Feeding the training loop: DataLoader workers build the very batches the training process would
(train.workers), the flip and rotations on the device (augment.on_device) stay within tolerance of
the CPU path, and torch.compile (train.compile) trains the model's own weights."""
import csv
import json
import os
import subprocess
import sys
from functools import partial
from unittest import mock

import numpy as np
import pytest
import torch

from conftest import TINY
from mer3d.config import load_config
from mer3d.data.augment import augmentation_plan
from mer3d.data.clips import TrainClips
from mer3d.errors import UserError
from mer3d.models import architecture, create_model
from mer3d.training.compiled import training_module
from mer3d.training.feed import FoldBatches, TrainingFeed
from mer3d.training.optim import make_optimizer, make_scheduler
from mer3d.training.trainer import derived_seed, prepare_data, train, train_epoch

SEEDS = partial(derived_seed, 0, 0)
RUN = ["train.epochs=2", "protocol.name=kfold", "protocol.k=2", "train.final_model=false"]


def feed_config(workers=0, on_device=False, batch_size=8) -> dict:
    return {"train": {"batch_size": batch_size, "workers": workers}, "augment": {"on_device": on_device}}


def synthetic_set() -> TrainClips:
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (10 + i, 24, 24, 1), dtype=np.uint8) for i in range(6)]
    return TrainClips(clips, [i % 3 for i in range(6)], 8, "gray", augmentation_plan())


def epochs_of(feed, epochs):
    return [list(feed.epoch(epoch)) for epoch in epochs]


def test_the_training_process_builds_the_batches_it_always_built():
    train_set = synthetic_set()
    fed = epochs_of(TrainingFeed(train_set, feed_config(), SEEDS, range(2), torch.device("cpu")), range(2))
    for epoch, batches in enumerate(fed):
        order = train_set.epoch_order(torch.Generator().manual_seed(SEEDS(epoch)))
        expected = list(train_set.batches(order, 8))
        assert len(batches) == len(expected) == 7
        assert all(torch.equal(x, ex) and torch.equal(y, ey) for (x, y), (ex, ey) in zip(batches, expected))


def test_workers_build_the_same_batches_from_a_resumed_epoch_on():
    """Workers started for epochs 1-2 (a fold resumed after epoch 1) give those epochs' batches of a
    run without workers, and leave torch's global generator (dropout draws) alone."""
    train_set = synthetic_set()
    alone = epochs_of(TrainingFeed(train_set, feed_config(), SEEDS, range(3), torch.device("cpu")), range(3))[1:]
    rng = torch.get_rng_state()
    resumed = TrainingFeed(train_set, feed_config(workers=2), SEEDS, range(1, 3), torch.device("cpu"))
    fed = epochs_of(resumed, range(1, 3))
    assert torch.equal(torch.get_rng_state(), rng)
    for ours, theirs in zip(fed, alone):
        assert len(ours) == len(theirs)
        assert all(torch.equal(x, ex) and torch.equal(y, ey) for (x, y), (ex, ey) in zip(ours, theirs))


def test_epochs_are_asked_for_in_turn():
    feed = TrainingFeed(synthetic_set(), feed_config(), SEEDS, range(2), torch.device("cpu"))
    with pytest.raises(ValueError, match="epoch 1 asked for out of turn"):
        feed.epoch(1)


# Per channel, turned samples only: mean abs difference and the CPU path's std, measured on the demo
# (tests' tiny settings): gray 0.045 (std 1.0); flow+strain u, v 0.0003 (std 0.36), strain 0.006 (0.12).
ON_DEVICE_TOLERANCE = {"gray": [0.07], "flow+strain": [0.001, 0.001, 0.012]}


@pytest.mark.parametrize("representation", sorted(ON_DEVICE_TOLERANCE))
def test_turning_on_the_device_stays_close_to_the_cpu_path(tmp_path, demo_root, representation):
    config = load_config("paper-casme2", overrides=[
        *TINY, f"dataset.root={demo_root}", f"data.cache_dir={tmp_path / 'cache'}", "data.flow=dis", "data.workers=1",
        f"data.representation={representation}", "augment.angles=[5, -5, 10, -10]"])
    data = prepare_data(config)
    train_set = TrainClips(data.arrays, data.labels, 8, representation, augmentation_plan())
    cpu, device = (torch.cat([x for x, _ in TrainingFeed(train_set, feed_config(on_device=on), SEEDS, range(1),
                                                         torch.device("cpu")).epoch(0)]) for on in (False, True))
    order = FoldBatches(train_set, 8, SEEDS, False).order(0)[:len(cpu)]
    versions = [train_set.plan[version] for _, version, _ in order]
    turned = torch.tensor([angle != 0 for _, angle in versions])
    unaugmented = torch.tensor([version == (False, 0.0) for version in versions])
    assert turned.sum() > 0.7 * len(cpu) and unaugmented.any()
    assert torch.equal(device[unaugmented], cpu[unaugmented])
    error = (device[turned] - cpu[turned]).abs().mean((0, 2, 3, 4))
    assert torch.all(error < torch.tensor(ON_DEVICE_TOLERANCE[representation])), error


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory, demo_root):
    """A tiny run as the training process alone builds it: two folds of two epochs."""
    out = tmp_path_factory.mktemp("cpu-run")
    train(load_config("paper-casme2", overrides=[*TINY, *RUN, f"dataset.root={demo_root}",
                                                 f"data.cache_dir={out / 'cache'}"]), out / "run")
    return out / "run"


def tiny_run(tmp_path, demo_root, *overrides):
    train(load_config("paper-casme2", overrides=[*TINY, *RUN, f"dataset.root={demo_root}",
                                                 f"data.cache_dir={tmp_path / 'cache'}", *overrides]), tmp_path / "run")
    return tmp_path / "run"


def losses(run) -> list[float]:
    return [row["loss"] for row in json.loads((run / "folds" / "fold1" / "result.json").read_text())["history"]]


def probabilities(run) -> np.ndarray:
    with open(run / "predictions.csv", newline="") as f:
        return np.array([[float(v) for k, v in row.items() if k.startswith("p_")] for row in csv.DictReader(f)])


def test_a_run_with_workers_is_the_run_without(tmp_path, demo_root, cpu_run):
    run = tiny_run(tmp_path, demo_root, "train.workers=2")
    assert (run / "predictions.csv").read_text() == (cpu_run / "predictions.csv").read_text()
    assert losses(run) == losses(cpu_run)


def test_a_run_turning_on_the_device_trains_like_the_cpu_path(tmp_path, demo_root, cpu_run):
    """Not the same numbers (the inputs differ slightly, above), but the same training: the first
    epoch's mean loss measured 0.8% apart, the final probabilities at most 0.06."""
    run = tiny_run(tmp_path, demo_root, "augment.on_device=true")
    assert losses(run)[0] == pytest.approx(losses(cpu_run)[0], rel=0.05)
    assert np.abs(probabilities(run) - probabilities(cpu_run)).max() < 0.2


def tiny_model(config: dict):
    return create_model(**architecture(config, 3, (1, 8, 32, 32))).to(memory_format=torch.channels_last_3d)


def test_compiled_training_steps_train_the_models_own_weights():
    config = load_config("paper-casme2", overrides=[*TINY, "train.compile=true"])
    torch.manual_seed(0)
    model = tiny_model(config)
    net = training_module(model, config["train"], torch.device("cpu"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer, generator = make_optimizer(model, config["train"]), torch.Generator().manual_seed(0)
    batches = [(torch.randn(4, 1, 8, 32, 32, generator=generator), torch.tensor([0, 1, 2, 0])) for _ in range(2)]
    loss, _ = train_epoch(net, batches, optimizer, make_scheduler(optimizer, config["train"]), torch.device("cpu"),
                          "fp32", mock.Mock())
    assert net is not model and np.isfinite(loss)
    assert model.state_dict().keys() == before.keys() and not any("_orig_mod" in k for k in before)
    assert not torch.equal(model.state_dict()["classifier.dense2.weight"], before["classifier.dense2.weight"])


def test_compile_without_a_compiler_is_one_line(tmp_path):
    code = ("from mer3d.training.compiled import check_compiler\n"
            "from mer3d.errors import UserError\n"
            "try:\n    check_compiler('cpu')\nexcept UserError as e:\n    print(e)\n")
    env = {**os.environ, "CXX": str(tmp_path / "no-compiler"), "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120).stdout
    assert out.startswith("train.compile=true, but torch.compile does not work here (") and out.count("\n") == 1
    assert "set train.compile=false" in out


def test_cudnn_benchmarks_only_for_cuda():
    model, train_cfg = torch.nn.Linear(2, 2), {"compile": False}
    with torch.backends.cudnn.flags(benchmark=False):   # restored on leaving
        assert training_module(model, train_cfg, torch.device("cpu")) is model
        assert torch.backends.cudnn.benchmark is False
        training_module(model, train_cfg, torch.device("cuda"))
        assert torch.backends.cudnn.benchmark is True


@pytest.mark.parametrize("override, named", [
    ("train.workers=-1", "train.workers"), ("train.workers=auto", "train.workers"),
    ("train.workers=1.5", "train.workers"),
    ("train.compile=yes please", "train.compile"), ("augment.on_device=maybe", "augment.on_device")])
def test_settings_of_the_wrong_kind_are_refused(override, named):
    with pytest.raises(UserError, match=named):
        load_config("paper-casme2", overrides=[override])


def test_diff_is_not_turned_on_the_device():
    with pytest.raises(UserError, match="augment.on_device=true cannot turn data.representation=diff"):
        load_config("paper-casme2", overrides=["data.representation=diff", "augment.on_device=true"])
    config = load_config("paper-casme2", overrides=["train.workers=4", "train.compile=true", "augment.on_device=true"])
    assert (config["train"]["workers"], config["train"]["compile"], config["augment"]["on_device"]) == (4, True, True)
