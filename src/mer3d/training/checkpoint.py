"""Resumable training state, written atomically after each epoch so that even a SIGKILL loses at
most the epoch in progress."""
from __future__ import annotations

import io
from pathlib import Path

import torch

from ..atomic import atomic_write_bytes


def save_checkpoint(path: Path, *, model, optimizer, scheduler, epoch: int, history: list[dict]) -> None:
    """Everything the next epoch depends on: weights, BN statistics, momentum, learning-rate step,
    the global torch RNGs (dropout draws); data order is re-derived from (seed, fold, epoch)."""
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "epoch": epoch,
        "history": history,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, *, model, optimizer, scheduler) -> tuple[int, list[dict]]:
    """Restore the state saved by ``save_checkpoint``; returns (epochs done, history so far)."""
    state = torch.load(path, map_location="cpu", weights_only=True)  # never unpickle objects
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["epoch"]), list(state["history"])
