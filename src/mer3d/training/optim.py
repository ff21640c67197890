"""The paper's optimiser and learning-rate schedule (sect. 3.3.1)."""
from __future__ import annotations

import torch
from torch import nn


def make_optimizer(model: nn.Module, train: dict) -> torch.optim.Optimizer:
    if train["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=train["lr"], weight_decay=train["weight_decay"])
    return torch.optim.SGD(model.parameters(), lr=train["lr"], momentum=train["momentum"],
                           weight_decay=train["weight_decay"])


class PaperSchedule:
    """Learning-rate factor after ``iteration`` steps: halved every ``halve_every`` iterations, with
    Keras's per-iteration ``decay`` (lr / (1 + decay * iteration)) on top. A class, not a lambda,
    so the scheduler's state dict stays plain data."""

    def __init__(self, halve_every: int, decay: float):
        self.halve_every = int(halve_every)
        self.decay = float(decay)

    def __call__(self, iteration: int) -> float:
        halvings = iteration // self.halve_every if self.halve_every > 0 else 0
        return 0.5 ** halvings / (1.0 + self.decay * iteration)


def make_scheduler(optimizer: torch.optim.Optimizer, train: dict) -> torch.optim.lr_scheduler.LambdaLR:
    """Stepped once per iteration (batch), as the paper counts its 20,000-iteration halvings."""
    schedule = PaperSchedule(train["lr_halve_every"], train["lr_decay"])
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
