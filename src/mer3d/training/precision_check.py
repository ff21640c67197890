"""Does bf16 training follow fp32? One network, one set of initial weights and one sequence of
training batches (the first fold's first epoch, as a run draws it), trained for ``steps`` steps
once in each precision; the per-step losses side by side, and a plot.

    python -m mer3d.training.precision_check --preset paper-casme2 --root DIR --steps 60 --out DIR

This checks a preset at its real size, where a full run in each precision would take days on a
CPU; the demo's accuracy over seeds is the check of the end result (README, "bf16 training").
"""
from __future__ import annotations

import argparse
import copy
import json
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..atomic import atomic_write_text
from ..config import load_config
from ..data.augment import augmentation_plan
from ..data.clips import TrainClips
from ..data.representation import input_shape
from ..models import architecture, create_model
from .folds import protocol_folds
from .optim import make_optimizer, make_scheduler
from .trainer import derived_seed, forward_loss, optimizer_step, prepare_data, set_threads

PRECISIONS = ("fp32", "bf16")


def first_batches(config: dict, steps: int):
    """The data, and the first ``steps`` training batches of the first fold's first epoch."""
    data = prepare_data(config)
    fold = protocol_folds(config, [c.subject for c in data.dataset.clips], data.dataset.parts())[0]
    d, aug = config["data"], config["augment"]
    train_set = TrainClips([data.arrays[i] for i in fold.train], [data.labels[i] for i in fold.train],
                           input_shape(d)[1], d["representation"],
                           augmentation_plan(aug["enabled"], aug["flip"], tuple(aug["angles"])))
    order = train_set.epoch_order(torch.Generator().manual_seed(derived_seed(config["seed"], 0, 0)))
    return data, list(islice(train_set.batches(order, config["train"]["batch_size"]), steps))


def track_losses(config: dict, steps: int) -> dict:
    """Per-step training losses of the same start in fp32 and in bf16 autocast."""
    set_threads(config)
    data, batches = first_batches(config, steps)
    torch.manual_seed(derived_seed(config["seed"], 0))
    start = create_model(**architecture(config, len(data.dataset.classes), input_shape(config["data"])))
    losses = {}
    for precision in PRECISIONS:
        model = copy.deepcopy(start).to(memory_format=torch.channels_last_3d).train()
        optimizer = make_optimizer(model, config["train"])
        scheduler = make_scheduler(optimizer, config["train"])
        torch.manual_seed(derived_seed(config["seed"], 1))    # the same dropout masks' seed in both
        losses[precision] = []
        for x, y in tqdm(batches, desc=precision, unit="step", leave=False):
            loss, _, _ = forward_loss(model, x, y, torch.device("cpu"), precision == "bf16")
            optimizer_step(loss, optimizer, scheduler)
            losses[precision].append(loss.item())
    return summarise(losses)


def summarise(losses: dict[str, list[float]]) -> dict:
    fp32, bf16 = (np.array(losses[p]) for p in PRECISIONS)
    tail = max(1, len(fp32) // 5)
    return {"steps": len(fp32), "losses": losses,
            "max_abs_difference": float(np.abs(fp32 - bf16).max()),
            "mean_abs_difference": float(np.abs(fp32 - bf16).mean()),
            "finite": bool(np.isfinite(bf16).all()),
            "last_fifth_mean": {p: float(np.mean(losses[p][-tail:])) for p in PRECISIONS}}


def plot_losses(result: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for precision in PRECISIONS:
        ax.plot(range(1, result["steps"] + 1), result["losses"][precision], label=precision)
    ax.set(xlabel="training step", ylabel="loss", title="Same start and batches: bf16 vs fp32")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper-casme2")
    parser.add_argument("--root", required=True, help="dataset folder")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", required=True, help="folder for losses.json and losses.png")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    config = load_config(args.preset, overrides=[f"dataset.root={args.root}", *args.overrides])
    result = track_losses(config, args.steps)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "losses.json", json.dumps(result, indent=1))
    plot_losses(result, out / "losses.png")
    print(json.dumps({k: v for k, v in result.items() if k != "losses"}, indent=1))


if __name__ == "__main__":
    main()
