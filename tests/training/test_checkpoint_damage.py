"""A damaged checkpoint never stops a resume: the previous one is used with a warning naming the
damaged file, or the fold starts over; nothing of a rejected file reaches the model, and a run
resumed that way gives the uninterrupted run's results."""
import io
import json
import logging
from fractions import Fraction

import pytest
import torch
from torch import nn

import mer3d.training.trainer as trainer_module
from mer3d.atomic import checksummed
from mer3d.cli import main
from mer3d.config import load_config
from mer3d.training.checkpoint import previous_checkpoint, read_checkpoint, resume_checkpoint, save_checkpoint
from mer3d.training.optim import make_optimizer, make_scheduler

from conftest import TINY


def training_objects():
    """A small model with BatchNorm, the paper's SGD and schedule, always the same initial state."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    train = load_config()["train"]
    optimizer = make_optimizer(model, train)
    return model, optimizer, make_scheduler(optimizer, train)


def step(model, optimizer, scheduler) -> None:
    loss = model(torch.randn(6, 4)).pow(2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()


def snapshot(model, optimizer) -> dict:
    return {"model": {k: v.clone() for k, v in model.state_dict().items()},
            "optimizer": repr(optimizer.state_dict()), "rng": torch.get_rng_state()}


def same(a: dict, b: dict) -> bool:
    return (a["model"].keys() == b["model"].keys() and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
            and a["optimizer"] == b["optimizer"] and torch.equal(a["rng"], b["rng"]))


@pytest.fixture
def saved(tmp_path):
    """checkpoint.pt after epoch 2 beside checkpoint.previous.pt after epoch 1, and the state of each."""
    path = tmp_path / "fold1" / "checkpoint.pt"
    model, optimizer, scheduler = training_objects()
    states = {}
    for epoch in (1, 2):
        step(model, optimizer, scheduler)
        save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=epoch,
                        history=[{"epoch": n, "loss": 1.0 / n} for n in range(1, epoch + 1)])
        states[epoch] = snapshot(model, optimizer)
    return path, states


def sealed(state: dict) -> bytes:
    """A torch file with a valid checksum: only its content is wrong."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return checksummed(buffer.getvalue())


def edited(path, change) -> bytes:
    state = read_checkpoint(path)
    change(state)
    return sealed(state)


def flip_bit(data: bytes, at: float) -> bytes:
    data = bytearray(data)
    data[int(len(data) * at)] ^= 0x10
    return bytes(data)


def unsealed(path) -> bytes:
    """The same state, saved by torch.save alone (no checksum trailer)."""
    buffer = io.BytesIO()
    torch.save(read_checkpoint(path), buffer)
    return buffer.getvalue()


def wrong_shape(state):
    state["model"]["0.weight"] = torch.zeros(8, 5)


def wrong_momentum(state):
    first = next(iter(state["optimizer"]["state"]))
    state["optimizer"]["state"][first]["momentum_buffer"] = torch.zeros(2, 2)


DAMAGE = {
    "zero bytes": lambda path: b"",
    "truncated to half": lambda path: path.read_bytes()[: path.stat().st_size // 2],
    "truncated by a few bytes": lambda path: path.read_bytes()[:-7],
    "bit flipped in the weights": lambda path: flip_bit(path.read_bytes(), 0.6),
    "bit flipped in the zip header": lambda path: flip_bit(path.read_bytes(), 0.001),
    "bit flipped in the checksum": lambda path: flip_bit(path.read_bytes(), 0.9999),
    "text instead": lambda path: b"not a checkpoint at all\n" * 20,
    "torch file without a checksum": unsealed,
    "foreign torch file": lambda path: sealed({"weights": torch.ones(3)}),
    "a bare tensor": lambda path: sealed(torch.ones(3)),
    "pickled object": lambda path: sealed({"model": Fraction(1, 3)}),
    "missing optimizer": lambda path: edited(path, lambda s: s.pop("optimizer")),
    "missing model weight": lambda path: edited(path, lambda s: s["model"].pop("1.running_mean")),
    "extra model weight": lambda path: edited(path, lambda s: s["model"].update({"9.weight": torch.ones(2)})),
    "weights of the wrong shape": lambda path: edited(path, wrong_shape),
    "weights of the wrong dtype": lambda path: edited(path, lambda s: s["model"].update(
        {"3.bias": s["model"]["3.bias"].double()})),
    "momentum of the wrong shape": lambda path: edited(path, wrong_momentum),
    "learning rate not a number": lambda path: edited(path, lambda s: s["optimizer"]["param_groups"][0].update(lr="x")),
    "schedule step not a number": lambda path: edited(path, lambda s: s["scheduler"].update(last_epoch="x")),
    "RNG state cut short": lambda path: edited(path, lambda s: s.update(rng=s["rng"][:100])),
    "epoch zero": lambda path: edited(path, lambda s: s.update(epoch=0)),
    "epoch beyond train.epochs": lambda path: edited(path, lambda s: s.update(
        epoch=50, history=[{"epoch": n} for n in range(1, 51)])),
    "history shorter than its epochs": lambda path: edited(path, lambda s: s["history"].pop()),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(saved, damage, caplog):
    path, states = saved
    path.write_bytes(DAMAGE[damage](path))
    model, optimizer, scheduler = training_objects()
    with caplog.at_level(logging.WARNING, logger="mer3d"):
        epoch, history = resume_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, max_epoch=10)
    assert epoch == 1 and [row["epoch"] for row in history] == [1]
    assert same(snapshot(model, optimizer), states[1])
    assert scheduler.last_epoch == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(path) in message and "damaged checkpoint" in message for message in warnings), warnings
    assert not any(f"{previous_checkpoint(path)}: damaged" in message for message in warnings)


@pytest.mark.parametrize("damage", ["zero bytes", "bit flipped in the weights", "foreign torch file",
                                    "weights of the wrong shape", "momentum of the wrong shape"])
def test_with_both_checkpoints_damaged_the_fold_starts_over_untouched(saved, damage, caplog):
    path, _ = saved
    for damaged in (path, previous_checkpoint(path)):
        damaged.write_bytes(DAMAGE[damage](damaged))
    model, optimizer, scheduler = training_objects()
    fresh = snapshot(model, optimizer)
    with caplog.at_level(logging.WARNING, logger="mer3d"):
        assert resume_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler,
                                 what="fold fold1") == (0, [])
    assert same(snapshot(model, optimizer), fresh) and scheduler.last_epoch == 0
    text = caplog.text
    assert str(path) in text and str(previous_checkpoint(path)) in text and "fold fold1" in text


def test_what_torch_refuses_after_the_checks_is_rolled_back(saved, monkeypatch, caplog):
    path, _ = saved
    model, optimizer, scheduler = training_objects()
    fresh = snapshot(model, optimizer)

    real_load = torch.optim.lr_scheduler.LambdaLR.load_state_dict

    def refuse(self, state):   # any saved schedule; its own initial one (the rollback) is taken
        if state["last_epoch"] > 0:
            raise RuntimeError("refused")
        real_load(self, state)

    monkeypatch.setattr(torch.optim.lr_scheduler.LambdaLR, "load_state_dict", refuse)
    with caplog.at_level(logging.WARNING, logger="mer3d"):
        assert resume_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler) == (0, [])
    assert same(snapshot(model, optimizer), fresh)   # the weights loaded before the refusal are undone
    assert "torch refused it" in caplog.text


def test_the_last_two_checkpoints_are_kept_and_nothing_else(saved):
    path, states = saved
    model, optimizer, scheduler = training_objects()
    assert resume_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler)[0] == 2
    assert same(snapshot(model, optimizer), states[2])
    step(model, optimizer, scheduler)
    save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler, epoch=3,
                    history=[{"epoch": n} for n in (1, 2, 3)])
    assert sorted(p.name for p in path.parent.iterdir()) == ["checkpoint.previous.pt", "checkpoint.pt"]
    assert read_checkpoint(path)["epoch"] == 3 and read_checkpoint(previous_checkpoint(path))["epoch"] == 2


# ---------------------------------------------------------------- a real run, damaged and resumed

def train_args(root, out, cache, epochs=3):
    sets = TINY + [f"data.cache_dir={cache}", f"train.epochs={epochs}", "protocol.name=kfold", "protocol.k=2",
                   "train.final_model=false"]
    return ["train", "--preset", "paper-casme2", "--root", str(root), "--out", str(out),
            *[a for s in sets for a in ("--set", s)]]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, demo_root):
    base = tmp_path_factory.mktemp("checkpoint-damage")
    assert main(train_args(demo_root, base / "whole", base / "cache")) == 0
    return base


def interrupted_run(base, demo_root, out, monkeypatch):
    """A run stopped right after fold1's epoch-2 checkpoint (epoch 1's is the previous one)."""
    real_save = trainer_module.save_checkpoint

    def save_then_stop(path, **kwargs):
        real_save(path, **kwargs)
        if kwargs["epoch"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer_module, "save_checkpoint", save_then_stop)
    assert main(train_args(demo_root, out, base / "cache")) == 130
    monkeypatch.setattr(trainer_module, "save_checkpoint", real_save)
    checkpoint = out / "folds" / "fold1" / "checkpoint.pt"
    assert read_checkpoint(checkpoint)["epoch"] == 2 and read_checkpoint(previous_checkpoint(checkpoint))["epoch"] == 1
    return checkpoint


@pytest.mark.parametrize("damage, resumed_after", [
    ("latest truncated", 1),
    ("latest zero bytes, previous bit-flipped", 0),
    ("latest gone (killed between the two renames)", 1),
])
def test_a_run_resumed_past_damage_gives_the_uninterrupted_results(uninterrupted, demo_root, tmp_path, monkeypatch,
                                                                   caplog, capsys, damage, resumed_after):
    run = tmp_path / "run"
    checkpoint = interrupted_run(uninterrupted, demo_root, run, monkeypatch)
    previous = previous_checkpoint(checkpoint)
    if damage == "latest truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    elif damage.startswith("latest zero"):
        checkpoint.write_bytes(b"")
        previous.write_bytes(flip_bit(previous.read_bytes(), 0.5))
    else:
        checkpoint.unlink()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mer3d"):
        code = main(["train", "--resume", str(run)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
    messages = caplog.text
    if resumed_after:
        assert f"fold fold1: resuming after epoch {resumed_after}" in messages
    else:
        assert "fold fold1: no usable checkpoint left" in messages and "resuming after" not in messages
    if damage != "latest gone (killed between the two renames)":
        assert f"{checkpoint}: damaged checkpoint" in messages
    whole = uninterrupted / "whole"
    assert (run / "predictions.csv").read_text() == (whole / "predictions.csv").read_text()
    assert json.loads((run / "metrics.json").read_text()) == json.loads((whole / "metrics.json").read_text())
    assert not list(run.glob("folds/*/checkpoint*.pt")) and not list(run.glob("folds/*/.*"))
